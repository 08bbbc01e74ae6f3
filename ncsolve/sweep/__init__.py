"""Sweeps and phase maps: imbalance profiles, exact MSE phase boundaries, grids of
predict, executors (local processes, Dask) and append-only resumable tables.

Modules
-------
profiles   class sizes as a function of the imbalance ratio (step, exp, scaled)
phase      exact MSE boundaries in the (ratio, decay) plane and along depth
report     text of a phase map
grid       grid values from comma lists and START:STOP:COUNT
spec       a sweep's grid: axes, points and each point's predict inputs
mse        the MSE closed form vectorized across grid points
points     table columns and one point solved by predict (what executors run)
chains     CE points at depth 1 chained along the decay axis, warm-started in order
executors  local processes, threads, serial, Dask
output     CSV / JSON-lines tables, appended point by point, resumable
run        sweep(): the vectorized points, the executor, resume
plot       figures (matplotlib, imported lazily; functions return Figures)
"""

import importlib

from ..inputs.profiles import PROFILES, Profile, profile

__all__ = ["PROFILES", "REGIONS", "Grid", "PhaseMap", "Profile", "SweepTable", "build_grid",
           "phase_map", "profile", "sweep"]

_HOMES = {"REGIONS": ".phase", "PhaseMap": ".phase", "phase_map": ".phase",
          "SweepTable": ".run", "sweep": ".run", "Grid": ".spec", "build_grid": ".spec"}


def __getattr__(name: str):
    """The names above, imported from their modules on first use: importing one module
    of the package (``plot`` for a path check, say) does not import the sweep machinery."""
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
