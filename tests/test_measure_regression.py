"""NRC1-3 of a regression head (ncsolve.measure.nrc, ncsolve.measure.regression): each
metric against an independent dense computation written here, and a small real torch
training loop of a regression head (free features, weight decay, full batch) measured
through a real file against the exact minimizer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ncsolve import ProblemError
from ncsolve.cli import main
from ncsolve.measure.nrc import feature_moments, nrc1, nrc2, nrc3
from ncsolve.measure.regression import measure_regression

MIX = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.5, 0.5, 0.2]])


def _targets(N, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N, 3)) @ MIX.T + np.array([1.0, -2.0, 0.5])


# ---- the metrics against dense computations ------------------------------------------------

def _dense_nrc1(H, t):
    centred = H - H.mean(axis=0)
    basis = np.linalg.svd(centred, full_matrices=False)[2][:t].T  # top-t principal axes
    units = H / np.linalg.norm(H, axis=1, keepdims=True)
    return np.mean([np.sum((u - basis @ (basis.T @ u)) ** 2) for u in units])


def _dense_nrc2(H, W):
    units = H / np.linalg.norm(H, axis=1, keepdims=True)
    coef = np.linalg.lstsq(W.T, units.T, rcond=None)[0]  # best combination of W's rows
    return np.mean(np.sum((units.T - W.T @ coef) ** 2, axis=0))


def _dense_nrc3(W, Y):
    values, vectors = np.linalg.eigh(np.cov(Y.T, bias=True))
    root = vectors @ np.diag(np.sqrt(values)) @ vectors.T
    gram = W @ W.T
    gram = gram / np.linalg.norm(gram)
    best = np.inf
    for s in np.linspace(0.0, np.sqrt(values.min()), 20001):
        shifted = root - s * np.eye(len(values))
        best = min(best, np.sum((gram - shifted / np.linalg.norm(shifted)) ** 2))
    return best


@pytest.mark.parametrize("seed", [0, 1])
def test_metrics_equal_dense_computations(seed):
    rng = np.random.default_rng(seed)
    H = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)) + rng.normal(size=6)
    W = rng.normal(size=(3, 6))
    Y = _targets(300, seed)
    moments = feature_moments(H, chunk_elements=100)  # many blocks
    assert nrc1(moments, 3) == pytest.approx(_dense_nrc1(H, 3), rel=1e-10)
    assert nrc2(moments, W) == pytest.approx(_dense_nrc2(H, W), rel=1e-10)
    value, _ = nrc3(W @ W.T, np.cov(Y.T, bias=True))
    dense = _dense_nrc3(W, Y)
    assert value <= dense + 1e-12 and value == pytest.approx(dense, rel=1e-6, abs=1e-12)


def test_collapsed_features_give_zero():
    """Features inside a 3-dimensional subspace spanned by W's rows: NRC1 = NRC2 = 0; a
    Gram of the published form: NRC3 = 0."""
    rng = np.random.default_rng(3)
    W = rng.normal(size=(3, 6))
    H = rng.normal(size=(200, 3)) @ W
    moments = feature_moments(H)
    assert nrc1(moments, 3) <= 1e-12 and nrc2(moments, W) <= 1e-12
    Y = _targets(200)
    values, vectors = np.linalg.eigh(np.cov(Y.T, bias=True))
    form = vectors @ np.diag(np.sqrt(values) - 0.3 * np.sqrt(values.min())) @ vectors.T
    assert nrc3(2.0 * form, np.cov(Y.T, bias=True))[0] <= 1e-12


# ---- a real torch training loop -------------------------------------------------------------

def _train(Y, depth, lambda_w, lambda_h, width=6, seed=0):
    """Free features and a bias-free hidden stack with a last-layer bias, trained on the
    ncsolve objective (1/(2N) ||out - Y||^2 + decays) by full-batch L-BFGS in float64."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    N, t = Y.shape
    H = torch.nn.Parameter(0.5 * torch.randn(N, width, dtype=torch.float64))
    layers = [torch.nn.Linear(width, width, bias=False, dtype=torch.float64)
              for _ in range(depth - 1)] + [torch.nn.Linear(width, t, dtype=torch.float64)]
    head = torch.nn.Sequential(*layers)
    target = torch.from_numpy(Y)
    params = [H, *head.parameters()]
    optimizer = torch.optim.LBFGS(params, lr=1, max_iter=5000, tolerance_grad=1e-13,
                                  tolerance_change=1e-16, history_size=50,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = ((head(H) - target) ** 2).sum() / (2 * N) + lambda_h / 2 * (H**2).sum()
        loss = loss + sum(lambda_w / 2 * (L.weight**2).sum() for L in layers)
        loss.backward()
        return loss

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: threads only add overhead
    try:
        for _ in range(4):
            optimizer.step(closure)
    finally:
        torch.set_num_threads(threads)
    arrays = {"features": H.detach(), "targets": target}
    for j, layer in enumerate(layers, 1):
        arrays[f"W{j}"] = layer.weight.detach()
    arrays[f"b{depth}"] = layers[-1].bias.detach()
    return arrays


@pytest.mark.parametrize("depth, lambda_w, lambda_h, rank", [
    (1, 0.02, 0.002, 3), (1, 0.1, 0.01, 2), (2, 0.02, 0.005, 2)])
def test_trained_regression_head_against_the_exact_minimizer(tmp_path, capsys, depth,
                                                              lambda_w, lambda_h, rank):
    torch = pytest.importorskip("torch")
    Y = _targets(60)
    arrays = _train(Y, depth, lambda_w, lambda_h)
    path = tmp_path / "head.pt"
    torch.save(arrays, path)
    assert main(["measure", str(path), "--lambda-w", str(lambda_w), "--lambda-h",
                 str(lambda_h), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    H = arrays["features"].numpy()
    W = arrays[f"W{depth}"].numpy()
    for j in range(depth - 1, 0, -1):
        W = W @ arrays[f"W{j}"].numpy()
    assert data["nrc1"] == pytest.approx(_dense_nrc1(H, 3), rel=1e-8, abs=1e-11)
    assert data["nrc2"] == pytest.approx(_dense_nrc2(H, W), rel=1e-8, abs=1e-11)
    assert abs(data["gap"]) <= 1e-9  # training reached the exact global minimum
    assert data["theory"]["problem"]["bias"] == "free"
    assert data["rank"] == data["theory"]["rank"] == rank  # directions collapse as predicted
    assert data["nrc1"] <= 1e-8 and data["nrc2"] <= 1e-8 and data["nrc3_exact"] <= 1e-8
    if depth == 1 and rank == 3:  # the published depth-1 form is the minimum
        assert data["theory_nrc3"] <= 1e-10 and data["nrc3"] <= 1e-8
    else:  # a collapsed direction (the positive part) or depth 2: outside NRC3's family
        assert data["theory_nrc3"] > 1e-4
    assert data["nrc3"] == pytest.approx(_dense_nrc3(W, Y), rel=1e-6, abs=1e-10)


def test_regression_measure_without_decays_and_bad_input(tmp_path, capsys):
    rng = np.random.default_rng(0)
    H, W, Y = rng.normal(size=(40, 5)), rng.normal(size=(3, 5)), _targets(40)
    result = measure_regression(H, Y, [W])
    assert result.theory is None and "no exact comparison" in str(result)
    with pytest.raises(ProblemError, match="^weights "):
        measure_regression(H, Y, [rng.normal(size=(2, 5))])
    with pytest.raises(ProblemError, match="^lambda_h "):
        measure_regression(H, Y, [W], lambda_w=0.1)
    path = tmp_path / "head.npz"
    np.savez(path, features=H, targets=Y, W1=W)
    assert main(["measure", str(path)]) == 0
    assert "NRC1" in capsys.readouterr().out
    for argv, param in ((["--loss", "ce"], "loss"), (["--weight-decay", "1e-3"],
                                                      "weight_decay")):
        assert main(["measure", str(path), *argv]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and f"error: {param} " in err
    bad = tmp_path / "bad.npz"
    np.savez(bad, features=H, targets=np.where(Y > 2, np.nan, Y), W1=W)
    assert main(["measure", str(bad)]) == 2
    assert "targets" in capsys.readouterr().err
