"""NS16550A UART: riscv virt at 0x10000000 (MMIO, one byte per register), x86 COM1 at port 0x3F8.

Reference: National Semiconductor PC16550D datasheet, table "UART register addresses" and table 4
(interrupt control functions). Transmission is instant, so the line status always reports the
transmitter empty; received bytes come from the console. Interrupts (riscv64 virt: PLIC source 10):
received data available (IER bit 0) while input waits, transmitter holding register empty (IER bit 1)
after a write or when enabled, cleared by reading IIR, as QEMU's model does.
"""

from __future__ import annotations

from collections.abc import Callable

from vmcli.machine.devices.device import Device, Host

RBR_THR, IER, IIR_FCR, LCR, MCR, LSR, MSR, SCR = range(8)
LSR_DR, LSR_THRE, LSR_TEMT = 1 << 0, 1 << 5, 1 << 6
LCR_DLAB = 1 << 7
IIR_NO_INT, IIR_FIFO, IIR_THRI, IIR_RDI = 0x01, 0xC0, 0x02, 0x04
IER_RDI, IER_THRI = 1 << 0, 1 << 1


class NS16550(Device):
    kind = "ns16550"

    def __init__(self, name: str, host: Host) -> None:
        super().__init__(name, host)
        self.ier = self.lcr = self.mcr = self.scr = self.fcr = 0
        self.dll, self.dlm = 0x0C, 0x00
        self.thr_pending = False            # "transmitter holding register empty" interrupt waiting
        self.irq: Callable[[bool], None] | None = None

    def _iir(self) -> int:
        if self.ier & IER_RDI and self.host.console.input_ready():
            return IIR_RDI
        if self.ier & IER_THRI and self.thr_pending:
            return IIR_THRI
        return IIR_NO_INT

    def _update(self) -> None:
        if self.irq is not None:
            self.irq(self._iir() != IIR_NO_INT)

    def poll(self) -> None:
        self._update()

    def wants_input(self) -> bool:
        return bool(self.ier & IER_RDI)

    def read(self, offset: int, size: int) -> int:
        self.accesses += 1
        dlab = self.lcr & LCR_DLAB
        if offset == RBR_THR:
            if dlab:
                return self.dll
            byte = self.host.console.read_byte()
            self._update()
            return 0 if byte is None else byte
        if offset == IER:
            return self.dlm if dlab else self.ier
        if offset == IIR_FCR:
            iir = self._iir()
            if iir == IIR_THRI:
                self.thr_pending = False      # reading IIR acknowledges the THR empty interrupt
                self._update()
            return iir | (IIR_FIFO if self.fcr & 1 else 0)
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
                self.thr_pending = True       # sent at once: the holding register is empty again
        elif offset == IER:
            if dlab:
                self.dlm = value
            else:
                if value & IER_THRI and not self.ier & IER_THRI:
                    self.thr_pending = True
                self.ier = value & 0x0F
        elif offset == IIR_FCR:
            self.fcr = value
        elif offset == LCR:
            self.lcr = value
        elif offset == MCR:
            self.mcr = value & 0x1F
        elif offset == SCR:
            self.scr = value
        self._update()
