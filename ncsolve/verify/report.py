"""The report shared by the MSE and the cross-entropy comparisons, and its JSON pieces."""

from __future__ import annotations

from dataclasses import dataclass

from ..inputs.problem import Problem
from ..results.table import json_ready
from .common import Tolerances


def _snapshot_dict(snapshot) -> dict:
    out = {"step": int(snapshot.step), "loss": float(snapshot.loss),
           "grad_norm": float(snapshot.grad_norm)}
    if isinstance(snapshot.data, dict):
        out.update(snapshot.data)
    return out


def _run_head(run, numbers: tuple, **first) -> dict:
    """The first keys of a run's JSON.

    seed, method and status, then ``first``, the attributes named in ``numbers``
    (as floats), converged and the collapsed classes.
    """
    return {"seed": run.seed, "method": run.method, "status": run.status, **first,
            **{name: float(getattr(run, name)) for name in numbers},
            "converged": bool(run.converged), "collapsed": list(run.collapsed)}


def _run_errors(run) -> dict:
    """The largest normalized and relative distances and the per-layer ones, for its JSON."""
    return {"errors": run.errors, "relative_errors": run.relative_errors,
            "layer_errors": run.layer_errors}


def _run_timing(run) -> dict:
    """Steps, time and the optimizer's message of a run, for its JSON."""
    return {"steps": int(run.steps), "elapsed": float(run.elapsed), "message": run.message}


def _trajectory_dicts(run) -> list:
    return [_snapshot_dict(s) for s in run.trajectory]


def _tolerances_dict(tolerances: Tolerances) -> dict:
    return {"loss_rtol": tolerances.loss_rtol, "gram_tol": tolerances.gram_tol,
            "grad_tol": tolerances.grad_tol}


@dataclass(frozen=True, eq=False)
class ComparisonReport:
    """The theory versus one or more descent runs (base of the MSE and CE reports).

    Attributes
    ----------
    problem : Problem
    widths : tuple of int
    method : str
    options : dict
        Descent options used (lr, momentum, steps, init_scale, ...).
    solution : object
        The theory's answer.
    tolerances : Tolerances
    runs : list
        One run report per restart, in seed order.
    best : int
        Index in ``runs`` of the run with the lowest objective.

    Subclasses give ``_theory_loss``, ``_outcome_dict`` (the keys between "gap"
    and "best_seed" of :meth:`to_dict`), ``_theory_dict`` and ``summary``.
    """

    problem: Problem
    widths: tuple
    method: str
    options: dict
    solution: object
    tolerances: Tolerances
    runs: list
    best: int

    @property
    def best_run(self):
        return self.runs[self.best]

    @property
    def status(self) -> str:
        return self.best_run.status

    def summary(self) -> list[dict]:
        raise NotImplementedError

    def _theory_loss(self) -> float:
        raise NotImplementedError

    def _outcome_dict(self) -> dict:
        raise NotImplementedError

    def _theory_dict(self) -> dict:
        raise NotImplementedError

    def __str__(self) -> str:
        raise NotImplementedError  # each comparison renders its own layout (verify.text)

    def to_dict(self) -> dict:
        """The JSON of ``ncsolve verify --json`` (numpy values as Python, nan and inf as None)."""
        return json_ready(self._raw_dict())

    def _raw_dict(self) -> dict:
        best = self.best_run
        return {
            "status": best.status,
            "loss": float(best.loss),
            "theory_loss": self._theory_loss(),
            "gap": float(best.gap),
            **self._outcome_dict(),
            "best_seed": best.seed,
            "grad_norm": float(best.grad_norm),
            "converged": bool(best.converged),
            "problem": self.problem.to_dict(),
            "widths": list(self.widths),
            "method": self.method,
            "options": dict(self.options),
            "tolerances": _tolerances_dict(self.tolerances),
            "theory": self._theory_dict(),
            "best": best.to_dict(),
            "runs": [r.to_dict() for r in self.runs],
            "summary": self.summary(),
        }
