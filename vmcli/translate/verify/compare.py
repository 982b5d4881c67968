"""Comparing the source's run with the translation's, state by state."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from vmcli.translate.verify.state import DATA, GuestState

W = TypeVar("W")
G = TypeVar("G")


@dataclass
class Mismatch:
    state: GuestState
    diffs: list[str] = field(default_factory=list)


def register_diffs(names: Iterable[str], want: dict[str, int], got: dict[str, int]) -> list[str]:
    return [f"{name}: want {want[name]:#x} got {got[name]:#x}" for name in names if want[name] != got[name]]


def exit_diffs(want: int, got: int) -> list[str]:
    return [] if want == got else [f"exit: want {want:#x} got {got:#x}"]


def memory_diffs(want: bytes, got: bytes) -> list[str]:
    """The first differing bytes of the data window."""
    if want == got:
        return []
    off = next(i for i in range(len(want)) if want[i] != got[i])
    return [f"memory at {DATA + off:#x}: want {want[off:off + 8].hex()} got {got[off:off + 8].hex()}"]


def compare(states: Iterable[GuestState], run: Callable[[GuestState], tuple[W | str, G | str]],
            diff: Callable[[GuestState, W, G], list[str]], limit: int = 3,
            double_fault_is_a_run: bool = False) -> tuple[int, list[Mismatch]]:
    """(runs, mismatches) of `run` (the source's outcome, the translation's; a str when that side
    faulted) over `states`, up to `limit` mismatches. A state where both sides fault is no
    mismatch; it counts as a run only when `double_fault_is_a_run`."""
    runs = 0
    bad: list[Mismatch] = []
    for st in states:
        want, got = run(st)
        diffs: list[str]
        if isinstance(want, str) or isinstance(got, str):
            if isinstance(want, str) and isinstance(got, str):
                runs += double_fault_is_a_run
                continue
            runs += 1
            diffs = [want if isinstance(want, str) else str(got)]     # the side that faulted
        else:
            runs += 1
            diffs = diff(st, want, got)
        if diffs:
            bad.append(Mismatch(st, diffs))
            if len(bad) >= limit:
                break
    return runs, bad
