"""`ncsolve verify`: which critical point of the theory a run reached."""

import json
from dataclasses import replace

import numpy as np
import pytest

from ncsolve.cli import main
from ncsolve.solvers.crossentropy import solve as solve_ce
from ncsolve.core.descent import gradient_descent, minimize_lbfgs
from ncsolve.core.metrics import loss_scale, nc1, objective_gap, run_geometry, vector_norm
from ncsolve.core.objective import FullObjective
from ncsolve.inputs.problem import Problem
from ncsolve.solvers.mse import solve
from ncsolve.verify import (
    CETarget,
    TheoryTarget,
    Tolerances,
    assess,
    assess_ce,
    class_permutations,
    critical_point,
    verify,
)

WINDOW = {"n": [500, 100, 50], "depth": 3, "lambda_w": 0.0095, "lambda_h": 0.0095}


@pytest.mark.parametrize("bias", ["none", "free"])
@pytest.mark.parametrize("n", [[5, 5, 5], [9, 4, 2]])
def test_global_runs_are_reported_global(n, bias):
    problem = Problem.build(n, depth=3, lambda_w=0.01, lambda_h=0.01, bias=bias)
    report = verify(problem, 6, restarts=4, init_scale=1.0)
    data = report.to_dict()
    solution = solve(problem)
    assert data["status"] == "global" and report.exit_code == 0
    assert data["theory_loss"] == pytest.approx(solution.loss, rel=1e-14)
    assert data["loss"] == pytest.approx(solution.loss, rel=1e-9)
    assert max(data["errors"].values()) < 1e-6
    assert data["collapsed"] == data["theory_collapsed"]
    assert len(data["runs"]) == 4
    for run in data["runs"]:
        assert {"seed", "status", "loss", "collapsed"} <= set(run)
        assert run["status"] in ("global", "local", "not-converged")
    assert sum(row["count"] for row in data["summary"]) == 4
    json.dumps(data, allow_nan=False)  # plain JSON, no numpy types


@pytest.mark.parametrize("bias", ["none", "free"])
@pytest.mark.parametrize("depth", [2, 3])
def test_a_run_from_the_origin_region_is_local_with_everything_collapsed(depth, bias):
    problem = Problem.build([5, 3, 2], depth=depth, lambda_w=0.01, lambda_h=0.01, bias=bias)
    report = verify(problem, 6, init_scale=1e-3)
    run = report.best_run
    assert run.status == "local" and report.exit_code == 1
    assert run.zero_directions == [0, 1, 2]
    if bias == "none":
        assert run.collapsed == [0, 1, 2]
    # the origin's objective is ||Yt||^2 / (2N), computed here by hand
    n = np.array([5, 3, 2])
    fit = n.sum() if bias == "none" else n.sum() - (n**2).sum() / n.sum()
    assert run.loss == pytest.approx(fit / (2 * n.sum()), rel=1e-9)


def _window_run(z_choice, seed=0, noise=1e-3):
    problem = Problem.build(**WINDOW)
    solution = solve(problem)
    objective = FullObjective(problem, (3, 3, 3))
    z = solution.z if z_choice == "global" else np.nan_to_num(solution.z_local)
    start = critical_point(solution, objective, z)
    start += noise * np.random.default_rng(seed).standard_normal(start.size)
    result = minimize_lbfgs(objective, x0=start)
    return solution, assess(solution, objective, result.x, grad_norm=result.grad_norm)


def test_the_largest_root_in_the_phase_window_is_local_not_global():
    solution, report = _window_run("local")
    # the theory: smallest class collapsed at the global minimum, with a nonzero local minimum
    assert list(np.flatnonzero(solution.collapsed)) == [2]
    assert np.isfinite(solution.z_local[2]) and solution.z[2] == 0
    assert report.status == "local"
    assert report.collapsed == [] and report.zero_directions == []
    assert report.loss > solution.loss * (1 + 1e-6)
    assert report.candidate_loss == pytest.approx(solution.with_z(report.z_candidate).loss,
                                                  rel=1e-12)
    assert report.loss == pytest.approx(report.candidate_loss, rel=1e-9)


def test_the_collapsed_minimizer_in_the_phase_window_is_global():
    solution, report = _window_run("global")
    assert report.status == "global"
    assert report.collapsed == [2]
    assert report.loss == pytest.approx(solution.loss, rel=1e-9)


def test_a_partial_collapse_inside_a_degenerate_eigenspace_is_matched():
    # balanced, bias-free: one eigenspace; the run keeps 2 of 3 equivalent directions,
    # in a basis of its own (random perturbation, then L-BFGS)
    problem = Problem.build([4, 4, 4], depth=3, lambda_w=0.01, lambda_h=0.01)
    solution = solve(problem)
    objective = FullObjective(problem, (3, 3, 3))
    z = solution.z.copy()
    z[2] = 0.0
    start = critical_point(solution, objective, z)
    start += 0.05 * np.random.default_rng(4).standard_normal(start.size)
    result = minimize_lbfgs(objective, x0=start)
    report = assess(solution, objective, result.x)
    assert report.status == "local"
    assert report.zero_directions == [2]
    assert max(report.relative_errors.values()) < 1e-6
    assert report.loss == pytest.approx(solution.with_z(z).loss, rel=1e-9)


def test_a_narrow_layer_cutting_an_eigenspace_is_global_in_any_basis():
    # balanced, width 2 < K = 4: any 2 of the 4 equivalent directions are optimal
    problem = Problem.build([4, 4, 4, 4], depth=2, lambda_w=0.005, lambda_h=0.005)
    report = verify(problem, [4, 2], restarts=3, init_scale=1.0)
    assert not report.solution.unique
    assert [r.status for r in report.runs] == ["global"] * 3
    assert all(r.zero_directions == [2, 3] for r in report.runs)
    assert max(report.best_run.relative_errors.values()) < 1e-6


def test_a_short_run_is_not_converged():
    problem = Problem.build([5, 3, 2], depth=2, lambda_w=0.01, lambda_h=0.01)
    report = verify(problem, 4, method="momentum", steps=5, init_scale=0.5)
    assert report.status == "not-converged" and report.exit_code == 1
    assert not report.best_run.converged


def test_trajectory_of_nc1_and_distances():
    problem = Problem.build([6, 3, 2], depth=2, lambda_w=0.01, lambda_h=0.01, bias="free")
    report = verify(problem, 4, method="momentum", steps=600, record_every=200)
    snaps = report.best_run.trajectory
    assert [s.step for s in snaps] == [0, 200, 400, 600]
    for snap in snaps:
        assert set(snap.data) >= {"nc1", "features", "classifier", "outputs"}
        assert len(snap.data["nc1"]) == len(snap.data["features"]) == 2
    assert snaps[-1].data["nc1"][0] < snaps[0].data["nc1"][0]


@pytest.mark.parametrize("bias", ["none", "free"])
@pytest.mark.parametrize("n", [[7, 7, 7, 7], [500, 100, 50], [9, 4, 4, 1]])
def test_candidate_grams_agree_with_the_solution(n, bias):
    # verify builds candidate Grams itself (so it can rotate degenerate eigenspaces);
    # in the theory's own basis they must equal ncsolve.solvers.mse's
    problem = Problem.build(n, depth=3, lambda_w=[0.004, 0.006, 0.009], lambda_h=0.005, bias=bias)
    solution = solve(problem)
    for z in (solution.z, np.nan_to_num(solution.z_local), np.zeros(problem.K)):
        other = solution.with_z(z)
        target = TheoryTarget.build(problem, solution.directions(), solution.sigma, z)
        assert target.loss == pytest.approx(other.loss, rel=1e-12)
        scale = np.abs(solution.gram_features(0)).max()
        for j in range(problem.depth):
            assert np.allclose(target.feature_grams[j], other.gram_features(j), atol=1e-12 * scale)
            assert np.allclose(target.classifier_grams[j], other.gram_classifier(j),
                               rtol=1e-10, atol=1e-12)
        assert np.allclose(target.outputs, other.gram_outputs(), atol=1e-12)


def test_nc1_against_the_covariance_definition():
    rng = np.random.default_rng(0)
    n = [4, 2, 3]
    H = rng.standard_normal((5, 9))
    labels = np.repeat([0, 1, 2], n)
    means = np.stack([H[:, labels == k].mean(axis=1) for k in range(3)], axis=1)
    centred = H - means[:, labels]
    within = centred @ centred.T / 9
    spread = means - H.mean(axis=1, keepdims=True)
    between = spread @ spread.T / 3
    expected = np.trace(within @ np.linalg.pinv(between)) / 3
    assert nc1(H, n) == pytest.approx(expected, rel=1e-10)
    assert nc1(means[:, labels], n) == pytest.approx(0.0, abs=1e-20)
    # the same geometry at 1e-160: squaring the spread would underflow
    assert nc1(1e-160 * H, n) == pytest.approx(expected, rel=1e-10)


def test_nc1_is_undefined_when_the_class_means_do_not_spread():
    rng = np.random.default_rng(1)
    H = rng.standard_normal((4, 6))
    assert np.isnan(nc1(H, [6]))  # one class: the spread is rounding of the mean
    assert np.isnan(nc1(np.zeros((4, 6)), [3, 3]))
    common = np.repeat(rng.standard_normal((4, 1)), 6, axis=1)
    assert np.isnan(nc1(common + 1e-12 * rng.standard_normal((4, 6)), [2, 4]))
    assert np.isnan(nc1(np.full((4, 6), np.inf), [3, 3]))


def test_objective_gap_is_relative_with_a_floor_on_the_problem_scale():
    assert objective_gap(1.5, 1.0) == pytest.approx(0.5)
    # a minimum of 0: relative to 1e-8 of the scale, never a bare difference
    assert objective_gap(1e-22, 0.0, 0.5) == pytest.approx(1e-22 / 5e-9)
    assert objective_gap(1e-22, 1e-300, 0.5) == pytest.approx(1e-22 / 5e-9)
    assert objective_gap(0.0, 0.0, 0.5) == 0.0
    assert loss_scale(FullObjective(Problem.build([4, 2], depth=2, bias="free"), (3, 3))) == 0.5
    assert vector_norm(np.array([3e200, 4e200])) == pytest.approx(5e200)


# ---- zero or tiny theoretical minimum, extreme inputs --------------------------------------


@pytest.mark.parametrize("depth", [1, 2])
def test_one_class_with_a_free_bias_is_global(depth):
    # the bias fits everything: the minimum is 0 and every matrix of the minimizer is zero
    problem = Problem.build([5], depth=depth, bias="free")
    report = verify(problem, 4, init_scale=0.5)
    run, data = report.best_run, report.to_dict()
    assert report.solution.loss == 0.0 and run.loss < 1e-15
    assert run.status == "global" and report.exit_code == 0
    assert 0 <= run.gap < 1e-6
    assert max(run.errors.values()) < 1e-6 and max(run.relative_errors.values()) < 1e-6
    assert all(np.isnan(v) for v in run.nc1)  # one class: NC1 is undefined
    assert data["best"]["nc1"] == [None] * depth
    json.dumps(data, allow_nan=False)


def test_a_zero_target_far_from_rounding_size_is_not_a_match():
    # start at the origin's scale of the problem instead: one step does not get there
    problem = Problem.build([5], depth=1, bias="free")
    report = verify(problem, 4, method="gd", steps=1, init_scale=0.5)
    assert report.status == "not-converged"
    assert max(report.best_run.errors.values()) > 1e-2


def test_tiny_decays_are_judged_on_the_problem_scale():
    problem = Problem.build([10, 5], depth=1, lambda_w=1e-300, lambda_h=1e-300)
    report = verify(problem, 8)
    run = report.best_run
    assert report.solution.loss < 1e-290
    assert run.status == "global" and report.exit_code == 0
    assert abs(run.gap) < 1e-6
    assert np.allclose(run.z_run, report.solution.z, rtol=1e-9)
    assert any("not fix how the product is split" in note for note in run.notes)


@pytest.mark.parametrize("decay, status", [(1e-300, "global"), (1e-3, "not-converged")])
def test_the_split_among_layers_is_checked_only_when_the_decays_show_in_the_objective(
        decay, status):
    # the global minimizer with H stretched along one axis and W shrunk along it: the
    # same product and outputs, another split; only the decays can tell
    problem = Problem.build([10, 5], depth=1, lambda_w=decay, lambda_h=decay)
    solution, objective = solve(problem), FullObjective(problem, (4,))
    params = objective.split(critical_point(solution, objective))
    stretch = np.array([2.0, 1.0, 1.0, 1.0])
    x = objective.pack(stretch[:, None] * params.H, [params.weights[0] / stretch])
    report = assess(solution, objective, x)
    assert report.errors["outputs"] < 1e-12 and report.errors["features"] > 1e-3
    assert report.status == status
    assert bool(report.notes) == (status == "global")


# ---- cross-entropy -----------------------------------------------------------------------
#
# The references below do not come from ncsolve: closed-form one-variable structures
# (simplex ETF, the square for K = 4) minimized with scipy here, and a depth-1
# cross-entropy model written out in this file and minimized with scipy's L-BFGS.


def _scalar_minimum(f) -> float:
    from scipy.optimize import minimize_scalar

    grid = np.linspace(0.05, 60.0, 4000)
    start = grid[np.argmin([f(a) for a in grid])]
    res = minimize_scalar(f, bracket=(start - 0.02, start, start + 0.02), tol=1e-12)
    return float(res.fun)


def _etf_objective(K, n, depth, lam):
    """Balanced simplex ETF with margin rho: X D^(1/2) has K-1 singular values rho sqrt(n)."""
    L = depth + 1
    c, q = L / 2 * lam, 2 / L
    return _scalar_minimum(
        lambda r: np.log1p((K - 1) * np.exp(-r)) + c * (K - 1) * (r * np.sqrt(n)) ** q)


def _square_objective(n, depth, lam):
    """K = 4 on the corners of a square: logits a/2 (1, 0, -1, 0) around it.

    Cross-entropy log(1 + 2 e^(-a/2) + e^(-a)) = 2 log(1 + e^(-a/2)); the circulant
    a/2 (1, 0, -1, 0) has eigenvalues 0, a, 0, a, so X D^(1/2) has two singular values
    a sqrt(n).
    """
    L = depth + 1
    c, q = L / 2 * lam, 2 / L
    return _scalar_minimum(
        lambda a: 2 * np.log1p(np.exp(-a / 2)) + c * 2 * (a * np.sqrt(n)) ** q)


def _own_depth1_minimum(n, lam, bias, seeds=range(6)):
    """Depth-1 CE model f = mean CE(W H + b) + lam/2 (|W|^2 + |H|^2), minimized directly."""
    from scipy.optimize import minimize
    from scipy.special import logsumexp, softmax

    n = np.asarray(n)
    K, N, d = n.size, int(n.sum()), n.size
    Y = np.repeat(np.eye(K), n, axis=1)

    def f(v):
        W, H = v[:K * d].reshape(K, d), v[K * d:K * d + d * N].reshape(d, N)
        b = v[K * d + d * N:] if bias == "free" else np.zeros(K)
        Z = W @ H + b[:, None]
        value = np.mean(logsumexp(Z, axis=0) - np.sum(Z * Y, axis=0))
        value += lam / 2 * (np.sum(W**2) + np.sum(H**2))
        G = (softmax(Z, axis=0) - Y) / N
        grads = [G @ H.T + lam * W, W.T @ G + lam * H]
        if bias == "free":
            grads.append(G.sum(axis=1))
        return value, np.concatenate([g.ravel() for g in grads])

    size = K * d + d * N + (K if bias == "free" else 0)
    best = np.inf
    for seed in seeds:
        v0 = np.random.default_rng(100 + seed).standard_normal(size)
        res = minimize(f, v0, jac=True, method="L-BFGS-B",
                       options={"gtol": 1e-12, "ftol": 0.0, "maxiter": 5000})
        best = min(best, float(res.fun))
    return best


def _assert_global_ce(report):
    best = report.best_run
    assert report.status == "global" and report.exit_code == 0
    assert best.converged and not report.beats_theory
    assert max(best.errors.values()) < 1e-6


@pytest.mark.parametrize("n, bias", [([10, 10, 10], "none"), ([12, 6, 3], "none"),
                                     ([12, 6, 3], "free")])
def test_ce_depth_one_runs_reach_the_proved_minimum(n, bias):
    lam = 5e-3
    problem = Problem.build(n, depth=1, lambda_w=lam, lambda_h=lam, bias=bias, loss="ce")
    report = verify(problem, 3, restarts=2, init_scale=1.0)
    if len(set(n)) == 1:
        reference = _etf_objective(len(n), n[0], 1, lam)
    else:
        reference = _own_depth1_minimum(n, lam, bias)
    assert report.solution.certainty == "proved"
    assert report.to_dict()["theory_loss"] == pytest.approx(reference, rel=1e-8)
    assert report.best_run.loss == pytest.approx(reference, rel=1e-8)
    _assert_global_ce(report)
    assert all(r.status == "global" for r in report.runs)


def test_ce_depth_three_square_is_reached_and_global():
    lam = 5e-4
    problem = Problem.build([50] * 4, depth=3, lambda_w=lam, lambda_h=lam, loss="ce")
    report = verify(problem, 4, restarts=3)
    square, etf = _square_objective(50, 3, lam), _etf_objective(4, 50, 3, lam)
    assert square == pytest.approx(0.0216711, abs=1e-7) and square < etf
    data = report.to_dict()
    assert data["certainty"] == "best found" and report.solution.rank == 2
    assert data["theory_loss"] == pytest.approx(square, rel=1e-9)
    assert data["loss"] == pytest.approx(square, rel=1e-9)
    assert report.best_run.rank == 2
    _assert_global_ce(report)
    assert any("not proved" in note for note in data["notes"])


def test_ce_run_from_near_the_origin_is_never_global():
    problem = Problem.build([50] * 4, depth=3, loss="ce")
    report = verify(problem, 4, init_scale=1e-3)
    run = report.best_run
    assert run.status in ("local", "not-converged") and report.exit_code == 1
    assert run.loss == pytest.approx(np.log(4), rel=1e-6)  # every logit zero
    assert run.rank == 0 and run.collapsed == [0, 1, 2, 3]


def test_ce_a_run_below_the_answer_is_reported():
    # pretend the search ended 1% too high: a run that reaches the real minimum beats it
    problem = Problem.build([20, 20, 20], depth=2, loss="ce")
    honest = solve_ce(problem)
    missed = replace(honest, loss=honest.loss * 1.01)
    report = verify(problem, 6, solution=missed)
    data = report.to_dict()
    assert data["status"] == "global" and data["beats_theory"] is True
    assert report.exit_code == 1
    assert data["loss"] < data["theory_loss"]
    assert any("missed" in note for note in data["notes"])



def test_ce_runs_below_the_answer_are_marked_in_the_runs_table():
    problem = Problem.build([20, 20, 20], depth=2, loss="ce")
    honest = solve_ce(problem)
    missed = replace(honest, loss=honest.loss * 1.01)
    report = verify(problem, 6, solution=missed, restarts=2)
    assert [r.beats_theory for r in report.runs] == [True, True]
    rows = [line for line in str(report).splitlines() if line.startswith(("     0", "     1"))]
    assert len(rows) == 2 and all(row.endswith("  below ncsolve's answer") for row in rows)
    assert "note: runs with seeds 1 are also below ncsolve's answer" in str(report)


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_assess_copies_the_descent_record_and_refuses_other_keywords(loss):
    problem = Problem.build([3, 2], depth=2, lambda_w=0.01, lambda_h=0.01, loss=loss)
    objective = FullObjective(problem, (4, 4))
    answer = solve(problem) if loss == "mse" else solve_ce(problem)
    judge = assess if loss == "mse" else assess_ce
    x = 0.1 * np.random.default_rng(0).standard_normal(objective.size)
    run = judge(answer, objective, x, seed=7, method="gd", steps=12, elapsed=0.5,
                message="stopped")
    assert (run.seed, run.method, run.steps, run.elapsed, run.message) == (
        7, "gd", 12, 0.5, "stopped")
    assert run.grad_norm == pytest.approx(vector_norm(objective(x)[1]), rel=1e-12)
    assert run.converged is False and run.trajectory == []
    with pytest.raises(TypeError):
        judge(answer, objective, x, seeds=7)

def _relabeled(objective, H, weights, perm):
    """Full parameters in which run class k carries theory class perm[k] (balanced n)."""
    n = objective.problem.n
    means = H[:, np.cumsum(n) - 1]  # every sample sits on its class mean
    W_last = weights[-1][perm]
    return objective.pack(np.repeat(means[:, perm], n, axis=1), (*weights[:-1], W_last))


def test_ce_grams_are_compared_up_to_relabeling_equal_size_classes():
    problem = Problem.build([50] * 4, depth=3, loss="ce", widths=[4, 4, 4])
    solution = solve_ce(problem)
    objective = FullObjective(problem, (4, 4, 4))
    H, weights, _ = solution.full_parameters()
    x = _relabeled(objective, H, weights, np.array([1, 0, 2, 3]))

    report = assess_ce(solution, objective, x)
    assert report.status == "global" and report.comparison == "permutation"
    assert max(report.errors.values()) < 1e-10
    identity_only = assess_ce(solution, objective, x, perms=np.arange(4)[None])
    assert max(identity_only.errors.values()) > 0.1  # the square is not symmetric
    spectra = assess_ce(solution, objective, x, perms=None)
    assert spectra.comparison == "spectrum" and max(spectra.errors.values()) < 1e-10
    perms = class_permutations([3, 2, 3])
    assert perms.tolist() == [[0, 1, 2], [2, 1, 0]]
    assert class_permutations([5] * 9) is None


@pytest.mark.parametrize("bias", ["none", "free"])
def test_ce_target_grams_are_those_of_the_full_parameters(bias):
    problem = Problem.build([9, 5, 5, 2], depth=3, lambda_w=[4e-3, 6e-3, 9e-3], lambda_h=5e-3,
                            bias=bias, loss="ce", widths=[5, 5, 5])
    solution = solve_ce(problem, restarts=8)
    objective = FullObjective(problem, (5, 5, 5))
    x = objective.pack(*solution.full_parameters())
    assert objective.value(x) == pytest.approx(solution.loss, rel=1e-12)
    run, target = run_geometry(objective, x), CETarget.from_solution(solution)
    for a, b in zip([*run.feature_grams, *run.classifier_grams, run.outputs],
                    [*target.feature_grams, *target.classifier_grams, target.outputs]):
        assert np.allclose(a, b, rtol=1e-10, atol=1e-12 * np.abs(b).max())


def test_tolerances_decide_the_match():
    # a short momentum run near the global minimizer, judged under tolerances just
    # above and just below its own errors
    problem = Problem.build([5, 3, 2], depth=2, lambda_w=0.01, lambda_h=0.01)
    solution, objective = solve(problem), FullObjective(problem, (4, 4))
    run = gradient_descent(objective, lr=0.1, momentum=0.9, steps=300, init_scale=0.5)

    def status(loss_rtol, gram_tol):
        tolerances = Tolerances(loss_rtol=loss_rtol, gram_tol=gram_tol)
        return assess(solution, objective, run.x, tolerances).status

    report = assess(solution, objective, run.x, Tolerances(loss_rtol=1e-2, gram_tol=1e-1))
    loss_error = abs(report.loss - report.candidate_loss) / report.candidate_loss
    gram_error = max(report.errors.values())
    assert report.status == "global" and report.candidate_global
    assert 1e-6 < loss_error < 1e-2 and 1e-4 < gram_error < 1e-1  # not yet at rounding level
    assert status(2 * loss_error, 2 * gram_error) == "global"
    assert status(loss_error / 2, 2 * gram_error) == "not-converged"
    assert status(2 * loss_error, gram_error / 2) == "not-converged"
    assert status(1e-6, 1e-3) == "not-converged"  # the defaults


# ---- command line ----------------------------------------------------------------------


def test_cli_json(capsys):
    code = main(["verify", "--n", "6,3,2", "--depth", "2", "--width", "6", "--lambda-w", "0.01",
                 "--lambda-h", "0.01", "--restarts", "3", "--init-scale", "1", "--json"])
    out = capsys.readouterr().out
    data = json.loads(out)
    assert code == 0 and data["status"] == "global"
    assert data["theory_loss"] == pytest.approx(
        solve(Problem.build([6, 3, 2], depth=2, lambda_w=0.01, lambda_h=0.01)).loss, rel=1e-14)
    assert {"features", "classifier", "outputs"} <= set(data["errors"])
    assert [r["seed"] for r in data["runs"]] == [0, 1, 2]


def test_cli_cross_entropy_json_has_the_contract_keys(capsys):
    code = main(["verify", "--n", "20,20,20", "--depth", "2", "--loss", "ce", "--width", "6",
                 "--json", "--quiet"])
    data = json.loads(capsys.readouterr().out)
    assert {"status", "loss", "theory_loss", "errors", "collapsed", "runs",
            "certainty", "beats_theory"} <= set(data)
    assert set(data["errors"]) == {"features", "classifier", "outputs"}
    for run in data["runs"]:
        assert {"seed", "status", "loss", "collapsed"} <= set(run)
    assert data["certainty"] == "best found" and data["problem"]["loss"] == "ce"
    # K = 3, depth 2: the simplex ETF (docs/crossentropy.md, table)
    assert data["theory_loss"] == pytest.approx(_etf_objective(3, 20, 2, 5e-4), rel=1e-9)
    assert code == (0 if data["status"] == "global" else 1)


def test_cli_cross_entropy_text_report(capsys):
    code = main(["verify", "--n", "50,50,50,50", "--depth", "3", "--loss", "ce", "--width", "4",
                 "--restarts", "2", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "GLOBAL" in out and "best found" in out
    assert "relabeling" in out and "runs:" in out


def test_cli_text_report_and_exit_status_for_a_local_run(capsys):
    code = main(["verify", "--n", "5,3,2", "--depth", "3", "--width", "4", "--lambda-w", "0.01",
                 "--lambda-h", "0.01", "--init-scale", "0.001", "--quiet"])
    captured = capsys.readouterr()
    assert code == 1
    assert "LOCAL" in captured.out and "zero directions  0,1,2" in captured.out
    assert captured.err == ""


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["--n", "3,0"], "--n"),
        (["--n", "3,2", "--steps", "0"], "--steps"),
        (["--n", "3,2", "--lr", "fast", "--method", "gd"], "--lr"),
        (["--n", "3,2", "--method", "sgd"], "--method"),
        (["--n", "3,2", "--restarts", "-1"], "--restarts"),
        (["--n", "3,2", "--width", "4", "--widths", "4"], "--widths"),
        (["--n", "3,2", "--depth", "2", "--widths", "4"], "--widths"),
        (["--n", "3,2", "--bias", "learned"], "--bias"),
        (["--n", "3,2", "--momentum", "1.5", "--method", "momentum"], "--momentum"),
        (["--n", "3,2", "--lambda-w", "-1"], "--lambda-w"),
        (["--n", "3,2", "--loss", "hinge"], "--loss"),
        (["--n", "3,2", "--grad-tol", "0"], "--grad-tol"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(capsys, argv, flag):
    code = main(["verify", *argv])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0] and "Traceback" not in captured.err


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_cli_diverged_run_is_not_converged_without_warnings(capfd):
    code = main(["verify", "--n", "10,5", "--method", "momentum", "--lr", "100", "--quiet"])
    captured = capfd.readouterr()
    assert code == 1 and captured.err == ""
    assert ("NOT-CONVERGED" in captured.out
            and "matched point    none (the run diverged)" in captured.out)
    assert "note: the run diverged at step" in captured.out
    code = main(["verify", "--n", "10,5", "--method", "gd", "--lr", "100", "--quiet", "--json",
                 "--record-every", "1"])
    captured = capfd.readouterr()
    data = json.loads(captured.out)
    assert code == 1 and captured.err == ""
    assert data["status"] == "not-converged" and data["loss"] is None
    assert any("diverged" in note for note in data["notes"])


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("argv, code", [
    (["--n", "10,5", "--lambda-w", "1e300"], 1),
    (["--n", "10,5", "--depth", "50", "--width", "4"], 1),
    (["--n", "5", "--bias", "free"], 0),
    (["--n", "10,5", "--lambda-w", "1e-300", "--lambda-h", "1e-300"], 0),
])
def test_cli_extreme_but_valid_input_prints_no_warnings(capfd, argv, code):
    assert main(["verify", *argv, "--quiet"]) == code
    captured = capfd.readouterr()
    assert captured.err == "" and "best run" in captured.out


def test_cli_undefined_nc1_is_spelled_out(capsys):
    assert main(["verify", "--n", "5", "--bias", "free", "--width", "4", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "GLOBAL" in out and "undefined" in out and "e+29" not in out


def test_cli_plot(tmp_path, capsys):
    path = tmp_path / "nc.png"
    argv = ["verify", "--n", "4,2", "--depth", "2", "--width", "4", "--method", "momentum",
            "--steps", "300", "--plot", str(path), "--quiet"]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2 and "matplotlib" in err and "pip install" in err
        return
    code = main(argv)
    assert code in (0, 1)
    assert path.exists() and path.read_bytes()[:4] == b"\x89PNG"
