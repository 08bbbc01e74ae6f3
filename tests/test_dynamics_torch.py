"""The new user's case of issue 22, trained by PyTorch: the spectral prediction names the
classes that training collapses.

n = 100/50/20/10, depth 3, width 16, free features, bias-free, decays 5e-3 (the
objective's own scaling: the squared error over 2N, SGD's coupled weight_decay as the
L2 term), plain full-batch SGD. Features and layers at std 0.1: three classes collapse
(loss 0.2536 against the minimum 0.0953); layers at 1/sqrt(d): the global minimizer.
ncsolve reads a random start as the spectral start of its factors' gains
(``std sqrt(rows)``); over 50 seeds per case docs/dynamics.md reports how often that
prediction is right (it need not always be).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ncsolve import dynamics  # noqa: E402
from ncsolve.verify.dynamics import gains  # noqa: E402

N_CLASS, DEPTH, WIDTH, DECAY = (100, 50, 20, 10), 3, 16, 5e-3
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("torch_one_thread")]


def _train(std, seed=0, steps=8000, lr=0.1):
    """Torch SGD from N(0, std_j^2) starts; per class, the output of its class mean."""
    torch.manual_seed(seed)
    K, N = len(N_CLASS), sum(N_CLASS)
    labels = torch.repeat_interleave(torch.arange(K), torch.tensor(N_CLASS))
    Y = torch.nn.functional.one_hot(labels, K).T.double()
    shapes = [(WIDTH, N), (WIDTH, WIDTH), (WIDTH, WIDTH), (K, WIDTH)]
    factors = [torch.nn.Parameter(s * torch.randn(*shape, dtype=torch.float64))
               for s, shape in zip(std, shapes)]
    optimizer = torch.optim.SGD(factors, lr=lr, weight_decay=DECAY)
    for _ in range(steps):
        optimizer.zero_grad()
        H, W1, W2, W3 = factors
        loss = ((W3 @ W2 @ W1 @ H - Y) ** 2).sum() / (2 * N)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        H, W1, W2, W3 = factors
        out = W3 @ W2 @ W1 @ H
        objective = ((out - Y) ** 2).sum() / (2 * N) + DECAY / 2 * sum(
            (f**2).sum() for f in factors)
        own = torch.stack([out[k, labels == k].mean() for k in range(K)])
    return float(objective), own.numpy()


def _prediction(std):
    base = dynamics(list(N_CLASS), depth=DEPTH, lambda_w=DECAY, lambda_h=DECAY)
    scales = gains(base.problem, [WIDTH] * DEPTH, std)
    return dynamics(list(N_CLASS), depth=DEPTH, lambda_w=DECAY, lambda_h=DECAY,
                    init_scale=scales)


def test_std_01_collapses_the_classes_training_collapses():
    std = [0.1] * 4
    result = _prediction(std)
    predicted_learned = result.flow.end != "zero"  # bias-free: direction i is class i
    assert predicted_learned.tolist() == [True, False, False, False]
    collapsed = result.with_z(np.where(predicted_learned, result.z, 0.0))
    objective, own = _train(std)
    assert abs(objective - collapsed.loss) < 1e-3 * collapsed.loss  # the 0.2536
    assert abs(collapsed.loss - 0.2536) < 1e-4 and abs(result.loss - 0.0953) < 1e-4
    learned = own > 0.5 * result.output  # the outputs of the class means
    assert learned.tolist() == predicted_learned.tolist()


def test_layers_at_one_over_sqrt_width_reach_the_global_minimizer():
    std = [0.1] + [WIDTH**-0.5] * 3
    result = _prediction(std)
    assert list(result.flow.end) == ["global"] * 4
    objective, own = _train(std)
    assert abs(objective - result.loss) < 1e-3 * result.loss
    np.testing.assert_allclose(own, result.output, rtol=1e-2)
