"""The balanced MSE answer with a regularized bias, from simplex ETF to orthogonal frame.

Run with ncsolve installed (or PYTHONPATH=. from the repository root):
    python docs/examples/regularized_balanced.py
(docs/regularized.md shows its output).
"""

import numpy as np
from ncsolve import predict
from ncsolve.inputs.problem import Problem
from ncsolve.core.scalar import phase_boundary
for depth in (1, 3):
    p = Problem.build([100] * 4, depth)
    Nc = p.N * p.c
    star = Nc / (phase_boundary(np.array([10.0]), p.q)[0] - Nc)
    print(f"depth {depth}: lambda_b* = {star:.6g}")
    print("lambda_b   beta       cosine     ||hbar_k||  position  loss")
    for lb in (5e-4, star * 0.99, star * 1.01, 0.1, 1.0, 10.0, 1e3):
        s = predict(n=[100] * 4, depth=depth, bias="regularized", lambda_b=lb)
        g = s.gram_features()
        cos = g[0, 1] / g[0, 0]
        print(f"{lb:<10.4g} {s.bias_value[0]:<10.6g} {cos:<+10.6f} {s.feature_norm[0]:<11.6g} "
              f"{s.toward_bias_free:<9.4f} {s.loss:.10g}   {s.geometry.split(' (')[0]}")
    for bias in ("free", "none"):
        print(bias, f"{predict(n=[100] * 4, depth=depth, bias=bias).loss:.10g}")
