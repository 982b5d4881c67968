"""-j N: work split over N forked worker processes, each worker's cache lookups added to this
process's counters (so --stats counts them once, as a serial run would).

Workers are forked: they start with this process's caches and tables, and send back only their
results and what they counted themselves (core/parallel.py keeps numba's parallel kernels safe to
run in them).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from typing import TypeVar

from vmcli.translate.core import cache

T = TypeVar("T")
R = TypeVar("R")


def split(items: list[T], jobs: int) -> list[list[T]]:
    """`items` in at most `jobs` consecutive parts of (nearly) equal size."""
    size = (len(items) + jobs - 1) // jobs
    return [items[i:i + size] for i in range(0, len(items), size)]


def counters() -> list[int]:
    """Every cache level's hits and misses, in cache.LEVELS order."""
    return [v for level in cache.LEVELS for v in (level.hits, level.misses)]


def _counted(args: tuple[Callable[[T], R], T]) -> tuple[R, list[int]]:
    work, part = args
    before = counters()                      # the parent's, inherited through fork
    result = work(part)
    return result, [now - then for now, then in zip(counters(), before, strict=True)]


def fork_map(work: Callable[[T], R], parts: Sequence[T], jobs: int) -> list[R]:
    """[work(part) for part in parts] in `jobs` forked processes; `work` must be a module-level
    function (the workers find it by name)."""
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        done = pool.map(_counted, [(work, part) for part in parts])
    out = []
    for result, counted in done:
        out.append(result)
        for i, level in enumerate(cache.LEVELS):
            level.count(counted[2 * i], counted[2 * i + 1])
    return out
