"""Gradient flow from a spectral start against gradient descent on the FULL model.

The start is built here, independently of ncsolve: features, every weight matrix and
(free bias) the bias, aligned with the target's singular vectors computed by numpy's
own eigen-decomposition; descent is plain full-batch gradient descent on the full
objective (every factor matrix), with a small learning rate. Gradient descent is the
explicit Euler scheme of the flow, so its error is first order in the learning rate:
halving it halves the error.
"""

from __future__ import annotations

import numpy as np
import pytest

from ncsolve import ProblemError, dynamics
from ncsolve.core.descent import gradient_descent
from ncsolve.core.objective import FullObjective

# (n, depth, lambda_w, lambda_h, bias): equal decays with a window direction, a free bias
# (with a sigma = 0 direction), unequal decays (thresholds by bisection), two decays
# (thresholds by the separatrix)
CASES = {
    "window": ([8, 4, 2], 2, 0.05, 0.05, "none"),
    "free": ([8, 4, 2, 2], 3, 0.03, 0.03, "free"),
    "unequal": ([8, 4, 2], 3, [0.01, 0.05, 0.02], 0.03, "none"),
    "two decays": ([8, 4, 2], 2, 0.05, 0.005, "none"),
}


def _target(n, bias):
    """Y (or the centred Y), its directions in class space (A) and sample space (V)."""
    n = np.asarray(n)
    N, K = int(n.sum()), n.size
    Y = np.zeros((K, N))
    Y[np.repeat(np.arange(K), n), np.arange(N)] = 1.0
    if bias == "free":
        Y -= Y.mean(axis=1, keepdims=True)
    mu, A = np.linalg.eigh(Y @ Y.T)
    order = np.argsort(-mu, kind="stable")
    mu, A = np.maximum(mu[order], 0.0), A[:, order]
    sigma = np.sqrt(mu)
    V = np.zeros((N, K))
    for i in range(K):
        if sigma[i] > 1e-9:
            V[:, i] = Y.T @ A[:, i] / sigma[i]
        else:  # orthogonal to the other directions and to the all-ones vector
            basis = np.column_stack([np.ones(N), np.delete(V, i, axis=1)])
            w = np.random.default_rng(0).standard_normal(N)
            w -= basis @ np.linalg.lstsq(basis, w, rcond=None)[0]
            V[:, i] = w / np.linalg.norm(w)
    return sigma, A, V


def _start(f: FullObjective, A, V, scales):
    K, d = f.K, f.widths
    H = np.zeros((d[0], f.N))
    H[:K] = scales[0] * V.T
    weights = [np.diag(np.full(K, scales[j + 1])) for j in range(f.M - 1)]
    weights.append(scales[-1] * A)
    b = f.problem.n / f.N if f.has_bias else None
    return f.pack(H, weights, b)


def _descent(case, scales, lr, steps, every=1, gtol=0.0):
    n, depth, lw, lh, bias = CASES[case] if isinstance(case, str) else case
    result = dynamics(n, depth=depth, lambda_w=lw, lambda_h=lh, bias=bias)
    f = FullObjective(result.problem, widths=[len(n)] * depth)
    sigma, A, V = _target(n, bias)
    np.testing.assert_allclose(sigma, result.sigma, atol=1e-12)  # the same directions
    x0 = _start(f, A, V, np.broadcast_to(np.asarray(scales, dtype=float), (depth + 1,)))

    def read(x):
        p = f.split(x)
        return np.einsum("ki,ki->i", A, p.product() @ p.H @ V)

    run = gradient_descent(f, lr=lr, steps=steps, x0=x0, record_every=every, recorder=read,
                           progress=False, gtol=gtol)
    assert gtol == 0.0 or run.grad_norm <= gtol, run.message
    return (np.array([s.step for s in run.trajectory]) * lr,
            np.array([s.data for s in run.trajectory]))


def _flow(case, scales, **options):
    n, depth, lw, lh, bias = CASES[case]
    return dynamics(n, depth=depth, lambda_w=lw, lambda_h=lh, bias=bias, init_scale=scales,
                    **options)


@pytest.mark.parametrize("case,scales", [("window", 0.6), ("free", 0.7),
                                         ("unequal", [0.3, 0.9, 0.7, 0.5])])
def test_each_direction_follows_the_flow_to_first_order_in_the_learning_rate(case, scales):
    result = _flow(case, scales, trajectory=True)
    times, predicted = result.flow.times, np.prod(result.flow.paths, axis=2).T  # (T, K)
    keep = times <= 40.0  # the learning phase, where the values change fastest
    times, predicted = times[keep], predicted[keep]
    errors = []
    for per_point in (8, 16):
        lr = (times[1] - times[0]) / per_point
        observed = _descent(case, scales, lr, per_point * (times.size - 1), per_point)[1]
        errors.append(np.max(np.abs(observed - predicted)) / np.max(np.abs(predicted)))
    assert errors[1] < 5e-3
    assert 1.9 < errors[0] / errors[1] < 2.1  # first order: halving lr halves the error


def _ends(case, scale, steps=40000, lr=0.25):
    """Where descent stops (a gradient norm of 1e-11: the end points of descent are exact
    critical points whatever the learning rate)."""
    return _descent(case, scale, lr, steps, every=steps, gtol=1e-11)[1][-1]


@pytest.mark.parametrize("case", list(CASES))
def test_ends_are_exact_on_both_sides_of_every_threshold(case):
    thresholds = _flow(case, None).flow.init_threshold
    for threshold in thresholds[np.isfinite(thresholds) & (thresholds > 0)]:
        for factor in (0.9, 1.1):
            result = _flow(case, factor * threshold)
            observed = _ends(case, factor * threshold)
            learned = result.flow.end != "zero"
            np.testing.assert_allclose(observed[learned], result.flow.end_z[learned],
                                       rtol=1e-7)
            assert np.all(np.abs(observed[~learned]) < 1e-8), (factor, observed)
            below = factor * threshold < thresholds
            assert np.array_equal(~learned, below | ~np.isfinite(thresholds))


def test_window_direction_ends_at_the_local_minimum_and_a_scale_range_is_global():
    result = _flow("window", 0.8)
    assert list(result.direction_state) == ["active", "active", "window"]
    assert list(result.flow.end) == ["global", "global", "local"]
    assert not result.to_dict()["dynamics"]["reaches_global"]
    low, high = result.global_scales
    assert low == result.flow.init_threshold[1] and high == result.flow.init_threshold[2]
    inside = _flow("window", np.sqrt(low * high))
    assert list(inside.flow.end) == ["global", "global", "zero"]
    assert inside.to_dict()["dynamics"]["reaches_global"]
    # descent from inside the range reaches the global minimizer's loss
    n, depth, lw, lh, bias = CASES["window"]
    observed = _ends("window", np.sqrt(low * high))
    np.testing.assert_allclose(observed, inside.z, rtol=1e-7, atol=1e-8)


def test_time_to_half_is_when_descent_gets_halfway():
    result = _flow("free", 0.7, lr=0.01)
    times, observed = _descent("free", 0.7, 0.01, int(1.2 * np.nanmax(result.steps_to_half)))
    for i in np.flatnonzero(result.flow.end != "zero"):
        z0 = 0.7 ** 4
        middle = 0.5 * (z0 + result.flow.end_z[i])
        step = np.argmax(observed[:, i] >= middle)
        assert abs(step - result.steps_to_half[i]) <= 0.01 * step + 2


def test_steps_convert_time_and_give_the_value_after_them():
    result = _flow("window", 0.6, lr=0.02, steps=400)
    observed = _descent("window", 0.6, 0.02, 400, every=400)[1][-1]
    np.testing.assert_allclose(observed, result.flow.z_after_steps, rtol=2e-2)
    assert result.to_dict()["directions"][0]["steps_to_half"] == np.ceil(
        result.flow.time_to_half[0] / 0.02)


def test_threshold_is_the_smaller_root_of_the_stationarity_equation():
    result = _flow("window", None)
    p = result.problem
    z = result.flow.init_threshold ** p.L
    lhs = (result.sigma - z) * z ** (1 - p.q)
    np.testing.assert_allclose(lhs, p.N * p.lbar, rtol=1e-12)
    assert np.all(z < (1 - p.q) / (2 - p.q) * result.sigma)  # left of the peak


def test_depth_one_learns_from_every_positive_start():
    result = dynamics([5, 3], depth=1, lambda_w=0.05, lambda_h=0.05, init_scale=1e-3)
    assert list(result.flow.init_threshold) == [0.0, 0.0]
    assert list(result.flow.end) == ["global", "global"]


@pytest.mark.parametrize("kwargs,param", [
    ({"init_scale": -0.1}, "init_scale"), ({"init_scale": float("inf")}, "init_scale"),
    ({"init_scale": [0.1, 0.2]}, "init_scale"), ({"init_scale": "0.1,nan,0.1"}, "init_scale"),
    ({"loss": "ce"}, "n"), ({"bias": "regularized"}, "bias"),  # ce: balanced classes only
    ({"init_scale": 0.1, "steps": 10}, "steps"), ({"lr": 0}, "lr"),
    ({"init_scale": 1e40}, "init_scale"), ({"init_scale": [1e-300, 1e30, 1.0]}, "init_scale"),
    ({"init_scale": 0}, "init_scale"),
])
def test_bad_input_is_refused_by_name(kwargs, param):
    with pytest.raises(ProblemError, match=rf"^{param} \(--"):
        dynamics([3, 2], depth=2, **kwargs)


# ---- command line -------------------------------------------------------------------------

WINDOW = ["--n", "8,4,2", "--depth", "2", "--lambda-w", "0.05", "--lambda-h", "0.05"]


def _cli(capsys, *args):
    from ncsolve.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_and_text_are_the_result(capsys):
    import json

    result = dynamics([8, 4, 2], depth=2, lambda_w=0.05, lambda_h=0.05, init_scale=0.6,
                      lr=0.05, steps=100)
    code, out, err = _cli(capsys, "dynamics", *WINDOW, "--init-scale", "0.6", "--lr", "0.05",
                          "--steps", "100", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data == json.loads(json.dumps(result.to_dict()))
    assert [d["end"] for d in data["directions"]] == ["global", "global", "local"]
    assert data["dynamics"]["learning_order"] == [0, 1, 2]
    code, out, err = _cli(capsys, "dynamics", *WINDOW, "--init-scale", "0.6", "--lr", "0.05",
                          "--steps", "100")
    assert code == 0 and out == str(result) + "\n"


def test_predict_with_init_scale_adds_the_ends(capsys):
    import json

    code, out, _ = _cli(capsys, "predict", *WINDOW, "--json")
    plain = json.loads(out)
    code, out, err = _cli(capsys, "predict", *WINDOW, "--init-scale", "0.6", "--json")
    data = json.loads(out)
    assert code == 0 and err == ""
    assert [d["end"] for d in data["directions"]] == ["global", "global", "local"]
    for key in plain:  # everything predict says, unchanged
        assert data[key] == plain[key] or key == "directions", key
    for mine, theirs in zip(data["directions"], plain["directions"]):
        assert {k: mine[k] for k in theirs} == theirs


@pytest.mark.parametrize("flags,param", [
    (["--init-scale", "-0.1"], "init_scale"), (["--init-scale", "nan"], "init_scale"),
    (["--init-scale", "inf"], "init_scale"), (["--init-scale", "0.1,0.2"], "init_scale"),
    (["--init-scale", "0.1", "--steps", "10"], "steps"), (["--loss", "ce"], "n|loss"),
    (["--bias", "regularized", "--lambda-b", "0.1"], "bias"),
    (["--plot", "flow.gif", "--init-scale", "0.5"], "plot"), (["--plot", "flow.png"], "plot"),
])
def test_cli_bad_input_is_one_line_and_status_2(capsys, tmp_path, monkeypatch, flags, param):
    monkeypatch.chdir(tmp_path)
    for command in ("dynamics", "predict"):
        if command == "predict" and param in ("steps", "plot"):
            continue
        bare = command == "predict" and "--init-scale" not in flags
        extra = ["--init-scale", "0.5"] if bare else []
        code, out, err = _cli(capsys, command, *WINDOW, *flags, *extra)
        assert code == 2 and out == "" and len(err.splitlines()) == 1, (command, err)
        # cross-entropy: dynamics refuses the unequal sizes, predict's ends the loss
        expected = param if "|" not in param else param.split("|")[command == "predict"]
        assert err.startswith(f"ncsolve {command}: error: {expected} (--"), err
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_plot_is_drawn_and_never_overwritten_unasked(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "flow.png"
    code, _, err = _cli(capsys, "dynamics", *WINDOW, "--init-scale", "0.6", "--plot", str(path),
                        "--quiet")
    assert code == 0 and path.stat().st_size > 10_000
    path.write_bytes(b"mine")
    code, _, err = _cli(capsys, "dynamics", *WINDOW, "--init-scale", "0.6", "--plot", str(path))
    assert code == 2 and "exists" in err and path.read_bytes() == b"mine"
    code, _, err = _cli(capsys, "dynamics", *WINDOW, "--init-scale", "0.6", "--plot", str(path),
                        "--force", "--quiet")
    assert code == 0 and path.read_bytes()[:4] == b"\x89PNG"


def test_trajectory_and_training_conventions():
    import json

    result = _flow("window", 0.6, trajectory=True)
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    times = data["dynamics"]["times"]
    assert len(times) == len(data["directions"][0]["trajectory"]) == result.flow.paths.shape[1]
    assert data["directions"][0]["trajectory"][0] == pytest.approx(0.6**3)
    # a script's nn.MSELoss (mean over N K entries) is this objective / (K/2): its learning
    # rate moves this objective's flow K/2 times slower
    mapped = dynamics([8, 4, 2], depth=2, weight_decay=0.05 / 1.5, feature_decay=0.05 / 1.5,
                      init_scale=0.6, lr=0.3)
    assert mapped.convention.scale == pytest.approx(1.5)
    assert mapped.flow.lr == pytest.approx(0.2) and list(mapped.flow.end) == list(
        _flow("window", 0.6).flow.end)


@pytest.mark.parametrize("scales", [[0.3, 0.9, 0.8], [1.2, 0.2, 0.5], [0.5, 0.5, 0.7]])
def test_per_factor_scales_end_where_descent_ends(scales):
    result = _flow("window", scales)
    observed = _ends("window", scales)
    learned = result.flow.end != "zero"
    np.testing.assert_allclose(observed[learned], result.flow.end_z[learned], rtol=1e-7)
    assert np.all(np.abs(observed[~learned]) < 1e-8)


def test_smaller_root_against_brentq():
    from scipy.optimize import brentq

    from ncsolve.core import scalar

    rng = np.random.default_rng(1)
    for _ in range(200):
        L = int(rng.integers(3, 9))
        q, sigma, N = 2.0 / L, float(np.exp(rng.uniform(-3, 5))), int(rng.integers(1, 10**6))
        peak = (1 - q) / (2 - q) * sigma
        top = (sigma - peak) * peak ** (1 - q)  # the largest value of the left side
        lbar = top / N * float(rng.uniform(1e-6, 1.0))
        low = scalar.low_root(np.array([sigma]), N, lbar, q)[0]
        expected = brentq(lambda z: (sigma - z) * z ** (1 - q) - N * lbar, 0.0, peak,
                          xtol=1e-300, rtol=1e-15)
        assert low == pytest.approx(expected, rel=1e-11)
    beyond = scalar.low_root(np.array([1.0, 0.0]), 10, 1.0, 0.5)
    assert np.all(np.isnan(beyond))  # no positive root: beyond the existence boundary, sigma 0


def test_halfway_time_quadrature_agrees_with_integrating_the_system():
    from ncsolve.solvers.dynamics import flow
    from ncsolve.solvers.dynamics.solver import balanced_time, directions_of

    result = _flow("window", 0.5)
    for direction, end_z in zip(directions_of(result), result.flow.end_z):
        run = flow.run(direction, np.full(3, 0.5))
        assert run.end_z == end_z
        assert balanced_time(direction, 0.5, end_z) == pytest.approx(run.time_to_half,
                                                                     rel=1e-6)
