"""-j N: forked workers' results come back in order, and their cache lookups count once."""

from __future__ import annotations

from vmcli.translate.core import cache
from vmcli.translate.core.jobs import fork_map, split


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
    parts = fork_map(_look_up, split(list(range(30)), 2), 2)
    assert sum(parts, []) == [2 * k for k in range(30)]
    assert (cache.DECODED.hits, cache.DECODED.misses) == (0, 31)
