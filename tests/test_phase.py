"""Imbalance profiles and the exact MSE phase boundaries of ``ncsolve phase``.

The boundaries are checked three ways: (1) against a fine log grid of ``predict``
(the flag flips between the two grid decays next to the curve, and at 1 -+ 1e-9
of it); (2) against L-BFGS on the full, un-reduced objective from several random
starts just below and above each critical curve (the group is kept below and
zero above at the best objective found); (3) for the existence curve, against
L-BFGS started at the nonzero local minimum (it stays nonzero below the curve
and falls to zero above it). Both bias modes, depths 1 to 4.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ncsolve import ProblemError, predict
from ncsolve.cli import main
from ncsolve.core.objective import FullObjective
from ncsolve.sweep import REGIONS, phase_map, profile

from fullproblem import best_of, class_means

DEPTHS = (1, 2, 3, 4)
CIFAR10_LT_100 = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]  # Cao et al. 2019


# ---- profiles --------------------------------------------------------------------------


def test_exp_profile_gives_the_published_cifar10_lt_sizes():
    sizes = profile("exp", classes=10, largest=5000).sizes(100, integer=True)
    assert sizes.tolist() == CIFAR10_LT_100
    assert predict(n=profile("exp", classes=10), ratio=100).problem.n.tolist() == CIFAR10_LT_100


def test_step_profile_and_its_groups():
    p = profile("step", classes=5, minority=2, largest=300)
    assert p.sizes(3, integer=True).tolist() == [300, 300, 300, 100, 100]
    assert p.sizes(7, integer=True).tolist() == [300, 300, 300, 42, 42]  # rounded down
    with pytest.raises(ProblemError, match="under one"):  # rounding up would change rho
        p.sizes(1e6, integer=True)
    assert [g.tolist() for g in p.groups()] == [[0, 1, 2], [3, 4]]
    assert p.sizes([1.0, 2.0]).shape == (2, 5)


def test_scaled_profile_keeps_the_log_shape():
    p = profile("scaled", n=[400, 100, 25])  # ratio 16, sizes evenly spaced in log
    assert np.allclose(p.sizes(16), [400, 100, 25])
    assert np.allclose(p.sizes(1), [400, 400, 400])
    assert np.allclose(p.sizes(256), [400, 25, 400 / 256])


@pytest.mark.parametrize("call, param", [
    (lambda: profile("zipf"), "profile"),
    (lambda: profile("step", classes=1), "classes"),
    (lambda: profile("step", classes=4, minority=4), "minority"),
    (lambda: profile("exp", minority=2), "minority"),
    (lambda: profile("scaled"), "n"),
    (lambda: profile("scaled", n=[5, 5]), "n"),
    (lambda: profile("exp", n=[5, 3]), "n"),
    (lambda: predict(n=profile("exp"), ratio=0.5), "ratio"),
    (lambda: predict(n=profile("exp")), "ratio"),
    (lambda: predict(n=[3, 2], ratio=4), "ratio"),
    (lambda: phase_map(profile("exp"), [1, 10], bias="regularized"), "bias"),
])
def test_bad_profiles_name_the_parameter(call, param):
    with pytest.raises(ProblemError, match=rf"^{param} \(--{param}\)"):
        call()


@pytest.mark.parametrize("ratios", [[1, "x"], [[1, 2], [3, 4]], "1:x:3"])
def test_phase_map_refuses_bad_ratios_by_name(ratios):
    with pytest.raises(ProblemError, match=r"^ratio \(--ratio\)"):
        phase_map(profile("exp"), ratios)


def test_phase_map_reads_the_command_line_syntax_too():
    assert np.allclose(phase_map(profile("exp"), "1:100:3").ratios, [1, 10, 100])


def test_a_ratio_out_of_range_is_quoted_as_the_number_given():
    with pytest.raises(ProblemError, match=r"got 1e\+300$"):
        predict(n=profile("exp"), ratio=np.float64(1e300))


# ---- boundaries against a fine grid of predict --------------------------------------------


def _active_groups(result, pm, bias):
    """Per curve of the phase map: is its group nonzero in this predict result?"""
    if bias == "none":
        return np.array([not result.collapsed[list(c.classes)].any() for c in pm.curves])
    return np.array([result.z[list(c.directions)].min() > 0 for c in pm.curves])


def _has_local(result, pm, bias):
    if bias == "none":
        order = np.argsort(-result.problem.n, kind="stable")
        z_local = np.empty_like(result.z_local)
        z_local[order] = result.z_local
        return np.array([np.isfinite(z_local[list(c.classes)]).all() for c in pm.curves])
    return np.array([np.isfinite(result.z_local[list(c.directions)]).all() for c in pm.curves])


@pytest.mark.parametrize("bias", ["none", "free"])
def test_curves_match_a_fine_grid_of_predict(bias):
    family = profile("step", classes=5, minority=2, largest=400)
    ratios = np.array([2.0, 8.0, 50.0])
    pm = phase_map(family, ratios, DEPTHS, bias, integer=True)
    for d, depth in enumerate(DEPTHS):
        for p, ratio in enumerate(ratios):
            n = pm.sizes[p].astype(int)
            crit = np.array([c.critical_decay[d, p] for c in pm.curves])
            exist = np.array([c.existence_decay[d, p] for c in pm.curves])
            grid = np.geomspace(crit.min() / 3, exist.max() * 3, 120)
            for decay in grid:
                r = predict(n=n, depth=depth, lambda_w=decay, lambda_h=decay, bias=bias)
                assert np.array_equal(_active_groups(r, pm, bias), decay < crit), (depth, ratio)
                assert np.array_equal(_has_local(r, pm, bias), decay <= exist), (depth, ratio)
            for i in range(len(pm.curves)):  # sharp: just below and just above
                below, above = (predict(n=n, depth=depth, lambda_w=crit[i] * f,
                                        lambda_h=crit[i] * f, bias=bias)
                                for f in (1 - 1e-9, 1 + 1e-9))
                assert _active_groups(below, pm, bias)[i]
                assert not _active_groups(above, pm, bias)[i]


def test_curves_are_predicts_critical_decay_and_lbar_is_what_counts():
    family = profile("exp", classes=6, largest=900)
    pm = phase_map(family, [30.0], [3], integer=True)
    n = pm.sizes[0].astype(int)
    per_layer = predict(n=n, depth=3, lambda_w=[1e-4, 4e-3, 2e-2], lambda_h=5e-4)
    crit = np.array([c.critical_decay[0, 0] for c in pm.curves])  # classes 0..5 in order
    assert np.allclose(crit, per_layer.critical_decay, rtol=1e-13)


def test_free_bias_two_groups_has_three_direction_groups():
    pm = phase_map(profile("step", classes=5, minority=2, largest=400), [1.0, 10.0], [2],
                   "free")
    names = [c.name for c in pm.curves]
    assert names == ["within majority", "between groups", "within minority"]
    assert [c.multiplicity for c in pm.curves] == [2, 1, 1]
    a, b = 400.0, 40.0  # the between-group eigenvalue of D - n n^T/N is a b K / N
    assert pm.curves[1].sigma[1] == pytest.approx(np.sqrt(a * b * 5 / (3 * a + 2 * b)), 1e-14)
    assert pm.curves[1].sigma[0] == pytest.approx(np.sqrt(400.0), 1e-14)  # balanced limit


def test_regions_in_order_along_decay():
    pm = phase_map(profile("step", classes=4, largest=500), [100.0], [3])
    regions = [i.region for i in pm.intervals()]
    assert regions == [REGIONS[0], REGIONS[2], REGIONS[1], REGIONS[2], REGIONS[3]]
    depth1 = phase_map(profile("step", classes=4, largest=500), [100.0], [1])
    assert "window" not in [i.region for i in depth1.intervals()]  # convex at depth 1


def test_cifar_lt_smallest_class_sits_in_the_window_at_the_default_decay():
    pm = phase_map(profile("exp", classes=10), [100.0], [3], integer=True)
    codes = pm.states(np.array([5e-4]))[:, 0]
    assert codes[-1] == 1 and np.all(codes[:-1] == 0)  # class 9: window; others kept


# ---- boundaries against the full problem -----------------------------------------------------


SMALL = profile("step", classes=3, minority=1, largest=8)  # sizes (8, 8, 2) at ratio 4


def _full_run(n, depth, decay, bias, seeds):
    """L-BFGS on the full problem from random starts and from the two critical points
    the curve separates (the group kept, the group zero), built from the theory; the
    best objective found decides which is lower."""
    result = predict(n=n, depth=depth, lambda_w=decay, lambda_h=decay, bias=bias)
    widths = (2 * result.problem.K,) * depth  # wide layers: random starts reach the global
    objective = FullObjective(result.problem, widths)
    z_kept = np.where(np.isfinite(result.z_local), result.z_local, result.z)
    starts = [_theory_start(result, objective, z) for z in (z_kept, result.z)]
    assert objective.value(starts[1]) == pytest.approx(result.loss, rel=1e-12)
    _, best = best_of(result.problem, widths, seeds=seeds, init_scale=1.0, x0s=starts)
    return result, best


def _theory_start(result, objective, z):
    """Full parameters (H, W_1..W_M, b) of the critical point with output singular
    values ``z`` (THEORY.md section 5), embedded in the objective's wider layers."""
    sol = result.with_z(np.asarray(z, dtype=float))
    p, K = result.problem, result.problem.K
    n = p.n.astype(float)
    A, sigma = sol.directions(), sol.sigma
    G = np.diag(n) - (np.outer(n, n) / n.sum() if p.bias == "free" else 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        Ct = np.where(sigma[:, None] > 0, (A.T @ G / n[None, :]) / sigma[:, None], 0.0)
    values = sol.singular_values  # (K, M + 1): H, W_1, ..., W_M per direction
    hbar = values[:, 0][:, None] * Ct  # rows: directions
    labels = np.repeat(np.arange(K), p.n)
    blocks = [hbar[:, labels]] + [np.diag(values[:, j]) for j in range(1, p.depth)]
    blocks.append(A * values[:, p.depth][None, :])
    shapes = objective.shapes[: p.depth + 1]
    padded = []
    for block, shape in zip(blocks, shapes):
        full = np.zeros(shape)
        full[: block.shape[0], : block.shape[1]] = block
        padded.append(full)
    return objective.pack(padded[0], padded[1:], sol.bias_value)


def _output_values(best):
    params = best.params
    out = params.product() @ class_means(params.H, best.problem.n)
    return np.linalg.svd(out * np.sqrt(best.problem.n)[None, :], compute_uv=False)


def _check_curve_against_full_lbfgs(depth, bias, index):
    """Just below a critical curve the best L-BFGS run keeps the group, just above it
    the group is zero, and both times the best objective found is predict's loss."""
    pm = phase_map(SMALL, [4.0], [depth], bias, integer=True)
    n = pm.sizes[0].astype(int)
    index %= len(pm.curves)
    curve = pm.curves[index]
    crit = curve.critical_decay[0, 0]
    others = [c.critical_decay[0, 0] for c in pm.curves if c is not curve]
    assert all(abs(np.log(d / crit)) > 0.2 for d in others)  # the others are far away
    active_below = sum(c.multiplicity for c in pm.curves[:index + 1])  # larger groups first
    scale = None
    for factor, kept in ((0.9, True), (1.1, False)):
        result, best = _full_run(n, depth, crit * factor, bias, range(5))
        assert best.loss == pytest.approx(result.loss, rel=1e-9)
        values = _output_values(best)
        rank = int(np.sum(values > 1e-6 * np.sqrt(n.sum())))  # on the target's scale
        expected = active_below if kept else active_below - curve.multiplicity
        assert rank == expected, (factor, values)
        if bias == "none":
            means = np.linalg.norm(class_means(best.params.H, n), axis=0)
            if kept:  # the kept run comes first and sets the scale of a kept class mean
                scale = means.max()
            members = list(curve.classes)
            assert bool(np.all(means[members] > 1e-3 * scale)) == kept


@pytest.mark.parametrize("bias", ["none", "free"])
@pytest.mark.parametrize("depth", DEPTHS)
def test_smallest_group_curve_against_full_lbfgs(depth, bias):
    _check_curve_against_full_lbfgs(depth, bias, -1)


@pytest.mark.parametrize("bias", ["none", "free"])
def test_largest_group_curve_against_full_lbfgs(bias):
    _check_curve_against_full_lbfgs(3, bias, 0)


@pytest.mark.slow
@pytest.mark.parametrize("bias", ["none", "free"])
@pytest.mark.parametrize("depth", DEPTHS)
def test_every_curve_against_full_lbfgs(depth, bias):
    for index in range(len(phase_map(SMALL, [4.0], [depth], bias).curves)):
        _check_curve_against_full_lbfgs(depth, bias, index)


def _local_start(result, objective):
    """Full parameters at the nonzero local minimum of every direction (bias-free)."""
    K, n = result.problem.K, result.problem.n
    z = np.where(np.isfinite(result.z_local), result.z_local, 0.0)
    values = result.with_z(z).singular_values  # (K, M + 1), directions by decreasing sigma
    order = np.argsort(-n, kind="stable")
    per_class = np.empty_like(values)
    per_class[order] = values
    labels = np.repeat(np.arange(K), n)
    H = np.zeros((K, n.sum()))
    H[labels, np.arange(n.sum())] = per_class[labels, 0] / np.sqrt(n[labels])
    weights = [np.diag(per_class[:, j]) for j in range(1, values.shape[1])]
    return objective.pack(H, weights)


@pytest.mark.parametrize("depth", DEPTHS[1:])
def test_existence_curve_against_full_lbfgs_from_the_local_minimum(depth):
    from ncsolve.core.descent import minimize_lbfgs

    pm = phase_map(SMALL, [4.0], [depth], "none", integer=True)
    n = pm.sizes[0].astype(int)
    exist = pm.curves[-1].existence_decay[0, 0]
    start_at = predict(n=n, depth=depth, lambda_w=exist * 0.97, lambda_h=exist * 0.97)
    for factor, survives in ((0.97, True), (1.03, False)):
        result = predict(n=n, depth=depth, lambda_w=exist * factor, lambda_h=exist * factor)
        objective = FullObjective(result.problem)
        x0 = _local_start(start_at, objective)
        run = minimize_lbfgs(objective, x0=x0)
        minority = np.linalg.norm(class_means(run.params.H, n)[:, 2])
        local = np.linalg.norm(class_means(objective.split(x0).H, n)[:, 2])  # at the start
        assert local > 0
        assert (minority > 0.3 * local) == survives, (factor, minority, local)
        if survives:  # a local minimum above the global one: the window
            assert run.loss > result.loss * (1 + 1e-6)


# ---- the command line ---------------------------------------------------------------------------


def test_cli_json_csv_and_plot(tmp_path, capsys):
    args = ["phase", "--profile", "step", "--classes", "4", "--largest", "500",
            "--ratio", "1:100:5", "--depth", "1,3"]
    assert main(args + ["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["certainty"] == "exact" and data["depth"] == [1, 3]
    assert [c["name"] for c in data["curves"]] == ["majority", "minority"]
    assert {r["region"] for r in data["regions"]} == set(REGIONS)
    out = tmp_path / "phase.csv"
    plot = tmp_path / "phase.png"
    assert main(args + ["--format", "csv", "--output", str(out), "--plot", str(plot)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("ratio,depth,decay_low,decay_high,region")
    assert len(lines) - 1 == len(data["regions"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("extra", [
    ["--ratio", "100:1:5"], ["--ratio", "1:100:0"], ["--ratio", "0.5"], ["--ratio", "3:3:4"],
    ["--ratio", ""], ["--profile", "zipf"], ["--depth", "0"], ["--bias", "sometimes"],
    ["--format", "xml"], ["--plot", "figure.gif"],
])
def test_cli_bad_input_is_one_line_and_exit_2(extra, tmp_path, capsys):
    out = tmp_path / "phase.csv"
    args = ["phase", "--profile", "exp", "--format", "csv", "--output", str(out)]
    assert main(args + extra) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert not out.exists()


def test_a_ratio_that_leaves_a_class_under_one_sample_is_refused(capsys):
    """Rounding a class of 0.1 samples up to 1 would solve ratio 100, not 1000: refuse."""
    with pytest.raises(ProblemError, match=r"^ratio \(--ratio\): at ratio 1000"):
        predict(n=profile("exp", classes=10, largest=100), ratio=1000)
    assert predict(n=profile("exp", classes=10, largest=1000), ratio=1000).problem.n.min() == 1
    for command, ratio in ((["predict"], "1000"), (["sweep", "--depth", "1,2"], "10,1000")):
        status = main([*command, "--profile", "exp", "--classes", "10", "--largest", "100",
                       "--ratio", ratio])
        out = capsys.readouterr()
        assert status == 2 and out.out == "" and out.err.count("\n") == 1, out.err
        assert "ratio (--ratio): at ratio 1000" in out.err
