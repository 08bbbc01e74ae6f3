"""Every metric of ``measure --json`` against a dense computation written here, on a
fixed trained example, and the same quantities under rhubarbwu/neural-collapse's
definitions (recomputed here from their formulas, not imported).

The example: a 64-32-16 ReLU backbone with a two-layer linear head (16 x 16, 16 x 6,
no biases) trained by SGD with weight_decay and nn.MSELoss() on digits 0..5 of
scikit-learn's bundled digits, 160/110/80/50/30/18 samples; digits 6..9 through the
same backbone are the out-of-distribution features.

``python tests/test_measure_parity.py`` prints the table of docs/measure.md.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
datasets = pytest.importorskip("sklearn.datasets")

from ncsolve.cli import main  # noqa: E402
from ncsolve.measure import measure, target_grams, training_decays  # noqa: E402

SIZES = (160, 110, 80, 50, 30, 18)
WD, BATCH, EPOCHS = 5e-4, 64, 120
K = len(SIZES)


def trained_example():
    """(features, labels, [W1, W2], ood_features) as float64 numpy arrays."""
    X, y = datasets.load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.permutation(np.flatnonzero(y == k))[:s]
                           for k, s in enumerate(SIZES)])
    rows = rng.permutation(rows)
    ood_rows = np.flatnonzero(y >= K)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        backbone = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(),
                                       torch.nn.Linear(32, 16), torch.nn.ReLU())
        head = torch.nn.Sequential(torch.nn.Linear(16, 16, bias=False),
                                   torch.nn.Linear(16, K, bias=False))
        x = torch.tensor(X[rows], dtype=torch.float32)
        labels = torch.tensor(y[rows])
        target = torch.nn.functional.one_hot(labels, K).float()
        params = [*backbone.parameters(), *head.parameters()]
        opt = torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=WD)
        for _ in range(EPOCHS):
            for batch in torch.split(torch.randperm(x.shape[0]), BATCH):
                opt.zero_grad()
                torch.nn.MSELoss()(head(backbone(x[batch])), target[batch]).backward()
                opt.step()
        with torch.no_grad():
            features = backbone(x).double().numpy()
            ood = backbone(torch.tensor(X[ood_rows], dtype=torch.float32)).double().numpy()
        weights = [layer.weight.detach().double().numpy() for layer in head]
    finally:
        torch.set_num_threads(threads)
    return features, labels.numpy(), weights, ood


@pytest.fixture(scope="module")
def example():
    features, labels, weights, ood = trained_example()
    convention = training_decays(num_classes=K, num_samples=labels.size, depth=2,
                                 weight_decay=WD, batch_size=BATCH)
    report = measure(features, labels, weights, convention=convention, ood_features=ood)
    return features, labels, weights, ood, report


# ---- the dense computation ---------------------------------------------------------------


def cov(values):
    values = np.asarray(values, dtype=float)
    return values.std() / values.mean()


def unit(matrix):
    return matrix / np.linalg.norm(matrix)


def dense_layer(F, labels, C, ood_mean, target_gram):
    """Every metric of one layer from its features F (N x d, rows), classifier C
    (K x d) and the theory's class-mean Gram; bias-free, so the theory's class means
    are taken around the origin."""
    N, d = F.shape
    mu = np.array([F[labels == k].mean(axis=0) for k in range(K)])
    mu_G = F.mean(axis=0)
    around = mu - mu_G
    sigma_w = sum((F[labels == k] - mu[k]).T @ (F[labels == k] - mu[k]) for k in range(K)) / N
    sigma_b = around.T @ around / K
    eigen, vectors = np.linalg.eigh(sigma_b)
    top = vectors[:, -(K - 1):] / eigen[-(K - 1):]
    variances = np.array([np.mean(np.sum((F[labels == k] - mu[k]) ** 2, axis=1))
                          for k in range(K)])
    pairs = list(itertools.combinations(range(K), 2))
    cdnv = np.mean([(variances[k] + variances[m]) / (2 * np.sum((mu[k] - mu[m]) ** 2))
                    for k, m in pairs])
    u = around / np.linalg.norm(around, axis=1, keepdims=True)
    w = C / np.linalg.norm(C, axis=1, keepdims=True)
    cosines = np.sum(w * u, axis=1)
    weights = np.array(SIZES) / N
    projector = np.eye(K) - np.outer(np.ones(K), weights)
    target_c = projector @ target_gram @ projector.T
    ood = ood_mean - mu_G
    nearest = np.argmin(((F[:, None, :] - mu[None]) ** 2).sum(axis=2), axis=1)
    return {
        "nc1": np.trace(sigma_w @ torch.linalg.pinv(torch.from_numpy(sigma_b)).numpy()) / K,
        "nc1_svd": np.trace(sigma_w @ top @ vectors[:, -(K - 1):].T) / K,
        "nc1_quotient": np.trace(sigma_w) / np.trace(sigma_b),
        "cdnv": cdnv,
        "equinorm": cov(np.linalg.norm(mu, axis=1)),
        "equinorm_centred": cov(np.linalg.norm(around, axis=1)),
        "classifier_equinorm": cov(np.linalg.norm(C, axis=1)),
        "gram_distance": np.linalg.norm(unit(mu @ mu.T) - unit(target_gram)),
        "gram_distance_centred": np.linalg.norm(unit(around @ around.T) - unit(target_c)),
        "self_duality": np.linalg.norm(unit(C) - unit(mu)),
        "self_duality_centred": np.linalg.norm(unit(C) - unit(around)),
        "gnc2": np.mean([-np.log(np.linalg.norm(u[k] - u[m])) for k, m in pairs]),
        "unc3": cov(cosines),
        "nc5": np.mean(np.abs(u @ ood / np.linalg.norm(ood))),
        "nc4": np.mean(nearest == np.argmax(F @ C.T, axis=1)),
    }


def test_every_metric_equals_a_dense_computation(example):
    features, labels, weights, ood, report = example
    layer_features = [features, features @ weights[0].T]
    classifiers = [weights[1] @ weights[0], weights[1]]
    oods = [ood.mean(axis=0), weights[0] @ ood.mean(axis=0)]
    for j, layer in enumerate(report.layers):
        expected = dense_layer(layer_features[j], labels, classifiers[j], oods[j],
                               report.theory.gram_features(j))
        for name, value in expected.items():
            assert getattr(layer, name) == pytest.approx(value, rel=1e-9, abs=1e-14), (j, name)
        assert layer.nc1_dropped == 0


def test_json_carries_every_metric(example, tmp_path, capsys):
    features, labels, weights, ood, _ = example
    path = tmp_path / "run.npz"
    np.savez(path, features=features, labels=labels, W1=weights[0], W2=weights[1])
    np.savez(tmp_path / "ood.npz", ood_features=ood)
    status = main(["measure", str(path), "--weight-decay", str(WD),
                   "--batch-size", str(BATCH), "--ood", str(tmp_path / "ood.npz"), "--json"])
    out = capsys.readouterr()
    assert status == 0, out.err
    report = json.loads(out.out)
    fields = {"nc1", "nc1_svd", "nc1_quotient", "cdnv", "equinorm", "equinorm_centred",
              "gram_distance", "gram_distance_centred", "self_duality",
              "self_duality_centred", "gnc2", "unc3", "nc5", "nc4"}
    for layer in report["layers"]:
        assert fields <= set(layer)
        assert all(isinstance(layer[name], float) for name in fields)


# ---- the theory's targets for other code -------------------------------------------------


def test_export_targets_gives_the_minimizers_grams(example, tmp_path, capsys):
    features, labels, weights, _, report = example
    grams = target_grams(report)
    theory = report.theory
    assert len(grams["features"]) == 2
    np.testing.assert_array_equal(grams["outputs"], theory.gram_outputs())
    # the exported Grams are the minimizer's: its outputs W2 W1 Hbar factor through them,
    # the output Gram is Y-like (diagonal dominant), and the class-mean Gram of layer 1
    # is W1 Hbar's, so its trace equals the squared class-mean lengths of the theory
    np.testing.assert_allclose(np.diag(grams["features"][0]),
                               np.asarray(theory.feature_norm) ** 2, rtol=1e-12)
    np.testing.assert_allclose(np.sqrt(np.diag(grams["classifier"][0])),
                               theory.classifier_norm, rtol=1e-12)
    path = tmp_path / "run.npz"
    np.savez(path, features=features, labels=labels, W1=weights[0], W2=weights[1])
    target = tmp_path / "targets.npz"
    args = ["measure", str(path), "--weight-decay", str(WD),
            "--batch-size", str(BATCH), "--export-targets", str(target)]
    assert main(args) == 0
    capsys.readouterr()
    with np.load(target) as data:
        np.testing.assert_allclose(data["features_1"], grams["features"][1], rtol=1e-15)
        np.testing.assert_array_equal(data["n"], SIZES)
    before = target.read_bytes()
    assert main(args) == 2  # never overwritten unasked
    err = capsys.readouterr().err
    assert "exists" in err and len(err.strip().splitlines()) == 1
    assert target.read_bytes() == before
    assert main([*args[:-1], str(tmp_path / "targets.txt")]) == 2
    capsys.readouterr()
    assert main([*args[:-1], str(tmp_path / "targets.json")]) == 0
    data = json.loads((tmp_path / "targets.json").read_text())
    np.testing.assert_allclose(data["outputs"], grams["outputs"], rtol=1e-15)


# ---- rhubarbwu/neural-collapse's definitions, recomputed --------------------------------


def rhubarbwu_layer(F, labels, C, ood_mean):
    """The library's formulas (neural_collapse/measure.py and kernels.py), written out:
    Sigma_B there is ``Mc^T Mc / D`` (D the width), NC1 ``tr(pinv(Sigma_B) Sigma_W) / K``,
    the SVD form ``tr(Sigma_W U diag(1/s) U^T)`` over the top K - 1 (not divided by K),
    the trace ratio against the same Sigma_B, CoVs with torch's default (unbiased) std,
    NC2 and NC3 against the simplex ETF (Kothapalli's structure error), NC5 the cosine
    of the raw class means with the OOD mean."""
    N, D = F.shape
    mu = np.array([F[labels == k].mean(axis=0) for k in range(K)])
    Mc = mu - F.mean(axis=0)
    sigma_w = sum((F[labels == k] - mu[k]).T @ (F[labels == k] - mu[k]) for k in range(K)) / N
    inter = Mc.T @ Mc / D
    eigen, vectors = np.linalg.eigh(inter)
    top = vectors[:, -(K - 1):]

    def structure_error(A, B):
        s = B @ A.T
        s = s / np.linalg.norm(s) + 1 / K / np.sqrt(K - 1)
        s[np.diag_indices(K)] -= 1 / np.sqrt(K - 1)
        return np.linalg.norm(s)

    u = Mc / np.linalg.norm(Mc, axis=1, keepdims=True)
    w = C / np.linalg.norm(C, axis=1, keepdims=True)
    norms = np.linalg.norm(Mc, axis=1)
    cosines = np.sum(u * w, axis=1)
    distance = np.array([[np.linalg.norm(u[k] - u[m]) for m in range(K)] for k in range(K)])
    off = ~np.eye(K, dtype=bool)
    return {
        "nc1": np.trace(np.linalg.pinv(inter) @ sigma_w) / K,
        "nc1_svd": np.trace(sigma_w @ top @ np.diag(1 / eigen[-(K - 1):]) @ top.T),
        "nc1_quotient": np.trace(sigma_w) / np.trace(inter),
        "equinorm_centred": norms.std(ddof=1) / norms.mean(),
        "gram_distance_centred": structure_error(Mc, Mc),
        "self_duality_centred": structure_error(Mc, C),
        "gnc2": np.mean(-np.log(distance[off])),
        "unc3": cosines.std(ddof=1) / cosines.mean(),
        "nc5": np.mean(np.abs(mu @ ood_mean / np.linalg.norm(mu, axis=1)
                              / np.linalg.norm(ood_mean))),
    }


def test_rhubarbwu_definitions_differ_only_as_explained(example):
    features, labels, weights, ood, report = example
    F, C = features, weights[1] @ weights[0]
    theirs = rhubarbwu_layer(F, labels, C, ood.mean(axis=0))
    ours = report.layers[0]
    d = F.shape[1]
    assert theirs["nc1"] == pytest.approx(ours.nc1 * d / K, rel=1e-9)  # Sigma_B / D, not / K
    assert theirs["nc1_svd"] == pytest.approx(ours.nc1_svd * d, rel=1e-9)
    assert theirs["nc1_quotient"] == pytest.approx(ours.nc1_quotient * d / K, rel=1e-9)
    assert theirs["equinorm_centred"] == pytest.approx(
        ours.equinorm_centred * np.sqrt(K / (K - 1)), rel=1e-9)  # unbiased std
    assert theirs["unc3"] == pytest.approx(ours.unc3 * np.sqrt(K / (K - 1)), rel=1e-9)
    assert theirs["gnc2"] == pytest.approx(ours.gnc2, rel=1e-12)
    assert abs(theirs["nc5"] - ours.nc5) > 1e-3  # raw against centred means


def table(example) -> str:
    """The markdown table of docs/measure.md (layer 0)."""
    features, labels, weights, ood, report = example
    C = weights[1] @ weights[0]
    theirs = rhubarbwu_layer(features, labels, C, ood.mean(axis=0))
    layer = report.layers[0]
    lines = ["| metric | ncsolve | rhubarbwu's definition |", "|---|---|---|"]
    for name in ("nc1", "nc1_svd", "nc1_quotient", "cdnv", "equinorm", "equinorm_centred",
                 "gram_distance", "gram_distance_centred", "self_duality",
                 "self_duality_centred", "gnc2", "unc3", "nc5", "nc4"):
        other = theirs.get(name)
        lines.append(f"| `{name}` | {getattr(layer, name):.4g} | "
                     + ("" if other is None else f"{other:.4g}") + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    features, labels, weights, ood = trained_example()
    convention = training_decays(num_classes=K, num_samples=labels.size, depth=2,
                                 weight_decay=WD, batch_size=BATCH)
    report = measure(features, labels, weights, convention=convention, ood_features=ood)
    print(table((features, labels, weights, ood, report)))
    print(report)
