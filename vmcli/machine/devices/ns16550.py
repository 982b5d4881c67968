"""NS16550A UART: riscv virt at 0x10000000 (MMIO, one byte per register), x86 COM1 at port 0x3F8.

Reference: National Semiconductor PC16550D datasheet, table "UART register addresses". Transmission is
instant, so the line status always reports the transmitter empty; received bytes come from the console.
"""

from __future__ import annotations

from vmcli.machine.devices.device import Device, Host

RBR_THR, IER, IIR_FCR, LCR, MCR, LSR, MSR, SCR = range(8)
LSR_DR, LSR_THRE, LSR_TEMT = 1 << 0, 1 << 5, 1 << 6
LCR_DLAB = 1 << 7
IIR_NO_INT, IIR_FIFO = 0x01, 0xC0


class NS16550(Device):
    kind = "ns16550"

    def __init__(self, name: str, host: Host) -> None:
        super().__init__(name, host)
        self.ier = self.lcr = self.mcr = self.scr = self.fcr = 0
        self.dll, self.dlm = 0x0C, 0x00

    def read(self, offset: int, size: int) -> int:
        self.accesses += 1
        dlab = self.lcr & LCR_DLAB
        if offset == RBR_THR:
            if dlab:
                return self.dll
            byte = self.host.console.read_byte()
            return 0 if byte is None else byte
        if offset == IER:
            return self.dlm if dlab else self.ier
        if offset == IIR_FCR:
            return IIR_NO_INT | (IIR_FIFO if self.fcr & 1 else 0)
        if offset == LCR:
            return self.lcr
        if offset == MCR:
            return self.mcr
        if offset == LSR:
            return LSR_THRE | LSR_TEMT | (LSR_DR if self.host.console.input_ready() else 0)
        if offset == MSR:
            return 0xB0                      # CTS, DSR, DCD: a terminal is attached
        if offset == SCR:
            return self.scr
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        self.accesses += 1
        value &= 0xFF
        dlab = self.lcr & LCR_DLAB
        if offset == RBR_THR:
            if dlab:
                self.dll = value
            else:
                self.host.console.write(bytes((value,)))
        elif offset == IER:
            if dlab:
                self.dlm = value
            else:
                self.ier = value & 0x0F
        elif offset == IIR_FCR:
            self.fcr = value
        elif offset == LCR:
            self.lcr = value
        elif offset == MCR:
            self.mcr = value & 0x1F
        elif offset == SCR:
            self.scr = value
