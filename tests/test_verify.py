"""`ncsolve verify`: which critical point of the theory a run reached."""

import json

import numpy as np
import pytest

from ncsolve.cli import main
from ncsolve.descent import minimize_lbfgs
from ncsolve.metrics import nc1
from ncsolve.objective import FullObjective
from ncsolve.problem import Problem, ProblemError
from ncsolve.solution import solve
from ncsolve.verify import TheoryTarget, Tolerances, assess, critical_point, verify

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
    assert len(data["restarts"]) == 4
    for run in data["restarts"]:
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
    assert run.collapsed_directions == [0, 1, 2]
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
    assert report.collapsed == [] and report.collapsed_directions == []
    assert report.loss > solution.loss * (1 + 1e-6)
    assert report.candidate_loss == pytest.approx(solution.with_z(report.z_candidate).loss, rel=1e-12)
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
    assert report.collapsed_directions == [2]
    assert max(report.relative_errors.values()) < 1e-6
    assert report.loss == pytest.approx(solution.with_z(z).loss, rel=1e-9)


def test_a_narrow_layer_cutting_an_eigenspace_is_global_in_any_basis():
    # balanced, width 2 < K = 4: any 2 of the 4 equivalent directions are optimal
    problem = Problem.build([4, 4, 4, 4], depth=2, lambda_w=0.005, lambda_h=0.005)
    report = verify(problem, [4, 2], restarts=3, init_scale=1.0)
    assert not report.solution.unique
    assert [r.status for r in report.runs] == ["global"] * 3
    assert all(r.collapsed_directions == [2, 3] for r in report.runs)
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
    # in the theory's own basis they must equal ncsolve.solution's
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


def test_verify_refuses_cross_entropy():
    with pytest.raises(ProblemError, match="loss"):
        verify(Problem.build([3, 2], loss="ce"), 2)


def test_tolerances_decide_the_match():
    problem = Problem.build([5, 3, 2], depth=2, lambda_w=0.01, lambda_h=0.01)
    report = verify(problem, 4, method="momentum", steps=300, init_scale=0.5,
                    tolerances=Tolerances(loss_rtol=1e2, gram_tol=2.0))
    assert report.status in ("global", "local")


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
    assert [r["seed"] for r in data["restarts"]] == [0, 1, 2]


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
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(capsys, argv, flag):
    code = main(["verify", *argv])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0] and "Traceback" not in captured.err


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
