"""Run statistics (--stats): guest instructions and blocks counted by a compiled block hook.

A numba `@cfunc` UC_HOOK_BLOCK callback counts how often each translated block runs, in an
open-addressing hash table of (address, size, hits) kept in a numpy array. Instructions are counted
once per distinct block when the run ends (a block's bytes decoded with the arch's length rule), so
the guest pays one table probe per block, not per instruction: a few hundred million instructions
a second. The last block is counted only up to the instruction the guest stopped at, so a fault in
the middle of a block counts exactly like a per-instruction hook would (the faulting instruction
included).

When the table is half full the hook stops the guest before the block runs; the machine's run loop
calls `paused()`, which grows the table and lets the guest go on. When something else stopped the
guest inside a block (a trace draining its ring), that block was counted whole but the rest of it
runs as a new block on resume: `paused()` notes the part that did not run, to leave it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import unicorn

from vmcli.debug.native import add_native_hook, flush_translations, remove_native_hook, unicorn_symbols
from vmcli.machine.cpu import Cpu

HEADER = 8
MASK, USED, BLOCKS, LAST_ADDR, LAST_SIZE, GROW = range(6)
SLOT = 3                                   # words per table slot: address + 1 (0 = free), size, hits
HASH_MULT = 0x9E3779B97F4A7C15             # Fibonacci hashing


@cache
def _compiled_block_counter() -> Any:
    import numba
    from numba import types

    unicorn_symbols()
    emu_stop = types.ExternalFunction("uc_emu_stop", types.int32(types.voidptr))

    @numba.cfunc(types.void(types.voidptr, types.uint64, types.uint32, types.voidptr), cache=True)
    def on_block(uc, address, size, user):
        head = numba.carray(user, HEADER, dtype=np.uint64)
        mask = head[MASK]
        table = numba.carray(user, HEADER + SLOT * (int(mask) + 1), dtype=np.uint64)
        key = address + np.uint64(1)
        size64 = np.uint64(size)
        i = ((address * np.uint64(HASH_MULT)) >> np.uint64(40)) & mask
        while True:
            slot = HEADER + SLOT * int(i)
            k = table[slot]
            if k == key and table[slot + 1] == size64:
                table[slot + 2] += np.uint64(1)
                break
            if k == 0:
                if head[USED] * np.uint64(2) >= mask:
                    head[GROW] = 1          # stop before the block runs; it is counted on resume
                    emu_stop(uc)
                    return
                table[slot] = key
                table[slot + 1] = size64
                table[slot + 2] = 1
                head[USED] += np.uint64(1)
                break
            i = (i + np.uint64(1)) & mask
        head[BLOCKS] += np.uint64(1)
        head[LAST_ADDR] = address
        head[LAST_SIZE] = size64

    return on_block


def insn_lengths(arch: str, code: bytes, address: int, cpu: Cpu) -> list[int]:
    """The lengths of the instructions in `code`, a block that starts at `address`."""
    if arch == "arm64":
        return [4] * (len(code) // 4)
    if arch == "riscv64":
        lengths, i = [], 0
        while i < len(code):              # the two low bits of the first halfword say 16 or 32 bits
            n = 4 if code[i] & 3 == 3 else 2
            lengths.append(n)
            i += n
        return lengths
    lengths = [size for _, size, _, _ in cpu.disassembler.disasm_lite(code, address)]
    decoded = sum(lengths)
    return lengths + ([len(code) - decoded] if decoded < len(code) else [])


class BlockCounter:
    """Counts executed blocks on a machine's CPU, and from them the instructions."""

    def __init__(self, cpu: Cpu, capacity: int = 1 << 14) -> None:
        self.cpu = cpu
        self.uc = uc = cpu.uc
        self.callback = _compiled_block_counter()    # keep alive as long as the hook exists
        self.state = self._table(capacity)
        self.handle = add_native_hook(uc, unicorn.UC_HOOK_BLOCK, self.callback.address, self.state.ctypes.data)
        flush_translations(uc)            # blocks translated before the hook would not count
        # (block, size, pc, blocks entered by then): blocks a pause left at pc; the rest of such a
        # block runs as a block of its own on resume.
        self.cut: list[tuple[int, int, int, int]] = []

    @staticmethod
    def _table(capacity: int) -> np.ndarray:
        state = np.zeros(HEADER + SLOT * capacity, dtype=np.uint64)
        state[MASK] = capacity - 1
        return state

    def entries(self) -> np.ndarray:
        """(address, size, hits) of every block seen, one row each."""
        table = self.state[HEADER:].reshape(-1, SLOT)
        used = table[table[:, 0] != 0]
        out = used.copy()
        out[:, 0] -= np.uint64(1)
        return out

    def paused(self) -> bool:
        """Run-loop hook: grow a half-full table; True when the guest stopped for that."""
        if not self.state[GROW]:
            last, size = int(self.state[LAST_ADDR]), int(self.state[LAST_SIZE])
            pc = self.cpu.pc
            if self.state[BLOCKS] and last <= pc < last + size:
                self.cut.append((last, size, pc, int(self.state[BLOCKS])))
            return False
        old = self.state
        new = self._table(2 * (int(old[MASK]) + 1))
        new[BLOCKS], new[LAST_ADDR], new[LAST_SIZE] = old[BLOCKS], old[LAST_ADDR], old[LAST_SIZE]
        mask = int(new[MASK])
        table = new[HEADER:].reshape(-1, SLOT)
        for address, size, hits in self.entries().tolist():
            i = ((address * HASH_MULT) % 2**64 >> 40) & mask
            while table[i, 0]:
                i = (i + 1) & mask
            table[i] = (address + 1, size, hits)
        new[USED] = old[USED]
        remove_native_hook(self.uc, self.handle)
        self.state = new
        self.handle = add_native_hook(self.uc, unicorn.UC_HOOK_BLOCK, self.callback.address, new.ctypes.data)
        return True

    def close(self) -> None:
        remove_native_hook(self.uc, self.handle)

    def _cuts(self) -> list[tuple[int, int, int, int]]:
        """The cuts the guest resumed from (the run loop also asks at the final stop)."""
        return [cut for cut in self.cut if cut[3] < int(self.state[BLOCKS])]

    @property
    def blocks(self) -> int:
        """Blocks executed: a block cut by a pause and resumed counts once."""
        return int(self.state[BLOCKS]) - len(self._cuts())

    def instructions(self, stop_pc: int) -> int:
        """Instructions executed: each block's length times its hits, the last block cut at stop_pc."""
        cpu = self.cpu
        arch = cpu.spec.name
        total = 0
        for address, size, hits in self.entries().tolist():
            total += len(insn_lengths(arch, _read(self.uc, address, size), address, cpu)) * hits
        # A pause left these blocks at pc, before the instruction there ran: it and the rest of the
        # block ran (and counted) again as a block of their own.
        for address, size, pc, _ in self._cuts():
            total -= _left(arch, cpu, self.uc, address, size, pc, including=True)
        last_addr, last_size = int(self.state[LAST_ADDR]), int(self.state[LAST_SIZE])
        if int(self.state[BLOCKS]) and last_addr <= stop_pc < last_addr + last_size:
            # The guest stopped inside its last block: count up to and including the stop PC.
            total -= _left(arch, cpu, self.uc, last_addr, last_size, stop_pc, including=False)
        return total


def _left(arch: str, cpu: Cpu, uc: unicorn.Uc, address: int, size: int, pc: int, *, including: bool) -> int:
    """Instructions of the block at address after pc (and the one at pc, if `including`)."""
    offset, left = 0, 0
    for n in insn_lengths(arch, _read(uc, address, size), address, cpu):
        if address + offset > pc or (including and address + offset == pc):
            left += 1
        offset += n
    return left


def _read(uc: unicorn.Uc, address: int, size: int) -> bytes:
    try:
        return bytes(uc.mem_read(address, size))
    except unicorn.UcError:
        return b""


@dataclass
class RunStats:
    """What --stats prints at exit."""

    instructions: int
    blocks: int
    wall_s: float
    exit_reason: str
    exit_status: int
    device_accesses: dict[str, int] = field(default_factory=dict)
    semihosting_calls: dict[str, int] = field(default_factory=dict)
    syscalls: dict[str, int] = field(default_factory=dict)                  # Linux programs
    unimplemented_syscalls: dict[str, int] = field(default_factory=dict)    # answered with -ENOSYS

    @property
    def mips(self) -> float:
        return self.instructions / self.wall_s / 1e6 if self.wall_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "instructions": self.instructions,
            "blocks": self.blocks,
            "wall_s": round(self.wall_s, 6),
            "mips": round(self.mips, 3),
            "exit_reason": self.exit_reason,
            "exit_status": self.exit_status,
            "device_accesses": self.device_accesses,
            "semihosting_calls": self.semihosting_calls,
            **({"syscalls": self.syscalls} if self.syscalls else {}),
            **({"unimplemented_syscalls": self.unimplemented_syscalls} if self.unimplemented_syscalls else {}),
        }
