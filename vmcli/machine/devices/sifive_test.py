"""SiFive test finisher ("sifive,test0"), riscv virt at 0x100000: the guest ends the run through it.

Reference: QEMU hw/misc/sifive_test.c. A 32-bit write of FINISHER_PASS exits 0, `(code << 16) |
FINISHER_FAIL` exits with `code`, FINISHER_RESET asks for a reset; other values are ignored.
"""

from __future__ import annotations

from vmcli.errors import ExitStatus
from vmcli.machine.devices.device import Device, Stop

FINISHER_FAIL, FINISHER_PASS, FINISHER_RESET = 0x3333, 0x5555, 0x7777


class SiFiveTest(Device):
    kind = "sifive_test"

    def write(self, offset: int, size: int, value: int) -> None:
        self.accesses += 1
        if offset != 0:
            return
        status, code = value & 0xFFFF, (value >> 16) & 0xFFFF
        if status == FINISHER_PASS:
            self.host.stop(Stop(0, "exit", "test finisher: pass"))
        elif status == FINISHER_FAIL:
            self.host.stop(Stop(code & 0xFF, "exit", f"test finisher: fail with code {code}"))
        elif status == FINISHER_RESET:
            self.host.stop(Stop(ExitStatus.GUEST_RESET, "reset", "the guest asked for a reset (test finisher 0x7777)"))
