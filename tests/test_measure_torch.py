"""The deep linear UFM trained by PyTorch as the paper trains it, measured from its files.

Free features H (an ``nn.Parameter``), ``nn.Linear(bias=False)`` layers, SGD with
momentum 0.9, the decays written into the loss; the run is saved as ``.pt``,
``.npz`` and ``.safetensors`` and measured by ``ncsolve measure``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ncsolve import predict  # noqa: E402
from ncsolve.core import scalar  # noqa: E402
from ncsolve.cli import main  # noqa: E402
from ncsolve.measure import measure, training_decays  # noqa: E402
from ncsolve.core.objective import FullObjective  # noqa: E402
from ncsolve.verify import critical_point  # noqa: E402

N_CLASS = (20, 10, 5)
DEPTH, WIDTH, DECAY = 3, 8, 5e-3


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _layers(d, K, depth, dtype):
    return [torch.nn.Linear(d, d if j < depth - 1 else K, bias=False).to(dtype)
            for j in range(depth)]


def train_ufm(n, depth, width, decay, steps, seed=0, start=None, lr=0.1,
              dtype=torch.float64):
    """Full-batch SGD (momentum 0.9) on the paper's loss
    1/(2N) ||W_M..W_1 H - Y||^2 + decay/2 (sum ||W_j||^2 + ||H||^2).

    Samples are shuffled (labels in any order); ``start`` = (H as N x d, weights)
    in class-by-class order sets the initial point instead of a random one."""
    g = torch.Generator().manual_seed(seed)
    K, N = len(n), sum(n)
    labels = torch.repeat_interleave(torch.arange(K), torch.tensor(n))
    perm = torch.randperm(N, generator=g)
    labels = labels[perm]
    Y = torch.nn.functional.one_hot(labels, K).to(dtype)
    layers = _layers(width, K, depth, dtype)
    with torch.no_grad():
        if start is None:
            H = 0.1 * torch.randn(N, width, generator=g, dtype=dtype)
            for layer in layers:
                layer.weight.copy_(0.3 * torch.randn(layer.weight.shape, generator=g,
                                                     dtype=dtype))
        else:
            H = torch.as_tensor(start[0], dtype=dtype)[perm].clone()
            for layer, W in zip(layers, start[1]):
                layer.weight.copy_(torch.as_tensor(W, dtype=dtype))
    H = torch.nn.Parameter(H)
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD([H, *model.parameters()], lr=lr, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        loss = _ufm_loss(model, H, Y, decay)
        loss.backward()
        opt.step()
    return H.detach(), labels, model, Y


def _ufm_loss(model, H, Y, decay):
    N = H.shape[0]
    fit = ((model(H) - Y) ** 2).sum() / (2 * N)
    penalty = sum((p**2).sum() for p in model.parameters()) + (H**2).sum()
    return fit + decay / 2 * penalty


def _save_all(tmp_path, H, labels, model):
    weights = {f"W{j}": layer.weight.detach() for j, layer in enumerate(model, start=1)}
    torch.save({"features": H, "labels": labels, **weights}, tmp_path / "run.pt")
    np.savez(tmp_path / "run.npz", features=H.numpy(), labels=labels.numpy(),
             **{k: v.numpy() for k, v in weights.items()})
    from safetensors.numpy import save_file

    save_file({"features": H.numpy(), "labels": labels.numpy(),
               **{k: v.numpy() for k, v in weights.items()}}, str(tmp_path / "run.safetensors"))
    # a state_dict as torch users save it: the layers are found by their keys
    torch.save({"features": H, "labels": labels, "state_dict": model.state_dict()},
               tmp_path / "state.pt")
    return ["run.pt", "run.npz", "run.safetensors", "state.pt"]


def _measure_cli(path, capsys, decay=DECAY):
    status = main(["measure", str(path), "--lambda-w", repr(decay), "--lambda-h", repr(decay),
                   "--json"])
    out = capsys.readouterr()
    assert status == 0, out.err
    return json.loads(out.out)


@pytest.fixture(scope="module")
def converged():
    torch.set_num_threads(1)
    return train_ufm(N_CLASS, DEPTH, WIDTH, DECAY, steps=1500)


def test_converged_run_measured_from_every_file_format(converged, tmp_path, capsys):
    H, labels, model, _ = converged
    reports = [_measure_cli(tmp_path / name, capsys)
               for name in _save_all(tmp_path, H, labels, model)]
    theory = predict(n=N_CLASS, depth=DEPTH, lambda_w=DECAY, lambda_h=DECAY)
    for report in reports:
        assert report["status"] == "global", report["summary"]
        assert 0 <= report["gap"] < 1e-4
        assert report["theory_loss"] == pytest.approx(theory.loss, rel=1e-12)
        for layer in report["layers"]:
            assert layer["gram_distance"] < 1e-4
            assert layer["nc1"] < 1e-6
            np.testing.assert_allclose(layer["singular_values"],
                                       layer["theory_singular_values"], rtol=1e-3)
        for row, k in zip(report["classes"], range(3)):
            assert row["class"] == k and row["n"] == N_CLASS[k]
            assert row["feature_norm"] == pytest.approx(row["theory_feature_norm"], rel=1e-3)
            assert row["classifier_norm"] == pytest.approx(row["theory_classifier_norm"],
                                                           rel=1e-3)
            assert row["collapsed"] is row["theory_collapsed"] is False
    # the same numbers whichever file they came from
    for report in reports[1:]:
        assert report["loss"] == pytest.approx(reports[0]["loss"], rel=1e-12)
    assert any("W1 = 0.weight" in note for note in reports[-1]["notes"])


def test_training_loss_in_torch_is_ncsolves_objective(converged):
    """The paper's loss is ncsolve's objective (scale 1): equal to 1e-12 in float64."""
    H, labels, model, Y = converged
    with torch.no_grad():
        torch_loss = float(_ufm_loss(model, H, Y, DECAY))
    weights = [layer.weight.detach() for layer in model]
    report = measure(H, labels, weights, lambda_w=DECAY, lambda_h=DECAY)
    assert report.loss == pytest.approx(torch_loss, rel=1e-12)


def test_a_run_stopped_early_is_flagged(capsys, tmp_path):
    H, labels, model, _ = train_ufm(N_CLASS, DEPTH, WIDTH, DECAY, steps=60)
    _save_all(tmp_path, H, labels, model)
    report = _measure_cli(tmp_path / "run.npz", capsys)
    assert report["status"] == "not converged"
    assert report["gap"] > 1e-2 and report["stationarity"] > 1e-3


def _window_decay(n, depth):
    """A decay strictly inside the window of the smallest class (THEORY.md section 3)."""
    L, q, N = depth + 1, 2 / (depth + 1), sum(n)
    sigma = np.sqrt(min(n))
    low = scalar.phase_boundary(sigma, q) / N
    high = scalar.existence_boundary(sigma, q) / N
    return float(0.5 * (low + high) * 2 / L)


def test_a_run_in_the_phase_window_ends_at_a_local_minimum(capsys, tmp_path):
    n, depth = (20, 4, 2), 3
    decay = _window_decay(n, depth)
    solution = predict(n=n, depth=depth, lambda_w=decay, lambda_h=decay)
    assert list(solution.state) == ["active", "active", "window"]
    # start near the nonzero stationary point ("the largest root") of the smallest class
    kept = solution.with_z(np.where(np.isnan(solution.z_local), 0.0, solution.z_local))
    objective = FullObjective(solution.problem, widths=(3, 3, 3))
    start = objective.split(critical_point(kept, objective))
    noise = np.random.default_rng(1)
    H0 = start.H.T + 1e-3 * noise.standard_normal(start.H.T.shape)
    H, labels, model, _ = train_ufm(n, depth, 3, decay, steps=1500, start=(H0, start.weights))
    _save_all(tmp_path, H, labels, model)
    report = _measure_cli(tmp_path / "run.safetensors", capsys, decay)
    assert report["status"] == "critical point", report["summary"]
    assert report["stationarity"] < 1e-6
    assert report["gap"] > 1e-3
    assert report["loss"] == pytest.approx(kept.loss, rel=1e-6)
    smallest = report["classes"][2]
    assert smallest["collapsed"] is False and smallest["theory_collapsed"] is True
    assert "class(es) 2 kept, which the global minimizer collapses" in report["summary"]


def test_minibatch_feature_decay_maps_exactly(converged):
    """nn.MSELoss() over minibatches with fd/2 ||H_batch||^2 and SGD weight_decay: the
    epoch average of the batch losses, times the mapped scale, is ncsolve's objective."""
    H, labels, model, _ = converged
    K, N, B, wd, fd = 3, H.shape[0], 7, 1e-3, 2e-3
    mapping = training_decays(num_classes=K, num_samples=N, depth=DEPTH, weight_decay=wd,
                              feature_decay=fd, batch_size=B)
    assert mapping.scale == pytest.approx(K / 2)
    Y = torch.nn.functional.one_hot(labels, K).to(H.dtype)
    mse = torch.nn.MSELoss()
    with torch.no_grad():
        decay = sum((p**2).sum() for p in model.parameters())
        batches = [mse(model(H[i:i + B]), Y[i:i + B]) + fd / 2 * (H[i:i + B] ** 2).sum()
                   + wd / 2 * decay for i in range(0, N, B)]
        epoch = float(sum(batches)) / len(batches)
    report = measure(H, labels, [layer.weight.detach() for layer in model], convention=mapping)
    assert report.loss == pytest.approx(mapping.scale * epoch, rel=1e-12)


def test_tracker_follows_a_training_loop_to_the_global_minimizer(tmp_path):
    """Tracker inside a PyTorch loop: records every k steps, the gap falls to zero."""
    from ncsolve.measure import Tracker

    g = torch.Generator().manual_seed(3)
    K, N = len(N_CLASS), sum(N_CLASS)
    labels = torch.repeat_interleave(torch.arange(K), torch.tensor(N_CLASS))
    Y = torch.nn.functional.one_hot(labels, K).double()
    H = torch.nn.Parameter(0.1 * torch.randn(N, WIDTH, generator=g, dtype=torch.float64))
    model = torch.nn.Sequential(*_layers(WIDTH, K, DEPTH, torch.float64))
    opt = torch.optim.SGD([H, *model.parameters()], lr=0.1, momentum=0.9)
    tracker = Tracker(every=300, lambda_w=DECAY, lambda_h=DECAY)
    for step in range(1501):
        tracker.record(step, H, labels, [layer.weight for layer in model])
        opt.zero_grad()
        _ufm_loss(model, H, Y, DECAY).backward()
        opt.step()
    assert tracker.epochs == [0, 300, 600, 900, 1200, 1500]
    gap = tracker.series("gap")
    assert gap[0] > 1e-1 and gap[-1] < 1e-4
    assert tracker.series("nc1").shape == (6, DEPTH)
    assert tracker.last.status == "global"
    pytest.importorskip("matplotlib")
    figure = tracker.plot()
    scales = {ax.get_title(): ax.get_yscale() for ax in figure.axes}
    assert scales["within-class variability (NC1)"] == "log"  # falls by decades
    assert scales["distance to the global minimizer"] == "log"
    assert scales["nearest class mean = prediction (NC4)"] == "linear"  # within 0..1
    figure.savefig(tmp_path / "tracker.png", dpi=200)


@pytest.mark.slow
def test_the_theory_example_of_the_window_trained_by_torch(capsys, tmp_path):
    """THEORY.md section 3: n = (500, 100, 50), depth 3, decays 0.0095: the smallest
    class collapses at the global minimum; a run from near the largest root keeps it."""
    n, depth, decay = (500, 100, 50), 3, 0.0095
    solution = predict(n=n, depth=depth, lambda_w=decay, lambda_h=decay)
    assert solution.state[2] == "window"
    kept = solution.with_z(np.where(np.isnan(solution.z_local), 0.0, solution.z_local))
    objective = FullObjective(solution.problem, widths=(4, 4, 4))
    start = objective.split(critical_point(kept, objective))
    H0 = start.H.T + 1e-3 * np.random.default_rng(2).standard_normal(start.H.T.shape)
    H, labels, model, _ = train_ufm(n, depth, 4, decay, steps=4000, start=(H0, start.weights))
    _save_all(tmp_path, H, labels, model)
    report = _measure_cli(tmp_path / "run.pt", capsys, decay)
    assert report["status"] == "critical point", report["summary"]
    assert report["classes"][2]["collapsed"] is False
    assert report["classes"][2]["theory_collapsed"] is True
