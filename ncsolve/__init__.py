"""ncsolve: closed-form global minimizers of the deep linear unconstrained feature model.

>>> from ncsolve import predict
>>> result = predict(n=[500, 100, 50], depth=3)
>>> result.loss, result.geometry  # doctest: +SKIP
"""

from .api import dynamics, predict
from .inputs.problem import Problem, ProblemError

__version__ = "0.1.0"
__all__ = ["dynamics", "predict", "Problem", "ProblemError", "__version__"]
