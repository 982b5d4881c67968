"""Execution traces (--trace FILE): instructions or blocks, and memory accesses, at native speed.

Compiled numba `@cfunc` hooks (UC_HOOK_CODE or UC_HOOK_BLOCK, and UC_HOOK_MEM_* for --trace-mem)
append fixed-size records to a numpy ring; nothing in Python runs per instruction. When the ring
is nearly full the hook stops the guest before the next instruction, the machine's run loop calls
`paused()`, and the records are written in bulk: each address is disassembled once (capstone) and
its formatted line cached, so a chunk of a million records becomes one `str.join` of cached lines.

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

from vmcli.debug.native import add_native_hook, flush_translations, remove_native_hook, unicorn_symbols
from vmcli.errors import BadInput
from vmcli.machine.cpu import Cpu

HEADER = 8
COUNT, CAP, HEADROOM, FULL, IN_RANGE, DROPPED, LO, HI = range(HEADER)
WORDS = 3
INSN, BLOCK, READ, WRITE = 0, 1, 2, 3
MEM_WRITE = unicorn.UC_MEM_WRITE
FORMATS = ("text", "jsonl")
RING = 1 << 16                    # records drained at a time
HEADROOM_RECORDS = 1 << 14        # room kept for the memory accesses of the instruction or block in flight


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
            n = head[COUNT]
            if n + head[HEADROOM] >= head[CAP]:
                head[FULL] = 1            # stop before this instruction/block; it is traced on resume
                emu_stop(uc)
                return
            if address < head[LO] or address >= head[HI]:
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
        self.records = 0
        self._lines: dict[Any, bytes] = {}
        self.state = np.zeros(HEADER + WORDS * capacity, dtype=np.uint64)
        self.state[CAP] = capacity
        self.state[HEADROOM] = min(HEADROOM_RECORDS, capacity // 2) if memory else 1
        lo, hi = address_range or (0, 2**64)
        self.state[LO], self.state[HI] = lo, min(hi, 2**64 - 1)
        self.ring = self.state[HEADER:].reshape(capacity, WORDS)
        on_insn, on_block, on_mem = _compiled_hooks()
        self._callbacks = (on_insn, on_block, on_mem)      # keep alive as long as the hooks exist
        unit = on_block if blocks else on_insn
        # Without memory tracing Unicorn filters by address itself (hooks outside the range cost
        # nothing); with it the unit hook must see every instruction to tell the memory hook
        # whether the access belongs to a traced one.
        begin, end = (1, 0) if memory or address_range is None else (lo, hi - 1)
        data = self.state.ctypes.data
        kind = unicorn.UC_HOOK_BLOCK if blocks else unicorn.UC_HOOK_CODE
        self.handles = [add_native_hook(self.uc, kind, unit.address, data, begin, end)]
        if memory:
            self.handles.append(add_native_hook(self.uc, unicorn.UC_HOOK_MEM_READ_AFTER | unicorn.UC_HOOK_MEM_WRITE,
                                                on_mem.address, data))
        flush_translations(self.uc)          # code translated before the hooks would not trace

    # -- run-loop interface ------------------------------------------------------------------------
    def paused(self) -> bool:
        """Drain a full ring; True when the guest stopped for it."""
        if not self.state[FULL]:
            return False
        self.drain()
        self.state[FULL] = 0
        return True

    def close(self) -> None:
        """Write what is left and remove the hooks."""
        self.drain()
        for handle in self.handles:
            remove_native_hook(self.uc, handle)
        self.handles = []
        self.out.flush()

    @property
    def dropped(self) -> int:
        return int(self.state[DROPPED])

    # -- writing -------------------------------------------------------------------------------------
    def drain(self) -> None:
        n = int(self.state[COUNT])
        if not n:
            return
        records = self.ring[:n]
        kinds = records[:, 0] & np.uint64(0xFF)
        if not self.blocks and not kinds.any():          # instructions only: the fast path
            self.out.write(b"".join(self._insn_lines(records[:, 1].tolist())))
        else:
            self.out.write(b"".join(self._line(int(w0), int(a), int(v)) for w0, a, v in records.tolist()))
        self.records += n
        self.state[COUNT] = 0

    def _insn_lines(self, addresses: list[int]) -> list[bytes]:
        lines = self._lines
        try:
            return list(map(lines.__getitem__, addresses))
        except KeyError:
            for address in set(addresses).difference(lines):
                lines[address] = self._format_insn(address)
            return list(map(lines.__getitem__, addresses))

    def _line(self, word0: int, address: int, value: int) -> bytes:
        kind, size = word0 & 0xFF, (word0 >> 8) & 0xFFFFFF
        if kind == INSN:
            line = self._lines.get(address)
            if line is None:
                line = self._lines[address] = self._format_insn(address)
            return line
        if kind == BLOCK:
            key = (address, size)
            line = self._lines.get(key)
            if line is None:
                line = self._lines[key] = self._format_block(address, size)
            return line
        access = "write" if kind == WRITE else "read"
        value &= (1 << (8 * size)) - 1 if size < 8 else 2**64 - 1
        text: str
        if self.fmt == "jsonl":
            text = json.dumps({"mem": access, "addr": f"{address:#x}", "size": size, "value": f"{value:#x}"})
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
