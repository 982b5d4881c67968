"""The AArch64 side of x86-64 -> AArch64 translation: host state layout and the code builder rules use.

Host state (all guest state lives in registers, env_reg unused, guest memory identity-mapped):
  rax..r15 -> x0..x15, rflags -> x20 (x86 bit layout; only status bits are written),
  xmm0..xmm15 -> v0..v15. Scratch: x16, x17, x19, x21..x30 and v16..v31.
A block that ends in a branch leaves the guest address to continue at in x18 (EXIT_REG).

A template is the code of one instruction shape: its words plus patches that fill 16-bit
immediate fields of movz/movk from the instruction's data values (large immediates,
displacements, RIP-relative addresses), so one template serves every instruction that differs
only in those values (cache level 2).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from vmcli.translate import encode_a64 as A
from vmcli.translate.decode_x86 import RIP, Imm, Insn, Mem, Operand, Reg

FLAGS = 20
EXIT_REG = 18
SCRATCH = (16, 17, 19, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30)
VSCRATCH = tuple(range(16, 32))

# x86 status flags
CF, PF, AF, ZF, SF, OF = 0x1, 0x4, 0x10, 0x40, 0x80, 0x800
STATUS = CF | PF | AF | ZF | SF | OF

SMALL = 4096  # data values below this magnitude are encoded inline (and are part of the key)


def is_small(value: int) -> bool:
    return -SMALL < value < SMALL


@dataclass
class Patch:
    word: int     # index of the movz/movk word
    slot: str     # "imm", "disp" or "rip"
    offset: int   # bit offset of the 16-bit chunk in the value


@dataclass
class Template:
    words: list[int]
    patches: list[Patch]
    exit: bool = False  # the instruction ends the block (branch)


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
    return values


def template_key(insn: Insn) -> tuple:
    """The shape of an instruction: everything its code depends on except data values."""
    shape: list[object] = [insn.spec.id, insn.opsize]
    for op in insn.operands:
        if isinstance(op, Reg):
            shape.append((op.kind, op.num, op.size))
        elif isinstance(op, Mem):
            disp = op.disp if (op.base != RIP and is_small(op.disp)) else None
            shape.append(("m", op.base, op.index, op.scale, op.size, disp))
        else:
            structural = op.size <= 1 or is_small(op.value)
            shape.append(("i", op.value if structural else None, op.size))
    return tuple(shape)


def apply(template: Template, values: dict[str, int]) -> list[int]:
    words = list(template.words)
    for p in template.patches:
        words[p.word] |= ((values[p.slot] >> p.offset) & 0xFFFF) << 5
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
    addresses: dict[Mem, int] = field(default_factory=dict)
    vconsts: dict[tuple[int, str], int] = field(default_factory=dict)

    def __call__(self, *words: int) -> None:
        self.words.extend(words)

    def tmp(self) -> int:
        return self.free.pop(0)

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

    def imm(self, op: Operand, bits: int, rd: int | None = None) -> int:
        """A register holding immediate `op` truncated to `bits` (sign-extended as x86 does)."""
        assert isinstance(op, Imm)
        rd = self.tmp() if rd is None else rd
        if op.size <= 1 or is_small(op.value) or op.size == 0:
            self.const(rd, op.value, max(bits, 32))
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
                op = "add" if mem.disp >= 0 else "sub"
                self(A.addsub_imm(op, 64, t, mem.base, abs(mem.disp)))
                return t
            self.slot_const(t, "disp", 32, True)
            self(A.addsub("add", 64, t, t, mem.base))
            return t
        else:
            if is_small(mem.disp):
                self.const(t, mem.disp)
            else:
                self.slot_const(t, "disp", 32, True)
            return t
        if mem.disp:
            if is_small(mem.disp):
                op = "add" if mem.disp >= 0 else "sub"
                self(A.addsub_imm(op, 64, t, t, abs(mem.disp)))
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
        if not mask & (CF | ZF | SF | OF):
            return
        n = self.tmp()
        self(A.mrs_nzcv(n))
        if mask & CF:
            if borrow:
                self(A.logic_imm("eor", 32, n, n, 1 << 29))
            self(A.bfxil(32, FLAGS, n, 29, 1))
        if mask & (ZF | SF) == ZF | SF:
            t = self.tmp()
            self(A.lsr_imm(32, t, n, 30), A.bfi(32, FLAGS, t, 6, 2))
        elif mask & (ZF | SF):
            raise AssertionError("ZF and SF are always written together")
        if mask & OF:
            t = self.tmp()
            self(A.lsr_imm(32, t, n, 28), A.bfi(32, FLAGS, t, 11, 1))

    def parity(self, result: int, lsb: int = 0) -> None:
        """PF = even number of ones in bits [lsb, lsb+8) of result."""
        t = self.tmp()
        if lsb:
            self(A.lsr_imm(32, t, result, lsb))
            self(A.logic("eor", 32, t, t, t, "lsr", 4))
        else:
            self(A.logic("eor", 32, t, result, result, "lsr", 4))
        self(A.logic("eor", 32, t, t, t, "lsr", 2), A.logic("eor", 32, t, t, t, "lsr", 1),
             A.logic("orn", 32, t, A.ZR, t), A.bfi(32, FLAGS, t, 2, 1))

    def aux_carry(self, a: int, b: int, r: int, lsb: int = 0) -> None:
        """AF = carry/borrow out of bit 3: bit 4 of a ^ b ^ r (scaled by lsb)."""
        t = self.tmp()
        self(A.logic("eor", 32, t, a, b), A.logic("eor", 32, t, t, r), A.lsr_imm(32, t, t, 4 + lsb),
             A.bfi(32, FLAGS, t, 4, 1))

    def set_flags_const(self, mask: int, value: int) -> None:
        """Write constant bits (CF/OF cleared by logic ops, etc.)."""
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
