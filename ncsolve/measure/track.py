"""Neural collapse against the theory during training: :class:`Tracker`.

Call :meth:`Tracker.record` at the end of an epoch (or every step); every
``every``-th call measures the network (:func:`ncsolve.measure.measure`) and keeps
a compact record: per layer NC1, CDNV, the Gram distance to the theory,
self-duality (and the theory's value of it) and NC4, and the objective gap, the
output distance, the stationarity, the lambda_H used and the status.
With the decays given the theory is solved once and reused; a fitted feature decay
(no lambda_h given) is fitted again at every record.  Each record keeps the lambda_H
it was measured against.  :meth:`Tracker.plot` draws the paper-style
figure (metrics against epochs, each value axis logarithmic where its values span
more than a decade).
"""

from __future__ import annotations

import numpy as np

from ..inputs.problem import ProblemError, whole_number
from .network import measure
from .plot import plot_tracker

__all__ = ["Tracker"]

LAYER_FIELDS = ("nc1", "cdnv", "gram_distance", "self_duality", "theory_self_duality", "nc4")
RUN_FIELDS = ("gap", "output_distance", "stationarity", "lambda_h")


class Tracker:
    """Record neural-collapse metrics against the theory every ``every`` epochs.

    Parameters
    ----------
    every : int
        Measure at epochs 0, every, 2 every, ... (the epoch numbers given to record).
    **options
        Passed to :func:`ncsolve.measure.measure` (``lambda_w``, ``lambda_h``,
        ``convention``, ``bias``, ``loss``, ...).

    Examples
    --------
    >>> tracker = Tracker(every=10, lambda_w=5e-4, lambda_h=5e-4)   # doctest: +SKIP
    >>> for epoch in range(epochs):                                  # doctest: +SKIP
    ...     train_one_epoch()
    ...     tracker.record(epoch, H.T, labels, [layer.weight for layer in model])
    >>> tracker.plot().savefig("collapse.png", dpi=200)              # doctest: +SKIP
    """

    def __init__(self, every: int = 1, **options):
        self.every = whole_number(every, "every", "the recording interval")
        if "theory" in options:
            raise ProblemError("theory: the tracker solves the theory itself")
        self.options = options
        self.epochs: list[int] = []
        self.records: list[dict] = []
        self.last = None
        self._theory = None

    def record(self, epoch: int, features, labels, weights, biases=None, **arrays):
        """Measure at ``epoch`` if it is a multiple of ``every``; returns the Measurement
        (None when skipped).  ``arrays``: test_features, test_labels, layer_features."""
        epoch = whole_number(epoch, "epoch", "the epoch", low=0)
        if epoch % self.every:
            return None
        result = measure(features, labels, weights, biases, theory=self._theory,
                         **self.options, **arrays)
        if result.lambda_h_fit is None:
            # the decays are fixed, so is the theory: later records reuse it.  A fitted
            # lambda_H follows the network and is fitted again at every record.
            self._theory = result.theory
        self.epochs.append(epoch)
        self.records.append(_compact(result))
        self.last = result
        return result

    def series(self, name: str) -> np.ndarray:
        """One recorded quantity over the records: (records,) for run-level fields,
        (records, layers) for per-layer fields."""
        if name not in LAYER_FIELDS + RUN_FIELDS:
            raise ProblemError(f"name: one of {', '.join(LAYER_FIELDS + RUN_FIELDS)}; "
                               f"got {name!r}")
        def number(value):
            return np.nan if value is None else value

        if name in RUN_FIELDS:
            return np.array([number(r[name]) for r in self.records], dtype=float)
        return np.array([[number(v) for v in r[name]] for r in self.records], dtype=float)

    def to_dict(self) -> dict:
        """Epochs and records, JSON-ready."""
        return {"epochs": list(self.epochs), "records": list(self.records)}

    def plot(self):
        """The figure of the recorded run (see :func:`ncsolve.measure.plot.plot_tracker`)."""

        return plot_tracker(self)


def _compact(result) -> dict:
    out = {name: [getattr(layer, name) for layer in result.layers] for name in LAYER_FIELDS}
    out.update({name: getattr(result, name) for name in RUN_FIELDS if name != "lambda_h"})
    out["lambda_h"] = result.problem["lambda_h"]
    out["lambda_h_fitted"] = result.lambda_h_fit is not None
    out["status"] = result.status
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
            for k, v in out.items()}
