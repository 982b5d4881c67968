"""Exact stops: ending a slice at a block start, from any thread or hook.

Unicorn 2.1 checks for a stop after every guest load and store, and a stop that lands there leaves
with the PC of an access that has already run: a resumed guest runs it again (measured: about one
repeated access per stop from another thread; bench/replay_probe.py). A stop at a block start is
exact. `CheckFreeStop` gets only those by translating without the per-access checks
(vmcli.machine.engine.set_exit_checks), which also makes a compute-bound guest a fifth or more
faster; it is used while no hook must stop the guest at an instruction (a plain run: no debugger,
tracing or counting). Elsewhere vmcli.debug.exact_stop.BlockStop checks a flag from a block hook.

Without the checks two things Unicorn did at an access need doing here: a store to read-only or
unmapped memory ends the slice at that store (a compiled write-fault hook), and `emu_start(count=N)`
(stepping) needs the checks back on (`stepping`), because Unicorn's counting hook stops the guest
with a check after it.
"""

from __future__ import annotations

import ctypes
from functools import cache
from typing import Protocol

import unicorn

from vmcli.machine.engine import (
    ENGINE_SUFFIX,
    FaultHooks,
    executable_code,
    flush_translations,
    library_function,
    set_exit_checks,
    uclib,
    unicorn_layout,
)


class ExactStop(Protocol):
    """What the run loops need of a stopper (CheckFreeStop here, vmcli.debug.exact_stop.BlockStop)."""

    exact: bool

    def request(self) -> None: ...                      # from any thread: end the slice at a block start
    def stepping(self, on: bool) -> None: ...           # around emu_start(count=N)
    def write_fault(self) -> unicorn.UcError | None: ...   # how the last slice ended, if at a faulting store

# The fault the write-fault hook saw (a uc_mem_type), as emu_start would have reported it.
WRITE_FAULTS = {unicorn.UC_MEM_WRITE_UNMAPPED: unicorn.UC_ERR_WRITE_UNMAPPED,
                unicorn.UC_MEM_WRITE_PROT: unicorn.UC_ERR_WRITE_PROT}
@cache
def _write_fault_exit(arch: str) -> int | None:
    """bool cb(uc_engine *uc, int type, uint64_t address, int size, int64_t value, int64_t *fault):
    a UC_HOOK_MEM_WRITE_PROT / _WRITE_UNMAPPED callback for code translated without the checks.
    Unicorn leaves the block at once on a read or fetch fault, but after a faulting store it relies
    on the check that follows the store, so without it the rest of the block would run. This stores
    the access type in *fault, calls uc_emu_stop(uc) and leaves through cpu_loop_exit_noexc(uc->cpu),
    as Unicorn's read-fault path does from the same place; the PC is the store's (Unicorn restores
    it before calling hooks), and emu_start returns with no error. System V: uc in rdi, the type in
    esi, fault in r9."""
    layout = unicorn_layout()
    stop, leave = library_function("uc_emu_stop"), library_function(f"cpu_loop_exit_noexc_{ENGINE_SUFFIX[arch]}")
    if layout is None or not stop or not leave:
        return None
    return executable_code(
        bytes.fromhex("57"                                            # push rdi (aligns the stack)
                      "418931"                                        # mov [r9], esi
                      "48b8") + stop.to_bytes(8, "little") +          # mov rax, uc_emu_stop
        bytes.fromhex("ffd0"                                          # call rax
                      "5f"                                            # pop rdi
                      "488bbf") + layout.cpu.to_bytes(4, "little") +  # mov rdi, [rdi + uc.cpu]
        bytes.fromhex("48b8") + leave.to_bytes(8, "little") +         # mov rax, cpu_loop_exit_noexc
        bytes.fromhex("ffe0"))                                        # jmp rax


class CheckFreeStop:
    """Unicorn translating without its per-access exit checks: an emu_stop from any thread or hook
    lands at the next block start, and a faulting store ends the slice at that store."""

    exact = True

    def __init__(self, uc: unicorn.Uc, callback: int, hooks: FaultHooks) -> None:
        self.uc = uc
        self._handle = uc._uch
        self.fault = (ctypes.c_int64 * 1)()
        # Added after the machine's own hooks, which record the fault first (a hook that handles an
        # unmapped store by mapping memory ends the list before this one).
        for kind in (unicorn.UC_HOOK_MEM_WRITE_PROT, unicorn.UC_HOOK_MEM_WRITE_UNMAPPED):
            hooks.add(kind, callback, ctypes.addressof(self.fault))
        set_exit_checks(uc, False)
        flush_translations(uc)                # code translated with the checks keeps them

    def request(self) -> None:
        uclib.uc_emu_stop(self._handle)

    def stepping(self, on: bool) -> None:
        set_exit_checks(self.uc, on)          # Unicorn's counting hook stops with a check after it
        flush_translations(self.uc)

    def write_fault(self) -> unicorn.UcError | None:
        """The error Unicorn would have ended the last slice with, once."""
        kind, self.fault[0] = self.fault[0], 0
        return unicorn.UcError(WRITE_FAULTS.get(kind, unicorn.UC_ERR_WRITE_PROT)) if kind else None


def check_free_stop(uc: unicorn.Uc, arch: str, hooks: FaultHooks | None = None) -> CheckFreeStop | None:
    """Exact stops and no per-access checks, for a run where no hook must stop the guest at an
    instruction (no breakpoints, tracing or counting); None where this libunicorn's layout is unknown.
    `hooks`: the fault hooks over the addresses where a store can fault (all of them by default)."""
    callback = _write_fault_exit(arch)
    if callback is None or not set_exit_checks(uc, True):
        return None
    return CheckFreeStop(uc, callback, hooks or FaultHooks(uc))
