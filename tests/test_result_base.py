"""One result base: every answer has the same fields and methods, holds plain data,
and its per-layer read-off agrees with the full model's parameters."""

from __future__ import annotations

import dataclasses
from decimal import Decimal, localcontext

import numpy as np
import pytest

from ncsolve import predict
from ncsolve.results.base import Result, SearchRecord
from ncsolve.core.constants import BEST_FOUND, CERTAINTIES, EXACT, PROVED
from ncsolve.solvers.crossentropy.reduced import ReducedCE
from ncsolve.solvers.regularized.reduced_crossentropy import CEPoint, RegularizedCE
from ncsolve.solvers.regularized.outer import OuterRun
from ncsolve.solvers.regularized.target import FixedBias

N = [30, 20, 10]
KINDS = {
    "mse": {},
    "precise": {"precision": 20},
    "ce": {"loss": "ce", "restarts": 2},
    "regularized": {"bias": "regularized", "lambda_b": 0.1},
    "regularized-ce": {"loss": "ce", "restarts": 2, "bias": "regularized", "lambda_b": 0.1},
}
SOLVER_OBJECTS = (FixedBias, OuterRun, RegularizedCE, CEPoint, ReducedCE)


@pytest.fixture(scope="module")
def answers():
    return {name: predict(n=N, depth=2, **kw) for name, kw in KINDS.items()}


def _walk(value):
    """Every value inside a result's fields (records and tuples opened)."""
    yield value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _walk(getattr(value, f.name))
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _walk(item)


@pytest.mark.parametrize("kind", KINDS)
def test_every_answer_is_a_result_with_plain_data(answers, kind):
    result = answers[kind]
    assert isinstance(result, Result)
    held = [type(v).__name__ for v in _walk(result) if isinstance(v, SOLVER_OBJECTS)]
    assert held == [], f"{kind} holds solver objects {held}"


@pytest.mark.parametrize("kind", KINDS)
def test_hooks_place_every_entry(answers, kind):
    """No entry a hook computes is dropped by the declared key order, and none is missing."""
    result = answers[kind]
    keys = type(result).JSON_KEYS
    assert len(set(keys)) == len(keys)
    assert set(result._extra_dict(True)) <= set(keys)
    assert set(type(result).CLASS_KEYS) <= set(result._class_columns())
    assert set(result._extra_class_columns()) <= set(type(result).CLASS_KEYS)
    data = result.to_dict(grams=True)
    assert list(data) == list(keys) and data["gram"] is not None
    assert [list(c) for c in data["classes"]] == [list(type(result).CLASS_KEYS)] * len(N)


@pytest.mark.parametrize("kind", KINDS)
def test_every_answer_answers_the_same_questions(answers, kind):
    result = answers[kind]
    assert result.certainty in CERTAINTIES
    assert isinstance(result.certainty_reason, str)
    assert isinstance(result.search_record(), SearchRecord)
    assert len(result.state) == len(result.critical_decay) == len(N)
    collapsed = np.asarray(result.collapsed, dtype=bool)
    assert np.all(np.asarray(result.state)[collapsed] != "active")
    sv = np.asarray(result.layer_singular_values(), dtype=float)
    assert sv.shape == (len(N), 3) and np.all(sv >= 0)
    # two routes to the classifier's row lengths: the Gram's diagonal and the spectrum
    np.testing.assert_allclose(np.asarray(result.classifier_row_norms(0), dtype=float),
                               np.asarray(result.classifier_norm, dtype=float), rtol=1e-9)


def test_closed_forms_are_exact_and_searches_say_so(answers):
    assert answers["mse"].certainty == answers["precise"].certainty == EXACT
    assert answers["ce"].certainty in (PROVED, BEST_FOUND)
    record = answers["ce"].search_record()
    assert record.reason == answers["ce"].certainty_reason and record.candidates


def test_a_searched_bias_reports_its_best_end():
    """The reported loss is the lowest end of the outer search, and it is counted as hit."""
    sol = predict(n=[40, 15, 5], depth=2, bias="regularized", lambda_b=0.05)
    record = sol.search_record()
    assert sol.certainty == BEST_FOUND and record.restarts == len(sol.runs) >= 2
    assert min(end.loss for end in record.ends) == pytest.approx(sol.loss, rel=1e-12)
    assert record.hits >= 1 and record.candidates == () and record.etf_loss is None
    assert record.reason == " ".join(sol.notes)


def test_ce_layers_agree_with_the_full_parameters():
    """Per-layer Grams, singular values and classifier rows of a cross-entropy answer,
    against the matrices of its full parameters (class means formed from H)."""
    sol = predict(n=[12, 7, 5, 3], depth=3, loss="ce", restarts=2)
    H, weights, _ = sol.full_parameters()
    n = np.asarray(sol.problem.n)
    labels = np.repeat(np.arange(n.size), n)
    features = H
    for layer in range(sol.problem.depth):
        means = np.stack([features[:, labels == k].mean(axis=1) for k in range(n.size)], 1)
        np.testing.assert_allclose(sol.gram_features(layer), means.T @ means,
                                   atol=1e-10 * np.abs(means.T @ means).max())
        classifier = np.eye(n.size)
        for w in weights[layer:][::-1]:
            classifier = classifier @ w
        gram = classifier @ classifier.T
        np.testing.assert_allclose(sol.gram_classifier(layer), gram, atol=1e-10 * gram.max())
        np.testing.assert_allclose(sol.classifier_row_norms(layer),
                                   np.linalg.norm(classifier, axis=1), rtol=1e-9)
        features = weights[layer] @ features
    sv = sol.layer_singular_values()
    for j, matrix in enumerate((H, *weights)):
        top = np.linalg.svd(matrix, compute_uv=False)[: sol.rank]
        np.testing.assert_allclose(sv[: sol.rank, j], top, rtol=1e-9)
    assert np.all(sv[sol.rank:] == 0)


def test_high_precision_grams_have_every_digit():
    """The K x K matrices of --precision carry the requested digits: their diagonals are
    the squared class-mean lengths, squared classifier rows and own-label outputs of the
    per-class fields, formed by another route (they were once formed at 53 bits)."""
    data = predict(n=[500, 100, 50], depth=3, precision=60).to_dict()
    tol = Decimal("1e-55")
    with localcontext() as context:
        context.prec = 120
        _check_diagonals(data, tol)


def _check_diagonals(data: dict, tol: Decimal) -> None:
    for k, row in enumerate(data["classes"]):
        pairs = [(data["gram"]["features"][k][k], Decimal(row["feature_norm"]) ** 2),
                 (data["gram"]["classifier"][k][k], Decimal(row["classifier_norm"]) ** 2),
                 (data["gram"]["outputs"][k][k], Decimal(row["output"]))]
        for entry, expected in pairs:
            assert abs(Decimal(entry) - expected) <= tol * abs(expected), (k, entry, expected)


def test_an_answer_with_its_training_mapping_is_still_a_result():
    mapped = predict(n=N, depth=2, weight_decay=5e-4, feature_decay=1e-3)
    assert isinstance(mapped, Result) and type(mapped).__name__ == "Mapped"
    data = mapped.to_dict()
    assert data["convention"] and data["loss"] == mapped.result.to_dict()["loss"]
    assert str(mapped).startswith(str(mapped.result) + "\n")
