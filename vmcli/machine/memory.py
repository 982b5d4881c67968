"""Guest RAM as the host sees it: a bounds-checked window for devices that read guest memory.

Everything a device takes from the guest (semihosting parameter blocks, strings, buffers) goes through
`GuestMemory`, which refuses any range that is not wholly inside RAM: device windows and unmapped
space are never touched, and sizes are checked before anything is allocated.
"""

from __future__ import annotations

import numpy as np


class GuestMemoryError(Exception):
    """A guest-supplied address range is not inside guest RAM."""


class GuestMemory:
    def __init__(self, base: int, ram: np.ndarray) -> None:
        self.base = base
        self.ram = ram                       # uint8 view of the host buffer Unicorn maps as RAM
        self.size = int(ram.size)
        self.end = base + self.size

    def contains(self, addr: int, length: int) -> bool:
        return length >= 0 and self.base <= addr and addr + length <= self.end

    def view(self, addr: int, length: int) -> np.ndarray:
        """A zero-copy view of [addr, addr + length); GuestMemoryError unless it lies inside RAM."""
        if not self.contains(addr, length):
            raise GuestMemoryError(f"[{addr:#x}, {addr + length:#x}) is not inside guest RAM")
        start = addr - self.base
        return self.ram[start:start + length]

    def read(self, addr: int, length: int) -> bytes:
        return self.view(addr, length).tobytes()

    def write(self, addr: int, data: bytes) -> None:
        self.view(addr, len(data))[:] = np.frombuffer(data, dtype=np.uint8)

    def read_u64(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 8), "little")

    def write_u64(self, addr: int, value: int) -> None:
        self.write(addr, (value & (2**64 - 1)).to_bytes(8, "little"))

    def read_cstring(self, addr: int, limit: int) -> bytes:
        """The NUL-terminated string at `addr`, at most `limit` bytes; GuestMemoryError if unterminated."""
        limit = min(limit, max(0, self.end - addr))
        found = bytearray()
        step = 256                           # grow the window: strings are short, RAM may be large
        while len(found) < limit:
            chunk = self.read(addr + len(found), min(step, limit - len(found)))
            nul = chunk.find(0)
            if nul >= 0:
                return bytes(found + chunk[:nul])
            found += chunk
            step *= 2
        raise GuestMemoryError(f"string at {addr:#x} is not terminated within {limit} bytes")
