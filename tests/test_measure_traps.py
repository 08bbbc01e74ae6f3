"""The traps a new user fell into when measuring trained networks (issue 19, items 1-7).

Small MLPs and free-feature UFMs trained by PyTorch on the CPU (seconds), imbalanced
classes; each test fails on the code before the fix.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ncsolve.cli import main  # noqa: E402
from ncsolve.inputs.problem import ProblemError  # noqa: E402
from ncsolve.measure import (ClassAccumulator, ClassStatistics, Tracker, measure,  # noqa: E402
                             training_decays)
from ncsolve.measure.files import load  # noqa: E402

SIZES = (40, 28, 20, 12, 8, 6)
WD = 5e-4


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def blobs(sizes=SIZES, dim=20, seed=0):
    """Imbalanced Gaussian classes, samples shuffled."""
    g = torch.Generator().manual_seed(seed)
    K = len(sizes)
    centres = 2.0 * torch.randn(K, dim, generator=g, dtype=torch.float64)
    y = torch.repeat_interleave(torch.arange(K), torch.tensor(sizes))
    y = y[torch.randperm(y.numel(), generator=g)]
    x = centres[y] + torch.randn(y.numel(), dim, generator=g, dtype=torch.float64)
    return x, y


def mlp(head_depth, K=len(SIZES), width=16, head_bias=False, seed=0):
    torch.manual_seed(seed)
    backbone = torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.ReLU(),
                                   torch.nn.Linear(32, width), torch.nn.ReLU()).double()
    layers = [torch.nn.Linear(width, width, bias=False) for _ in range(head_depth - 1)]
    head = torch.nn.Sequential(*layers, torch.nn.Linear(width, K, bias=head_bias)).double()
    return backbone, head


def train(backbone, head, x, y, steps, loss="mse", every=None, record=None):
    """Full-batch SGD with momentum and weight_decay on every parameter, torch defaults
    for the loss; ``record(step, features, weights, biases)`` every ``every`` steps."""
    K = head[-1].out_features
    params = [*backbone.parameters(), *head.parameters()]
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=WD)
    target = torch.nn.functional.one_hot(y, K).double()
    for step in range(steps + 1):
        if record is not None and step % every == 0:
            with torch.no_grad():
                record(step, backbone(x), [layer.weight for layer in head],
                       [layer.bias for layer in head])
        if step == steps:
            break
        opt.zero_grad()
        out = head(backbone(x))
        value = (torch.nn.MSELoss()(out, target) if loss == "mse"
                 else torch.nn.CrossEntropyLoss()(out, y))
        value.backward()
        opt.step()
    with torch.no_grad():
        return backbone(x)


def convention(depth, loss="mse", last_bias=False, **extra):
    return training_decays(num_classes=len(SIZES), num_samples=sum(SIZES), depth=depth,
                           weight_decay=WD, loss=loss, loss_reduction="mean",
                           last_bias=last_bias, **extra)


# ---- 1: the Tracker refits lambda_H and records it ------------------------------------


def test_tracker_refits_the_feature_decay_at_every_record():
    x, y = blobs()
    backbone, head = mlp(head_depth=2)
    tracker = Tracker(every=1, convention=convention(2))
    features = train(backbone, head, x, y, steps=300, every=75,
                     record=lambda step, H, W, b: tracker.record(step, H, y, W))
    direct = measure(features, y, [layer.weight for layer in head], convention=convention(2))
    last = tracker.records[-1]
    assert last["lambda_h"] == pytest.approx(direct.lambda_h_fit["value"], rel=1e-12)
    assert last["lambda_h_fitted"] is True
    assert last["gap"] == pytest.approx(direct.gap, rel=1e-9)
    first = tracker.records[0]["lambda_h"]
    assert abs(np.log10(first / last["lambda_h"])) > 0.1  # the initialization's fit differs
    np.testing.assert_allclose(tracker.series("lambda_h")[-1], last["lambda_h"])
    pytest.importorskip("matplotlib")
    figure = tracker.plot()  # item 8: CDNV and NC4 panels, the lambda_H used
    titles = {ax.get_title() for ax in figure.axes}
    assert {"class-distance normalized variance",
            "nearest class mean = prediction (NC4)"} <= titles
    assert "fitted at every record" in figure._suptitle.get_text()
    assert any(ax.get_ylabel().startswith("fitted $\\lambda_H$") for ax in figure.axes)


def test_narrow_ranges_get_linear_axes():
    """Class-mean lengths within 1.25..1.43 (item 8): a linear axis from 0, not a log axis
    with no labelled tick near the data."""
    pytest.importorskip("matplotlib")
    from ncsolve.measure.plot import plot_measurement

    rng = np.random.default_rng(4)
    lengths = np.linspace(1.25, 1.43, 5)
    means = np.diag(lengths)
    y = rng.permutation(np.repeat(np.arange(5), 8))
    X = means[y] + 1e-2 * rng.standard_normal((y.size, 5))
    W = rng.standard_normal((5, 5))
    report = measure(X, y, [W], lambda_w=1e-3, lambda_h=1e-3)
    axes = plot_measurement(report).axes
    assert axes[0].get_yscale() == "linear"
    low, high = axes[0].get_ylim()
    assert low == 0.0 and high >= 1.43 * 1.05


def test_tracker_with_a_given_feature_decay_reuses_it():
    x, y = blobs()
    backbone, head = mlp(head_depth=2)
    tracker = Tracker(every=1, convention=convention(2, feature_decay=1e-3))
    train(backbone, head, x, y, steps=40, every=20,
          record=lambda step, H, W, b: tracker.record(step, H, y, W))
    values = tracker.series("lambda_h")
    assert values.size == 3 and np.all(values == values[0])
    assert not any(r["lambda_h_fitted"] for r in tracker.records)


# ---- 2: the accumulator's head --------------------------------------------------------


def test_accumulator_refuses_other_weights_and_reports_its_accuracy():
    x, y = blobs()
    backbone, head = mlp(head_depth=1, head_bias=True)
    features = train(backbone, head, x, y, steps=150, loss="ce")
    W, b = head[0].weight.detach(), head[0].bias.detach()
    acc = ClassAccumulator(len(SIZES), weights=[W], biases=[b])
    for rows in torch.split(torch.randperm(y.numel()), 17):
        acc.update(features[rows], y[rows])
    options = dict(loss="ce", restarts=1,
                   convention=convention(1, "ce", last_bias=True, feature_decay=1e-3,
                                         bias_decay=False))
    with pytest.raises(ProblemError, match="weights: differ from the head"):
        measure(acc, weights=[5 * W], biases=[b], **options)
    report = measure(acc, **options)
    outputs = features.numpy() @ W.numpy().T + b.numpy()
    accuracy = np.mean(outputs.argmax(axis=1) == y.numpy())
    assert report.accuracy == pytest.approx(accuracy, abs=1e-15)
    # the cross-entropy term, recomputed from the arrays
    z = outputs - outputs.max(axis=1, keepdims=True)
    ce = np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(y.numel()), y.numpy()])
    arrays = measure(features, y, [W], [b], **options)
    assert arrays.loss == pytest.approx(report.loss, rel=1e-12)
    assert ce > 0


# ---- 3: a state_dict head stops at the module boundary --------------------------------


def test_state_dict_head_stops_at_the_module_boundary(tmp_path, capsys):
    x, y = blobs()
    K = len(SIZES)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.ReLU(),
                            torch.nn.Linear(32, 32), torch.nn.ReLU()),
        torch.nn.Linear(32, K)).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=WD)
    for _ in range(100):
        opt.zero_grad()
        torch.nn.CrossEntropyLoss()(model(x), y).backward()
        opt.step()
    with torch.no_grad():
        features = model[0](x)
    path = tmp_path / "run.pt"
    torch.save({"features": features, "labels": y, "state_dict": model.state_dict()}, path)
    taken = load(path)
    assert len(taken.weights) == 1
    np.testing.assert_array_equal(taken.weights[0], model[1].weight.detach().numpy())
    assert "W1 = 1.weight (b1 = 1.bias)" in taken.mapping[0]
    assert "0.2.weight" in taken.mapping[1]  # named as left out
    crossing = load(path, head="")
    assert len(crossing.weights) == 2  # asked for: the backbone's Linear(32, 32) as W1
    assert load(path, head="1").weights[0].shape == (K, 32)
    status = main(["measure", str(path), "--lambda-w", "1e-3", "--lambda-h", "1e-3",
                   "--loss", "ce", "--restarts", "1", "--json"])
    out = capsys.readouterr()
    assert status == 0, out.err
    report = json.loads(out.out)
    assert report["problem"]["depth"] == 1
    assert any("W1 = 1.weight" in note for note in report["notes"])
    status = main(["measure", str(path), "--lambda-w", "1e-3", "--head", "backbone"])
    out = capsys.readouterr()
    assert status == 2 and out.out == "" and len(out.err.strip().splitlines()) == 1
    assert "--head 'backbone'" in out.err


# ---- 4, 5: NC1 is never negative; the pseudo-inverse cutoff of numpy and torch ---------


def test_nc1_is_clipped_at_zero():
    """A scatter with a rounding-level negative eigenvalue (as the float64 sums of exactly
    collapsed features leave) gives NC1 = 0, not a negative number."""
    rng = np.random.default_rng(1)
    K, d = 4, 6
    means = rng.standard_normal((K, d))
    counts = np.array([20, 10, 5, 3])
    stats = ClassStatistics(counts, means, -1e-30 * np.eye(d), np.zeros((1, K)))
    layer = measure(stats).layers[0]
    assert layer.nc1 == 0.0 and layer.nc1_svd == 0.0 and layer.nc1_quotient == 0.0


def test_nc1_uses_the_default_pseudo_inverse_cutoff():
    """A UFM stuck with 3 of 4 class means near 2e-7 of the first, spread at the same
    scale: the literature's pseudo-inverse (numpy's and torch's default cutoff) reads
    NC1 of order 1, where a cutoff of 1e-6 read a perfect collapse."""
    rng = np.random.default_rng(2)
    K, d, n = 4, 6, np.array([30, 20, 10, 5])
    means = np.zeros((K, d))
    means[0, 0] = 1.0
    means[1:] = 2e-7 * rng.standard_normal((K - 1, d))
    y = rng.permutation(np.repeat(np.arange(K), n))
    X = means[y] + 1e-7 * rng.standard_normal((y.size, d))
    report = measure(X, y)
    layer = report.layers[0]
    # dense reference: class means and covariances from the samples, pseudo-inverses of
    # numpy and torch with their default cutoffs
    mu = np.array([X[y == k].mean(axis=0) for k in range(K)])
    centred = mu - X.mean(axis=0)
    within = sum((X[y == k] - mu[k]).T @ (X[y == k] - mu[k]) for k in range(K)) / y.size
    between = centred.T @ centred / K
    numpy_nc1 = np.trace(within @ np.linalg.pinv(between)) / K
    torch_nc1 = float(torch.trace(torch.from_numpy(within)
                                  @ torch.linalg.pinv(torch.from_numpy(between)))) / K
    assert numpy_nc1 > 0.1 and torch_nc1 > 0.1
    assert layer.nc1 == pytest.approx(numpy_nc1, rel=1e-2)
    assert layer.nc1 == pytest.approx(torch_nc1, rel=1e-2)
    assert layer.nc1_svd == pytest.approx(layer.nc1, rel=1e-9)  # K - 1 = 3 directions kept


def test_nc1_notes_a_direction_below_the_cutoff():
    rng = np.random.default_rng(3)
    K, d, n = 4, 6, np.array([30, 20, 10, 5])
    means = np.zeros((K, d))
    means[:3, :3] = np.eye(3)
    # class 3 within 1e-12 of the others' affine span: a third direction far below the cut
    means[3] = (n[:3] @ means[:3]) / n[:3].sum() + 1e-12 * rng.standard_normal(d)
    y = rng.permutation(np.repeat(np.arange(K), n))
    X = means[y] + 1e-14 * rng.standard_normal((y.size, d))
    report = measure(X, y)
    layer = report.layers[0]
    assert layer.nc1_dropped == 1
    assert any("pseudo-inverse" in note for note in report.notes)
    assert layer.nc1_svd > 1e6 * layer.nc1  # the top-(K-1) form keeps the tiny direction


# ---- 6: centred variants beside the theory-matched ones --------------------------------


def test_centred_equinorm_and_self_duality_on_relu_features():
    x, y = blobs()
    backbone, head = mlp(head_depth=1)
    features = train(backbone, head, x, y, steps=200)
    W = head[0].weight.detach().numpy()
    layer = measure(features, y, [W], convention=convention(1)).layers[0]
    H, labels = features.numpy(), y.numpy()
    mu = np.array([H[labels == k].mean(axis=0) for k in range(len(SIZES))])
    around = mu - H.mean(axis=0)
    lengths = np.linalg.norm(around, axis=1)
    duality = np.linalg.norm(W.T / np.linalg.norm(W) - around.T / np.linalg.norm(around))
    assert layer.equinorm_centred == pytest.approx(lengths.std() / lengths.mean(), rel=1e-10)
    assert layer.self_duality_centred == pytest.approx(duality, rel=1e-10)
    # bias-free: the theory-matched ones are taken around the origin, and differ
    raw = np.linalg.norm(mu, axis=1)
    assert layer.equinorm == pytest.approx(raw.std() / raw.mean(), rel=1e-10)
    assert abs(layer.self_duality - layer.self_duality_centred) > 1e-3


# ---- 7: training conventions -----------------------------------------------------------


def train_free_features(n, depth, width, wd, batch, epochs, seed=0):
    """Free features as an nn.Parameter decayed by SGD's weight_decay with the layers,
    nn.MSELoss() on minibatches."""
    g = torch.Generator().manual_seed(seed)
    K, N = len(n), sum(n)
    y = torch.repeat_interleave(torch.arange(K), torch.tensor(n))
    H = torch.nn.Parameter(0.3 * torch.randn(N, width, generator=g, dtype=torch.float64))
    layers = [torch.nn.Linear(width, width if j < depth - 1 else K, bias=False).double()
              for j in range(depth)]
    with torch.no_grad():
        for layer in layers:
            layer.weight.copy_(0.3 * torch.randn(layer.weight.shape, generator=g,
                                                 dtype=torch.float64))
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD([H, *model.parameters()], lr=0.5, momentum=0.9, weight_decay=wd)
    target = torch.nn.functional.one_hot(y, K).double()
    order = torch.randperm(N, generator=g)
    for epoch in range(epochs):
        for rows in torch.split(order, batch):
            opt.zero_grad()
            torch.nn.MSELoss()(model(H[rows]), target[rows]).backward()
            opt.step()
    return H.detach(), y, [layer.weight.detach() for layer in layers]


def test_free_features_with_weight_decay_hint_at_the_scope():
    n, wd, batch = (12, 8, 4), 2e-3, 8
    H, y, weights = train_free_features(n, 2, 6, wd, batch, epochs=600)
    common = dict(num_classes=3, num_samples=sum(n), depth=2, weight_decay=wd,
                  feature_decay=wd, batch_size=batch)
    per_batch = measure(H, y, weights, convention=training_decays(**common))
    whole = measure(H, y, weights,
                    convention=training_decays(**common, feature_decay_scope="all"))
    assert per_batch.status == "not converged"
    assert any("--feature-decay-scope all" in note for note in per_batch.notes)
    assert abs(whole.gap) < 1e-2 * abs(per_batch.gap)
    assert not any("--feature-decay-scope" in note for note in whole.notes)


def test_unequal_batches_are_noted():
    uneven = training_decays(num_classes=3, num_samples=24, depth=1, weight_decay=1e-3,
                             batch_size=7)
    assert any("not a multiple of B = 7" in note for note in uneven.notes)
    even = training_decays(num_classes=3, num_samples=24, depth=1, weight_decay=1e-3,
                           batch_size=8)
    assert not any("not a multiple" in note for note in even.notes)


def test_sweep_takes_the_optimizers_weight_decay(capsys):
    """A free-feature UFM trained with nn.MSELoss() and SGD's weight_decay on everything
    (full batch) converges to s x its training objective = sweep's loss at that
    --weight-decay, with s = K/2 found by sweep itself."""
    n, wd = (12, 8, 4), 2e-3
    H, y, weights = train_free_features(n, 2, 6, wd, batch=sum(n), epochs=1500)
    with torch.no_grad():
        out = H @ weights[0].T @ weights[1].T
        target = torch.nn.functional.one_hot(y, 3).double()
        objective = (torch.nn.MSELoss()(out, target) + wd / 2 * (
            (H**2).sum() + sum((W**2).sum() for W in weights))).item()
    status = main(["sweep", "--n", "12,8,4", "--depth", "2", "--weight-decay", f"{wd},1e-2",
                   "--loss-reduction", "mean", "--format", "jsonl"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    rows = [json.loads(line) for line in captured.out.splitlines()]
    first = [r for r in rows if r["point"] == 0]
    assert first[0]["lambda_w"] == pytest.approx(1.5 * wd, rel=1e-15)
    assert first[0]["loss"] == pytest.approx(1.5 * objective, rel=1e-7)
    assert "decay = 1.5 x weight_decay" in captured.err


def test_phase_curves_in_weight_decay(capsys):
    common = ["phase", "--profile", "step", "--classes", "4", "--largest", "100",
              "--ratio", "10", "--depth", "1", "--json"]
    assert main(common) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main([*common, "--loss-reduction", "half-mean"]) == 0
    mapped = json.loads(capsys.readouterr().out)
    assert mapped["weight_decay_scale"] == 4.0  # nn.MSELoss() / 2 over K = 4 outputs: s = K
    for a, b in zip(plain["curves"], mapped["curves"]):
        np.testing.assert_allclose(np.array(b["critical_weight_decay"]["1"]) * 4.0,
                                   a["critical_decay"]["1"], rtol=1e-15)
    assert main([*common, "--loss-reduction", "sum"]) == 2
    assert "--batch-size" in capsys.readouterr().err
