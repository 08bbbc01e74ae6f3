"""Smaller bad inputs of issue 24: each is one line naming the parameter, or a right
answer. Each failed on ae9e37d."""

from __future__ import annotations

import numpy as np
import pytest

from ncsolve import ProblemError, predict
from ncsolve.cli import main


@pytest.mark.parametrize("args", [
    ["--lambda-w", "1_0e-4"],  # float() reads it as 1e-3
    ["--lambda-w", "\u0665e-3"],  # an Arabic-Indic five
    ["--depth", "\u0663"],
    ["--lambda-h", "1e-3_0"],
])
def test_numbers_are_written_with_ascii_digits_and_no_underscores(capsys, args):
    # ncsolve predict --n 5,3 --lambda-w 1_0e-4   (ran with lambda_w = 1e-3)
    assert main(["predict", "--n", "5,3", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and args[0] in err, err


def test_plain_integers_with_digit_grouping_still_read():
    assert predict(n="1_000,500").problem.n.tolist() == [1000, 500]


def test_masked_entries_are_refused_not_used():
    # predict(n=np.ma.array([5, 3, 2], mask=[0, 1, 0])) used the masked 3
    with pytest.raises(ProblemError, match="masked"):
        predict(n=np.ma.array([5, 3, 2], mask=[0, 1, 0]))
    assert predict(n=np.ma.array([5, 3, 2])).loss == predict(n=[5, 3, 2]).loss


def test_times_are_refused_and_tensors_with_grad_are_read():
    torch = pytest.importorskip("torch")
    # predict(n=np.array([5, 3], 'm8[s]')): raw TypeError; a tensor with grad: RuntimeError
    with pytest.raises(ProblemError, match="times or dates"):
        predict(n=np.array([5, 3], "m8[s]"))
    expected = predict(n=[5, 3]).loss
    assert predict(n=torch.tensor([5.0, 3.0], requires_grad=True)).loss == expected
    assert predict(n=torch.tensor([5, 3], dtype=torch.bfloat16)).loss == expected
