"""The numba hot path: decode -> template lookup -> patch, over numpy arrays, for many blocks at once.

Stage A (numba, kernels.decode_all): one pass per instruction decodes it, checks its form
  and builds the exact shape key the template cache uses, with the L1 cache (15-byte window ->
  all of that); then a backward pass per block marks the flags no instruction needs (dead flags).
Stage B (numba table, Python once per *new* shape only): level 2 maps the key to a template
  program; a new shape's template is built by the rule.
Stage C (numba, kernels.emit_all): copy each instruction's template program and patch its
  registers and data values in.
Like frontend.translate, a block is translated up to its first instruction outside the subset, or
up to and including a branch before its end; the instructions after it are counted (our decoder,
else capstone, delimits them, as frontend.translate lists them: frontend.listed_after). The kernel
decodes every form the Python path translates (the VEX and x87 forms and the high-byte registers
too); were it to stop at one all the same, the block would take the Python rules without the listing
(frontend.code_and_counts), counted in FastTranslator.fallbacks (none on Debian's libc and libm).
Both paths give the same bytes and counts (tests/translate/x86_to_a64/test_fast.py). Importing this module imports
numba (only the bulk path does); the kernels compile with cache=True.
"""

from __future__ import annotations

import pickle
import zipfile
from typing import Any

import numpy as np

from vmcli.translate.core import cache, disk
from vmcli.translate.core.direction import Result
from vmcli.translate.core.hashtable import HashTable
from vmcli.translate.core.jobs import fork_map, split
from vmcli.translate.isa.x86.decoder import HIGH_BYTE_FORMS, decode, operand_size
from vmcli.translate.isa.x86.opcodes import SPECS
from vmcli.translate.x86_to_a64 import kernels as fk
from vmcli.translate.x86_to_a64.builder import SMALL, Patch, Template
from vmcli.translate.x86_to_a64.forms import _sizes, all_forms, supported_form
from vmcli.translate.x86_to_a64.frontend import code_and_counts, decode_cached, listed_after, template_for
from vmcli.translate.x86_to_a64.rules import RULES, flag_effect, liveness_shaped

# operand kind codes
(K_AL, K_RAX, K_CL, K_ONE, K_X0, K_G, K_V, K_Z, K_E, K_W, K_U, K_M, K_I, K_J, K_AX, K_ST, K_ST0, K_H, K_B,
 K_L) = range(1, 21)
_KIND = {"AL": K_AL, "rAX": K_RAX, "CL": K_CL, "1": K_ONE, "X0": K_X0, "AX": K_AX, "ST": K_ST, "ST0": K_ST0}
_LETTER = {"G": K_G, "V": K_V, "Z": K_Z, "E": K_E, "W": K_W, "U": K_U, "M": K_M, "I": K_I, "J": K_J, "H": K_H,
           "B": K_B, "L": K_L}
# the operand-size cases the kernel tells apart (kernels.size_case): 66 (2), none (4), 64-bit without /
# with REX.W, and VEX's vector lengths with VEX.W 0 / 1
_SIZE_CASES = ((2, False), (4, False), (8, False), (8, True), (16, False), (16, True), (32, False), (32, True))
_PREFIX = {0: 0, 0x66: 1, 0xF2: 2, 0xF3: 3}
_VEX_PP = {0: 0, 0x66: 1, 0xF3: 2, 0xF2: 3}      # VEX.pp: the prefix it implies

# decoded instruction columns (rows)
R_SPEC, R_LEN = 0, 1
SLOT_IMM, SLOT_DISP, SLOT_RIP = 0, 1, 2
L1_SIZE = 1 << 10


def _legacy_pick(specs: list[Any], mod3: bool, reg: int, rm: int) -> int:
    """The spec decoder._operands picks from a slot's candidates (the nop that REX.B makes xchg
    aside: the kernel's own case), -1 when none fits."""
    for s in specs:
        if s.digit >= 0 and s.digit != reg:
            continue
        if s.x87 and mod3 != (s.rm >= 0 or "ST" in s.operands):
            continue          # x87: a register form (mod 3) or a memory form
        if s.rm >= 0 and rm != s.rm:
            continue
        if _NOT_WITH[s.id][mod3]:
            continue          # memory only (M) with mod 3, a register only (U) without
        return int(s.id)
    return -1


_NOT_WITH = [(any(o[0] == "U" for o in s.operands), any(o[0] == "M" for o in s.operands)) for s in SPECS]


def _tables() -> dict[str, np.ndarray]:
    """The decoder's opcode table and forms.py's verified forms, flattened for the kernel:
    ptab[(map * 256 + opcode) * 6 + rep * 2 + has66]: -1 when nothing, else slot << 3 | 4 when
      it has a ModRM byte | the prefix that selected it (F2/F3 before 66 before none);
    vtab[(map * 4 + VEX.pp) * 256 + opcode]: the same for VEX (slot << 3 | 4 when ModRM);
    pick[slot * 128 + kernels.pick_index(...)]: the spec (by VEX.L and VEX.W, mod == 3, ModRM.reg and,
      for x87, ModRM.rm), -1 when none fits;
    stab[spec, kernels.S_*]: flags, the rule's implicit registers, its imm8 limit, the one
      size a single-size form is listed under, whether imm8 is data, the verified (size, kind)
      forms as bits, and per operand: kind, bytes and immediate bytes (| 16 when sign-extended)
      for each operand-size case."""
    assert len(SPECS) < 1 << 10          # the spec's bits in a template key (kernels.KEY_*)
    by_slot: dict[int, list[Any]] = {}
    for s in SPECS:
        if s.vex:
            by_slot.setdefault(4096 + (s.map * 4 + _VEX_PP[s.prefix]) * 256 + s.opcode, []).append(s)
            continue
        for r in range(8) if s.plus_r else range(1):
            by_slot.setdefault((s.map * 4 + _PREFIX[s.prefix]) * 256 + s.opcode + r, []).append(s)
    dense = {slot: i for i, slot in enumerate(sorted(by_slot))}
    ptab = np.full(4 * 256 * 6, -1, np.int64)
    for mapno in range(4):
        for op in range(256):
            for rep in range(3):
                for has66 in range(2):
                    order = ([rep + 1] if rep else []) + ([1] if has66 else []) + [0]
                    if mapno == 0:
                        order = [] if rep else [0]
                    for prefix in order:
                        lst = by_slot.get((mapno * 4 + prefix) * 256 + op)
                        if lst:
                            ptab[(mapno * 256 + op) * 6 + rep * 2 + has66] = (
                                dense[(mapno * 4 + prefix) * 256 + op] << 3 | 4 * int(lst[0].has_modrm) | prefix)
                            break
    vtab = np.full(4 * 4 * 256, -1, np.int64)
    pick = np.full(len(dense) * 128, -1, np.int64)
    for slot, lst in by_slot.items():
        # a slot's 128 specs in kernels.pick_index order
        if slot >= 4096:
            # decoder.decode: the specs that take this VEX.L and VEX.W, the first of them deciding
            # whether a ModRM byte follows (the same for all of a slot's)
            modrm = {s.has_modrm for s in lst}
            assert len(modrm) == 1, lst
            vtab[slot - 4096] = dense[slot] << 3 | 4 * int(modrm.pop())
            row = [_legacy_pick([s for s in lst if s.vex_l in (-1, vl) and s.vex_w in (-1, w)], bool(mod3), reg, 0)
                   for vl in (0, 1) for w in (0, 1) for mod3 in (0, 1) for reg in range(8)]
        elif any(s.x87 for s in lst):          # only x87 slots tell ModRM.rm values apart
            row = [_legacy_pick(lst, bool(mod3), reg, rm) for mod3 in (0, 1) for reg in range(8) for rm in range(8)]
        else:
            row = [spec for mod3 in (0, 1) for reg in range(8) for spec in [_legacy_pick(lst, bool(mod3), reg, 0)] * 8]
        pick[dense[slot] * 128:dense[slot] * 128 + len(row)] = row
    stab = np.zeros((len(SPECS), fk.S_NF), np.int64)
    for f in all_forms():
        stab[f.spec.id, fk.S_FORMS] |= 1 << (3 * fk.size_code(f.opsize) + {"-": 0, "r": 1, "m": 2}[f.kind])
    for s in SPECS:
        row = stab[s.id]
        ends = s.ends_block
        has_rm = any(o[0] in "EWUM" for o in s.operands)
        row[fk.S_FLAGS] = (fk.SF_SSE * int(s.is_sse) | fk.SF_STACK64 * int(s.stack64) | fk.SF_ENDS * int(ends)
                           | fk.SF_HAS_RM * int(has_rm) | fk.SF_NEXT_IP * int(s.needs_next_ip)
                           | fk.SF_LOCKABLE * int(s.lockable) | fk.SF_X87 * int(s.x87)
                           | fk.SF_VVVV * int(s.uses_vvvv) | fk.SF_VLEN * int(any(o.endswith("l") for o in s.operands))
                           | fk.SF_HIGH * int(s.syntax() in HIGH_BYTE_FORMS))
        row[fk.S_FREAD], row[fk.S_FWRITE] = flag_effect(s.mnemonic)
        row[fk.S_SHAPED] = int(liveness_shaped(s.mnemonic))
        rule = RULES.get(s.mnemonic)
        row[fk.S_IMM_LIMIT] = 256 if rule is None or rule.imms is None else max(rule.imms) + 1
        row[fk.S_RM_REGS] = -1 if rule is None or rule.rm_regs is None else sum(1 << r for r in rule.rm_regs)
        if rule is not None:
            row[fk.S_DATA_IMM] = int(rule.data_imm)
            for kind, num in rule.implicit:
                row[fk.S_FIXED] |= (1 << num) if kind == "gpr" else 1 << 16
        sizes = _sizes(s)
        row[fk.S_SIZE_OF] = 0 if len(sizes) > 1 else sizes[0]
        assert len(s.operands) <= 4
        for j, code in enumerate(s.operands):
            row[fk.S_OPK + j] = _KIND[code] if code in _KIND else _LETTER[code[0]]
            for c, (opsize, rex_w) in enumerate(_SIZE_CASES):
                if code[0] in "IJ":
                    letters = code[1:]
                    nbytes = {"b": 1, "bs": 1, "w": 2, "z": 2 if opsize == 2 else 4, "v": opsize}[letters]
                    signed = letters in ("bs", "z") or code[0] == "J"
                    row[fk.S_IMMB + 8 * j + c] = nbytes | 16 * int(signed)
                elif code != "1":
                    row[fk.S_OSZ + 8 * j + c] = operand_size(code, opsize, rex_w)
    return {"ptab": ptab, "vtab": vtab, "pick": pick, "stab": stab}


class FastTranslator:
    """Translates many blocks through the numba kernels; keeps its tables between calls."""

    def __init__(self, saved: dict[str, np.ndarray] | None = None) -> None:
        self.t = {name: saved[name] for name in ("ptab", "vtab", "pick", "stab")} if saved else _tables()
        # every template as one stretch of `prog` (kernels.emit_all): a header, its words, its
        # data patches and its register patches, so copying one touches one place in memory
        self.prog = np.zeros(0, np.int64)
        self._prog_chunks: list[np.ndarray] = []
        self._nprog = 0
        self.level2 = HashTable(1 << 16)        # template key -> offset of its program in `prog`
        if saved:          # level 2 as a previous process left it
            self.prog = saved["prog"]
            self._prog_chunks = [self.prog]
            self._nprog = len(self.prog)
            self.level2.reserve(2 * len(saved["l2_vals"]))
            self.level2.load(saved["l2_keys"], saved["l2_vals"])
        self.l1 = np.zeros((L1_SIZE, 8), np.int64)   # kernels.L_* columns
        # decoded rows: (spec, length), template keys, data slots, register parameters
        self._rowbuf: tuple[np.ndarray, ...] = (np.empty((0, 2), np.int64), np.empty((0, 2), np.int64),
                                                np.empty((0, 3), np.int64), np.empty(0, np.int64))

    def state(self) -> dict[str, np.ndarray]:
        """What FastTranslator(saved) starts from: the decode tables, the template programs and
        level 2's (key, program offset) pairs."""
        keys, ids = self.level2.items()
        return {**self.t, "prog": self.prog, "l2_keys": keys, "l2_vals": ids}

    def _add_template(self, tpl: Any) -> int:
        """Append a template to `prog`; returns its offset there (the id level 2 maps shapes to)."""
        slot = {"imm": SLOT_IMM, "disp": SLOT_DISP, "rip": SLOT_RIP}
        chunk = ([len(tpl.words) | len(tpl.patches) << 16 | len(tpl.regs) << 32] + list(tpl.words)
                 + [p.word | slot[p.slot] << 16 | p.offset << 24 | p.kind << 32 for p in tpl.patches]
                 + [word | shift << 16 | param << 24 for word, shift, param in tpl.regs])
        offset = self._nprog
        self._prog_chunks.append(np.array(chunk, np.int64))
        self._nprog += len(chunk)
        return offset

    fallbacks = 0      # blocks handed to frontend.translate (a form the kernel failed to take)

    def translate(self, blocks: list[tuple[bytes, int]]) -> list[Result]:
        """(code, instructions, unsupported) of each block; code is the same bytes as
        frontend.translate(...).code."""
        n = len(blocks)
        # padded: the decoder reads ahead of a block's end and checks the length afterwards
        codes = [code for code, _ in blocks]
        data = np.frombuffer(b"".join(codes) + b"\0" * 32, np.uint8)
        starts = np.zeros(n + 1, np.int64)
        np.cumsum(np.fromiter(map(len, codes), np.int64, n), out=starts[1:])
        addrs = np.fromiter((a for _, a in blocks), np.int64, n)
        rows, keys, slots, params, stop, counts = self._decode(data, starts, addrs)
        ninsn = len(rows)
        # stage B: templates for shapes not seen before (the table lives in numpy, looked up in numba)
        tpl_of = np.empty(0, np.int64)
        if ninsn:
            # a probe first: the table grows (at most half full) only when there are new shapes
            tpl_of, unknown = self.level2.probe(keys)
            first_new = np.empty(0, np.int64)
            if unknown:
                self.level2.reserve(unknown)
                tpl_of, first_new = self.level2.insert(keys)
            nnew = len(first_new)
            new_ids = np.empty(nnew, np.int64)
            if nnew:
                insn_pos, insn_addr = self._positions(rows, counts, starts, addrs)
                for j in range(nnew):
                    i = int(first_new[j])
                    pos = int(insn_pos[i])
                    # at its own address: the address classes of branches and RIP-relative
                    # operands are part of the shape (builder.address_slots)
                    insn = decode(bytes(data[pos:pos + 15]), int(insn_addr[i]))
                    assert insn is not None
                    dead = int(keys[i, 0] >> fk.KEY_DEAD) & 0xFFF
                    new_ids[j] = self._add_template(template_for(insn, count=False, dead=dead))
                self.level2.resolve(tpl_of, new_ids)
                self.prog = np.concatenate(self._prog_chunks)
                self._prog_chunks = [self.prog]
            cache.TEMPLATES.count(int(ninsn - nnew), int(nnew))
        out_words, out_start = fk.emit_all(counts, slots, params, tpl_of, self.prog)
        raw = memoryview(out_words).cast("B")          # blocks are views into one buffer, no copies
        bounds = (4 * out_start).tolist()
        result: list[Result] = [(raw[a:b], c, 0)
                                  for a, b, c in zip(bounds[:-1], bounds[1:], counts.tolist(), strict=True)]
        for b in np.flatnonzero(stop >= 0).tolist():
            code, address = blocks[b]
            at = int(stop[b])
            after_exit = bool(at & fk.STOP_AFTER_EXIT)
            at &= fk.STOP_AFTER_EXIT - 1
            if not after_exit and _python_translates(code, at, address):
                self.fallbacks += 1
                result[b] = code_and_counts(code, address)
            else:
                rest = listed_after(code, at, address, after_exit)
                result[b] = (result[b][0], result[b][1] + rest, rest)
        return result

    def _decode(self, data: np.ndarray, starts: np.ndarray, addrs: np.ndarray) -> tuple[np.ndarray, ...]:
        """Stage A: the decode kernel over every block, into row arrays it resumes on when they fill."""
        t = self.t
        nblocks = len(starts) - 1
        cap = len(data) // 4 + 1024    # instructions of the subset average well over 4 bytes
        if len(self._rowbuf[0]) < cap:
            # kept between calls (the caller only reads them before the next): fresh pages cost
            # as much as a tenth of the decoding
            self._rowbuf = tuple(np.empty((cap, *a.shape[1:]), np.int64) for a in self._rowbuf)
        rows, keys, slots, params = self._rowbuf
        cap = len(params)
        stop = np.empty(nblocks, np.int64)
        counts = np.empty(nblocks, np.int64)
        l1_count = np.zeros(2, np.int64)
        b = n = 0
        while True:
            b, n = fk.decode_all(data, starts, addrs, t["ptab"], t["vtab"], t["pick"], t["stab"], self.l1, SMALL, b, n,
                                 rows, keys, slots, params, stop, counts, l1_count)
            if b == nblocks:
                break
            cap = max(2 * cap, n + int(starts[b + 1] - starts[b]))
            self._rowbuf = tuple(np.concatenate([a[:n], np.empty((cap - n, *a.shape[1:]), np.int64)])
                                 for a in self._rowbuf)
            rows, keys, slots, params = self._rowbuf
        cache.DECODED.count(int(l1_count[0]), int(l1_count[1]))
        return rows[:n], keys[:n], slots[:n], params[:n], stop, counts

    @staticmethod
    def _positions(rows: np.ndarray, counts: np.ndarray, starts: np.ndarray,
                   addrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Byte offset in the concatenated input and guest address of every decoded instruction."""
        lengths = rows[:, R_LEN]
        before = np.cumsum(lengths) - lengths                 # bytes before each insn, all blocks
        block_first = np.cumsum(counts) - counts
        block_of = np.repeat(np.arange(len(counts)), counts)
        within = before - before[block_first[block_of]]
        return starts[:-1][block_of] + within, addrs[block_of] + within


def _python_translates(code: bytes, pos: int, address: int) -> bool:
    """Whether frontend.translate translates the instruction at `pos` (where the kernel stopped)."""
    insn = decode_cached(code, pos, address + pos)
    return insn is not None and not supported_form(insn)


_TRANSLATOR: FastTranslator | None = None


# ---- level 2 on disk (core/disk.py) ----------------------------------------------------------------
# Two files: the templates (cache level 2 of the Python path, which the bulk path builds through) and
# the numba path's own table with its decode tables, so a new process starts where the last one
# stopped instead of deriving every template key again through the decoder and the rules.

_LOADED = 0       # templates level 2 held when it was last loaded


def load_templates() -> int:
    """Fill cache level 2 from disk; returns how many templates were loaded."""
    global _LOADED
    with disk.no_cyclic_gc():
        loaded = _load_templates()
    _LOADED = len(cache.TEMPLATES.data)
    return loaded


def _load_templates() -> int:
    path = disk.path("templates")
    if path is None or not path.exists():
        return 0
    try:
        templates = [(key, Template(words, [Patch(*p) for p in patches] if patches else [], exit_, regs))
                     for key, words, patches, exit_, regs in pickle.loads(path.read_bytes())]
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError):
        return 0     # unreadable: the templates are made again
    data = cache.TEMPLATES.data
    for key, tpl in templates:
        data.setdefault(key, tpl)
    _load_fast_state()
    return len(templates)


def _load_fast_state() -> None:
    global _TRANSLATOR
    path = disk.path("fast", ".npz")
    if _TRANSLATOR is not None or path is None or not path.exists():
        return
    try:
        with np.load(path) as f:
            saved = {name: f[name] for name in f.files}
        _TRANSLATOR = FastTranslator(saved)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        pass         # unreadable: the tables are made again


def save_templates() -> None:
    """Write cache level 2 to disk when it grew since it was loaded (atomically; a failure only
    costs the next run time)."""
    if len(cache.TEMPLATES.data) > _LOADED:
        with disk.no_cyclic_gc():
            _save_templates()


def _save_templates() -> None:
    path = disk.path("templates")
    if path is None:
        return
    # plain tuples in a list: pickling the dataclasses takes five times as long, both ways,
    # and a dict would hash every (long) key once more
    flat = [(key, t.words, [(p.word, p.slot, p.offset, p.kind) for p in t.patches] if t.patches else [],
             t.exit, t.regs) for key, t in cache.TEMPLATES.data.items()
            if isinstance(t, Template)]          # level 2 also holds the other direction's code
    if not disk.save(path, lambda tmp: tmp.write_bytes(pickle.dumps(flat, protocol=pickle.HIGHEST_PROTOCOL))):
        return
    fast_path = disk.path("fast", ".npz")
    if _TRANSLATOR is not None and fast_path is not None:
        state: dict[str, Any] = _TRANSLATOR.state()
        disk.save(fast_path, lambda tmp: np.savez(tmp, **state))


def translate_fast(blocks: list[tuple[bytes, int]]) -> list[Result]:
    """(code, instructions, unsupported) of many blocks via the numba path, with cache level 3
    on whole blocks."""
    global _TRANSLATOR
    if _TRANSLATOR is None:
        _TRANSLATOR = FastTranslator()
    with disk.no_cyclic_gc():
        return _translate_fast(blocks, _TRANSLATOR)


def _translate_fast(blocks: list[tuple[bytes, int]], translator: FastTranslator) -> list[Result]:
    # level 3 holds this path's blocks under the (code, address) pair itself (the Python path's
    # keys have three fields): no key to build per block
    stored = cache.BLOCKS.data
    get = stored.get
    out: list[Any] = [get(block) for block in blocks]
    todo = dict.fromkeys(block for block, hit in zip(blocks, out, strict=True) if hit is None)
    cache.BLOCKS.count(len(blocks) - len(todo), len(todo))
    if len(todo) == len(blocks):                 # all new: no merging
        out = translator.translate(blocks)
        cache.BLOCKS.put_many(zip(blocks, out, strict=True))
    elif todo:
        uniq = list(todo)
        made = dict(zip(uniq, translator.translate(uniq), strict=True))
        out = [made[block] if hit is None else hit for block, hit in zip(blocks, out, strict=True)]
        cache.BLOCKS.put_many(made.items())
    return out


def _part(blocks: list[tuple[bytes, int]]) -> tuple[list[Result], dict[Any, Template]]:
    """A worker's share: its results and the templates it made."""
    before = set(cache.TEMPLATES.data)
    out: list[Result] = [(bytes(code), n, u) for code, n, u in translate_fast(blocks)]  # to pickle
    return out, {k: v for k, v in cache.TEMPLATES.data.items() if k not in before}


def translate_fast_jobs(blocks: list[tuple[bytes, int]], jobs: int) -> list[Result]:
    """translate_fast over `jobs` worker processes (each loads numba's cached kernels)."""
    if jobs <= 1 or len(blocks) < 64 * jobs:
        return translate_fast(blocks)
    out: list[Result] = []
    for results, new in fork_map(_part, split(blocks, jobs)):
        out += results
        for key, tpl in new.items():             # the workers' templates, for the disk cache
            cache.TEMPLATES.data.setdefault(key, tpl)
    return out
