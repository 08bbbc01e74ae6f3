"""The theory against gradient methods on the full problem.

A run of :mod:`ncsolve.core.descent` ends at some point ``x``.  The theory (docs/theory.md,
sections 2-5) says that every critical point of interest has the same singular
directions as the target and, in each direction i, a product singular value
that is either 0 or the nonzero local minimum ``z_local_i`` of that direction's
scalar problem.  :func:`assess` reads off the run's value in every direction,
builds the matching *candidate* critical point, and compares the run with it:

* ``global``: the run matches the candidate and the candidate is a global minimizer;
* ``local``: the run matches another critical point of the theory (some
  directions zero that the global minimizer keeps, or the reverse in the window
  of docs/theory.md, section 3);
* ``not-converged``: the run matches no candidate within tolerance.

Directions with equal target singular values form an eigenspace in which the
theory does not fix a basis; there the theory's basis is rotated to the run's
own before comparing, so a run that kept any k of m equivalent directions is
compared with the candidate that keeps exactly those.

:func:`verify` runs descent from one or more seeds and assesses every run.

Cross-entropy has no closed form.  There the theory is ncsolve's answer
(:func:`ncsolve.solvers.crossentropy.solve`: proved at depth 1 and for the origin, the best
found by a search otherwise) and :func:`assess_ce` judges a run by its gradient
norm, its objective against the answer's and its Grams after the best relabeling
of classes of equal size (:func:`align`).  A run below the answer is reported with
``beats_theory``: ncsolve's search missed it.

Modules: :mod:`.critical_points` (the MSE theory's critical points: :class:`TheoryTarget`,
:func:`critical_point`), :mod:`.mse` (:func:`assess` and the MSE report),
:mod:`.alignment` (a searched answer's matrices and :func:`align`), :mod:`.crossentropy`
(:func:`assess_ce` and the cross-entropy report), :mod:`.report` (the report's base and
JSON pieces), :mod:`.text` (its text), :mod:`.common` (tolerances and a run's end point),
:mod:`.targets` (a target other than one-hot labels: :func:`~.targets.assess_target`),
:mod:`.run` (:func:`verify`: the theory, descent, every run assessed), :mod:`.plot`
(:func:`verify_figure`, :func:`plot_report`), :mod:`.dynamics` (descent from a spectral
start read per direction, random starts against the flow's prediction; docs/dynamics.md),
:mod:`.dynamics_plot` (the figure of ``ncsolve dynamics --plot``), :mod:`.spectral`
(``verify --spectral-start``: the flow's ends and times against descent from the spectral
start the random starts read as, and against the random runs).
"""

from .alignment import (  # noqa: F401  (PERMUTATION_LIMIT stays importable from here)
    PERMUTATION_LIMIT,
    Alignment,
    CETarget,
    align,
    class_permutations,
)
from .crossentropy import (  # noqa: F401  (the constants stay importable from here)
    COLLAPSE_FRACTION,
    RANK_RTOL,
    CERunReport,
    CEVerifyReport,
    assess_ce,
)
from .common import STATUSES, Tolerances, problem_with_widths  # noqa: F401  (STATUSES, too)
from .critical_points import TheoryTarget, critical_point
from .mse import RunReport, VerifyReport, assess
from .plot import plot_report, verify_figure
from .run import verify

__all__ = [
    "Alignment",
    "CERunReport",
    "CETarget",
    "CEVerifyReport",
    "RunReport",
    "TheoryTarget",
    "Tolerances",
    "VerifyReport",
    "align",
    "assess",
    "assess_ce",
    "class_permutations",
    "critical_point",
    "plot_report",
    "verify_figure",
    "problem_with_widths",
    "verify",
]
