"""A real backbone: an MLP trained by PyTorch on imbalanced subsets of scikit-learn's
bundled digits (no download), measured with a linear head.

Checks that (1) NC1, CDNV, equinorm, Gram distance, self-duality and NC4 equal an
independent dense computation written here, and (2) the training-convention
mapping is exact: ncsolve's objective at the trained parameters equals the scale
of the mapping times the training loss evaluated by PyTorch (1e-6 in float32).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
datasets = pytest.importorskip("sklearn.datasets")

from ncsolve.measure import measure, training_decays  # noqa: E402

SIZES = (150, 100, 60, 40, 34)  # training samples of digits 0..4: N = 384 = 6 batches
WD, FD, BATCH = 5e-4, 1e-3, 64


def _subsets():
    X, y = datasets.load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.default_rng(0)
    train, test = [], []
    for k, size in enumerate(SIZES):
        idx = rng.permutation(np.flatnonzero(y == k))
        train.append(idx[:size])
        test.append(idx[size: size + 25])
    train, test = rng.permutation(np.concatenate(train)), np.concatenate(test)
    return X[train], y[train], X[test], y[test]


class Net(torch.nn.Module):
    def __init__(self, K):
        super().__init__()
        self.backbone = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(),
                                            torch.nn.Linear(32, 16), torch.nn.ReLU())
        self.head = torch.nn.Linear(16, K)

    def forward(self, x):
        return self.head(self.backbone(x))


def _batch_loss(net, x, y, K, loss):
    features = net.backbone(x)
    out = net.head(features)
    if loss == "mse":
        data = torch.nn.MSELoss()(out, torch.nn.functional.one_hot(y, K).float())
    else:
        data = torch.nn.CrossEntropyLoss()(out, y)
    return data + FD / 2 * (features**2).sum()


def _train(loss, epochs=80):
    torch.manual_seed(0)
    Xtr, ytr, Xte, yte = _subsets()
    K = len(SIZES)
    x, y = torch.tensor(Xtr, dtype=torch.float32), torch.tensor(ytr)
    net = Net(K)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=WD)
    for _ in range(epochs):
        for i in torch.split(torch.randperm(x.shape[0]), BATCH):
            opt.zero_grad()
            _batch_loss(net, x[i], y[i], K, loss).backward()
            opt.step()
    with torch.no_grad():
        features = net.backbone(x)
        test_features = net.backbone(torch.tensor(Xte, dtype=torch.float32))
    return net, x, y, features, test_features, yte


@pytest.fixture(scope="module", params=["mse", "ce"])
def trained(request):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    loss = request.param
    net, x, y, features, test_features, test_labels = _train(loss)
    report = measure(features, y, [net.head.weight], [net.head.bias], loss=loss,
                     convention=_convention(loss, features.shape[0]),
                     restarts=1 if loss == "ce" else None,  # MSE refuses a search option
                     test_features=test_features, test_labels=test_labels)
    yield loss, (net, x, y, features, test_features, test_labels), report
    torch.set_num_threads(threads)


def _convention(loss, N):
    return training_decays(num_classes=len(SIZES), num_samples=N, depth=1, weight_decay=WD,
                           loss=loss, loss_reduction="mean", feature_decay=FD,
                           batch_size=BATCH, last_bias=True)


def test_metrics_equal_a_dense_computation(trained):
    loss, (net, _, y, features, test_features, test_labels), report = trained
    H = features.numpy().astype(np.float64)
    labels = y.numpy()
    W = net.head.weight.detach().numpy().astype(np.float64)
    b = net.head.bias.detach().numpy().astype(np.float64)
    K, N = len(SIZES), H.shape[0]
    means = np.stack([H[labels == k].mean(axis=0) for k in range(K)])
    centre = H.mean(axis=0)
    within = sum(np.outer(h - means[k], h - means[k]) for h, k in zip(H, labels)) / N
    between = (means - centre).T @ (means - centre) / K
    nc1 = np.trace(within @ np.linalg.pinv(between, rcond=1e-12, hermitian=True)) / K
    variances = np.array([np.mean(np.sum((H[labels == k] - means[k]) ** 2, axis=1))
                          for k in range(K)])
    cdnv = np.mean([(variances[i] + variances[j]) / (2 * np.sum((means[i] - means[j]) ** 2))
                    for i in range(K) for j in range(i + 1, K)])
    # weight_decay reaches the bias: a regularized bias, which does not absorb a common
    # shift of the features for free, so class means are taken around the origin
    assert report.problem["bias"] == "regularized"
    centred = means
    lengths = np.linalg.norm(centred, axis=1)
    rows = np.linalg.norm(W, axis=1)
    gram = centred @ centred.T
    target = report.theory.gram_features()
    gram_distance = np.linalg.norm(gram / np.linalg.norm(gram) - target / np.linalg.norm(target))
    around = means - centre
    weights = np.array(SIZES) / N
    projector = np.eye(K) - np.outer(np.ones(K), weights)  # class means minus their mean
    target_c = projector @ target @ projector.T
    gram_c = around @ around.T
    centred_distance = np.linalg.norm(gram_c / np.linalg.norm(gram_c)
                                      - target_c / np.linalg.norm(target_c))
    duality = np.linalg.norm(W.T / np.linalg.norm(W) - centred.T / np.linalg.norm(centred))
    T = test_features.numpy().astype(np.float64)
    nearest = np.argmin(((T[:, None, :] - means[None, :, :]) ** 2).sum(axis=2), axis=1)
    network = np.argmax(T @ W.T + b, axis=1)
    layer = report.layers[0]
    expected = {"nc1": nc1, "cdnv": cdnv, "equinorm": lengths.std() / lengths.mean(),
                "classifier_equinorm": rows.std() / rows.mean(), "gram_distance": gram_distance,
                "gram_distance_centred": centred_distance,
                "self_duality": duality, "nc4": np.mean(nearest == network)}
    for name, value in expected.items():
        assert getattr(layer, name) == pytest.approx(value, rel=1e-9), name
    np.testing.assert_allclose(report.classes["feature_norm"], lengths, rtol=1e-12)
    np.testing.assert_allclose(report.classes["classifier_norm"], rows, rtol=1e-12)
    assert report.accuracy == pytest.approx(np.mean(network == test_labels))
    assert 0 < nc1 < 1  # a trained backbone collapses partly, not fully
    assert report.certainty == report.theory.certainty  # carried from predict
    assert report.certainty in (("proved", "best found") if loss == "ce" else ("exact", "proved"))


def test_training_loss_maps_onto_the_objective(trained):
    """Epoch average of the batch losses (head, features) x scale = ncsolve's objective."""
    loss, (net, x, y, features, _, _), report = trained
    mapping = _convention(loss, features.shape[0])
    K = len(SIZES)
    with torch.no_grad():
        head_decay = sum((p**2).sum() for p in net.head.parameters())
        batches = [_batch_loss(net, x[i: i + BATCH], y[i: i + BATCH], K, loss)
                   + WD / 2 * head_decay for i in range(0, x.shape[0], BATCH)]
        epoch = float(sum(batches)) / len(batches)
    assert mapping.lambda_b is not None  # weight_decay reaches the bias too
    assert report.loss == pytest.approx(mapping.scale * epoch, rel=1e-6)


def test_a_nonlinear_head_is_measured_layer_by_layer(trained):
    """Backbone layer 2 + ReLU + the head as a two-layer nonlinear head: each layer from its
    own features, NC1 as verify computes it, and no comparison with the linear theory."""
    from ncsolve.core.metrics import nc1

    loss, (net, x, y, _, _, _), _ = trained
    with torch.no_grad():
        inner = net.backbone[:2](x)              # layer 0: after the first ReLU (32 wide)
        outer = net.backbone(x)                  # layer 1: after the second ReLU (16 wide)
    second = net.backbone[2]
    report = measure(inner, y, [second.weight, net.head.weight], [second.bias, net.head.bias],
                     layer_features=[outer])
    labels = y.numpy()
    order = np.argsort(labels, kind="stable")
    n = np.bincount(labels)
    for layer, rows in zip(report.layers, (inner, outer)):
        columns = rows.numpy().astype(np.float64)[order].T
        assert layer.nc1 == pytest.approx(nc1(columns, n), rel=1e-10)
    assert report.status == "metrics only" and report.theory is None
    assert report.layers[0].self_duality is None and report.layers[1].self_duality is not None
    assert any("nonlinearities" in note for note in report.notes)


@pytest.mark.slow
def test_cross_entropy_backbone_without_feature_decay_fits_lambda_h():
    """A backbone trained with nn.CrossEntropyLoss and no feature decay: lambda_H is
    fitted (each trial solves the CE theory), with its residual."""
    torch.set_num_threads(1)
    net, _, y, features, test_features, test_labels = _train("ce")
    mapping = training_decays(num_classes=len(SIZES), num_samples=features.shape[0], depth=1,
                              weight_decay=WD, loss="ce", last_bias=True)
    assert mapping.lambda_h is None and mapping.scale == 1.0
    report = measure(features, y, [net.head.weight], [net.head.bias], loss="ce",
                     convention=mapping, restarts=1, test_features=test_features,
                     test_labels=test_labels)
    fit = report.lambda_h_fit
    assert fit is not None and fit["value"] > 0 and np.isfinite(fit["residual"])
    assert report.problem["lambda_h"] == fit["value"]
    assert any("fitted" in note for note in report.notes)
