"""The full objective with a regularized bias: value, exact gradient, finite differences."""

import numpy as np
import pytest

from ncsolve.core.objective import FullObjective
from ncsolve.inputs.problem import Problem


def _pair(n, depth, loss, lambda_b):
    common = dict(n=n, depth=depth, lambda_w=0.02, lambda_h=0.015, loss=loss)
    return (FullObjective(Problem.build(**common, bias="regularized", lambda_b=lambda_b)),
            FullObjective(Problem.build(**common, bias="free")))


@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("n,depth", [([3, 2, 4], 1), ([2, 2, 1, 3], 3)])
def test_value_and_gradient(n, depth, loss):
    lambda_b = 0.37
    f, free = _pair(n, depth, loss, lambda_b)
    rng = np.random.default_rng(3)
    x = f.random_point(rng, 0.6)
    b = rng.standard_normal(f.K)
    f.split(x).b[:] = b
    value, grad = f(x)
    free_value, free_grad = free(x)
    # the only difference to a free bias: + lambda_b/2 ||b||^2 and its gradient lambda_b b
    assert value == pytest.approx(free_value + 0.5 * lambda_b * float(b @ b), rel=1e-13)
    assert np.allclose(f.split(grad).b, free.split(free_grad).b + lambda_b * b, rtol=1e-13)
    assert f.value(x) == pytest.approx(value, rel=1e-14)
    step = 1e-6
    numeric = np.array([(f.value(x + step * e) - f.value(x - step * e)) / (2 * step)
                        for e in np.eye(x.size)])
    assert np.allclose(grad, numeric, rtol=1e-6, atol=1e-8 * np.abs(grad).max())
