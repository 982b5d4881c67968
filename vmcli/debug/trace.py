"""Execution traces (--trace FILE): instructions or blocks, and memory accesses, at native speed.

Compiled numba `@cfunc` hooks registered through Unicorn's C API append fixed-size records to a
numpy ring; nothing in Python runs per instruction. An instruction trace records blocks
(UC_HOOK_BLOCK: one record per executed block) and writes each block out as its instructions; only
--trace-mem needs a record per instruction (UC_HOOK_CODE), to put each access after the
instruction that made it (UC_HOOK_MEM_READ_AFTER, UC_HOOK_MEM_WRITE). When the ring is nearly full
the hook stops the guest before the next block or instruction, the machine's run loop calls
`paused()`, and the records are written in bulk: each block (or instruction) is disassembled once
with capstone and its text cached, so a ring of records becomes one `bytes.join` of cached chunks.

A block the guest left in the middle (a fault; a pause by another probe, after which the rest of
the block runs as a block of its own) is cut down in its record to the instructions that ran.

Record layout, three uint64 words: kind | size << 8 | access << 16, address, value.
Bytes and disassembly are read from guest memory when the record is written, so code that rewrites
itself shows its bytes as they were at the next drain, not as executed.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any, BinaryIO

import numpy as np
import unicorn

from vmcli.errors import BadInput
from vmcli.machine.cpu import Cpu
from vmcli.machine.engine import add_native_hook, flush_translations, remove_native_hook, unicorn_symbols

HEADER = 10
COUNT, CAP, HEADROOM, FULL, IN_RANGE, DROPPED, LO, HI, SEQ = range(9)
WORDS = 3
INSN, BLOCK, READ, WRITE = 0, 1, 2, 3
MEM_WRITE = unicorn.UC_MEM_WRITE
FORMATS = ("text", "jsonl")
RING = 1 << 16                    # records drained at a time
HEADROOM_RECORDS = 1 << 14        # room kept for the memory accesses of the instruction or block in flight
RECORD_CACHE = 1 << 20            # formatted memory-trace lines kept


@cache
def _compiled_hooks() -> tuple[Any, Any, Any]:
    import numba
    from numba import types

    unicorn_symbols()
    emu_stop = types.ExternalFunction("uc_emu_stop", types.int32(types.voidptr))
    code_sig = types.void(types.voidptr, types.uint64, types.uint32, types.voidptr)

    def make_unit_hook(kind: int) -> Any:
        @numba.cfunc(code_sig, cache=True)
        def on_unit(uc, address, size, user):
            head = numba.carray(user, HEADER, dtype=np.uint64)
            head[SEQ] += np.uint64(1)
            n = head[COUNT]
            if n + head[HEADROOM] >= head[CAP]:
                head[FULL] = 1            # stop before this instruction/block; it is traced on resume
                head[IN_RANGE] = 0
                emu_stop(uc)
                return
            if address >= head[HI] or address + np.uint64(size) <= head[LO]:
                head[IN_RANGE] = 0
                return
            head[IN_RANGE] = 1
            ring = numba.carray(user, HEADER + WORDS * int(head[CAP]), dtype=np.uint64)
            at = HEADER + WORDS * int(n)
            ring[at] = np.uint64(kind) | (np.uint64(size) << np.uint64(8))
            ring[at + 1] = address
            ring[at + 2] = 0
            head[COUNT] = n + np.uint64(1)

        return on_unit

    on_insn = make_unit_hook(INSN)
    on_block = make_unit_hook(BLOCK)

    @numba.cfunc(types.void(types.voidptr, types.int32, types.uint64, types.int32, types.int64, types.voidptr),
                 cache=True)
    def on_mem(uc, access, address, size, value, user):
        head = numba.carray(user, HEADER, dtype=np.uint64)
        if head[IN_RANGE] == 0:
            return
        n = head[COUNT]
        if n >= head[CAP]:
            head[DROPPED] += np.uint64(1)
            return
        ring = numba.carray(user, HEADER + WORDS * int(head[CAP]), dtype=np.uint64)
        at = HEADER + WORDS * int(n)
        kind = WRITE if access == MEM_WRITE else READ
        ring[at] = np.uint64(kind) | (np.uint64(size) << np.uint64(8))
        ring[at + 1] = address
        ring[at + 2] = np.uint64(value)
        head[COUNT] = n + np.uint64(1)

    return on_insn, on_block, on_mem


def parse_range(text: str) -> tuple[int, int]:
    """START:END (hex or decimal) as a half-open [start, end) range."""
    try:
        start_text, end_text = text.split(":")
        start, end = int(start_text, 0), int(end_text, 0)
    except ValueError:
        raise BadInput(f"--trace-range {text!r}: expected START:END, e.g. 0x40080000:0x40081000") from None
    if not 0 <= start < end <= 2**64:
        raise BadInput(f"--trace-range {text!r}: START must be below END")
    return start, end


class Tracer:
    """Traces one machine's CPU into `out` in the chosen format."""

    def __init__(self, cpu: Cpu, out: BinaryIO, *, blocks: bool = False, memory: bool = False,
                 fmt: str = "text", address_range: tuple[int, int] | None = None,
                 capacity: int = RING) -> None:
        if fmt not in FORMATS:
            raise BadInput(f"--trace-format {fmt!r}: choose one of {', '.join(FORMATS)}")
        self.cpu, self.uc, self.out, self.fmt, self.blocks = cpu, cpu.uc, out, fmt, blocks
        self.per_insn = memory and not blocks     # else block records, written out as instructions
        self.memory = memory
        self.records = 0
        self._lines: dict[Any, bytes] = {}
        self._records: dict[tuple[int, int, int], bytes] = {}
        self.state = np.zeros(HEADER + WORDS * capacity, dtype=np.uint64)
        self.state[CAP] = capacity
        self.state[HEADROOM] = min(HEADROOM_RECORDS, capacity // 2) if memory else 1
        lo, hi = address_range or (0, 2**64)
        self.state[LO], self.state[HI] = lo, min(hi, 2**64 - 1)
        self.range = (lo, hi)
        self.ring = self.state[HEADER:].reshape(capacity, WORDS)
        on_insn, on_block, on_mem = _compiled_hooks()
        self._callbacks = (on_insn, on_block, on_mem)      # keep alive as long as the hooks exist
        # The hooks see everything and check the range themselves: a block that starts before the
        # range may run into it, and the memory hook must know whether the current instruction is
        # a traced one.
        data = self.state.ctypes.data
        if self.per_insn:
            self.handles = [add_native_hook(self.uc, unicorn.UC_HOOK_CODE, on_insn.address, data)]
        else:
            self.handles = [add_native_hook(self.uc, unicorn.UC_HOOK_BLOCK, on_block.address, data)]
        if memory:
            self.handles.append(add_native_hook(self.uc, unicorn.UC_HOOK_MEM_READ_AFTER | unicorn.UC_HOOK_MEM_WRITE,
                                                on_mem.address, data))
        flush_translations(self.uc)          # code translated before the hooks would not trace

    # -- run-loop interface ------------------------------------------------------------------------
    def paused(self) -> bool:
        """Drain a full ring; True when the guest stopped for it. When another probe stopped it,
        cut the last record down to what ran: the guest goes on from the current PC."""
        if not self.state[FULL]:
            # Cut when the guest goes on from here (the run loop asks at its final stop too).
            n = int(self.state[COUNT])
            if n and self.state[IN_RANGE]:
                self._pending = (n - 1, self.cpu.pc, int(self.state[SEQ]))
            return False
        self.drain()
        self.state[FULL] = 0
        return True

    def close(self, stop_pc: int | None = None, *, ran_stop_pc: bool = True) -> None:
        """Write what is left and remove the hooks. `stop_pc`: where the guest stopped; the
        instruction there began (as a per-instruction hook sees it) unless `ran_stop_pc` is False
        (--max-insns stops before it)."""
        self._apply_pending()
        n = int(self.state[COUNT])
        if stop_pc is not None and not self.blocks and n and self.state[IN_RANGE]:
            self._cut(n - 1, stop_pc, include=ran_stop_pc)
        self.drain()
        for handle in self.handles:
            remove_native_hook(self.uc, handle)
        self.handles = []
        self.out.flush()

    _pending: tuple[int, int, int] | None = None

    def _apply_pending(self) -> None:
        """A pause by another probe left the guest at pc inside the block of record `index`; if
        the guest went on from there, the rest of that block ran as a block of its own."""
        if self._pending is not None:
            index, pc, seq = self._pending
            self._pending = None
            if int(self.state[SEQ]) != seq:
                self._cut(index, pc, include=False)

    def _cut(self, index: int, pc: int, *, include: bool) -> None:
        """Record `index` (a block or an instruction) stopped at pc: keep what ran before pc, and
        the instruction at pc too when `include`."""
        n = index + 1
        word0, address = int(self.ring[n - 1, 0]), int(self.ring[n - 1, 1])
        kind, size = word0 & 0xFF, word0 >> 8
        if kind not in (INSN, BLOCK) or not address <= pc < address + size:
            return                             # (after a memory record: a block trace keeps it whole)
        keep = pc - address
        if include:
            keep += next((length for a, length in self._insns(address, size) if a == pc), 0)
        if keep:
            self.ring[n - 1, 0] = kind | keep << 8
        else:                                  # nothing ran: mark the record empty
            self.ring[n - 1, 0] = kind

    @property
    def dropped(self) -> int:
        return int(self.state[DROPPED])

    # -- writing -------------------------------------------------------------------------------------
    def drain(self) -> None:
        self._apply_pending()
        n = int(self.state[COUNT])
        if not n:
            return
        records = self.ring[:n]
        if not self.memory:                       # blocks only: the fast path
            addresses, sizes = records[:, 1], records[:, 0] >> np.uint64(8)
            if int(addresses.max()) < 2**47:
                keys: list[Any] = ((addresses << np.uint64(16)) | sizes).tolist()
            else:
                keys = [a << 16 | s for a, s in zip(addresses.tolist(), sizes.tolist(), strict=True)]
            self.out.write(b"".join(self._chunks(keys)))
        else:
            self.out.write(b"".join(self._mixed(records)))
        self.records += n
        self.state[COUNT] = 0

    def _mixed(self, records: np.ndarray) -> list[bytes]:
        """Instructions, blocks and memory accesses in order. Lines are cached by their whole
        record: a loop reads the same addresses and values again and again."""
        cache, line_of = self._records, self._line
        out = []
        for key in zip(records[:, 0].tolist(), records[:, 1].tolist(), records[:, 2].tolist(), strict=True):
            line = cache.get(key)
            if line is None:
                line = line_of(*key)
                if len(cache) < RECORD_CACHE:
                    cache[key] = line
            out.append(line)
        return out

    def _chunks(self, keys: list[int]) -> list[bytes]:
        """The text of each block, keyed address << 16 | size."""
        lines = self._lines
        try:
            return list(map(lines.__getitem__, keys))
        except KeyError:
            for key in set(keys).difference(lines):
                address, size = key >> 16, key & 0xFFFF
                lines[key] = b"" if not size else self._format_block(address, size) if self.blocks else b"".join(
                    self._format_insn(a) for a, _ in self._insns(address, size)
                    if self.range[0] <= a < self.range[1])
            return list(map(lines.__getitem__, keys))

    def _insns(self, address: int, size: int) -> list[tuple[int, int]]:
        """(address, length) of each instruction of the block at address."""
        from vmcli.debug.stats import insn_lengths
        try:
            code = bytes(self.uc.mem_read(address, size))
        except unicorn.UcError:
            return []
        out, at = [], address
        for n in insn_lengths(self.cpu.spec.name, code, address, self.cpu):
            out.append((at, n))
            at += n
        return out

    def _line(self, word0: int, address: int, value: int) -> bytes:
        kind, size = word0 & 0xFF, (word0 >> 8) & 0xFFFFFF
        if kind in (INSN, BLOCK) and size == 0:        # cut down to nothing by a stop
            return b""
        if kind == INSN:
            line = self._lines.get(address)
            if line is None:
                line = self._lines[address] = self._format_insn(address)
            return line
        if kind == BLOCK:
            return self._chunks([address << 16 | size])[0]
        access = "write" if kind == WRITE else "read"
        value &= (1 << (8 * size)) - 1 if size < 8 else 2**64 - 1
        text: str
        if self.fmt == "jsonl":
            text = f'{{"mem": "{access}", "addr": "{address:#x}", "size": {size}, "value": "{value:#x}"}}'
        else:
            text = f"    {access:<5} {address:#x} [{size}] = {value:#x}"
        return (text + "\n").encode()

    def _format_insn(self, address: int) -> bytes:
        insn = self.cpu.disassemble_at(address)
        code, text = insn if insn is not None else (b"", "(unreadable)")
        if self.fmt == "jsonl":
            line = json.dumps({"pc": f"{address:#x}", "bytes": code.hex(), "insn": text})
        else:
            line = f"{address:#x}: {code.hex()}  {text}"
        return (line + "\n").encode()

    def _format_block(self, address: int, size: int) -> bytes:
        if self.fmt == "jsonl":
            line = json.dumps({"block": f"{address:#x}", "size": size})
        else:
            first = self.cpu.disassemble_at(address)
            text = first[1] if first is not None else "(unreadable)"
            line = f"{address:#x}: block of {size} bytes, first: {text}"
        return (line + "\n").encode()
