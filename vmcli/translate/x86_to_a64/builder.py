"""The code builder x86-64 -> AArch64 rules write through (Ctx), and templates.

A template is the code of one instruction shape: its words plus patches that fill immediate
fields from the instruction's data values (large immediates, displacements, RIP-relative and
branch addresses: movz/movk chunks, add/sub imm12, load/store offsets), so one template serves
every instruction that differs only in those values (cache level 2). Registers are template
parameters too (see _classes). Where the guest state lives, the flags included, is host.py's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from vmcli.translate.core.rules import Rule
from vmcli.translate.isa.a64 import encoder as A
from vmcli.translate.isa.x86.decoder import FS, RIP, Imm, Insn, Mem, Operand, Reg
from vmcli.translate.isa.x86.flags import AF, CF, OF, PF, SF, STATUS, ZF
from vmcli.translate.x86_to_a64.host import AF_SRC, ENV_REG, FS_BASE, GS_BASE, PF_RES, SCRATCH, VSCRATCH

M64 = (1 << 64) - 1

SMALL = 4096  # data values below this magnitude are encoded inline (and are part of the key)


def is_small(value: int) -> bool:
    return -SMALL < value < SMALL


def disp_class(disp: int, size: int) -> int:
    """How a displacement reaches a load or store of `size` bytes, and its sign (part of the shape):
    0 none, 1 the scaled unsigned offset, 2 and 3 the signed 9-bit unscaled one (positive,
    negative), 4 and 5 another small value (positive, negative), 6 a large one (kernels._disp_class
    is the same)."""
    if not is_small(disp):
        return 6
    if disp == 0:
        return 0
    if disp > 0 and size in (1, 2, 4, 8, 16) and disp % size == 0:
        return 1
    if -256 <= disp < 256:
        return 2 if disp > 0 else 3
    return 4 if disp > 0 else 5


def chunk_mask(value: int) -> int:
    """The 16-bit chunks of a 64-bit value that are not zero, as bits (bit 0 when it is 0): the
    movz/movk an address takes (part of the shape of the instructions that hold addresses)."""
    v = value & M64
    return sum(1 << i for i in range(4) if (v >> (16 * i)) & 0xFFFF) or 1


@dataclass
class Patch:
    word: int     # index of the patched word
    slot: str     # "imm", "disp" or "rip"
    offset: int   # bit offset of the 16-bit chunk in the value (kind 3: log2 of the access size)
    kind: int = 0  # 0: movz/movk imm16 chunk, 1: add/sub imm12 of |value|, 2: movn imm16 of ~value,
    #                3: ldr/str scaled imm12 (value >> offset), 4: ldur/stur imm9, 5: imm16 of
    #                value << offset (a byte immediate at the top of a W register)


@dataclass
class Template:
    words: list[int]
    patches: list[Patch]
    exit: bool = False  # the instruction ends the block (branch)
    regs: list[tuple[int, int, int]] = field(default_factory=list)  # (word, shift, parameter)


def slot_values(insn: Insn) -> dict[str, int]:
    """The data values an instruction's template is patched with: "imm" (the immediate; the next
    instruction's address for branches and the instructions that need it), "disp" (the memory
    displacement; a branch's relative offset) and "rip" (a RIP-relative address, a branch target)."""
    values = {"imm": 0, "disp": 0, "rip": 0}
    for op in insn.operands:
        if isinstance(op, Imm):
            values["imm"] = op.value
        elif isinstance(op, Mem):
            values["disp"] = op.disp
            if op.base == RIP:
                values["rip"] = insn.next_ip + op.disp
    if insn.spec.operands and insn.spec.operands[0].startswith("J"):
        rel = next(o.value for o in insn.operands if isinstance(o, Imm))
        values["rip"] = insn.next_ip + rel
        values["disp"] = rel
        values["imm"] = insn.next_ip
    elif insn.spec.needs_next_ip:
        values["imm"] = insn.next_ip
    return values


def address_slots(insn: Insn) -> tuple[int, int]:
    """The chunk masks of the "rip" and "imm" slots where they hold addresses, else 0 (the part of
    an instruction's shape its address gives)."""
    branch = bool(insn.spec.operands) and insn.spec.operands[0].startswith("J")
    rip = branch or any(isinstance(o, Mem) and o.base == RIP for o in insn.operands)
    nxt = branch or insn.spec.needs_next_ip
    if not (rip or nxt):
        return 0, 0
    values = slot_values(insn)
    return (chunk_mask(values["rip"]) if rip else 0), (chunk_mask(values["imm"]) if nxt else 0)


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
        if isinstance(op, Reg) and (op.kind == "st" or op.high):
            shape.append((op.kind, op.num, op.high))    # x87 stack and high-byte registers: part of the shape
        elif isinstance(op, Reg):
            shape.append((op.kind, cls(op.kind, op.num), op.size))
        elif isinstance(op, Mem):
            base = op.base if op.base in (-1, RIP) else cls("gpr", op.base) + 100
            index = op.index if op.index < 0 else cls("gpr", op.index) + 100
            disp = disp_class(op.disp, op.size) if op.base != RIP else None
            shape.append(("m", base, index, op.scale, op.size, disp, op.seg))
        elif op.size <= 1 and not (facts.data_imm and op.size == 1):
            shape.append(("i", op.value, op.size))      # imm8: rules may use it structurally
        else:
            shape.append(("i", _sign(op.value) if is_small(op.value) else None, op.size))
    rip, nxt = address_slots(insn)
    if rip or nxt:
        shape.append(("a", rip, nxt))
    if insn.lock:
        shape.append("lock")
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
        if isinstance(op, Reg) and op.high:
            ops.append(op)
        elif isinstance(op, Reg):
            ops.append(Reg(op.kind, table.get((op.kind, op.num), op.num), op.size))
        elif isinstance(op, Mem):
            base = table.get(("gpr", op.base), op.base)
            index = table.get(("gpr", op.index), op.index)
            ops.append(Mem(base, index, op.scale, op.disp, op.size, op.seg))
        else:
            ops.append(op)
    return dataclasses.replace(insn, operands=tuple(ops))


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
        elif p.kind == 2:
            words[p.word] |= (~v & 0xFFFF) << 5
        elif p.kind == 3:
            words[p.word] |= ((v >> p.offset) & 0xFFF) << 10
        elif p.kind == 4:
            words[p.word] |= (v & 0x1FF) << 12
        else:
            words[p.word] |= ((v << p.offset) & 0xFFFF) << 5
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
    # status flags that are dead after this instruction: a later instruction of the block writes
    # them before anything reads them (frontend.dead_flags); the flag helpers leave them out
    dead: int = 0
    kept: set[int] = field(default_factory=set)   # scratch registers reuse() must not hand out

    def __call__(self, *words: int) -> None:
        self.words.extend(words)

    def tmp(self) -> int:
        return self.free.pop(0)

    def release(self, *regs: int) -> None:
        """Scratch registers a helper is done with, to be handed out again first."""
        self.free[:0] = [r for r in regs if r in SCRATCH and r not in self.free]

    def reuse(self, r: int) -> int:
        """r itself when it is a scratch register holding a value only (not an address this
        instruction still uses, not one kept), else a new scratch register: where to put a value
        computed from r."""
        if r in SCRATCH and r not in self.free and r not in self.addresses.values() and r not in self.kept:
            return r
        return self.tmp()

    def vtmp(self) -> int:
        return self.vfree.pop(0)

    def template(self) -> Template:
        return Template(self.words, self.patches, self.exit)

    @property
    def values(self) -> dict[str, int]:
        return slot_values(self.insn)

    # ---- constants ----------------------------------------------------------------------------

    def const(self, rd: int, value: int, bits: int = 64) -> None:
        """Load a known constant with the fewest movz/movn/movk (or one orr of a bitmask)."""
        value &= (1 << bits) - 1
        chunks = [(value >> (16 * i)) & 0xFFFF for i in range(bits // 16)]
        ones = sum(ch == 0xFFFF for ch in chunks)
        zeros = sum(ch == 0 for ch in chunks)
        if len(chunks) - max(ones, zeros) > 1 and A.bitmask_imm(value, bits) is not None:
            self(A.logic_imm("orr", bits, rd, A.ZR, value))      # one orr instead of movz + movk
            return
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

    def addr_const(self, rd: int, slot: str) -> None:
        """Load an address slot ("rip", or "imm" holding the next instruction's address) with one
        movz and a movk for each other chunk that is not zero (the chunks are part of the shape,
        address_slots)."""
        mask = chunk_mask(self.values[slot])
        first = True
        for i in range(4):
            if mask >> i & 1:
                self.patches.append(Patch(len(self.words), slot, 16 * i))
                self(A.movw("movz" if first else "movk", 64, rd, 0, i))
                first = False

    def small_const(self, rd: int, slot: str, value: int, bits: int) -> None:
        """A small data value through one patched movz (>= 0) or movn (< 0)."""
        if value >= 0:
            self.patches.append(Patch(len(self.words), slot, 0, 0))
            self(A.movw("movz", bits, rd, 0))
        else:
            self.patches.append(Patch(len(self.words), slot, 0, 2))
            self(A.movw("movn", bits, rd, 0))

    def add_small(self, rd: int, rn: int, slot: str, value: int, bits: int = 64, op: str = "add") -> None:
        """rd = rn + value (op "add"; "sub": rn - value; "adds"/"subs" set the flags) for a small
        value, the magnitude patched into add/sub's imm12 and the sign choosing add or sub."""
        self.patches.append(Patch(len(self.words), slot, 0, 1))
        flip = {"add": "sub", "sub": "add", "adds": "subs", "subs": "adds"}
        self(A.addsub_imm(op if value >= 0 else flip[op], bits, rd, rn, 0))

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

    def small_imm(self, op: Operand) -> bool:
        """Whether an immediate operand fits add/sub's imm12 (with its sign choosing the op)."""
        return isinstance(op, Imm) and (op.size == 0 or (op.size == 1 and not self.data_imm) or is_small(op.value)) \
            and -SMALL < op.value < SMALL

    def imm_addsub(self, op: str, bits: int, rd: int, rn: int, src: Imm) -> None:
        """rd = rn op src for a small immediate (small_imm), flags or not by op."""
        if src.size == 0 or (src.size == 1 and not self.data_imm):
            v = src.value
            flip = {"add": "sub", "sub": "add", "adds": "subs", "subs": "adds"}
            self(A.addsub_imm(op if v >= 0 else flip[op], bits, rd, rn, abs(v)))
        else:
            self.add_small(rd, rn, "imm", src.value, bits, op)

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
            self.addr_const(t, "rip")
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

    def ldst(self, op: str, kind: str, size: int, rt: int, mem: Mem) -> None:
        """One load or store (op: ldr, str, ldrs64, ldrs32; kind "r" or "v") of `size` bytes at mem,
        with the addressing mode that folds its base, displacement or index in when one does; else
        through addr()."""
        base, index = mem.base, mem.index
        if mem.seg and base < 0 and index < 0:
            base = FS_BASE if mem.seg == FS else GS_BASE
        elif mem.seg:
            base = -1
        key = dataclasses.replace(mem, size=0)
        if key not in self.addresses and base >= 0 and mem.base != RIP:
            cls = disp_class(mem.disp, mem.size)
            if index < 0 and size == mem.size and cls <= 3:
                self._ldst_offset(op, kind, size, rt, base, cls)
                return
            if index >= 0 and mem.disp == 0 and mem.scale in (1, size) and not mem.seg:
                self(A.ldst_reg(op, kind, size, rt, base, index, mem.scale == size and size > 1))
                return
            if index >= 0 and size == mem.size and 1 <= cls <= 3 and not mem.seg:
                # base + index * scale in a register, the displacement in the load or store
                self._ldst_offset(op, kind, size, rt, self.addr(dataclasses.replace(mem, disp=0)), cls)
                return
        self(A.ldst(op, kind, size, rt, self.addr(mem)))

    def _ldst_offset(self, op: str, kind: str, size: int, rt: int, base: int, cls: int) -> None:
        """ldr/str [base, #disp], the "disp" slot patched in (disp_class 0 .. 3)."""
        if cls == 1:
            self.patches.append(Patch(len(self.words), "disp", size.bit_length() - 1, 3))
        elif cls >= 2:
            self.patches.append(Patch(len(self.words), "disp", 0, 4))
        word = A.ldst(op, kind, size, rt, base) if cls < 2 else A.ldst_any(op, kind, size, rt, base, -256)
        self(word & ~(0x1FF << 12) if cls >= 2 else word)

    def load(self, mem: Mem, size: int, rd: int | None = None, signed: bool = False) -> int:
        rd = self.tmp() if rd is None else rd
        self.ldst("ldrs64" if signed and size < 8 else "ldr", "r", size, rd, mem)
        return rd

    def store(self, mem: Mem, size: int, rs: int) -> None:
        self.ldst("str", "r", size, rs, mem)

    # ---- general operands -------------------------------------------------------------------

    def read(self, op: Operand, size: int, signed: bool = False) -> int:
        """A register whose low `size` bytes hold the operand, zero-extended (or sign-extended)."""
        if isinstance(op, Imm):
            return self.imm(op, 8 * size if size >= 4 else 32)
        if isinstance(op, Mem):
            return self.load(op, size, signed=signed)
        if (size == 8 or (size == 4 and not signed)) and not op.high:
            if size == 4:
                t = self.tmp()
                self(A.mov(32, t, op.num))
                return t
            return op.num
        t = self.tmp()
        self((A.sbfx if signed else A.ubfx)(64, t, op.num, 8 * op.high, 8 * size))
        return t

    def src(self, op: Operand, size: int) -> int:
        """A register whose low `size` bytes hold the operand, the bits above them anything: for
        operations of that width (a register operand is used as it is)."""
        if isinstance(op, Reg) and op.high:
            t = self.tmp()
            self(A.ubfx(64, t, op.num, 8, 8))
            return t
        if isinstance(op, Reg):
            return op.num
        return self.read(op, size)

    def write(self, op: Operand, size: int, rs: int) -> None:
        """Write the low `size` bytes of rs with x86 rules (32-bit writes zero-extend)."""
        if isinstance(op, Mem):
            self.store(op, size, rs)
            return
        assert isinstance(op, Reg)
        if op.high:
            self(A.bfi(64, op.num, rs, 8, 8))
        elif size == 8:
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
        v = self.vtmp()
        self.ldst("ldr", "v", size, v, op)
        return v

    def vmov(self, rd: int, rn: int) -> None:
        if rd != rn:
            self(A.vmov(rd, rn))

    # ---- the upper halves of the ymm registers (in the env block at ENV_REG, host.py) -------------

    def vhigh_load(self, reg: int, rd: int | None = None) -> int:
        """A vector register holding bits 255:128 of ymm `reg`."""
        rd = self.vtmp() if rd is None else rd
        self(A.ldst("ldr", "v", 16, rd, ENV_REG, 16 * reg))
        return rd

    def vhigh_store(self, reg: int, v: int) -> None:
        """Bits 255:128 of ymm `reg` = vector register v."""
        self(A.ldst("str", "v", 16, v, ENV_REG, 16 * reg))

    def vzero(self) -> int:
        """A scratch vector register of zeroes, made once per instruction."""
        if (0, "zero") not in self.vconsts:
            v = self.vconsts[(0, "zero")] = self.vtmp()
            self(A.movi("2d", v, 0))
        return self.vconsts[(0, "zero")]

    def vhigh_zero(self, reg: int) -> None:
        """Bits 255:128 of ymm `reg` = 0 (what a VEX.128 instruction does to its destination)."""
        self.vhigh_store(reg, self.vzero())

    # ---- the guest's status flags (host.py: NZCV holds SF ZF NOT-CF OF; PF and AF in PF_RES and
    # AF_SRC). A rule writes only the flags that are live after it, and leaves C = NOT CF.

    def live(self, mask: int) -> int:
        """The flags of `mask` that something reads before they are written again."""
        return mask & STATUS & ~self.dead

    def nzcv_live(self) -> bool:
        return bool(self.live(CF | ZF | SF | OF))

    def carry_invert(self) -> None:
        """C ^= 1 (an addition's carry becomes NOT CF, or NOT CF the carry an adc needs)."""
        t = self.tmp()
        self(A.mrs_nzcv(t), A.logic_imm("eor", 32, t, t, 1 << 29), A.msr_nzcv(t))
        self.release(t)

    def carry_save(self) -> int | None:
        """NZCV before an operation that clobbers C but keeps CF (inc, dec), when CF is live."""
        if not self.live(CF):
            return None
        t = self.tmp()
        self(A.mrs_nzcv(t))
        return t

    def carry_restore(self, saved: int | None) -> None:
        if saved is None:
            return
        u = self.tmp()
        self(A.mrs_nzcv(u), A.lsr_imm(32, saved, saved, 29), A.bfi(32, u, saved, 29, 1), A.msr_nzcv(u))
        self.release(saved, u)

    def flags_save(self) -> int | None:
        """NZCV before code that uses it as scratch (compares inside a rule), when a guest flag
        in it is live; flags_restore puts it back."""
        if not self.nzcv_live():
            return None
        t = self.tmp()
        self(A.mrs_nzcv(t))
        return t

    def flags_restore(self, saved: int | None) -> None:
        if saved is not None:
            self(A.msr_nzcv(saved))
            self.release(saved)

    def af_source(self, a: int, b: int) -> None:
        """AF of an addition or subtraction of a and b: AF_SRC = a ^ b (AF is bit 4 of AF_SRC ^
        PF_RES once PF_RES holds the result). Call it before the result overwrites a or b."""
        if self.live(AF):
            self(A.logic("eor", 64, AF_SRC, a, b))

    def pf_result(self, r: int, lsb: int = 0) -> None:
        """PF_RES = the result (in r, from bit lsb) when PF or AF is live."""
        if not self.live(PF | AF):
            return
        if lsb:
            self(A.lsr_imm(32, PF_RES, r, lsb))
        elif r != PF_RES:
            self(A.mov(64, PF_RES, r))

    def af_const(self, value: int) -> None:
        """AF = value (0: logic ops; 1: shifts on the CPUs this was checked on), PF_RES written."""
        if self.live(AF):
            if value:
                self(A.logic_imm("eor", 32, AF_SRC, PF_RES, 0x10))
            else:
                self(A.mov(64, AF_SRC, PF_RES))

    def pf_const(self, value: int) -> None:
        """PF = value (PF_RES = 0 has even parity: PF 1; 1: PF 0), for flags defined as constants."""
        if self.live(PF | AF):
            self(A.movw("movz", 32, PF_RES, 0 if value else 1))

    def nzcv_of(self, r: int, bits: int, cf: int | None = None, of: int | None = None, lsb: int = 0) -> None:
        """NZCV from a result: N and Z of the `bits`-wide value in r (at bit lsb; a narrower one is
        shifted to the top), C = NOT CF and V = OF from bit 0 of the registers cf and of (None: 0).
        Only what is live is made."""
        if not self.nzcv_live():
            return
        wide = 64 if bits == 64 else 32
        v = r
        if bits < 32 or lsb:
            v = self.tmp()
            self(A.lsl_imm(32, v, r, 32 - bits - lsb) if bits + lsb < 32 else A.lsr_imm(32, v, r, lsb))
        self(A.addsub_imm("subs", wide, A.ZR, v, 0))            # N Z of the value; C = 1, V = 0
        if (cf is None or not self.live(CF)) and (of is None or not self.live(OF)):
            return
        t = self.tmp()
        self(A.mrs_nzcv(t))
        if cf is not None and self.live(CF):
            self(A.logic("eor", 32, t, t, cf, "lsl", 29))
        if of is not None and self.live(OF):
            self(A.logic("orr", 32, t, t, of, "lsl", 28))
        self(A.msr_nzcv(t))
        self.release(t)

    def nzcv_cv(self, cf: int | None, of: int | None) -> None:
        """C = NOT CF and V = OF from bit 0 of cf and of (None: left as they are); N and Z kept.
        cf (a scratch register) is flipped in place."""
        cf = cf if cf is not None and self.live(CF) else None
        of = of if of is not None and self.live(OF) else None
        if cf is None and of is None:
            return
        t = self.tmp()
        self(A.mrs_nzcv(t))
        if cf is not None:
            self(A.logic_imm("eor", 32, cf, cf, 1), A.bfi(32, t, cf, 29, 1))
        if of is not None:
            self(A.bfi(32, t, of, 28, 1))
        self(A.msr_nzcv(t))
        self.release(t)

    def overflow_flags(self, o: int) -> None:
        """CF = OF = (o != 0), the other status flags as they come (mul, imul: SF ZF AF PF are
        undefined): C = NOT CF and V = OF through one compare and one conditional compare."""
        if self.nzcv_live():
            self(A.addsub_imm("subs", 64, A.ZR, o, 0), A.ccmp("ccmp", 64, A.ZR, 0, 0b0001, "eq", imm=True))

    def parity_odd(self) -> int:
        """A register whose bit 0 is 1 when PF_RES's low byte has an odd number of ones (PF = 0);
        flags untouched."""
        t = self.tmp()
        self(A.logic("eor", 32, t, PF_RES, PF_RES, "lsr", 4), A.logic("eor", 32, t, t, t, "lsr", 2),
             A.logic("eor", 32, t, t, t, "lsr", 1))
        return t

    def condition(self, cc: str) -> str:
        """The AArch64 condition that holds when x86 condition cc does (not p/np: parity_odd)."""
        return X86_COND[cc]


# x86 condition -> AArch64 condition, with NZCV = SF ZF NOT-CF OF
X86_COND = {"o": "vs", "no": "vc", "b": "lo", "ae": "hs", "e": "eq", "ne": "ne", "be": "ls", "a": "hi",
            "s": "mi", "ns": "pl", "l": "lt", "ge": "ge", "le": "le", "g": "gt"}
