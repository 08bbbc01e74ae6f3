"""Named constants shared by every answer: certainty words, Gram limits, tolerances.

One module, so that a word printed in ``--json`` or a threshold that decides a
structure is spelled once. Constants that belong to one algorithm alone (a
search's step sizes, a certificate's rounding margin) stay with it.
"""

from __future__ import annotations

__all__ = [
    "BEST_FOUND",
    "CERTAINTIES",
    "CE_JSON_GRAMS_MAX_K",
    "COLLAPSED_RTOL",
    "EXACT",
    "MEASURE_GRAM_TARGETS_MAX_K",
    "MSE_JSON_GRAMS_MAX_K",
    "PRECISE_JSON_GRAMS_MAX_K",
    "PROVED",
    "RANK_RTOL",
    "RUN_RANK_RTOL",
    "SAME_MINIMUM_RTOL",
    "SEARCH_COLLAPSED_RTOL",
    "TIE_RTOL",
    "certainty_strength",
]

# ---- certainty: how sure the answer is that it is the global minimum --------------------

EXACT = "exact"  # a closed form: the global minimum itself (MSE, either precision)
PROVED = "proved"  # a theorem or a certificate (duality gap, origin bound) proves it
BEST_FOUND = "best found"  # the best of a search; nothing proves it is global
CERTAINTIES = (EXACT, PROVED, BEST_FOUND)  # strongest first


def certainty_strength(word: str) -> int:
    """Rank of a certainty word, 0 for the strongest (``exact``)."""
    return CERTAINTIES.index(word)


# ---- Gram limits: the K x K matrices cost K^2, the per-class fields only K --------------

# predict --json includes the Grams by default up to this many classes (--grams: more):
# float64 JSON grows as K^2, about 0.3 s and 3 MB at K = 200
MSE_JSON_GRAMS_MAX_K = 200
# the same for --precision: every entry is a decimal string of up to 1000 digits
PRECISE_JSON_GRAMS_MAX_K = 50
# the same for cross-entropy: the search has formed the K x K logits already, so
# writing them (and the Grams) is cheap next to it
CE_JSON_GRAMS_MAX_K = 1000
# measure forms K x K theory targets (Grams, output matrix, CDNV) up to this many classes
MEASURE_GRAM_TARGETS_MAX_K = 2000

# ---- tolerances ---------------------------------------------------------------------------

# two singular values (or two objective values) this close, relative to the larger,
# are equal up to float64 rounding: a tie, not an ordering
TIE_RTOL = 1e-12
# a class mean of a closed-form answer shorter than this times the longest is zero
# (the closed form gives exact zeros up to rounding)
COLLAPSED_RTOL = 1e-12
# ... of a searched (cross-entropy) answer: its small values stop at the search's tolerance
SEARCH_COLLAPSED_RTOL = 1e-9
# singular values of an answer's own logits below this times the largest are zero: the
# answer is computed to rounding, so only rounding-level values are dropped
RANK_RTOL = 1e-12
# singular values of a gradient-method run below this times the answer's largest are zero.
# A different quantity from RANK_RTOL: a run stops at a gradient norm of about 1e-6
# (verify's grad_tol), so a direction the answer sets to zero keeps values of that order
RUN_RANK_RTOL = 1e-6
# end points of local searches whose losses agree this closely count as one minimum
SAME_MINIMUM_RTOL = 1e-6
