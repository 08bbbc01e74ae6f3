"""NC1 on unconstrained feature models trained by PyTorch (issue 19, items 4 and 5).

Free features H and a linear head, plain full-batch SGD with coupled weight decay on
every factor, float64. Two runs:

- depth 2 reaches the global minimizer: every sample sits on its class mean to rounding,
  and the literature's NC1 (``tr(Sigma_W pinv(Sigma_B)) / K``) computed densely from the
  samples comes out at -1e-31 or so; measure reports 0, never a negative number;
- depth 3 from a small start ends at a critical point with three of four class means at
  about 1e-7 of the first: numpy's and torch's pseudo-inverse (their default cutoff)
  give NC1 of order 1, and so must measure, where a cutoff of 1e-6 read it as perfect
  collapse.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ncsolve.measure import measure  # noqa: E402

DECAY = 5e-3


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _train(n, depth, width, steps=3000, lr=1.0, std=0.1, seed=0):
    """Features (N x width, rows are samples), labels and head of a torch-trained UFM."""
    torch.manual_seed(seed)
    K, N = len(n), sum(n)
    labels = torch.repeat_interleave(torch.arange(K), torch.tensor(n))
    Y = torch.nn.functional.one_hot(labels, K).T.double()
    shapes = [(width, N)] + [(width, width)] * (depth - 1) + [(K, width)]
    factors = [torch.nn.Parameter(std * torch.randn(*shape, dtype=torch.float64))
               for shape in shapes]
    optimizer = torch.optim.SGD(factors, lr=lr, weight_decay=DECAY)
    for _ in range(steps):
        optimizer.zero_grad()
        out = factors[0]
        for W in factors[1:]:
            out = W @ out
        (((out - Y) ** 2).sum() / (2 * N)).backward()
        optimizer.step()
    H, *head = [f.detach().numpy() for f in factors]
    return H.T.copy(), labels.numpy(), head


def _dense_nc1(X, y, pinv):
    """tr(Sigma_W pinv(Sigma_B)) / K from the samples, with the given pseudo-inverse."""
    K = int(y.max()) + 1
    means = np.array([X[y == k].mean(axis=0) for k in range(K)])
    centred = means - X.mean(axis=0)
    within = sum((X[y == k] - means[k]).T @ (X[y == k] - means[k]) for k in range(K))
    return float(np.trace(within / y.size @ pinv(centred.T @ centred / K))) / K


def _torch_pinv(matrix):
    return torch.linalg.pinv(torch.from_numpy(matrix)).numpy()


def test_nc1_at_a_trained_global_minimizer_is_zero_not_negative():
    X, y, head = _train((40, 20, 10, 5), depth=2, width=8)
    dense = _dense_nc1(X, y, np.linalg.pinv)
    assert abs(dense) < 1e-25  # collapsed to rounding: the dense value's sign is noise
    layer = measure(X, y, head, lambda_w=DECAY, lambda_h=DECAY).layers[0]
    assert layer.nc1 >= 0.0 and layer.nc1 < 1e-25
    assert layer.nc1_svd >= 0.0 and layer.nc1_quotient >= 0.0


def test_nc1_of_a_trained_stuck_model_uses_the_default_pseudo_inverse():
    X, y, head = _train((100, 50, 20, 10), depth=3, width=16)
    means = np.array([X[y == k].mean(axis=0) for k in range(4)])
    lengths = np.linalg.norm(means, axis=1)
    assert np.all(lengths[1:] < 1e-6 * lengths[0])  # stuck: three classes collapsed
    numpy_nc1 = _dense_nc1(X, y, np.linalg.pinv)
    torch_nc1 = _dense_nc1(X, y, _torch_pinv)
    assert numpy_nc1 > 0.1 and torch_nc1 > 0.1
    layer = measure(X, y, head, lambda_w=DECAY, lambda_h=DECAY).layers[0]
    # Sigma_B's small eigenvalues are 1e-14 of its largest, so the dense pinv of the
    # d x d matrix carries relative errors of about 1e-16 / 1e-14; measure works from the
    # SVD of the class means and is the more accurate of the three
    assert layer.nc1 == pytest.approx(numpy_nc1, rel=1e-2)
    assert layer.nc1 == pytest.approx(torch_nc1, rel=1e-2)
