"""predict's public contract: validation, class-order invariance, JSON, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ncsolve import Problem, ProblemError, predict
from ncsolve.cli import main

BAD_INPUT = [
    # (keyword arguments, CLI arguments, parameter named in the message)
    (dict(n=[5, -2]), ["--n", "5,-2"], "n (--n)"),
    (dict(n=[5, 0]), ["--n", "5,0"], "n (--n)"),
    (dict(n=[5, 2.5]), ["--n", "5,2.5"], "n (--n)"),
    (dict(n="5,x"), ["--n", "5,x"], "n (--n)"),
    (dict(n=[]), ["--n", ""], "n (--n)"),
    (dict(n=[5], depth=0), ["--n", "5", "--depth", "0"], "depth (--depth)"),
    (dict(n=[5], depth="two"), ["--n", "5", "--depth", "two"], "depth (--depth)"),
    (dict(n=[5], lambda_w=-1e-3), ["--n", "5", "--lambda-w", "-1e-3"], "lambda_w (--lambda-w)"),
    (dict(n=[5], lambda_w=0.0), ["--n", "5", "--lambda-w", "0"], "lambda_w (--lambda-w)"),
    (dict(n=[5], lambda_w=float("nan")), ["--n", "5", "--lambda-w", "nan"], "lambda_w"),
    (dict(n=[5], lambda_h=float("inf")), ["--n", "5", "--lambda-h", "inf"], "lambda_h"),
    (dict(n=[5], depth=3, lambda_w=[1e-3, 1e-3]), ["--n", "5", "--depth", "3",
                                                   "--lambda-w", "1e-3,1e-3"], "lambda_w"),
    (dict(n=[5], depth=2, widths=[3]), ["--n", "5", "--depth", "2", "--widths", "3"], "widths"),
    (dict(n=[5], widths=[0]), ["--n", "5", "--widths", "0"], "widths (--widths)"),
    (dict(n=[5], bias="learned"), ["--n", "5", "--bias", "learned"], "bias (--bias)"),
    (dict(n=[5], loss="hinge"), ["--n", "5", "--loss", "hinge"], "loss (--loss)"),
    (dict(n=[5 * 10**18] * 2), ["--n", "5000000000000000000,5000000000000000000"], "n (--n)"),
    (dict(n=[1e20]), ["--n", "1e20"], "n (--n)"),
    (dict(n=[2**52, 2**52, 2]), ["--n", f"{2**52},{2**52},2"], "n (--n)"),  # N > 2^53
    (dict(n=[5], depth=10**9), ["--n", "5", "--depth", "1e9"], "depth (--depth)"),
    (dict(n="@/nonexistent/sizes.txt"), ["--n", "@/nonexistent/sizes.txt"], "n (--n)"),
]


@pytest.mark.parametrize("kwargs,argv,param", BAD_INPUT)
def test_bad_input_raises_one_documented_error(kwargs, argv, param):
    with pytest.raises(ProblemError) as error:
        predict(**kwargs)
    assert isinstance(error.value, ValueError)
    assert str(error.value).startswith(param)


@pytest.mark.parametrize("kwargs,argv,param", BAD_INPUT)
def test_bad_input_on_the_command_line(kwargs, argv, param, capsys):
    status = main(["predict", *argv])
    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and param in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["predict"], ["predict", "--n", "3", "--bogus"], ["nope"]])
def test_usage_errors_are_one_line_and_status_2(argv, capsys):
    try:  # argparse exits; a missing --n (it may come from --profile) returns 2
        status = main(argv)
    except SystemExit as stop:
        status = stop.code
    out, err = capsys.readouterr()
    assert status == 2 and out == "" and err.count("\n") == 1


def test_precision_out_of_range_is_refused(capsys):
    assert main(["predict", "--n", "3,2", "--precision", "5"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "precision (--precision)" in err


def test_problem_defaults_are_the_paper_setting():
    p = Problem.build([200, 100, 50, 50], depth=3)
    assert p.lambda_w == (5e-4,) * 3 and p.lambda_h == 5e-4 and p.bias == "none"
    assert p.N == 400 and p.L == 4 and np.isclose(p.lbar, 5e-4)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 500), min_size=2, max_size=8), st.integers(1, 6),
       st.sampled_from(["none", "free"]), st.floats(-4, -1), st.randoms(use_true_random=False))
def test_result_does_not_depend_on_class_order(n, depth, bias, log_decay, random):
    decay = 10.0**log_decay
    perm = list(range(len(n)))
    random.shuffle(perm)
    a = predict(n=n, depth=depth, lambda_w=decay, lambda_h=decay, bias=bias)
    b = predict(n=[n[i] for i in perm], depth=depth, lambda_w=decay, lambda_h=decay, bias=bias)
    assert np.isclose(a.loss, b.loss, rtol=1e-12)
    assert np.allclose(a.sigma, b.sigma, rtol=1e-12, atol=1e-12 * max(n))
    for name in ("feature_norm", "classifier_norm", "output"):
        x, y = getattr(a, name)[perm], getattr(b, name)
        assert np.allclose(x, y, rtol=1e-9, atol=1e-12 * max(1.0, np.abs(x).max())), name
    assert np.array_equal(a.collapsed[perm], b.collapsed)
    ga, gb = a.gram_features()[np.ix_(perm, perm)], b.gram_features()
    assert np.allclose(ga, gb, rtol=1e-9, atol=1e-12 * np.abs(ga).max())


def test_json_contract(capsys):
    assert main(["predict", "--n", "500,100,50", "--depth", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    solution = predict(n=[500, 100, 50], depth=3)
    assert data["loss"] == solution.loss  # full float precision survives JSON
    assert data["unique"] is True and isinstance(data["geometry"], str)
    assert [c["n"] for c in data["classes"]] == [500, 100, 50]
    for c, k in zip(data["classes"], range(3)):
        assert set(c) >= {"n", "feature_norm", "classifier_norm", "collapsed"}
        assert c["feature_norm"] == solution.feature_norm[k]
    for name in ("features", "classifier", "outputs"):
        assert np.array_equal(np.array(data["gram"][name]), getattr(solution, f"gram_{name}")())
    assert len(data["directions"]) == 3
    assert all(len(d["singular_values"]) == 4 for d in data["directions"])
    assert {"sigma", "z"} <= set(data["directions"][0])


def test_balanced_free_bias_is_a_simplex_etf():
    solution = predict(n=[100] * 4, depth=3, bias="free")
    assert solution.geometry == "simplex ETF" and solution.unique
    gram = solution.gram_features()
    cosines = gram / np.sqrt(np.outer(np.diag(gram), np.diag(gram)))
    off = cosines[~np.eye(4, dtype=bool)]
    assert np.allclose(off, -1 / 3, atol=1e-12)
    assert np.allclose(solution.feature_norm, solution.feature_norm[0], rtol=1e-12)


def test_geometry_names():
    assert predict(n=[10] * 3, depth=2).geometry == "orthogonal frame"
    assert predict(n=[10, 5, 2], depth=2).geometry == "general orthogonal frame"
    gof = predict(n=[500, 100, 50], depth=3, lambda_w=0.0095, lambda_h=0.0095)
    assert "1 collapsed" in gof.geometry and list(gof.collapsed) == [False, False, True]
    assert predict(n=[10, 5], depth=2, lambda_w=10.0, lambda_h=10.0).geometry == (
        "collapsed to the origin")


def test_text_output_names_the_geometry(capsys):
    assert main(["predict", "--n", "500,100,50", "--depth", "3"]) == 0
    out = capsys.readouterr().out
    assert "general orthogonal frame" in out and "unique: yes" in out
    assert out.count("\n") > 8


def test_text_output_flags_the_window_and_non_uniqueness(capsys):
    main(["predict", "--n", "500,100,50", "--depth", "3", "--lambda-w", "0.0095",
          "--lambda-h", "0.0095"])
    assert "only a local minimum" in capsys.readouterr().out
    main(["predict", "--n", "5,5,5", "--depth", "2", "--widths", "2,2"])
    assert "unique: NO" in capsys.readouterr().out


def test_repr_and_str_are_readable():
    solution = predict(n=[500, 100, 50], depth=3)
    assert repr(solution).startswith("Solution(K=3")
    assert "general orthogonal frame" in str(solution)


def test_predict_does_not_import_sympy():
    heavy = ["sympy", "scipy.optimize", "matplotlib", "pandas", "dask", "torch",
             "ncsolve.sweep"]  # the sweep package only with --profile
    code = ("import sys; from ncsolve.cli import main; main(['predict', '--n', '3,2', "
            f"'--json']); loaded = [m for m in {heavy!r} if m in sys.modules]; "
            "assert not loaded, loaded")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_console_script_runs_the_readme_example():
    done = subprocess.run([sys.executable, "-m", "ncsolve", "predict", "--n", "500,100,50",
                           "--depth", "3", "--json"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == ""
    assert json.loads(done.stdout)["geometry"] == "general orthogonal frame"


def test_precision_with_cross_entropy_is_refused():
    with pytest.raises(ProblemError, match=r"^precision \(--precision\)"):
        predict(n=[3, 2], loss="ce", precision=30)


@pytest.mark.parametrize("argv,param", [
    (["--n", "50,50,50", "--restarts", "4"], "restarts (--restarts)"),
    (["--n", "50,50,50", "--loss", "ce", "--restarts", "x"], "restarts (--restarts)"),
    (["--n", "50,50,50", "--loss", "ce", "--seed", "-1"], "seed (--seed)"),
])
def test_search_options_are_checked(argv, param, capsys):
    assert main(["predict", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and param in err


def test_cross_entropy_search_options_reach_the_solver():
    few = predict(n=[50, 50, 50], depth=2, loss="ce", restarts=2, seed=1)
    many = predict(n=[50, 50, 50], depth=2, loss="ce", restarts=6, seed=1)
    def random(sol):  # the exchange rounds after the random starts vary with what they find
        return sum(r.start.startswith("random start") for r in sol.runs)

    assert few.restarts == 2 and many.restarts == 6
    assert random(few) < random(many)


def test_extreme_decays_are_quiet_and_finite():
    for decay in ("1e-320", "1e-300", "1e300"):
        done = subprocess.run([sys.executable, "-m", "ncsolve", "predict", "--n", "1000000000,5",
                               "--depth", "3", "--lambda-w", decay, "--lambda-h", decay,
                               "--json"], capture_output=True, text=True)
        assert done.returncode == 0 and done.stderr == "", done.stderr
        assert np.isfinite(json.loads(done.stdout)["loss"])


def test_class_sizes_from_a_file(tmp_path):
    path = tmp_path / "sizes.txt"
    path.write_text("500\n100, 50\n")
    assert predict(n=f"@{path}", depth=3).loss == predict(n=[500, 100, 50], depth=3).loss


def test_integer_options_accept_the_same_spellings():
    assert predict(n="500,1e2,50.0", depth="3.0").problem.n.tolist() == [500, 100, 50]
    assert predict(n=[50, 50], loss="ce", seed="1e1", restarts="2").loss > 0


@pytest.mark.parametrize("depth,lambda_w,lambda_h", [
    (3, 1e-300, 1e-300), (8, 1e-300, 1e-300), (1000, 1e-300, 1e-300), (2, 1e300, 1e-300),
    (3, (1e-3, 5e-3, 2e-2), 3e-3), (50, 0.0095, 0.0095),
])
def test_geometric_mean_of_decays_to_rounding(depth, lambda_w, lambda_h):
    import mpmath

    p = Problem.build([3], depth, lambda_w, lambda_h)
    with mpmath.workdps(50):
        exact = (mpmath.mpf(p.lambda_h) * mpmath.fprod(map(mpmath.mpf, p.lambda_w))) ** (
            mpmath.mpf(1) / p.L)
        assert abs((p.lbar - exact) / exact) < 4e-16


def test_grams_in_json_only_up_to_the_default_limit(capsys):
    """Three K x K matrices in JSON grow as K^2: by default only for K <= 200."""
    def gram(argv):
        assert main(["predict", "--json", *argv]) == 0
        return json.loads(capsys.readouterr().out)["gram"]

    at_limit = gram(["--n", ",".join(map(str, range(1, 201)))])
    assert at_limit is not None and len(at_limit["features"]) == 200
    above = ",".join(map(str, range(1, 202)))
    assert gram(["--n", above]) is None
    forced = gram(["--n", above, "--grams"])
    assert len(forced["outputs"]) == 201 and len(forced["outputs"][0]) == 201
    assert gram(["--n", "3,2", "--no-grams"]) is None


def _all_finite(sol) -> bool:
    """The exhaustive test: every per-class and per-direction array formed and looked at."""
    arrays = (sol.feature_norm, sol.classifier_norm, sol.output, sol.singular_values,
              sol.layer_feature_norms)
    return np.isfinite(sol.loss) and all(np.all(np.isfinite(a)) for a in arrays)


def test_the_cheap_bound_never_passes_a_value_beyond_float64():
    # half the layers' decays far below the geometric mean lbar and half far above
    # (the small ones first, half the time), so that the features' scales
    # prod sqrt(lbar/lambda) cross the end of float64 in many draws; the O(K)
    # bound must never call such an answer representable, and predict must refuse
    # exactly the answers that the exhaustive test refuses
    from ncsolve.solvers.mse import solve

    rng = np.random.default_rng(13)
    sure_count = unsure_but_finite = refused = 0
    for _ in range(400):
        depth = int(rng.integers(1, 7))
        n = rng.integers(1, 10 ** int(rng.integers(1, 9)), size=int(rng.integers(1, 12)))
        half = (depth + 1) // 2
        signs = np.r_[-np.ones(half), np.ones(half), np.zeros((depth + 1) % 2)]
        if rng.random() < 0.5:
            signs = rng.permutation(signs)
        logs = rng.uniform(-8, -2) + rng.uniform(150, 310) * signs
        lambda_h, lambda_w = float(10 ** logs[0]), [float(10 ** x) for x in logs[1:]]
        bias = str(rng.choice(["none", "free"]))
        sol = solve(Problem.build(n, depth, lambda_w, lambda_h, bias))
        sure, finite = sol.surely_representable(), _all_finite(sol)
        assert finite or not sure, (n, depth, lambda_w, lambda_h, bias)
        sure_count += sure
        unsure_but_finite += finite and not sure
        try:
            predict(n, depth, lambda_w, lambda_h, bias=bias)
        except ProblemError:
            refused += 1
            assert not finite
        else:
            assert finite
    # the draw covers both sides, and the bound is rarely too cautious
    assert refused > 20 and sure_count > 100 and unsure_but_finite <= 0.1 * sure_count


def test_one_quantity_reported_twice_is_one_number():
    # feature_norm is row 0 of layer_feature_norms, computed on its own (only layer 0
    # is formed for the per-class summary); the two must agree to the last bit
    rng = np.random.default_rng(0)
    for depth in range(1, 7):
        for bias in ("none", "free") * 10:
            sol = predict(rng.integers(1, 10**6, 8), depth, 1e-4, 1e-4, bias=bias)
            assert np.array_equal(sol.feature_norm, sol.layer_feature_norms[0])
