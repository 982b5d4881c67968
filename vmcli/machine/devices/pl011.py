"""ARM PrimeCell UART (PL011), as on QEMU's arm virt machine at 0x09000000 (SPI 1).

Reference: ARM DDI 0183G, PrimeCell UART (PL011) Technical Reference Manual, section 3 (registers).
Transmission is instant, so the transmit FIFO is always empty and a write raises the transmit
interrupt at once (as QEMU's model does); the receive FIFO is the console input, and the receive
interrupt is raised while input is waiting (the run loop polls it between slices, and watches stdin
while the interrupt is enabled so that a sleeping guest wakes when a key comes).
"""

from __future__ import annotations

from collections.abc import Callable

from vmcli.machine.devices.device import Device, Host

UARTDR, UARTRSR, UARTFR, UARTILPR = 0x000, 0x004, 0x018, 0x020
UARTIBRD, UARTFBRD, UARTLCR_H, UARTCR, UARTIFLS = 0x024, 0x028, 0x02C, 0x030, 0x034
UARTIMSC, UARTRIS, UARTMIS, UARTICR, UARTDMACR = 0x038, 0x03C, 0x040, 0x044, 0x048

FR_BUSY, FR_RXFE, FR_TXFF, FR_RXFF, FR_TXFE = 1 << 3, 1 << 4, 1 << 5, 1 << 6, 1 << 7
INT_RX, INT_TX, INT_RT = 1 << 4, 1 << 5, 1 << 6

# UARTPeriphID0-3 and UARTPCellID0-3 at 0xFE0..0xFFC: identify a PL011 r1p5 to probing drivers.
ID_REGS = {0xFE0: 0x11, 0xFE4: 0x10, 0xFE8: 0x34, 0xFEC: 0x00, 0xFF0: 0x0D, 0xFF4: 0xF0, 0xFF8: 0x05, 0xFFC: 0xB1}

STORED = (UARTILPR, UARTIBRD, UARTFBRD, UARTLCR_H, UARTCR, UARTIFLS, UARTIMSC, UARTDMACR)


class PL011(Device):
    kind = "pl011"

    def __init__(self, name: str, host: Host) -> None:
        super().__init__(name, host)
        self.regs = {reg: 0 for reg in STORED}
        self.regs[UARTCR] = 0x300           # TXE | RXE after reset
        self.regs[UARTIFLS] = 0x12
        self.tx_level = 0                   # INT_TX once a byte went out, until cleared through UARTICR
        self.irq: Callable[[bool], None] | None = None

    def _raw(self) -> int:
        rx = INT_RX | INT_RT if self.host.console.input_ready() else 0
        return self.tx_level | rx

    def _update(self) -> None:
        if self.irq is not None:
            self.irq(bool(self._raw() & self.regs[UARTIMSC]))

    def poll(self) -> None:
        self._update()

    def wants_input(self) -> bool:
        return bool(self.regs[UARTIMSC] & (INT_RX | INT_RT))

    def read(self, offset: int, size: int) -> int:
        self.accesses += 1
        console = self.host.console
        if offset == UARTDR:
            byte = console.read_byte()
            self._update()
            return 0 if byte is None else byte
        if offset == UARTFR:
            return FR_TXFE | (0 if console.input_ready() else FR_RXFE)
        if offset == UARTRIS:
            return self._raw()
        if offset == UARTMIS:
            return self._raw() & self.regs[UARTIMSC]
        if offset in ID_REGS:
            return ID_REGS[offset]
        return self.regs.get(offset, 0)

    def write(self, offset: int, size: int, value: int) -> None:
        self.accesses += 1
        if offset == UARTDR:
            self.host.console.write(bytes((value & 0xFF,)))
            self.tx_level = INT_TX
        elif offset == UARTICR:
            self.tx_level &= ~value
        elif offset in self.regs:
            self.regs[offset] = value & 0xFFFF
        else:
            return
        self._update()
