"""``ncsolve measure`` from a shell: reports, JSON, figures and bad input; the training
conventions in ``measure`` and ``predict``."""

from __future__ import annotations

import json
import sys
import warnings
import numpy as np
import pytest

from ncsolve import predict
from ncsolve.cli import main
from ncsolve.measure import training_decays
from ncsolve.core.objective import FullObjective
from ncsolve.inputs.problem import ProblemError
from ncsolve.verify import critical_point

N_CLASS, DEPTH, DECAY = (30, 20, 10), 2, 2e-3


def _exact_arrays(bias="none", seed=0):
    """The global minimizer itself, shuffled, in the layout users save."""
    solution = predict(n=N_CLASS, depth=DEPTH, lambda_w=DECAY, lambda_h=DECAY, bias=bias)
    f = FullObjective(solution.problem, widths=(4, 4))
    p = f.split(critical_point(solution, f))
    perm = np.random.default_rng(seed).permutation(f.N)
    arrays = {"features": p.H.T[perm], "labels": f.labels[perm], "W1": p.weights[0],
              "W2": p.weights[1]}
    if p.b is not None:
        arrays["b2"] = p.b
    return solution, arrays


def _run(capsys, *argv):
    status = main(["measure", *map(str, argv)])
    out = capsys.readouterr()
    return status, out.out, out.err


def _json(capsys, *argv):
    status, out, err = _run(capsys, *argv, "--json")
    assert status == 0, err
    return json.loads(out)


@pytest.fixture()
def exact_file(tmp_path):
    solution, arrays = _exact_arrays()
    path = tmp_path / "exact.npz"
    np.savez(path, **arrays)
    return solution, path


def test_the_global_minimizer_measures_as_global(exact_file, capsys):
    solution, path = exact_file
    report = _json(capsys, path, "--lambda-w", DECAY, "--lambda-h", DECAY)
    assert report["status"] == "global"
    assert abs(report["gap"]) < 1e-12
    for key in ("classes", "layers", "loss", "theory_loss", "gap"):
        assert key in report
    for row in report["classes"]:
        assert set(row) >= {"class", "n", "feature_norm", "theory_feature_norm",
                            "classifier_norm", "theory_classifier_norm", "collapsed",
                            "theory_collapsed"}
    for layer in report["layers"]:
        assert set(layer) >= {"nc1", "cdnv", "equinorm", "gram_distance", "singular_values",
                              "theory_singular_values"}
        assert layer["gram_distance"] < 1e-12
    assert report["theory_loss"] == pytest.approx(solution.loss, rel=1e-15)
    status, text, err = _run(capsys, path, "--lambda-w", DECAY, "--lambda-h", DECAY)
    assert status == 0 and not err
    assert "status: global" in text and "||hbar_k||" in text and "NC1" in text


def test_free_bias_file_and_fitted_feature_decay(tmp_path, capsys):
    solution, arrays = _exact_arrays("free")
    np.savez(tmp_path / "free.npz", **arrays)
    report = _json(capsys, tmp_path / "free.npz", "--lambda-w", DECAY)
    assert report["problem"]["bias"] == "free"  # inferred from b2
    assert report["lambda_h_fit"]["value"] == pytest.approx(DECAY, rel=1e-4)
    assert report["lambda_h_fit"]["residual"] < 1e-6
    assert report["status"] == "global"


def test_plot_writes_a_figure(exact_file, tmp_path, capsys):
    _, path = exact_file
    pytest.importorskip("matplotlib")
    figure = tmp_path / "measure.png"
    status, _, err = _run(capsys, path, "--lambda-w", DECAY, "--lambda-h", DECAY, "--plot",
                          figure)
    assert status == 0, err
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _bad(capsys, *argv, expect):
    status, out, err = _run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert expect in err, err
    return err


def _saved(tmp_path, name="bad.npz", **changes):
    _, arrays = _exact_arrays()
    arrays.update(changes)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(tmp_path / name, **arrays)
    return tmp_path / name


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    _, good = _exact_arrays()
    labels, features = good["labels"], good["features"]
    cases = [
        (_saved(tmp_path, "range.npz", labels=np.where(labels == 2, 7, labels)),
         "W2: has 3 rows but the labels go up to 7"),
        (_saved(tmp_path, "empty.npz", labels=np.where(labels == 2, 1, labels)),
         "no samples for class(es) 2"),
        (_saved(tmp_path, "float.npz", labels=labels + 0.5), "labels must be integers"),
        (_saved(tmp_path, "nan.npz", features=np.where(features == features.max(), np.nan,
                                                       features)), "must be finite"),
        (_saved(tmp_path, "w1.npz", W1=np.ones((4, 3))), "W1: expected 4 columns"),
        (_saved(tmp_path, "wm.npz", W2=np.ones((2, 4))),
         "W2: has 2 rows but the labels go up to 2"),
        (_saved(tmp_path, "missing.npz", labels=None), "missing array 'labels'"),
        (_saved(tmp_path, "gap.npz", W2=None, W3=good["W2"]), "W1..WM without gaps"),
        (_saved(tmp_path, "transposed.npz", features=features.T), "features"),
    ]
    for path, expect in cases:
        _bad(capsys, path, "--lambda-w", DECAY, expect=expect)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    _bad(capsys, garbage, expect="not a readable .npz")
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, features=np.array([object()], dtype=object), labels=np.zeros(1))
    _bad(capsys, pickled, expect="pickled")
    _bad(capsys, tmp_path / "none.npz", expect="no such file")
    _bad(capsys, tmp_path / "model.h5", expect="unknown file type")
    unsafe = tmp_path / "unsafe.safetensors"
    unsafe.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    _bad(capsys, unsafe, expect="not a readable .safetensors")
    _bad(capsys, good_path := _saved(tmp_path), "--plot", tmp_path / "x.gif",
         expect="the file must end in")
    _bad(capsys, good_path, "--weight-decay", "1e-3", "--lambda-w", "1e-3", expect="not both")
    _bad(capsys, good_path, "--weight-decay", "1e-3", "--optimizer", "adamw",
         expect="AdamW's decoupled weight decay is not an L2 penalty")
    _bad(capsys, good_path, "--lambda-w", "-1", expect="lambda_w (--lambda-w)")
    _bad(capsys, good_path, "--weight-decay", "0", expect="weight_decay (--weight-decay)")
    _bad(capsys, good_path, "--bias", "free", expect="needs the last-layer bias")


def test_a_pt_file_that_needs_code_is_refused(tmp_path, capsys):
    torch = pytest.importorskip("torch")

    path = tmp_path / "code.pt"
    torch.save({"features": Custom(), "labels": torch.tensor([0, 1])}, path)
    _bad(capsys, path, expect="would need code to unpickle")
    torch.save({"features": torch.zeros(3, 2), "labels": torch.tensor([0, 1, 1])},
               tmp_path / "nohead.pt")
    _bad(capsys, tmp_path / "nohead.pt", expect="no head layers")


class Custom:
    """An object whose unpickling would run this module's code."""


@pytest.mark.parametrize("suffix, library, expect", [
    # .safetensors is read by ncsolve itself since issue 24 (no memory map): no package
    (".pt", "torch", "reading .pt/.pth needs PyTorch; without it save the arrays as .npz"),
])
def test_a_missing_optional_library_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch,
                                                           suffix, library, expect):
    monkeypatch.setitem(sys.modules, library, None)  # what an uninstalled package does
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"\x00" * 16)
    err = _bad(capsys, path, expect=expect)
    assert err.startswith(f"ncsolve measure: error: {path}: ")


# ---- training conventions -------------------------------------------------------------


@pytest.mark.parametrize("loss, reduction, batch, scale", [
    ("mse", "mean", None, 5.0),            # nn.MSELoss(): K / 2
    ("mse", "half-mean", None, 10.0),      # the paper's imbalanced script: K
    ("mse", "ufm", None, 1.0),             # the objective's own 1/(2N)
    ("mse", "sum", None, 1 / 200),         # sum over N samples: 1/(2N)
    ("mse", "sum", 10, 1 / 20),            # summed batches: 1/(2B)
    ("mse", "mean", 10, 5.0),              # means do not depend on the batch size
    ("ce", "mean", None, 1.0),             # nn.CrossEntropyLoss()
    ("ce", "sum", 10, 1 / 10),
])
def test_convention_scales(loss, reduction, batch, scale):
    mapping = training_decays(num_classes=10, num_samples=100, depth=2, weight_decay=1e-3,
                              loss=loss, loss_reduction=reduction, feature_decay=1e-2,
                              batch_size=batch)
    assert mapping.scale == pytest.approx(scale, rel=1e-15)
    assert mapping.lambda_w == pytest.approx((scale * 1e-3,) * 2, rel=1e-15)
    fraction = (batch or 100) / 100
    assert mapping.lambda_h == pytest.approx(scale * 1e-2 * fraction, rel=1e-15)


def test_convention_refusals():
    with pytest.raises(ProblemError, match="AdamW"):
        training_decays(num_classes=3, num_samples=9, depth=1, weight_decay=1e-3,
                        optimizer="adamw")
    with pytest.raises(ProblemError, match="loss_reduction"):
        training_decays(num_classes=3, num_samples=9, depth=1, weight_decay=1e-3,
                        loss="ce", loss_reduction="half-mean")
    with pytest.raises(ProblemError, match="batch_size"):
        training_decays(num_classes=3, num_samples=9, depth=1, weight_decay=1e-3,
                        batch_size=10)


def test_predict_takes_training_conventions(capsys):
    status = main(["predict", "--n", "500,100,50", "--depth", "3", "--weight-decay", "1e-3",
                   "--feature-decay", "2e-3", "--json"])
    out = capsys.readouterr()
    assert status == 0, out.err
    data = json.loads(out.out)
    assert data["problem"]["lambda_w"] == pytest.approx([1.5e-3] * 3)  # K wd / 2
    assert data["problem"]["lambda_h"] == pytest.approx(3e-3)
    assert data["convention"]["scale"] == pytest.approx(1.5)
    reference = predict(n=[500, 100, 50], depth=3, lambda_w=1.5e-3, lambda_h=3e-3)
    assert data["loss"] == pytest.approx(reference.loss, rel=1e-15)
    status = main(["predict", "--n", "5,5", "--weight-decay", "1e-3", "--lambda-w", "1e-3"])
    err = capsys.readouterr().err
    assert status == 2 and "not both" in err


def test_python_predict_with_conventions_is_what_the_command_line_prints(capsys):
    """The result protocol: to_dict() is the --json and str() the text, mapping included."""
    argv = ["predict", "--n", "500,100,50", "--depth", "3", "--weight-decay", "1e-3",
            "--feature-decay", "2e-3"]
    python = predict(n=[500, 100, 50], depth=3, weight_decay=1e-3, feature_decay=2e-3)
    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(python.to_dict()))
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert text == str(python) + "\n"
    assert text.rstrip().endswith(str(python.convention)) and "training convention" in text
    assert python.loss == predict(n=[500, 100, 50], depth=3, lambda_w=1.5e-3,
                                  lambda_h=3e-3).loss


def test_predict_maps_the_bias_decay_of_a_regularized_bias(capsys):
    """weight_decay on every parameter: lambda_b = lambda_W (K wd / 2 for nn.MSELoss()), as
    measure maps it; an explicit --lambda-b beside --weight-decay is refused."""
    argv = ["predict", "--n", "5,3,1", "--depth", "2", "--weight-decay", "1e-3",
            "--feature-decay", "2e-3", "--bias", "regularized"]
    assert main([*argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["problem"]["lambda_b"] == pytest.approx(1.5e-3)
    assert data["convention"]["lambda_b"] == pytest.approx(1.5e-3)
    reference = predict(n=[5, 3, 1], depth=2, lambda_w=1.5e-3, lambda_h=3e-3,
                        bias="regularized", lambda_b=1.5e-3)
    assert data["loss"] == pytest.approx(reference.loss, rel=1e-15)
    python = predict(n=[5, 3, 1], depth=2, weight_decay=1e-3, feature_decay=2e-3,
                     bias="regularized")
    assert python.loss == pytest.approx(reference.loss, rel=1e-15)
    assert main([*argv, "--lambda-b", "1e-3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ncsolve predict: error: lambda_b (--lambda-b)") and err.count("\n") == 1


def test_options_that_do_not_apply_are_refused(tmp_path, capsys):
    """The same rule as predict: an option without effect is an error, never ignored."""
    solution, good = _exact_arrays(bias="free")
    path = _saved(tmp_path, "free.npz", **good)
    no_bias = _saved(tmp_path, "nobias.npz", **{k: v for k, v in good.items() if k != "b2"})
    _bad(capsys, path, "--depth", "3", "--lambda-w", DECAY, expect="depth (--depth)")
    _bad(capsys, path, "--depth", "1", "--lambda-w", DECAY, expect="depth (--depth)")
    _bad(capsys, no_bias, "--lambda-w", DECAY, "--lambda-h", DECAY, "--lambda-b", "1e-3",
         expect="lambda_b (--lambda-b)")
    _bad(capsys, path, "--bias", "free", "--lambda-w", DECAY, "--lambda-h", DECAY,
         "--lambda-b", "1", expect="lambda_b (--lambda-b)")
    _bad(capsys, path, "--lambda-w", DECAY, "--lambda-h", DECAY, "--restarts", "3",
         expect="restarts (--restarts)")
    # the global minimizer with a nonzero free bias measures as global (no penalty on b)
    report = _json(capsys, path, "--bias", "free", "--lambda-w", DECAY, "--lambda-h", DECAY)
    assert report["status"] == "global" and abs(report["gap"]) < 1e-12


def test_undefined_metrics_print_as_a_dash_and_overflow_is_one_line(tmp_path, capsys):
    features = np.zeros((12, 4))
    labels = np.repeat(np.arange(3), 4)
    path = _saved(tmp_path, "zero.npz", features=features, labels=labels, W1=np.zeros((3, 4)),
                  W2=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        status, out, err = _run(capsys, path, "--lambda-w", DECAY, "--lambda-h", DECAY)
    assert status == 0 and err == ""
    assert "nan" not in out.lower()
    rng = np.random.default_rng(0)
    huge = _saved(tmp_path, "huge.npz", features=rng.standard_normal((12, 4)) * 1e200,
                  labels=labels, W1=rng.standard_normal((3, 4)) * 1e200, W2=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning would be a second stderr line
        _bad(capsys, huge, "--lambda-w", DECAY, "--lambda-h", DECAY, expect="features: entries up to 1e200")
