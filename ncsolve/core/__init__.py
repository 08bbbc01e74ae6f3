"""Numerics with no notion of a command: the target spectrum, the scalar problem and its
thresholds, factor balancing, the MSE read-off, the full objective, NC metrics, gradient
methods and the stacked L-BFGS.

Modules
-------
spectral   the regression target's spectrum, in K x K terms
scalar     the one-direction problem min_z (z - sigma)^2/(2N) + c z^q, its roots and states
balance    factor balancing: every layer's singular values from the product's (mantissa/exponent)
readoff    the MSE read-off: rank cap, ties, states, critical decays, notes, geometry
constants  certainty words, Gram limits and tolerances, named once
objective  the full, un-reduced objective and its gradient
metrics    neural-collapse measurements and distances to targets
descent    gradient descent, momentum and L-BFGS on the full objective; BLAS thread limits
lbfgs      L-BFGS on a stack of independent starts
"""
