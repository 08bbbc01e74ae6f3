"""``ncsolve predict --label-smoothing/--soft-labels/--targets``: real files in every
format, the same answer as the API, and one line with exit status 2 for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ncsolve import predict
from ncsolve.cli import main

RNG = np.random.default_rng(7)
TARGETS = RNG.normal(size=(50, 3)) @ np.array([[1.0, 0, 0], [0.7, 0.7, 0], [0.2, 0.3, 0.1]])
SOFT = RNG.dirichlet(np.ones(4), size=3).T  # 4 outputs, 3 classes


def _save(path, **arrays):
    suffix = path.suffix
    if suffix == ".npz":
        np.savez(path, **arrays)
    elif suffix == ".safetensors":
        from safetensors.numpy import save_file

        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path))
    else:
        torch = pytest.importorskip("torch")
        torch.save({k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()}, path)
    return str(path)


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors", ".pt"])
def test_target_files_give_the_api_answer(tmp_path, capsys, suffix):
    path = _save(tmp_path / f"t{suffix}", targets=TARGETS, soft_labels=SOFT)
    cli = _json(capsys, ["predict", "--targets", path, "--depth", "2", "--bias", "free",
                         "--json"])
    api = predict(targets=TARGETS, depth=2, bias="free").to_dict()
    assert cli == json.loads(json.dumps(api))
    cli = _json(capsys, ["predict", "--n", "5,3,2", "--soft-labels", path, "--json"])
    assert cli["loss"] == predict(n=[5, 3, 2], soft_labels=SOFT).loss


def test_label_smoothing_flag(capsys):
    cli = _json(capsys, ["predict", "--n", "4,4,4", "--depth", "3", "--label-smoothing", "0.1",
                         "--json"])
    assert cli["problem"]["target"] == {"kind": "label smoothing", "label_smoothing": 0.1}
    assert cli["loss"] == predict(n=[4, 4, 4], depth=3, label_smoothing=0.1).loss
    assert cli["geometry"].startswith("equiangular frame")
    plain = _json(capsys, ["predict", "--n", "4,4,4", "--depth", "3", "--json"])
    assert _json(capsys, ["predict", "--n", "4,4,4", "--depth", "3", "--label-smoothing", "0",
                          "--json"]) == plain


@pytest.mark.parametrize("argv, param", [
    (["--n", "5,3", "--soft-labels", "SOFT"], "soft_labels"),
    (["--targets", "BAD"], "targets"),
    (["--n", "5,3", "--label-smoothing", "1"], "label_smoothing"),
    (["--n", "5,3", "--label-smoothing", "-0.1"], "label_smoothing"),
    (["--n", "5,3", "--label-smoothing", "nan"], "label_smoothing"),
    (["--targets", "SOFT"], "targets"),  # no array under 'targets'
    (["--n", "5,3", "--loss", "ce", "--label-smoothing", "0.1"], "loss"),
])
def test_bad_targets_one_line_exit_2(tmp_path, capsys, argv, param):
    files = {"SOFT": _save(tmp_path / "s.npz", soft_labels=SOFT),
             "BAD": _save(tmp_path / "b.npz", targets=np.array([[1.0, np.inf]]))}
    argv = ["predict", *(files.get(a, a) for a in argv)]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"ncsolve predict: error: {param} (--")
