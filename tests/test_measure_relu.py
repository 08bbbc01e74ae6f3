"""A real ReLU backbone (PyTorch, scikit-learn's bundled digits) measured against the
nonnegative theory beside the unconstrained one; the distances are recomputed here
from the class means and predict's answers."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
datasets = pytest.importorskip("sklearn.datasets")

from ncsolve import ProblemError, predict  # noqa: E402
from ncsolve.measure import measure  # noqa: E402
from ncsolve.measure.relu import compare_relu  # noqa: E402

SIZES = (60, 40, 20)
DECAY = dict(lambda_w=2e-3, lambda_h=1e-3, lambda_b=2e-3, bias="regularized")


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    X, y = datasets.load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = np.concatenate([rng.permutation(np.flatnonzero(y == k))[:s]
                          for k, s in enumerate(SIZES)])
    x = torch.tensor(X[idx] / 16.0, dtype=torch.float32)
    labels = torch.tensor(y[idx])
    backbone = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.ReLU())
    head = torch.nn.Linear(16, len(SIZES))
    opt = torch.optim.SGD([*backbone.parameters(), *head.parameters()], lr=0.05,
                          momentum=0.9, weight_decay=1e-3)
    for _ in range(200):
        opt.zero_grad()
        out = head(backbone(x))
        torch.nn.functional.cross_entropy(out, labels).backward()
        opt.step()
    with torch.no_grad():
        features = backbone(x).double().numpy()
    return (features, labels.numpy(), [head.weight.detach().double().numpy()],
            [head.bias.detach().double().numpy()])


def _by_hand(features, labels, weights, answer, centre):
    K = len(SIZES)
    means = np.array([features[labels == k].mean(axis=0) for k in range(K)])
    if centre:
        n = np.bincount(labels)
        means = means - (n @ means) / n.sum()
    W = weights[0]

    def unit(a):
        return a / np.linalg.norm(a)

    gram = np.linalg.norm(unit(means @ means.T) - unit(answer.gram_features()))
    output = np.linalg.norm(unit(W @ means.T) - unit(answer.gram_outputs()))
    return gram, output


def test_both_theories_side_by_side(trained):
    features, labels, weights, biases = trained
    assert features.min() >= 0
    report = compare_relu(features, labels, weights, biases, loss="ce", restarts=2, **DECAY)
    plain = predict(list(SIZES), loss="ce", widths=[16], **DECAY)
    relu = predict(list(SIZES), loss="ce", widths=[16], features="nonnegative", restarts=2,
                   **DECAY)
    assert report.nonnegative.theory_loss == pytest.approx(relu.loss, rel=1e-9)
    assert report.unconstrained.theory_loss == pytest.approx(plain.loss, rel=1e-9)
    assert relu.loss > plain.loss  # the constraint binds with a bias under cross-entropy
    for column, answer in ((report.unconstrained, plain), (report.nonnegative, relu)):
        gram, output = _by_hand(features, labels, weights, answer, centre=False)
        assert column.gram_distance == pytest.approx(gram, abs=1e-9)
        assert column.output_distance == pytest.approx(output, abs=1e-9)
    layer = measure(features, labels, weights, biases, loss="ce", restarts=2, **DECAY).layers[0]
    assert report.unconstrained.gram_distance == pytest.approx(layer.gram_distance, abs=1e-12)
    text = str(report)
    assert "nonnegative" in text and "Gram distance" in text
    assert set(report.to_dict()) == {"min_feature", "unconstrained", "nonnegative"}


def test_negative_features_are_refused(trained):
    features, labels, weights, biases = trained
    with pytest.raises(ProblemError, match="features"):
        compare_relu(features - 1.0, labels, weights, biases, loss="ce", **DECAY)
