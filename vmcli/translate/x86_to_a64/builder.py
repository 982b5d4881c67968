"""The code builder x86-64 -> AArch64 rules write through (Ctx), and templates.

A template is the code of one instruction shape: its words plus patches that fill 16-bit
immediate fields of movz/movk from the instruction's data values (large immediates,
displacements, RIP-relative addresses), so one template serves every instruction that differs
only in those values (cache level 2). Registers are template parameters too (see _classes).
Where the guest state lives is host.py's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from vmcli.translate.core.rules import Rule
from vmcli.translate.isa.a64 import encoder as A
from vmcli.translate.isa.x86.decoder import FS, RIP, Imm, Insn, Mem, Operand, Reg
from vmcli.translate.isa.x86.flags import AF, CF, OF, PF, SF, ZF
from vmcli.translate.x86_to_a64.host import FLAGS, FS_BASE, GS_BASE, SCRATCH, VSCRATCH

SMALL = 4096  # data values below this magnitude are encoded inline (and are part of the key)


def is_small(value: int) -> bool:
    return -SMALL < value < SMALL


@dataclass
class Patch:
    word: int     # index of the patched word
    slot: str     # "imm", "disp" or "rip"
    offset: int   # bit offset of the 16-bit chunk in the value
    kind: int = 0  # 0: movz/movk imm16 chunk, 1: add/sub imm12 of |value|, 2: movn imm16 of ~value


@dataclass
class Template:
    words: list[int]
    patches: list[Patch]
    exit: bool = False  # the instruction ends the block (branch)
    regs: list[tuple[int, int, int]] = field(default_factory=list)  # (word, shift, parameter)


def slot_values(insn: Insn) -> dict[str, int]:
    values = {"imm": 0, "disp": 0, "rip": 0}
    for op in insn.operands:
        if isinstance(op, Imm):
            values["imm"] = op.value
        elif isinstance(op, Mem):
            values["disp"] = op.disp
            if op.base == RIP:
                values["rip"] = insn.next_ip + op.disp
    if insn.spec.operands and insn.spec.operands[0].startswith("J"):
        values["rip"] = insn.next_ip + next(o.value for o in insn.operands if isinstance(o, Imm))
        values["imm"] = insn.next_ip
    elif insn.spec.needs_next_ip:
        values["imm"] = insn.next_ip
    return values


# Registers are parameters of a template too: operand registers are renamed to classes (the
# first distinct general register is g0, the next g1 ...; likewise x0, x1 for xmm), except the
# ones rules name themselves (rax, rcx, rdx; xmm0), which stay exact. The template is built for
# two renamings and the fields that follow the renaming become register patches.
MAX_PARAMS = 4                      # per kind; params 0..3 general, 4..7 xmm
# canonical number of class 0 in the two renamings; a field's (A, B) pair names kind and class
CANON = {("gpr", "A"): 8, ("gpr", "B"): 12, ("xmm", "A"): 4, ("xmm", "B"): 8}


def _classes(insn: Insn, facts: Rule[Any]) -> tuple[list[object], list[int]]:
    """The shape of the instruction, and its register parameters (8 slots, -1 unused).
    `facts` is the rule: the registers it names itself stay exact; imm8 data is patched."""
    params = [-1] * (2 * MAX_PARAMS)
    seen: dict[tuple[str, int], int] = {}
    fixed = facts.implicit
    used = {"gpr": 0, "xmm": 0}

    def cls(kind: str, num: int) -> int:
        key = (kind, num)
        if key in fixed:
            return num
        index = seen.get(key)
        if index is None:
            index = seen[key] = used[kind]
            used[kind] += 1
            params[(0 if kind == "gpr" else MAX_PARAMS) + index] = num
        return 8 + index

    shape: list[object] = [insn.spec.id, insn.opsize]
    for op in insn.operands:
        if isinstance(op, Reg):
            shape.append((op.kind, cls(op.kind, op.num), op.size))
        elif isinstance(op, Mem):
            base = op.base if op.base in (-1, RIP) else cls("gpr", op.base) + 100
            index = op.index if op.index < 0 else cls("gpr", op.index) + 100
            disp = _sign(op.disp) if (op.base != RIP and is_small(op.disp)) else None
            shape.append(("m", base, index, op.scale, op.size, disp, op.seg))
        elif op.size <= 1 and not (facts.data_imm and op.size == 1):
            shape.append(("i", op.value, op.size))      # imm8: rules may use it structurally
        else:
            shape.append(("i", _sign(op.value) if is_small(op.value) else None, op.size))
    return shape, params


def _sign(value: int) -> int:
    """Small data values are patched in; only their sign class shapes the code."""
    return 0 if value == 0 else 1 if value > 0 else 2


def template_key(insn: Insn, facts: Rule[Any]) -> tuple:
    """The shape of an instruction: everything its code depends on except data values and
    the numbers of its (renamed) registers."""
    return tuple(_classes(insn, facts)[0])


def register_params(insn: Insn, facts: Rule[Any]) -> list[int]:
    return _classes(insn, facts)[1]


def shape(insn: Insn, facts: Rule[Any]) -> tuple[tuple, list[int]]:
    """(template key, register parameters) in one pass."""
    key, params = _classes(insn, facts)
    return tuple(key), params


def renamed(insn: Insn, variant: str, facts: Rule[Any], params: list[int] | None = None) -> Insn:
    """The instruction with its renamed registers replaced by canonical numbers."""
    if params is None:
        params = _classes(insn, facts)[1]
    table = {}
    for i, num in enumerate(params):
        if num >= 0:
            kind = "gpr" if i < MAX_PARAMS else "xmm"
            table[(kind, num)] = CANON[(kind, variant)] + i % MAX_PARAMS
    ops: list[Operand] = []
    for op in insn.operands:
        if isinstance(op, Reg):
            ops.append(Reg(op.kind, table.get((op.kind, op.num), op.num), op.size))
        elif isinstance(op, Mem):
            base = table.get(("gpr", op.base), op.base)
            index = table.get(("gpr", op.index), op.index)
            ops.append(Mem(base, index, op.scale, op.disp, op.size, op.seg))
        else:
            ops.append(op)
    return Insn(insn.address, insn.raw, insn.spec, insn.opsize, tuple(ops))


_FIELDS = (0, 5, 10, 16)


def parametrize(a: Template, b: Template, params_b: list[int]) -> Template:
    """One template from the code of the two renamings: differing register fields -> patches."""
    assert len(a.words) == len(b.words) and a.patches == b.patches and a.exit == b.exit
    words = list(a.words)
    regs: list[tuple[int, int, int]] = []
    for i, (wa, wb) in enumerate(zip(a.words, b.words, strict=True)):
        if wa == wb:
            continue
        for shift in _FIELDS:
            fa, fb = (wa >> shift) & 31, (wb >> shift) & 31
            if fa == fb:
                continue
            assert fb == fa + 4, (i, hex(wa), hex(wb))
            if 8 <= fa < 8 + MAX_PARAMS:
                regs.append((i, shift, fa - 8))
            else:
                assert 4 <= fa < 4 + MAX_PARAMS, (i, hex(wa), hex(wb))
                regs.append((i, shift, MAX_PARAMS + fa - 4))
            words[i] &= ~(31 << shift)
    tpl = Template(words, a.patches, a.exit, regs)
    zero = {"imm": 0, "disp": 0, "rip": 0}
    assert apply(tpl, zero, params_b) == apply(b, zero), "register fields not separable"
    return tpl


def apply(template: Template, values: dict[str, int], params: list[int] | None = None) -> list[int]:
    words = list(template.words)
    for p in template.patches:
        v = values[p.slot]
        if p.kind == 0:
            words[p.word] |= ((v >> p.offset) & 0xFFFF) << 5
        elif p.kind == 1:
            words[p.word] |= (abs(v) & 0xFFF) << 10
        else:
            words[p.word] |= (~v & 0xFFFF) << 5
    for word, shift, param in template.regs:
        assert params is not None
        words[word] |= params[param] << shift
    return words


@dataclass
class Ctx:
    """Builds the AArch64 code of one x86 instruction."""

    insn: Insn
    words: list[int] = field(default_factory=list)
    patches: list[Patch] = field(default_factory=list)
    free: list[int] = field(default_factory=lambda: list(SCRATCH))
    vfree: list[int] = field(default_factory=lambda: list(VSCRATCH))
    exit: bool = False
    data_imm: bool = False
    addresses: dict[Mem, int] = field(default_factory=dict)
    vconsts: dict[tuple[int, str], int] = field(default_factory=dict)
    # status flags not to produce: a later instruction of the block writes them before anything
    # reads them (frontend.dead_flags); the flag helpers below leave them out
    dead: int = 0

    def __call__(self, *words: int) -> None:
        self.words.extend(words)

    def tmp(self) -> int:
        return self.free.pop(0)

    def release(self, *regs: int) -> None:
        """Scratch registers a helper is done with, to be handed out again first."""
        self.free[:0] = regs

    def vtmp(self) -> int:
        return self.vfree.pop(0)

    def template(self) -> Template:
        return Template(self.words, self.patches, self.exit)

    # ---- constants ----------------------------------------------------------------------------

    def const(self, rd: int, value: int, bits: int = 64) -> None:
        """Load a known constant with the fewest movz/movn/movk."""
        value &= (1 << bits) - 1
        chunks = [(value >> (16 * i)) & 0xFFFF for i in range(bits // 16)]
        ones = sum(ch == 0xFFFF for ch in chunks)
        zeros = sum(ch == 0 for ch in chunks)
        if ones > zeros:
            first = True
            for i, ch in enumerate(chunks):
                if ch != 0xFFFF or (first and i == len(chunks) - 1):
                    if first:
                        self(A.movw("movn", bits, rd, ~ch & 0xFFFF, i))
                        first = False
                    else:
                        self(A.movw("movk", bits, rd, ch, i))
            if first:
                self(A.movw("movn", bits, rd, 0, 0))
            return
        first = True
        for i, ch in enumerate(chunks):
            if ch or (first and i == len(chunks) - 1):
                self(A.movw("movz" if first else "movk", bits, rd, ch, i))
                first = False

    def slot_const(self, rd: int, slot: str, nbits: int, sext_to64: bool) -> None:
        """Load an instruction data value through patched movz/movk (value-independent code)."""
        bits = 64 if nbits > 32 else 32
        for i in range(nbits // 16):
            self.patches.append(Patch(len(self.words), slot, 16 * i))
            self(A.movw("movz" if i == 0 else "movk", bits, rd, 0, i))
        if sext_to64 and nbits == 32:
            self(A.bfm("sbfm", 64, rd, rd, 0, 31))

    def small_const(self, rd: int, slot: str, value: int, bits: int) -> None:
        """A small data value through one patched movz (>= 0) or movn (< 0)."""
        if value >= 0:
            self.patches.append(Patch(len(self.words), slot, 0, 0))
            self(A.movw("movz", bits, rd, 0))
        else:
            self.patches.append(Patch(len(self.words), slot, 0, 2))
            self(A.movw("movn", bits, rd, 0))

    def add_small(self, rd: int, rn: int, slot: str, value: int) -> None:
        """rd = rn + value for a small value, the magnitude patched into add/sub's imm12."""
        self.patches.append(Patch(len(self.words), slot, 0, 1))
        self(A.addsub_imm("add" if value >= 0 else "sub", 64, rd, rn, 0))

    def imm(self, op: Operand, bits: int, rd: int | None = None) -> int:
        """A register holding immediate `op` truncated to `bits` (sign-extended as x86 does)."""
        assert isinstance(op, Imm)
        rd = self.tmp() if rd is None else rd
        if op.size == 0 or (op.size == 1 and not self.data_imm):
            self.const(rd, op.value, max(bits, 32))
        elif is_small(op.value):
            self.small_const(rd, "imm", op.value, max(bits, 32))
        else:
            nbits = 64 if op.size == 8 else 32
            self.slot_const(rd, "imm", nbits, sext_to64=(bits == 64 and op.size == 4))
        return rd

    # ---- memory -------------------------------------------------------------------------------

    def addr(self, mem: Mem) -> int:
        """A register holding the effective address (guest memory is identity-mapped); computed
        once per instruction, before any guest register is written, as x86 does."""
        key = dataclasses.replace(mem, size=0)
        if key not in self.addresses:
            self.addresses[key] = self._addr(mem)
        return self.addresses[key]

    def _addr(self, mem: Mem) -> int:
        if mem.seg:
            # the segment base is one more term: as the base when there is none, else added last
            seg = FS_BASE if mem.seg == FS else GS_BASE
            if mem.base < 0:
                return self._addr(dataclasses.replace(mem, base=seg, seg=0))
            t = self._addr(dataclasses.replace(mem, seg=0))
            if t == mem.base:
                t = self.tmp()
                self(A.addsub("add", 64, t, mem.base, seg))
            else:
                self(A.addsub("add", 64, t, t, seg))
            return t
        if mem.base == RIP:
            t = self.tmp()
            self.slot_const(t, "rip", 64, False)
            return t
        if mem.index < 0 and mem.disp == 0 and mem.base >= 0:
            return mem.base
        t = self.tmp()
        shift = {1: 0, 2: 1, 4: 2, 8: 3}[mem.scale]
        if mem.base >= 0 and mem.index >= 0:
            self(A.addsub("add", 64, t, mem.base, mem.index, "lsl", shift))
        elif mem.index >= 0:
            self(A.lsl_imm(64, t, mem.index, shift) if shift else A.mov(64, t, mem.index))
        elif mem.base >= 0:
            if is_small(mem.disp):
                self.add_small(t, mem.base, "disp", mem.disp)
                return t
            self.slot_const(t, "disp", 32, True)
            self(A.addsub("add", 64, t, t, mem.base))
            return t
        else:
            if is_small(mem.disp):
                self.small_const(t, "disp", mem.disp, 64)
            else:
                self.slot_const(t, "disp", 32, True)
            return t
        if mem.disp:
            if is_small(mem.disp):
                self.add_small(t, t, "disp", mem.disp)
            else:
                d = self.tmp()
                self.slot_const(d, "disp", 32, True)
                self(A.addsub("add", 64, t, t, d))
        return t

    def load(self, mem: Mem, size: int, rd: int | None = None, signed: bool = False) -> int:
        a = self.addr(mem)
        rd = self.tmp() if rd is None else rd
        if signed and size < 8:
            self(A.ldst("ldrs64", "r", size, rd, a))
        else:
            self(A.ldst("ldr", "r", size, rd, a))
        return rd

    def store(self, mem: Mem, size: int, rs: int, addr: int | None = None) -> None:
        a = self.addr(mem) if addr is None else addr
        self(A.ldst("str", "r", size, rs, a))

    # ---- general operands -------------------------------------------------------------------

    def read(self, op: Operand, size: int, signed: bool = False) -> int:
        """A register whose low `size` bytes hold the operand, zero-extended (or sign-extended)."""
        if isinstance(op, Imm):
            return self.imm(op, 8 * size if size >= 4 else 32)
        if isinstance(op, Mem):
            return self.load(op, size, signed=signed)
        if size == 8 or (size == 4 and not signed):
            if size == 4:
                t = self.tmp()
                self(A.mov(32, t, op.num))
                return t
            return op.num
        t = self.tmp()
        self((A.sbfx if signed else A.ubfx)(64, t, op.num, 0, 8 * size))
        return t

    def write(self, op: Operand, size: int, rs: int) -> None:
        """Write the low `size` bytes of rs with x86 rules (32-bit writes zero-extend)."""
        if isinstance(op, Mem):
            self.store(op, size, rs)
            return
        assert isinstance(op, Reg)
        if size == 8:
            if rs != op.num:
                self(A.mov(64, op.num, rs))
        elif size == 4:
            self(A.mov(32, op.num, rs))
        else:
            self(A.bfi(64, op.num, rs, 0, 8 * size))

    # ---- vector operands --------------------------------------------------------------------

    def vread(self, op: Operand, size: int = 16) -> int:
        """A vector register holding the operand (memory loads `size` bytes, zeroing the rest)."""
        if isinstance(op, Reg):
            return op.num
        assert isinstance(op, Mem)
        a = self.addr(op)
        v = self.vtmp()
        self(A.ldst("ldr", "v", size, v, a))
        return v

    def vmov(self, rd: int, rn: int) -> None:
        if rd != rn:
            self(A.vmov(rd, rn))

    # ---- flags --------------------------------------------------------------------------------

    def flags_from_nzcv(self, mask: int, borrow: bool = False) -> None:
        """Copy NZCV (after an AArch64 flag-setting op) into x86 CF/ZF/SF/OF selected by mask.

        borrow: the op was a subtraction, whose x86 CF is the inverse of AArch64 C."""
        mask &= ~self.dead
        if not mask & (CF | ZF | SF | OF):
            return
        n = self.tmp()
        self(A.mrs_nzcv(n))
        if mask & CF:
            if borrow:
                self(A.logic_imm("eor", 32, n, n, 1 << 29))
            self(A.bfxil(32, FLAGS, n, 29, 1))
        t = self.tmp()
        if mask & (ZF | SF) == ZF | SF:
            self(A.lsr_imm(32, t, n, 30), A.bfi(32, FLAGS, t, 6, 2))
        elif mask & (ZF | SF):
            raise AssertionError("ZF and SF are always written together")
        if mask & OF:
            self(A.lsr_imm(32, t, n, 28), A.bfi(32, FLAGS, t, 11, 1))
        self.release(n, t)

    def parity(self, result: int, lsb: int = 0) -> None:
        """PF = even number of ones in bits [lsb, lsb+8) of result."""
        if self.dead & PF:
            return
        t = self.tmp()
        if lsb:
            self(A.lsr_imm(32, t, result, lsb))
            self(A.logic("eor", 32, t, t, t, "lsr", 4))
        else:
            self(A.logic("eor", 32, t, result, result, "lsr", 4))
        self(A.logic("eor", 32, t, t, t, "lsr", 2), A.logic("eor", 32, t, t, t, "lsr", 1),
             A.logic("orn", 32, t, A.ZR, t), A.bfi(32, FLAGS, t, 2, 1))
        self.release(t)

    def aux_carry(self, a: int, b: int, r: int, lsb: int = 0) -> None:
        """AF = carry/borrow out of bit 3: bit 4 of a ^ b ^ r (scaled by lsb)."""
        if self.dead & AF:
            return
        t = self.tmp()
        self(A.logic("eor", 32, t, a, b), A.logic("eor", 32, t, t, r), A.lsr_imm(32, t, t, 4 + lsb),
             A.bfi(32, FLAGS, t, 4, 1))
        self.release(t)

    def set_flags_const(self, mask: int, value: int) -> None:
        """Write constant bits (CF/OF cleared by logic ops, etc.)."""
        mask &= ~self.dead
        for bit in range(12):
            if mask >> bit & 1:
                if value >> bit & 1:
                    self(A.logic_imm("orr", 32, FLAGS, FLAGS, 1 << bit))
                else:
                    self(A.logic_imm("and", 32, FLAGS, FLAGS, ~(1 << bit) & 0xFFFFFFFF))

    def condition(self, cc: str) -> str:
        """Evaluate x86 condition `cc` from the guest flags; answers the AArch64 cond meaning true."""
        simple = {"o": OF, "b": CF, "e": ZF, "s": SF, "p": PF, "be": CF | ZF}
        neg = {"no": "o", "ae": "b", "ne": "e", "ns": "s", "np": "p", "a": "be", "ge": "l", "g": "le"}
        base = neg.get(cc, cc)
        if base in simple:
            if A.bitmask_imm(simple[base], 32) is not None:
                self(A.logic_imm("ands", 32, A.ZR, FLAGS, simple[base]))
            else:
                t = self.tmp()
                self.const(t, simple[base], 32)
                self(A.logic("ands", 32, A.ZR, FLAGS, t))
        else:
            t = self.tmp()
            self(A.logic("eor", 32, t, FLAGS, FLAGS, "lsr", 4))      # bit 7 = SF ^ OF
            if base == "le":
                self(A.logic("orr", 32, t, t, FLAGS, "lsl", 1))      # | ZF (bit 6 -> 7)
            self(A.logic_imm("ands", 32, A.ZR, t, 0x80))
        return "eq" if cc in neg else "ne"
