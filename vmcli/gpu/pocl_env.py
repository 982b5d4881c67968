"""PoCL's environment, set before pyopencl starts it.

PoCL's CPU device runs a kernel's work-groups on one thread per core. Left to migrate, two of them
often share one core for a whole kernel on a small machine: SGEMM 256 took 2.0 or 4.0 ms at random on
two cores, and a guest's offloaded product 2.8 to 4.9 ms; with each thread pinned to its core
(POCL_AFFINITY=1) it took 2.0 ms every time. So vm pins them, unless the user set POCL_AFFINITY or
restricted this process to some of the CPUs (pinning would move threads outside that choice).
"""

from __future__ import annotations

import os


def pin_threads() -> None:
    if "POCL_AFFINITY" in os.environ or not hasattr(os, "sched_getaffinity"):
        return
    if os.sched_getaffinity(0) == set(range(os.cpu_count() or 0)):
        os.environ["POCL_AFFINITY"] = "1"
