"""The pc-flat board's exit port (I/O port 0xF4, like QEMU's isa-debug-exit but without its
`(value << 1) | 1` encoding): the byte written is the exit status."""

from __future__ import annotations

from vmcli.machine.devices.device import Device, Stop


class ExitPort(Device):
    kind = "exit_port"

    def read(self, offset: int, size: int) -> int:
        self.accesses += 1
        return 0xFF

    def write(self, offset: int, size: int, value: int) -> None:
        self.accesses += 1
        self.host.stop(Stop(value & 0xFF, "exit", f"exit port: {value & 0xFF}"))
