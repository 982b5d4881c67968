"""-j N: work split over this process and N - 1 forked children (-j 0: one per CPU where that
pays), each child's cache lookups added to this process's counters (so --stats counts them once,
as a serial run would).

Children are forked: they start with this process's caches and tables, and send back only their
results and what they counted themselves (core/parallel.py keeps numba's parallel kernels safe to
run in them). This process does the first part itself meanwhile: a pool would leave it waiting,
and starting one costs more than the forks.
"""

from __future__ import annotations

import os
import pickle
import signal
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from vmcli.translate.core import cache

T = TypeVar("T")
R = TypeVar("R")


def cpus() -> int:
    """The CPUs this process may run on (what --jobs 0 uses where it pays)."""
    return len(os.sched_getaffinity(0))


def split(items: list[T], jobs: int) -> list[list[T]]:
    """`items` in at most `jobs` consecutive parts of (nearly) equal size."""
    size = (len(items) + jobs - 1) // jobs
    return [items[i:i + size] for i in range(0, len(items), size)]


def counters() -> list[int]:
    """Every cache level's hits and misses, in cache.LEVELS order."""
    return [v for level in cache.LEVELS for v in (level.hits, level.misses)]


def _child(work: Callable[[T], R], part: T, out: int) -> None:
    """A forked child's whole life: (True, result, counts) down the pipe, or (False, the error's
    traceback), then _exit (no atexit handlers, no flushing of the parent's buffers)."""
    try:
        before = counters()                  # the parent's, inherited through fork
        result = work(part)
        sent: tuple[object, ...] = (True, result, [now - then for now, then in zip(counters(), before, strict=True)])
    except BaseException:                    # noqa: BLE001  (reported by the parent)
        sent = (False, traceback.format_exc())
    try:
        with os.fdopen(out, "wb") as pipe:
            pipe.write(pickle.dumps(sent, protocol=pickle.HIGHEST_PROTOCOL))
    finally:
        os._exit(0)


def fork_map(work: Callable[[T], R], parts: Sequence[T]) -> list[R]:
    """[work(part) for part in parts] over this process (the first part) and a forked child for
    each other part (split() makes one part per job)."""
    children: list[tuple[int, int]] = []
    try:
        for part in parts[1:]:
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read)
                _child(work, part, write)
            os.close(write)
            children.append((pid, read))
        out = [work(parts[0])] if parts else []
        while children:
            pid, read = children.pop(0)
            with os.fdopen(read, "rb") as pipe:
                data = pipe.read()
            os.waitpid(pid, 0)
            sent: tuple[Any, ...] = pickle.loads(data) if data else (False, "it died without an answer")
            if not sent[0]:
                raise RuntimeError(f"a translation worker failed: {sent[1]}")
            out.append(sent[1])
            for i, level in enumerate(cache.LEVELS):
                level.count(sent[2][2 * i], sent[2][2 * i + 1])
    finally:
        for pid, read in children:           # after an error or an interrupt: none left behind
            os.close(read)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    return out
