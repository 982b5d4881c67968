"""CFI parallel NOR flash with the Intel/Sharp command set, as QEMU's arm virt machine has at 0: two
banks of 64 MiB, each two 16-bit devices side by side on a 32-bit bus, 256 KiB erase sectors, JEDEC
manufacturer 0x89 (Intel), device 0x18.

References: JEDEC JESD68.01 (Common Flash Interface) for the query table; Intel 28F128J3 datasheet
("Command definitions") for read array 0xFF, read identifier 0x90, CFI query 0x98, read status 0x70,
clear status 0x50, word program 0x40/0x10, write to buffer 0xE8 + count + data + confirm 0xD0, block
erase 0x20 + confirm 0xD0, block (un)lock 0x60 + 0x01/0xD0. Operations complete at once, so the status
register always reads "ready" (0x80).

The guest may run code from a bank (firmware starts at address 0), which Unicorn can only do from
memory, not from an MMIO callback. So each bank lives in one of two mappings the machine switches
between: read-only memory while the bank is in read-array mode (reads and fetches at full speed; a
guest write ends the slice, the bank becomes MMIO and the write is replayed), and MMIO while a command
is in progress (reads return status, identifiers or query data). `array_mode(bank)` says which fits.
"""

from __future__ import annotations

import numpy as np

from vmcli.machine.devices.device import Device, Host

BANK_SIZE = 64 << 20
SECTOR = 256 << 10                    # per bank (both devices)
BANK_WIDTH, DEVICE_WIDTH = 4, 2
MANUFACTURER, DEVICE_ID = 0x89, 0x18
STATUS_READY, STATUS_ERASE_ERROR, STATUS_PROGRAM_ERROR = 0x80, 0x20, 0x10
WRITE_BUFFER_LOG2 = 0x0B              # 2 KiB per device

CMD_READ_ARRAY, CMD_READ_ID, CMD_QUERY, CMD_READ_STATUS, CMD_CLEAR_STATUS = 0xFF, 0x90, 0x98, 0x70, 0x50
CMD_PROGRAM, CMD_PROGRAM_ALT, CMD_WRITE_BUFFER, CMD_ERASE, CMD_LOCK, CMD_CONFIRM = 0x40, 0x10, 0xE8, 0x20, 0x60, 0xD0
STATUS_MODES = {CMD_PROGRAM, CMD_PROGRAM_ALT, CMD_ERASE, CMD_CLEAR_STATUS, CMD_LOCK, CMD_READ_STATUS,
                CMD_WRITE_BUFFER}


def cfi_table(bank_size: int) -> bytes:
    """The query structure one 16-bit device returns (JESD68.01 tables 1-4 and Intel's extension)."""
    devices = BANK_WIDTH // DEVICE_WIDTH
    sector_per_device = SECTOR // devices
    blocks = bank_size // SECTOR
    device_len = sector_per_device * blocks
    t = bytearray(0x52)
    t[0x10:0x13] = b"QRY"
    t[0x13], t[0x15] = 0x01, 0x31                # Intel/Sharp command set; primary table at 0x31
    t[0x1B], t[0x1C] = 0x45, 0x55                # Vcc 4.5-5.5 V; no Vpp
    t[0x1F], t[0x20], t[0x21] = 0x07, 0x07, 0x0A  # typical timeouts: word, buffer, block erase
    t[0x23], t[0x24], t[0x25] = 0x04, 0x04, 0x04  # maximum timeouts
    t[0x27] = device_len.bit_length() - 1        # device size 2^n bytes
    t[0x28] = 0x02                               # x8/x16 interface
    t[0x2A] = WRITE_BUFFER_LOG2
    t[0x2C] = 0x01                               # one erase block region
    t[0x2D], t[0x2E] = (blocks - 1) & 0xFF, (blocks - 1) >> 8
    t[0x2F], t[0x30] = (sector_per_device >> 8) & 0xFF, sector_per_device >> 16
    t[0x31:0x36] = b"PRI10"
    t[0x3F] = 0x01
    return bytes(t)


class Bank:
    def __init__(self) -> None:
        self.cmd = 0                   # 0: read array
        self.wcycle = 0
        self.status = STATUS_READY
        self.counter = 0


class CfiFlash(Device):
    kind = "cfi_flash"

    def __init__(self, name: str, host: Host, storage: np.ndarray) -> None:
        super().__init__(name, host)
        self.storage = storage          # uint8 view of the whole flash (every bank), host memory
        self.banks = [Bank() for _ in range(max(1, storage.size // BANK_SIZE))]
        self.table = cfi_table(BANK_SIZE)
        self.programmed = 0             # bytes written by program commands
        self.erased = 0                 # sectors erased

    def array_mode(self, bank: int) -> bool:
        return self.banks[bank].cmd == 0

    # -- reads ------------------------------------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        self.accesses += 1
        bank = self.banks[offset // BANK_SIZE]
        if bank.cmd == 0:
            return int.from_bytes(self.storage[offset:offset + size].tobytes(), "little")
        value = 0
        for lane in range(0, size, 2):            # every 16-bit device answers on its own lanes
            value |= self._device_read(bank, offset + lane) << (8 * lane)
        return value & ((1 << (8 * size)) - 1)

    def _device_read(self, bank: Bank, offset: int) -> int:
        word = (offset % BANK_SIZE) // BANK_WIDTH   # queries are addressed in bus words
        if bank.cmd in STATUS_MODES:
            return bank.status
        if bank.cmd == CMD_READ_ID:
            return {0: MANUFACTURER, 1: DEVICE_ID}.get(word & 0xFF, 0)
        if bank.cmd == CMD_QUERY:
            return self.table[word] if word < len(self.table) else 0
        return 0

    # -- writes: the command state machine ----------------------------------------------------------
    def write(self, offset: int, size: int, value: int) -> None:
        self.accesses += 1
        bank = self.banks[offset // BANK_SIZE]
        cmd = value & 0xFF
        if bank.wcycle == 0:
            self._first_cycle(bank, offset, cmd)
        elif bank.wcycle == 1:
            self._second_cycle(bank, offset, size, value, cmd)
        elif bank.wcycle == 2:                       # write to buffer: data words
            self._program(offset, size, value)
            if bank.counter == 0:
                bank.wcycle = 3
            bank.counter -= 1
        else:                                        # write to buffer: confirm
            bank.wcycle = 0
            if cmd != CMD_CONFIRM:
                bank.status |= STATUS_PROGRAM_ERROR
            bank.cmd = CMD_READ_STATUS

    def _first_cycle(self, bank: Bank, offset: int, cmd: int) -> None:
        if cmd in (0x00, 0xF0, CMD_READ_ARRAY):
            bank.cmd = 0
        elif cmd in (CMD_PROGRAM, CMD_PROGRAM_ALT, CMD_WRITE_BUFFER, CMD_LOCK, CMD_QUERY):
            bank.cmd, bank.wcycle = cmd, 1
        elif cmd == CMD_ERASE:
            start = offset & ~(SECTOR - 1)
            self.storage[start:start + SECTOR] = 0xFF
            self.erased += 1
            bank.cmd, bank.wcycle = cmd, 1
        elif cmd == CMD_CLEAR_STATUS:
            bank.status = STATUS_READY
            bank.cmd = 0
        elif cmd in (CMD_READ_STATUS, CMD_READ_ID):
            bank.cmd = cmd
        else:                                        # an unknown command: back to read array
            bank.cmd = 0

    def _second_cycle(self, bank: Bank, offset: int, size: int, value: int, cmd: int) -> None:
        if bank.cmd in (CMD_PROGRAM, CMD_PROGRAM_ALT):
            self._program(offset, size, value)
            bank.wcycle = 0                          # stays in status mode until read array
        elif bank.cmd == CMD_WRITE_BUFFER:
            bank.counter = value & 0xFFFF            # words - 1, per device
            bank.wcycle = 2
        elif bank.cmd in (CMD_ERASE, CMD_LOCK):
            bank.wcycle = 0
            if cmd == CMD_READ_ARRAY:
                bank.cmd = 0
            elif cmd not in (CMD_CONFIRM, 0x01):
                bank.status |= STATUS_ERASE_ERROR
        elif bank.cmd == CMD_QUERY and cmd in (CMD_READ_ARRAY, 0x00, 0xF0):
            bank.cmd, bank.wcycle = 0, 0

    def _program(self, offset: int, size: int, value: int) -> None:
        # Real NOR cells only clear bits; QEMU stores the value as written, and so does vm, so that a
        # guest sees the same flash contents under both.
        data = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        self.storage[offset:offset + size] = np.frombuffer(data, dtype=np.uint8)
        self.programmed += size
