"""Sweeps and phase maps: imbalance profiles, exact MSE phase boundaries, grids of
predict, executors (local processes, Dask) and append-only resumable tables.

Modules
-------
profiles   class sizes as a function of the imbalance ratio (step, exp, scaled)
phase      exact MSE boundaries in the (ratio, decay) plane and along depth
report     text of a phase map
plot       figures (matplotlib, imported lazily; functions return Figures)
"""

from .phase import REGIONS, PhaseMap, phase_map
from .profiles import PROFILES, Profile, profile

__all__ = ["PROFILES", "REGIONS", "PhaseMap", "Profile", "phase_map", "profile"]
