"""Core-local interruptor (CLINT) for one hart, as on QEMU's riscv virt machine at 0x02000000: the
machine software interrupt (msip), the machine timer (mtime, mtimecmp) at 10 MHz.

Reference: SiFive FU540-C000 manual, chapter 9 "Core Local Interruptor", and the RISC-V ACLINT spec
(MTIMER/MSWI register layout). mtime counts host CLOCK_MONOTONIC time from the start of the run, as
QEMU's counts from power-on; the run loop asks for `deadline()` and takes MTIP/MSIP as they come.
"""

from __future__ import annotations

import time

from vmcli.machine.devices.device import Device, Host

MSIP, MTIMECMP, MTIME = 0x0000, 0x4000, 0xBFF8
TIMEBASE_HZ = 10_000_000
NS_PER_TICK = 1_000_000_000 // TIMEBASE_HZ


class Clint(Device):
    kind = "clint"

    def __init__(self, name: str, host: Host) -> None:
        super().__init__(name, host)
        self.start_ns = time.monotonic_ns()
        self.msip = 0
        self.mtimecmp = 2**64 - 1        # as QEMU: no timer interrupt until the guest sets one

    def mtime(self) -> int:
        return (time.monotonic_ns() - self.start_ns) // NS_PER_TICK

    def mtip(self) -> bool:
        return self.mtime() >= self.mtimecmp

    def deadline(self) -> float | None:
        if self.mtimecmp >= 2**63 or self.mtip():
            return None
        return (self.start_ns + self.mtimecmp * NS_PER_TICK) / 1e9

    def read(self, offset: int, size: int) -> int:
        self.accesses += 1
        for base, value in ((MSIP, self.msip), (MTIMECMP, self.mtimecmp), (MTIME, self.mtime())):
            width = 4 if base == MSIP else 8
            if base <= offset < base + width:
                shift = 8 * (offset - base)
                return (value >> shift) & ((1 << (8 * size)) - 1)
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        self.accesses += 1
        if MSIP <= offset < MSIP + 4:
            self.msip = value & 1
        elif MTIMECMP <= offset < MTIMECMP + 8:
            shift = 8 * (offset - MTIMECMP)
            mask = ((1 << (8 * size)) - 1) << shift
            self.mtimecmp = (self.mtimecmp & ~mask) | ((value << shift) & mask)
        elif MTIME <= offset < MTIME + 8:
            shift = 8 * (offset - MTIME)
            mask = ((1 << (8 * size)) - 1) << shift
            now = self.mtime()
            new = (now & ~mask) | ((value << shift) & mask)
            self.start_ns = time.monotonic_ns() - new * NS_PER_TICK
