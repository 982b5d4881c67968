"""-j N: the parts' results come back in order, their cache lookups count once, and a failing
worker is reported and waited for."""

from __future__ import annotations

import os

import pytest

from vmcli.translate.core import cache
from vmcli.translate.core.jobs import cpus, fork_map, split


def _look_up(keys: list[int]) -> list[int]:
    for k in keys:
        cache.DECODED.get(("test-jobs", k))
    return [2 * k for k in keys]


def test_split_keeps_order_in_at_most_jobs_parts() -> None:
    items = list(range(10))
    assert split(items, 3) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert split(items, 1) == [items] and sum(split(items, 4), []) == items


def test_workers_counts_add_to_the_parent_once() -> None:
    cache.clear()
    cache.DECODED.get(("test-jobs", -1))        # counted before the fork: inherited, not counted again
    parts = fork_map(_look_up, split(list(range(30)), 2))
    assert sum(parts, []) == [2 * k for k in range(30)]
    assert (cache.DECODED.hits, cache.DECODED.misses) == (0, 31)


def _pid(part: list[int]) -> list[int]:
    return [os.getpid()] * len(part)


def _fail_on_seven(part: list[int]) -> list[int]:
    if 7 in part:
        raise ValueError("seven")
    return part


def test_this_process_does_the_first_part_and_children_the_rest() -> None:
    parts = fork_map(_pid, split(list(range(9)), 3))
    assert [len(p) for p in parts] == [3, 3, 3]
    assert parts[0][0] == os.getpid() and os.getpid() not in parts[1] + parts[2]
    assert parts[1][0] != parts[2][0]


def test_a_failing_child_is_reported_and_none_is_left() -> None:
    with pytest.raises(RuntimeError, match="ValueError: seven"):
        fork_map(_fail_on_seven, split(list(range(12)), 3))
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)            # every child was waited for


def test_a_failing_first_part_leaves_no_child() -> None:
    with pytest.raises(ValueError, match="seven"):
        fork_map(_fail_on_seven, [[7], [1], [2]])
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_jobs_zero_means_the_cpus_this_process_may_use() -> None:
    assert cpus() == len(os.sched_getaffinity(0)) >= 1
