"""The AArch64 generic timer's EL1 physical and virtual timers, wired to the GIC as QEMU's virt does
(virtual: PPI 11 = ID 27, non-secure physical: PPI 14 = ID 30).

Reference: ARM DDI 0487, D11 "The Generic Timer in AArch64 state". Unicorn keeps the counter
(CNTVCT_EL0 = CNTPCT_EL0 = host CLOCK_MONOTONIC ns / 16, CNTFRQ_EL0 62.5 MHz) but compiles out the
compare logic and drops guest writes of CNTx_CTL/CNTx_CVAL. This device takes those writes from an MSR
hook (Python runs only on a timer register write), keeps the compare state, and sets CTL.ISTATUS and
the interrupt line when the deadline passes: the run loop asks for `deadline()` and calls `poll()`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

NS_PER_TICK = 16                         # 62.5 MHz
CTL_ENABLE, CTL_IMASK, CTL_ISTATUS = 1, 2, 4
VIRT_PPI_ID, PHYS_PPI_ID = 27, 30

# (op0, op1, crn, crm, op2) of the registers written through the hook
CNTP_TVAL, CNTP_CTL, CNTP_CVAL = (3, 3, 14, 2, 0), (3, 3, 14, 2, 1), (3, 3, 14, 2, 2)
CNTV_TVAL, CNTV_CTL, CNTV_CVAL = (3, 3, 14, 3, 0), (3, 3, 14, 3, 1), (3, 3, 14, 3, 2)
TIMER_CRN = 14                           # the CRn they share: the MSR hook filters on it


def counter_now() -> int:
    """CNTVCT_EL0 as Unicorn computes it."""
    return time.monotonic_ns() // NS_PER_TICK


@dataclass
class Comparator:
    name: str
    irq: int                              # GIC interrupt ID
    ctl: int = 0
    cval: int = 0
    level: bool = False                   # the line as last driven
    shown: tuple[int, int] | None = None  # (CTL, CVAL) as last written into the CPU

    def firing(self, now: int) -> bool:
        return bool(self.ctl & CTL_ENABLE) and now >= self.cval


class GenericTimer:
    """Both EL1 timers. `write_cpreg(key, value)` puts CTL (with ISTATUS) and CVAL back into the CPU
    so that guest reads see them; `set_line(id, level)` drives the GIC."""

    def __init__(self, write_cpreg: Callable[[tuple[int, ...], int], None],
                 set_line: Callable[[int, bool], None]) -> None:
        self._write_cpreg = write_cpreg
        self._set_line = set_line
        self.virt = Comparator("virtual", VIRT_PPI_ID)
        self.phys = Comparator("physical", PHYS_PPI_ID)
        self._regs = {CNTV_CTL: (self.virt, "ctl"), CNTV_CVAL: (self.virt, "cval"), CNTV_TVAL: (self.virt, "tval"),
                      CNTP_CTL: (self.phys, "ctl"), CNTP_CVAL: (self.phys, "cval"), CNTP_TVAL: (self.phys, "tval")}
        self.writes = 0

    def reset(self) -> None:
        """Both timers as at power-on (the CPU's registers were restored to theirs)."""
        for comp in (self.virt, self.phys):
            comp.ctl = comp.cval = 0
            comp.shown = None
            self._drive(comp, counter_now())

    def handles(self, key: tuple[int, int, int, int, int]) -> bool:
        return key in self._regs

    def write(self, key: tuple[int, int, int, int, int], value: int) -> None:
        """A guest MSR to one of the timer registers."""
        comp, field = self._regs[key]
        self.writes += 1
        if field == "ctl":
            comp.ctl = value & (CTL_ENABLE | CTL_IMASK)
        elif field == "cval":
            comp.cval = value & (2**64 - 1)
        else:                                     # TVAL: a signed 32-bit offset from now
            offset = value & 0xFFFF_FFFF
            offset -= (1 << 32) if offset & (1 << 31) else 0
            comp.cval = (counter_now() + offset) & (2**64 - 1)
        # Only the line here: a CPU register written from inside the MSR hook makes Unicorn run the
        # instructions before it in its block again (docs/running.md); `poll` writes them back
        # between slices.
        self._drive(comp, counter_now())

    def poll(self) -> None:
        """Between slices: ISTATUS, CTL and CVAL back into the CPU (guest reads see them), the lines."""
        now = counter_now()
        for comp in (self.virt, self.phys):
            shown = (comp.ctl | (CTL_ISTATUS if comp.firing(now) else 0), comp.cval)
            if shown != comp.shown:           # guest writes never reach the CPU's copy: only these do
                ctl_key, cval_key = (CNTV_CTL, CNTV_CVAL) if comp is self.virt else (CNTP_CTL, CNTP_CVAL)
                self._write_cpreg(cval_key, comp.cval)
                self._write_cpreg(ctl_key, shown[0])
                comp.shown = shown
            self._drive(comp, now)

    def _drive(self, comp: Comparator, now: int) -> None:
        comp.level = self._level(comp, now)
        self._set_line(comp.irq, comp.level)

    @staticmethod
    def _level(comp: Comparator, now: int) -> bool:
        return comp.firing(now) and not comp.ctl & CTL_IMASK

    def deadline(self) -> float | None:
        """The time.monotonic() at which a timer that can interrupt starts firing and its line has
        yet to be raised: in the past when it fired inside a slice (the line rises at `poll`)."""
        due = [c.cval for c in (self.virt, self.phys)
               if c.ctl & CTL_ENABLE and not c.ctl & CTL_IMASK and not c.level]
        if not due:
            return None
        return min(due) * NS_PER_TICK / 1e9

    def can_fire(self) -> bool:
        return any(c.ctl & CTL_ENABLE and not c.ctl & CTL_IMASK for c in (self.virt, self.phys))
