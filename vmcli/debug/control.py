"""Execution control for a debugger: single-step, continue, breakpoints, watchpoints, interrupt.

Nothing here puts Python on every guest instruction. A breakpoint is a Unicorn UC_HOOK_CODE hook
ranged to its one address (translated code outside the range carries no hook at all), which stops
the guest before the instruction runs. A watchpoint is a UC_HOOK_MEM_* hook ranged to the watched
bytes; Unicorn leaves the PC on the accessing instruction when a memory hook stops it (its register
results not yet written), which is where gdb wants it on arm64 and riscv64; on x86_64 the
instruction is run once more with the watchpoints disarmed and the stop is reported after it.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any

import unicorn

from vmcli.machine.engine import flush_translations
from vmcli.machine.machine import RV_EBREAK, RV_SEMI_POST, RV_SEMI_PRE, Machine

# Unicorn memory hook types per gdb watchpoint kind (Z2 write, Z3 read, Z4 access).
WATCH_HOOKS = {
    "watch": unicorn.UC_HOOK_MEM_WRITE,
    "rwatch": unicorn.UC_HOOK_MEM_READ,
    "awatch": unicorn.UC_HOOK_MEM_READ | unicorn.UC_HOOK_MEM_WRITE,
}

# Where gdb expects the PC after a watchpoint: on arm64 and riscv64 hardware stops before the access
# (gdb's have_nonsteppable_watchpoint) and gdb steps over the instruction itself; on x86 after it.
WATCH_STOPS_BEFORE = {"arm64": True, "riscv64": True, "x86_64": False}

# Fault reasons (vmcli.machine.faults) to the POSIX signal gdb shows; the first match wins.
FAULT_SIGNALS = (
    ("unaligned", signal.SIGBUS),
    ("misaligned", signal.SIGBUS),
    ("alignment", signal.SIGBUS),
    ("debug (#DB)", signal.SIGTRAP),
    ("undefined", signal.SIGILL),
    ("invalid", signal.SIGILL),
    ("illegal", signal.SIGILL),
    ("divide", signal.SIGFPE),
    ("floating", signal.SIGFPE),
    ("breakpoint", signal.SIGTRAP),
    ("ebreak", signal.SIGTRAP),
)


def fault_signal(reason: str) -> int:
    for word, sig in FAULT_SIGNALS:
        if word in reason:
            return int(sig)
    return int(signal.SIGSEGV)


@dataclass
class Event:
    """Why the guest stopped, in gdb's terms."""

    kind: str                      # step, breakpoint, watch, interrupt, fault, exit
    signal: int = int(signal.SIGTRAP)
    watch: tuple[str, int] | None = None    # (watch|rwatch|awatch, address)
    status: int = 0                # the exit status for kind == "exit"


class Debugger:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.uc = machine.uc
        self.breakpoints: dict[int, int] = {}                      # address -> hook handle
        self.watchpoints: dict[tuple[str, int, int], list[int]] = {}   # (kind, address, length) -> handles
        self.interrupted = False
        self._skip: int | None = None        # a breakpoint here is not hit (re-running an instruction)
        self._bp_hit: int | None = None
        self._watch_hit: tuple[str, int] | None = None
        self._watch_armed = True
        self._counting = False               # Unicorn's instruction-count hook is in place

    # -- breakpoints and watchpoints --------------------------------------------------------------
    def add_breakpoint(self, address: int) -> None:
        if address in self.breakpoints:
            return
        self.breakpoints[address] = self.uc.hook_add(unicorn.UC_HOOK_CODE, self._on_breakpoint, None,
                                                     address, address)
        self._drop_code_at(address)                       # code translated without the hook

    def remove_breakpoint(self, address: int) -> None:
        handle = self.breakpoints.pop(address, None)
        if handle is not None:
            self.uc.hook_del(handle)
            self._drop_code_at(address)

    def _drop_code_at(self, address: int) -> None:
        """Drop translated code at `address`, so a hook added or removed there takes effect. Unicorn
        takes a non-empty [begin, end) below 2**64; its pages are dropped whole, the last one too."""
        begin = min(address, (1 << 64) - 2)
        self.uc.ctl_remove_cache(begin, begin + 1)

    def add_watchpoint(self, kind: str, address: int, length: int) -> None:
        key = (kind, address, length)
        if key in self.watchpoints or length <= 0:
            return
        # Unicorn matches a hook range against the first byte of an access: reach 7 bytes below
        # so an 8-byte access that overlaps the watched bytes from below is seen too.
        begin, end = max(0, address - 7), address + length - 1
        self.watchpoints[key] = [self.uc.hook_add(WATCH_HOOKS[kind], self._on_access, key, begin, end)]

    def remove_watchpoint(self, kind: str, address: int, length: int) -> None:
        for handle in self.watchpoints.pop((kind, address, length), []):
            self.uc.hook_del(handle)

    def clear(self) -> None:
        for address in list(self.breakpoints):
            self.remove_breakpoint(address)
        for key in list(self.watchpoints):
            self.remove_watchpoint(*key)

    def _at_semihosting_ebreak(self, pc: int) -> bool:
        """Whether pc is the ebreak of a RISC-V semihosting call. gdb takes an ebreak in memory for
        a breakpoint of the program's own: stopped on one, it resumes by moving the PC past it
        (see `pc_written`), and a step never ends on one here."""
        if self.machine.board.arch != "riscv64" or self.machine.semihosting is None:
            return False
        try:
            words = [int.from_bytes(self.uc.mem_read(pc + d, 4), "little") for d in (-4, 0, 4)]
        except unicorn.UcError:
            return False
        return words == [RV_SEMI_PRE, RV_EBREAK, RV_SEMI_POST]

    def _on_breakpoint(self, uc: Any, address: int, size: int, user: Any) -> None:
        if address == self._skip:
            self._skip = None
            return
        self._bp_hit = address
        uc.emu_stop()

    def _on_access(self, uc: Any, access: int, address: int, size: int, value: int,
                   key: tuple[str, int, int]) -> None:
        kind, start, length = key
        if not self._watch_armed or address + size <= start or address >= start + length:
            return
        if self._watch_hit is None:
            self._watch_hit = (kind, max(address, start))
        uc.emu_stop()

    def pc_written(self, new_pc: int) -> None:
        """gdb is about to set the PC. Moving it from a semihosting ebreak to the instruction after
        is gdb stepping over what it thinks is the program's own breakpoint: make the call first,
        as running the ebreak would have."""
        pc = self.machine.cpu.pc
        if new_pc == pc + 4 and self._at_semihosting_ebreak(pc):
            self._prepare()
            self._skip = pc
            self._explain(self._run(1))

    # -- running -----------------------------------------------------------------------------------
    def interrupt(self) -> None:
        """From another thread: stop a running guest (gdb's Ctrl-C)."""
        self.interrupted = True
        self.uc.emu_stop()

    def _run(self, count: int) -> str:
        """One machine.resume. emu_start(count=N) adds Unicorn's counting hook when it is not there
        yet, without dropping code translated before it, which would then run uncounted; count=0
        removes the hook and drops all translations itself. So flush when counting starts."""
        stop = self.machine.stop_request
        if stop is not None and stop.reason != "fault":
            return "stopped"                  # it ended (e.g. an exit call gdb stepped over): not again
        if count and not self._counting:
            flush_translations(self.uc)
        self._counting = bool(count)
        return self.machine.resume(count=count)

    def step(self) -> Event:
        """Run one instruction."""
        self._prepare()
        outcome = self._run(1)
        event = self._explain(outcome)
        if event is None and self._at_semihosting_ebreak(self.machine.cpu.pc):
            event = self._explain(self._run(1))           # the call is part of this step
        return event if event is not None else Event("step")

    def cont(self) -> Event:
        """Run until a breakpoint, watchpoint, interrupt, fault or exit. The caller clears
        `interrupted` before it starts watching for Ctrl-C: one that comes before the guest runs
        must stop it too."""
        self._prepare()
        while True:
            if self.interrupted:
                return Event("interrupt", int(signal.SIGINT))
            outcome = self._run(0)
            event = self._explain(outcome)
            if event is not None:
                return event
            if outcome == "semihosting":
                self._skip = None         # the instruction after the call has not run yet
                continue
            if self.interrupted:
                return Event("interrupt", int(signal.SIGINT))
            # Nothing stopped it: the guest waits for an interrupt no device raises (wfi/hlt).
            # Like QEMU, stay "running" until the debugger interrupts.
            return Event("halted")

    def _prepare(self) -> None:
        # A breakpoint at the PC stops the guest at once, as a trap instruction there would: gdb
        # removes it itself before it steps over it.
        self._skip = None
        self._bp_hit = None
        self._watch_hit = None

    def _explain(self, outcome: str) -> Event | None:
        machine = self.machine
        if outcome == "stopped":
            stop = machine.stop_request
            assert stop is not None
            if stop.reason == "fault":
                return Event("fault", fault_signal(stop.detail))
            return Event("exit", status=int(stop.status) & 0xFF)
        if self._watch_hit is not None:
            hit = self._watch_hit
            if WATCH_STOPS_BEFORE[machine.board.arch]:
                self._watch_hit = None
                return Event("watch", watch=hit)
            # The access stopped the guest on its instruction before that completed: run it again
            # unwatched, then report, with the PC after it.
            self._watch_armed = False
            self._skip = machine.cpu.pc
            try:
                outcome = self._run(1)
            finally:
                self._watch_armed = True
                self._watch_hit = None
            if outcome == "stopped":
                return self._explain(outcome)
            return Event("watch", watch=hit)
        if self._bp_hit is not None:
            return Event("breakpoint")
        return None
