"""numba's threading layer for the translator's parallel kernels, chosen before the first one runs.

`-j N` forks worker processes. Under GNU OpenMP (numba's default layer where TBB is absent) a
forked child that runs a parallel kernel after its parent ran one aborts ("fork() called from a
process already using GNU OpenMP"), and the pool waiting for it hangs. A fork-safe layer (TBB, or
numba's own workqueue) has no such limit. NUMBA_THREADING_LAYER, if set, still wins.
"""

from __future__ import annotations

import os

import numba

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "forksafe"  # type: ignore[attr-defined]
