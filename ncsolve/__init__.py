"""ncsolve: closed-form global minimizers of the deep linear unconstrained feature model.

>>> from ncsolve import predict
>>> result = predict(n=[500, 100, 50], depth=3)
>>> result.loss, result.geometry  # doctest: +SKIP
"""

import importlib

from .inputs.problem import Problem, ProblemError

__version__ = "0.1.0"
__all__ = ["dynamics", "predict", "Problem", "ProblemError", "__version__"]

_FROM_API = ("dynamics", "predict")


def __getattr__(name: str):
    """``predict`` and ``dynamics`` (every solver behind them) and the subpackages are
    imported on first use, so a command that needs few of them does not import them all."""
    if name in _FROM_API:
        return getattr(importlib.import_module(".api", __name__), name)
    try:
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
