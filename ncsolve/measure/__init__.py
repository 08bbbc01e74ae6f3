"""Trained networks against the theory: loading, streaming class statistics, NC metrics
at every layer, the comparison with the global minimizer, training conventions.

>>> from ncsolve.measure import measure, ClassAccumulator, training_decays, load
>>> report = measure(features, labels, weights=[W1, W2, W3], lambda_w=5e-4,
...                  lambda_h=5e-4)                        # doctest: +SKIP
>>> print(report)                                          # doctest: +SKIP

Modules: :mod:`.arrays` (inputs from numpy, PyTorch, JAX), :mod:`.files` (npz,
safetensors, pt), :mod:`.stream` (:class:`ClassAccumulator`), :mod:`.ufm` (the
objective and its gradient from class statistics), :mod:`.theory` (the targets of
predict per layer), :mod:`.network` (:func:`measure`), :mod:`.conventions`
(:func:`training_decays`), :mod:`.result`, :mod:`.text`, :mod:`.track`
(:class:`Tracker`), :mod:`.plot`, :mod:`.literature` (NC1 forms, GNC2, UNC3, NC5),
:mod:`.heads` (state_dict heads), :mod:`.targets` (:func:`target_grams`),
:mod:`.device` (sums on the tensors' device), :mod:`.compensated` (float32 sums there,
compensated merges), :mod:`.hints`, :mod:`.nonlinear`,
:mod:`.nrc` (NRC1-3 of a regression head) and :mod:`.regression`
(:func:`~.regression.measure_regression`: a regression head against the exact minimizer).
"""

from ..inputs.conventions import TrainingConvention, training_decays
from .network import measure
from .theory import fit_feature_decay
from .result import LayerMetrics, Measurement
from .stream import ClassAccumulator, ClassStatistics, Head
from .targets import export_targets, target_grams
from .track import Tracker

__all__ = [
    "ClassAccumulator",
    "ClassStatistics",
    "Head",
    "LayerMetrics",
    "Measurement",
    "Tracker",
    "TrainingConvention",
    "fit_feature_decay",
    "export_targets",
    "measure",
    "target_grams",
    "training_decays",
]
