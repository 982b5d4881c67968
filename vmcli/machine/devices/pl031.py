"""ARM PrimeCell real-time clock (PL031), as on QEMU's arm virt machine at 0x09010000 (SPI 2).

Reference: ARM DDI 0224B, PrimeCell Real Time Clock (PL031) Technical Reference Manual, 3.2. The
counter is the host's UTC time in seconds plus the offset the guest loads through RTCLR (as QEMU with
its default `-rtc base=utc`); the match interrupt fires when the counter reaches RTCMR.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from vmcli.machine.devices.device import Device, Host

RTCDR, RTCMR, RTCLR, RTCCR, RTCIMSC, RTCRIS, RTCMIS, RTCICR = range(0, 0x20, 4)
ID_REGS = {0xFE0: 0x31, 0xFE4: 0x10, 0xFE8: 0x04, 0xFEC: 0x00, 0xFF0: 0x0D, 0xFF4: 0xF0, 0xFF8: 0x05, 0xFFC: 0xB1}


class PL031(Device):
    kind = "pl031"

    def __init__(self, name: str, host: Host) -> None:
        super().__init__(name, host)
        self.offset = 0                 # guest seconds minus host seconds
        self.match = 0
        self.imsc = 0
        self.ris = 0
        self.irq: Callable[[bool], None] | None = None

    def now(self) -> int:
        return (int(time.time()) + self.offset) & 0xFFFF_FFFF

    def poll(self) -> None:
        if self.imsc and self.now() >= self.match and not self.ris:
            self.ris = 1
        if self.irq is not None:
            self.irq(bool(self.ris & self.imsc))

    def deadline(self) -> float | None:
        if not self.imsc or self.ris:
            return None
        return time.monotonic() + max(0, self.match - self.now())

    def read(self, offset: int, size: int) -> int:
        self.accesses += 1
        if offset == RTCDR:
            return self.now()
        if offset == RTCMR:
            return self.match
        if offset == RTCLR:
            return self.now()
        if offset == RTCCR:
            return 1                            # the counter always runs
        if offset == RTCIMSC:
            return self.imsc
        if offset == RTCRIS:
            return self.ris
        if offset == RTCMIS:
            return self.ris & self.imsc
        return ID_REGS.get(offset, 0)

    def write(self, offset: int, size: int, value: int) -> None:
        self.accesses += 1
        value &= 0xFFFF_FFFF
        if offset == RTCLR:
            self.offset = value - int(time.time())
        elif offset == RTCMR:
            self.match = value
            self.ris = 0
        elif offset == RTCIMSC:
            self.imsc = value & 1
        elif offset == RTCICR:
            self.ris &= ~value & 1
        self.poll()
