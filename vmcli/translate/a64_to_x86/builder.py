"""The code builder AArch64 -> x86-64 rules write through (Ctx): guest registers in and out of the
env block (host.py), x86 integer and SSE instructions, NZCV in the host's flags.

NZCV lives in the x86 flags as SF = N, ZF = Z, OF = V and CF = NOT C (host.py): a subtraction's
flags are that already (x86's CF is a borrow), an addition's after `cmc`, a logic op's after `stc`;
every AArch64 condition is then one x86 condition code (COND_CC). An instruction's code comes in
up to two variants by its place in the block (its flag context, frontend.flag_contexts): a reader
(Ctx.flags) loads NZCV from the env slot unless the host flags hold it on entry (FLAGS_IN); a
writer (Ctx.nzcv_set) stores it there unless nothing can read it from there (NO_STORE). What an
instruction's code leaves in the host flags (kept, NZCV, or clobbered) is read off its bytes
(writes_flags), so no rule has to say it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from vmcli.translate.a64_to_x86.host import HOST_REGS, NZCV_OFF, SP_OFF, env, v_off, x_off
from vmcli.translate.isa.a64.decoder import Insn
from vmcli.translate.isa.x86.conditions import CC_CODE as CC
from vmcli.translate.isa.x86.decoder import Mem
from vmcli.translate.isa.x86.encoder import encode_modrm, encode_opreg
from vmcli.translate.isa.x86.registers import R12, R13, RAX, RCX, RDX

# an instruction's flag context in its block (frontend.flag_contexts; kernels.contexts)
FLAGS_IN = 1      # the host flags hold NZCV on entry: a reader needs no load
NO_STORE = 2      # nothing reads this writer's NZCV from the env slot: it stays in the host flags
# what an instruction does with NZCV (Code.nzcv; template flags of the numba path)
N_READS, N_WRITES = 4, 8
N_CANON, N_CLOBBER = 16, 32   # the host flags hold NZCV at its end / hold something else (neither: kept)

# scratch in allocation order (the host registers no guest register lives in, but r14 and r15):
# rax/rcx/rdx last, they are the ones the flags, div/mul and shifts by cl need
SCRATCH = (R12, R13, RCX, RDX, RAX)
assert not set(SCRATCH) & set(HOST_REGS.values())

# AArch64 condition -> x86 condition, with the flags loaded by Ctx.load_flags (CF = NOT C)
COND_CC = {"eq": "e", "ne": "ne", "hs": "ae", "lo": "b", "mi": "s", "pl": "ns", "vs": "o", "vc": "no",
           "hi": "a", "ls": "be", "ge": "ge", "lt": "l", "gt": "g", "le": "le"}

_ALU = {"add": 0, "or": 1, "adc": 2, "sbb": 3, "and": 4, "sub": 5, "xor": 6, "cmp": 7}
_SHIFT = {"rol": 0, "ror": 1, "shl": 4, "shr": 5, "sar": 7}


# the encodings mov_imm gives a 64-bit value (as a signed number): mov r32, imm32 (zero-extended);
# mov r64, imm32 (sign-extended); movabs r64, imm64
ADDR_U32, ADDR_S32, ADDR_64 = 0, 1, 2
# and those Ctx.put_addr gives it on its way to an env slot: mov qword [m], imm32 (sign-extended);
# else through a register: mov r32, imm32 (2^31 <= value < 2^32) or movabs
ADDR_M32, ADDR_MU32, ADDR_M64 = 3, 4, 5
ADDR_WIDE = (ADDR_64, ADDR_M64)     # the classes whose value is an imm64
# how an address in the code follows the instruction: pc + a constant (the next instruction, the
# instruction itself), or the address the instruction's own offset field names (isa pc_target:
# a branch target, adr/adrp's value), so that words differing only in that field share code
REL_PC, REL_TARGET = 0, 1


def addr_class(signed: int) -> int:
    if 0 <= signed < (1 << 32):
        return ADDR_U32
    return ADDR_S32 if -(1 << 31) <= signed < 0 else ADDR_64


def mem_addr_class(signed: int) -> int:
    if -(1 << 31) <= signed < (1 << 31):
        return ADDR_M32
    return ADDR_MU32 if 0 <= signed < (1 << 32) else ADDR_M64


def addr_fits(signed: int, kind: int) -> bool:
    """Whether `kind` is the encoding the builder gives the value (kernels._fits_kind in numba)."""
    return (mem_addr_class(signed) if kind >= ADDR_M32 else addr_class(signed)) == kind


@dataclass
class Code:
    """One instruction's x86 code: instruction chunks, the exit flag, the guest registers touched."""
    chunks: list[bytes]
    exit: bool
    regs: frozenset[str]
    # guest addresses in the code (see Ctx.mov_addr): (byte offset of the immediate, REL_PC or
    # REL_TARGET, value as a signed 64-bit number, ADDR_U32 / ADDR_S32 / ADDR_64 / ADDR_M*)
    addrs: tuple[tuple[int, int, int, int], ...] = ()
    nzcv: int = 0           # N_READS | N_WRITES | N_CANON or N_CLOBBER

    @property
    def bytes(self) -> bytes:
        return b"".join(self.chunks)


# ---- SSE (the NEON rules) --------------------------------------------------------------------------
# name -> (mandatory prefix, opcode bytes); operands are (xmm dst, xmm or memory src)
SSE: dict[str, tuple[bytes, bytes]] = {}
for _name, _op in {"paddb": "FC", "paddw": "FD", "paddd": "FE", "paddq": "D4", "psubb": "F8", "psubw": "F9",
                   "psubd": "FA", "psubq": "FB", "pmullw": "D5", "pcmpeqb": "74", "pcmpeqw": "75",
                   "pcmpeqd": "76", "pcmpgtb": "64", "pcmpgtw": "65", "pcmpgtd": "66", "pand": "DB",
                   "pandn": "DF", "por": "EB", "pxor": "EF", "paddsb": "EC", "paddsw": "ED", "paddusb": "DC",
                   "paddusw": "DD", "psubsb": "E8", "psubsw": "E9", "psubusb": "D8", "psubusw": "D9",
                   "pmaxsw": "EE", "pmaxub": "DE", "pminsw": "EA", "pminub": "DA", "punpcklbw": "60",
                   "punpcklwd": "61", "punpckldq": "62", "punpcklqdq": "6C", "punpckhbw": "68",
                   "punpckhwd": "69", "punpckhdq": "6A", "punpckhqdq": "6D", "pshufd": "70", "addpd": "58",
                   "mulpd": "59", "subpd": "5C", "divpd": "5E", "minpd": "5D", "maxpd": "5F", "sqrtpd": "51",
                   "cmppd": "C2", "psadbw": "F6", "pmuludq": "F4", "movd_in": "6E", "movd_out": "7E",
                   "movq_out": "D6"}.items():
    SSE[_name] = (b"\x66", b"\x0f" + bytes.fromhex(_op))
for _name, _op in {"pmulld": "40", "pcmpeqq": "29", "pmaxsb": "3C", "pmaxsd": "3D", "pmaxuw": "3E",
                   "pmaxud": "3F", "pminsb": "38", "pminsd": "39", "pminuw": "3A", "pminud": "3B",
                   "pshufb": "00", "pabsb": "1C", "pabsw": "1D", "pabsd": "1E", "pmovsxdq": "25",
                   "pmovzxdq": "35"}.items():
    SSE[_name] = (b"\x66", b"\x0f\x38" + bytes.fromhex(_op))
for _name, _op in {"addps": "58", "mulps": "59", "subps": "5C", "divps": "5E", "minps": "5D", "maxps": "5F",
                   "sqrtps": "51", "cmpps": "C2", "andps": "54", "andnps": "55", "orps": "56", "xorps": "57",
                   "cvtdq2ps": "5B", "cvtps2pd": "5A"}.items():
    SSE[_name] = (b"", b"\x0f" + bytes.fromhex(_op))
SSE["cvttps2dq"] = (b"\xf3", b"\x0f\x5b")
SSE["cvtpd2ps"] = (b"\x66", b"\x0f\x5a")
SSE["movdqu_load"] = (b"\xf3", b"\x0f\x6f")
SSE["movdqu_store"] = (b"\xf3", b"\x0f\x7f")
SSE["movq_in"] = (b"\xf3", b"\x0f\x7e")       # movq xmm, xmm/m64 (zeroes bits 127:64)
SSE["cvtsi2sd"] = (b"\xf2", b"\x0f\x2a")
SSE["cvttsd2si"] = (b"\xf2", b"\x0f\x2c")
SSE["ucomisd"] = (b"\x66", b"\x0f\x2e")
SSE["pextr"] = (b"\x66", b"\x0f\x3a")          # + 14 b / 15 w / 16 d,q (xmm in reg, r/m destination)
SSE["pinsr"] = (b"\x66", b"\x0f\x3a")          # + 20 b / 22 d,q ; pinsrw is 66 0F C4

XMM_SCRATCH = tuple(range(16))
# lane size (bits) -> the SSE instruction of each lane-wise operation
LANE_OPS = {
    "add": {8: "paddb", 16: "paddw", 32: "paddd", 64: "paddq"},
    "sub": {8: "psubb", 16: "psubw", 32: "psubd", 64: "psubq"},
    "mul": {16: "pmullw", 32: "pmulld"},
    "cmeq": {8: "pcmpeqb", 16: "pcmpeqw", 32: "pcmpeqd", 64: "pcmpeqq"},
    "cmgt": {8: "pcmpgtb", 16: "pcmpgtw", 32: "pcmpgtd"},
    "sqadd": {8: "paddsb", 16: "paddsw"}, "uqadd": {8: "paddusb", 16: "paddusw"},
    "sqsub": {8: "psubsb", 16: "psubsw"}, "uqsub": {8: "psubusb", 16: "psubusw"},
    "smax": {8: "pmaxsb", 16: "pmaxsw", 32: "pmaxsd"}, "smin": {8: "pminsb", 16: "pminsw", 32: "pminsd"},
    "umax": {8: "pmaxub", 16: "pmaxuw", 32: "pmaxud"}, "umin": {8: "pminub", 16: "pminuw", 32: "pminud"},
    "abs": {8: "pabsb", 16: "pabsw", 32: "pabsd"},
}
# SSE shifts by immediate: (opcode, /digit) by lane size
SHIFT_IMM = {"psll": {16: (0x71, 6), 32: (0x72, 6), 64: (0x73, 6)},
             "psrl": {16: (0x71, 2), 32: (0x72, 2), 64: (0x73, 2)},
             "psra": {16: (0x71, 4), 32: (0x72, 4)}}


# lane bits by the element letter of an arrangement ("4s": 32)
ESIZE = {"b": 8, "h": 16, "s": 32, "d": 64}


class Lanes(NamedTuple):
    """A vector arrangement: lane bits, lanes, Q (the whole 128-bit register)."""

    esize: int
    n: int
    q: bool


class VectorOp(NamedTuple):
    """The operands of a three-register vector rule, Vn and Vm loaded (Ctx.vector_op)."""

    fields: dict[str, int]
    op: str                  # the encoding's name without "_v" ("add" for add_v)
    esize: int
    lanes: int
    q: bool
    n: int                   # the scratch xmm holding Vn
    m: int                   # the scratch xmm holding Vm


@dataclass
class Ctx:
    """Builds the x86-64 code of one AArch64 instruction."""

    insn: Insn
    chunks: list[bytes] = field(default_factory=list)
    free: list[int] = field(default_factory=lambda: list(SCRATCH))
    exit: bool = False
    regs: set[str] = field(default_factory=set)
    vfree: list[int] = field(default_factory=lambda: list(XMM_SCRATCH))
    addr_marks: list[tuple[int, int, int, int]] = field(default_factory=list)  # (chunk, rel, value, class)
    context: int = 0               # FLAGS_IN | NO_STORE
    nzcv: int = 0                  # N_READS | N_WRITES
    canon_at: int = -1             # the chunk count when the host flags last came to hold NZCV

    def __call__(self, *chunks: bytes) -> None:
        self.chunks.extend(chunks)

    # ---- the instruction ----------------------------------------------------------------------

    @property
    def fields(self) -> dict[str, int]:
        return self.insn.fields

    @property
    def sf(self) -> bool:
        """64-bit (X register) form."""
        return self.insn.sf

    @property
    def name(self) -> str:
        """The encoding's name (the rule key)."""
        return self.insn.enc.name

    @property
    def pc(self) -> int:
        return self.insn.address

    def lanes(self) -> Lanes:
        """The arrangement of a vector instruction's variant ("4s": 32-bit lanes, 4 of them, Q)."""
        label = self.insn.variant.label
        esize = ESIZE[label[-1]]
        n = int(label[:-1])
        return Lanes(esize, n, n * esize == 128)

    def vector_op(self) -> VectorOp:
        """The preamble of a three-register vector rule: its fields, op, arrangement, and Vn and
        Vm loaded into scratch xmm registers (in that order)."""
        f = self.fields
        esize, n, q = self.lanes()
        return VectorOp(f, self.name[:-2], esize, n, q, self.vget(f["Rn"]), self.vget(f["Rm"]))

    def code(self) -> Code:
        ends = [0]
        for ch in self.chunks:
            ends.append(ends[-1] + len(ch))
        addrs = tuple((ends[i + 1] - (8 if kind in ADDR_WIDE else 4), rel, value, kind)
                      for i, rel, value, kind in self.addr_marks)
        after = any(map(writes_flags, self.chunks[max(self.canon_at, 0):]))
        nzcv = self.nzcv | (N_CLOBBER if after else N_CANON if self.canon_at >= 0 else 0)
        return Code(self.chunks, self.exit, frozenset(self.regs), addrs, nzcv)

    # ---- registers ------------------------------------------------------------------------------

    def tmp(self) -> int:
        return self.free.pop(0)

    def take(self, *regs: int) -> None:
        """Reserve specific host registers (mul/div use rax and rdx, variable shifts rcx)."""
        for r in regs:
            self.free.remove(r)

    def release(self, *regs: int) -> None:
        self.free = sorted(set(self.free) | set(regs), key=SCRATCH.index)

    # ---- guest state ----------------------------------------------------------------------------

    def _name(self, n: int) -> str:
        return "sp" if n == 31 else f"x{n}"

    def host(self, n: int, sp: bool = False) -> int | None:
        """The host register guest register n lives in (31: sp when `sp`, else xzr: None), or None."""
        if n == 31 and not sp:
            return None
        return HOST_REGS.get(self._name(n))

    def operand(self, n: int, sf: bool, sp: bool = False) -> int | Mem | None:
        """Guest X/W register n as an x86 source operand: its host register (a W read uses its
        low half: 32-bit instructions only), its env slot (4 bytes for a W read), or None for xzr."""
        if n == 31 and not sp:
            return None
        name = self._name(n)
        self.regs.add(name)
        h = HOST_REGS.get(name)
        if h is not None:
            return h
        return env(SP_OFF if n == 31 else x_off(n), 8 if sf else 4)

    def get(self, n: int, sf: bool, sp: bool = False, into: int | None = None) -> int:
        """A scratch register (or `into`) holding guest X/W register n (31: xzr, or sp when `sp`),
        the rule's to change; a W value is zero-extended. Uses mov only, so the x86 flags survive."""
        r = self.tmp() if into is None else into
        self.move(r, self.operand(n, sf, sp), sf)
        return r

    def reg(self, n: int, sf: bool, sp: bool = False) -> int:
        """A register holding guest X/W register n that the rule only reads: its host register (a
        W value's upper half is not cleared there: 32-bit instructions only), or a scratch loaded."""
        src = self.operand(n, sf, sp)
        return src if isinstance(src, int) else self.get(n, sf, sp)

    def move(self, r: int, src: int | Mem | None, sf: bool) -> None:
        """r = an operand (None: 0), zero-extended from 32 bits unless sf; flags kept."""
        if src is None:
            self.mov_imm(r, 0)
        elif isinstance(src, Mem):
            self.load(r, src, 8 if sf else 4)
        elif src != r or not sf:
            self.mov(sf, r, src)

    def dest(self, n: int, sp: bool = False, avoid: tuple[int | Mem | None, ...] = ()) -> int:
        """Where a rule computes guest register n's new value: its host register, unless that is one
        of `avoid` (operands still to be read after the first write), else a scratch; then `put`."""
        h = self.host(n, sp)
        return h if h is not None and h not in avoid else self.tmp()

    def put(self, n: int, r: int, sf: bool, sp: bool = False, zx: bool = False) -> None:
        """Write host register r to guest X/W register n (a W write zero-extends: r is already when
        `zx`, the result of a 32-bit instruction)."""
        if n == 31 and not sp:
            return
        name = self._name(n)
        self.regs.add(name)
        h = HOST_REGS.get(name)
        if h is not None:
            if h != r or not (sf or zx):
                self.mov(sf, h, r)
            return
        if not (sf or zx):
            self.mov(False, r, r)
        self.store(env(SP_OFF if n == 31 else x_off(n)), r, 8)

    def put_imm(self, n: int, value: int, sf: bool, sp: bool = False) -> None:
        """Guest X/W register n = a constant."""
        value &= (1 << 64) - 1 if sf else 0xFFFFFFFF
        h = self.host(n, sp)
        if h is not None or not (value < 1 << 31 or value >= (1 << 64) - (1 << 31)):
            r = self.tmp() if h is None else h
            self.mov_imm(r, value)
            self.put(n, r, True, sp)
            return
        if n == 31 and not sp:
            return
        self.regs.add(self._name(n))
        self.store_imm(env(SP_OFF if n == 31 else x_off(n), 8), value, 8)

    def writeback(self, n: int, disp: int) -> None:
        """Guest register n (an address base: 31 is sp) += disp, flags kept where it lives in a host
        register (lea)."""
        if not disp:
            return
        h = self.host(n, True)
        if h is not None:
            self.regs.add(self._name(n))
            self.lea(True, h, Mem(h, -1, 1, disp, 0))
        else:
            dst = self.operand(n, True, True)
            assert isinstance(dst, Mem)
            self.alu_mem_imm("add", True, dst, disp)

    # ---- integer instructions (w: 64-bit operand size) ----------------------------------------

    def alu(self, op: str, w: bool, dst: int, src: int | Mem) -> None:
        """dst op= src (op in add/or/adc/sbb/and/sub/xor/cmp)."""
        if isinstance(src, Mem):
            self(encode_modrm(bytes([8 * _ALU[op] + 3]), dst, src, w))
        else:
            self(encode_modrm(bytes([8 * _ALU[op] + 1]), src, dst, w))

    def alu_mem_imm(self, op: str, w: bool, dst: Mem, imm: int) -> None:
        """[dst] op= imm (sign-extended imm8/imm32)."""
        assert -(1 << 31) <= imm < (1 << 31)
        if -128 <= imm < 128:
            self(encode_modrm(b"\x83", _ALU[op], dst, w, imm=(imm & 0xFF).to_bytes(1, "little")))
        else:
            self(encode_modrm(b"\x81", _ALU[op], dst, w, imm=(imm & 0xFFFFFFFF).to_bytes(4, "little")))

    def alu_rm(self, op: str, w: bool, dst: int | Mem, src: int | Mem | None) -> None:
        """dst op= src where one of them may be memory (None: an immediate 0)."""
        if src is None:
            if isinstance(dst, Mem):
                self.alu_mem_imm(op, w, dst, 0)
            else:
                self.alu_imm(op, w, dst, 0)
        elif isinstance(dst, Mem):
            assert isinstance(src, int)
            self(encode_modrm(bytes([8 * _ALU[op] + 1]), src, dst, w))
        else:
            self.alu(op, w, dst, src)

    def store_imm(self, mem: Mem, value: int, size: int) -> None:
        """size bytes of memory = value (8 bytes: a sign-extended imm32)."""
        if size == 1:
            self(encode_modrm(b"\xc6", 0, mem, imm=bytes([value & 0xFF])))
        elif size == 2:
            self(encode_modrm(b"\xc7", 0, mem, prefix=b"\x66", imm=(value & 0xFFFF).to_bytes(2, "little")))
        else:
            assert size == 4 or value < 1 << 31 or value >= (1 << 64) - (1 << 31)
            self(encode_modrm(b"\xc7", 0, mem, size == 8, imm=(value & 0xFFFFFFFF).to_bytes(4, "little")))

    def alu_imm(self, op: str, w: bool, dst: int, imm: int) -> None:
        assert -(1 << 31) <= imm < (1 << 31)
        if -128 <= imm < 128:
            self(encode_modrm(b"\x83", _ALU[op], dst, w, imm=(imm & 0xFF).to_bytes(1, "little")))
        else:
            self(encode_modrm(b"\x81", _ALU[op], dst, w, imm=(imm & 0xFFFFFFFF).to_bytes(4, "little")))

    def test(self, w: bool, a: int, b: int) -> None:
        self(encode_modrm(b"\x85", b, a, w))

    def shift(self, op: str, w: bool, r: int, amount: int) -> None:
        if amount:
            self(encode_modrm(b"\xc1", _SHIFT[op], r, w, imm=bytes([amount])))

    def shift_cl(self, op: str, w: bool, r: int) -> None:
        self(encode_modrm(b"\xd3", _SHIFT[op], r, w))

    def shrd(self, w: bool, dst: int, src: int, amount: int) -> None:
        """dst = (src:dst) >> amount."""
        self(encode_modrm(b"\x0f\xac", src, dst, w, imm=bytes([amount])))

    def mov(self, w: bool, dst: int, src: int) -> None:
        self(encode_modrm(b"\x89", src, dst, w))

    def load(self, dst: int, mem: Mem, size: int, signed: bool = False, w: bool = True) -> None:
        """dst = memory, zero- (or sign-) extended to 64 bits (to 32 when signed and not w)."""
        if size == 8:
            self(encode_modrm(b"\x8b", dst, mem, True))
        elif size == 4:
            self(encode_modrm(b"\x63", dst, mem, True) if signed and w else encode_modrm(b"\x8b", dst, mem))
        else:
            op = {(1, False): b"\x0f\xb6", (2, False): b"\x0f\xb7", (1, True): b"\x0f\xbe",
                  (2, True): b"\x0f\xbf"}[size, signed]
            self(encode_modrm(op, dst, mem, signed and w))

    def store(self, mem: Mem, src: int, size: int) -> None:
        if size == 1:
            self(encode_modrm(b"\x88", src, mem, byte_reg=True))
        else:
            self(encode_modrm(b"\x89", src, mem, size == 8, prefix=b"\x66" if size == 2 else b""))

    def extend(self, dst: int, src: int, size: int, signed: bool, w: bool = True) -> None:
        """dst = low `size` bytes of src, zero- or sign-extended (to 64 bits, or 32 when not w)."""
        if size == 8:
            if dst != src:
                self.mov(True, dst, src)
        elif size == 4:
            if signed and w:
                self(encode_modrm(b"\x63", dst, src, True))
            else:
                self.mov(False, dst, src)
        else:
            op = {(1, False): b"\x0f\xb6", (2, False): b"\x0f\xb7", (1, True): b"\x0f\xbe",
                  (2, True): b"\x0f\xbf"}[size, signed]
            self(encode_modrm(op, dst, src, signed and w, byte_rm=size == 1))

    def mov_imm(self, r: int, value: int, w: bool = True) -> None:
        """r = value (a 64-bit constant; mov only, flags survive)."""
        value &= (1 << 64) - 1 if w else 0xFFFFFFFF
        if value < (1 << 32):
            self(encode_opreg(b"\xb8", r, imm=value.to_bytes(4, "little")))
        elif value >= (1 << 64) - (1 << 31):
            self(encode_modrm(b"\xc7", 0, r, True, imm=(value & 0xFFFFFFFF).to_bytes(4, "little")))
        else:
            self(encode_opreg(b"\xb8", r, True, imm=value.to_bytes(8, "little")))

    def mov_addr(self, r: int, value: int, rel: int = REL_PC) -> None:
        """r = a guest address made from the instruction's own address: pc + a constant (REL_PC), or
        the address its offset field names (REL_TARGET). mov_imm picks one of three encodings by
        the value's class (addr_class), each ending in the value (imm32 or imm64): the mark lets
        fast.py reuse the code for any address (and offset) whose values fall in the same classes
        by patching them in."""
        value &= (1 << 64) - 1
        self.mov_imm(r, value)
        signed = value - (1 << 64) if value >> 63 else value
        self.addr_marks.append((len(self.chunks) - 1, rel, signed, addr_class(signed)))

    def put_addr(self, n: int, value: int, rel: int = REL_PC) -> None:
        """Guest register n = a guest address as mov_addr makes it: into its host register, or into
        its env slot as a sign-extended imm32 where it fits (else through a scratch register)."""
        value &= (1 << 64) - 1
        signed = value - (1 << 64) if value >> 63 else value
        h = self.host(n)
        if h is not None:
            self.mov_addr(h, value, rel)
            self.put(n, h, True)
            return
        kind = mem_addr_class(signed)
        self.regs.add(self._name(n))
        if kind == ADDR_M32:
            self.store_imm(env(x_off(n), 8), value, 8)
            self.addr_marks.append((len(self.chunks) - 1, rel, signed, kind))
            return
        r = self.tmp()
        self.mov_imm(r, value)
        self.addr_marks.append((len(self.chunks) - 1, rel, signed, kind))
        self.store(env(x_off(n)), r, 8)

    def lea(self, w: bool, dst: int, mem: Mem) -> None:
        self(encode_modrm(b"\x8d", dst, mem, w))

    def unary(self, op: str, w: bool, r: int) -> None:
        """not/neg/mul/imul/div/idiv r (F7 group)."""
        digit = {"not": 2, "neg": 3, "mul": 4, "imul": 5, "div": 6, "idiv": 7}[op]
        self(encode_modrm(b"\xf7", digit, r, w))

    def imul(self, w: bool, dst: int, src: int) -> None:
        self(encode_modrm(b"\x0f\xaf", dst, src, w))

    def cmov(self, cc: str, w: bool, dst: int, src: int | Mem) -> None:
        self(encode_modrm(bytes([0x0F, 0x40 + CC[cc]]), dst, src, w))

    def setcc(self, cc: str, r: int) -> None:
        self(encode_modrm(bytes([0x0F, 0x90 + CC[cc]]), 0, r, byte_rm=True))

    def bt(self, w: bool, r: int | Mem, bit: int) -> None:
        self(encode_modrm(b"\x0f\xba", 4, r, w, imm=bytes([bit])))

    def bsr(self, w: bool, dst: int, src: int) -> None:
        self(encode_modrm(b"\x0f\xbd", dst, src, w))

    def bswap(self, w: bool, r: int) -> None:
        self(encode_opreg(b"\x0f\xc8", r, w))

    def sign_extend_acc(self, w: bool) -> None:
        """cqo / cdq: rdx:rax = sign-extended rax."""
        self(b"\x48\x99" if w else b"\x99")

    def cmc(self) -> None:
        self(b"\xf5")

    # ---- flags ----------------------------------------------------------------------------------

    def nzcv_value(self, sub: bool) -> int:
        """A register holding NZCV (bits 31:28) from the x86 flags of the last add/sub/logic op
        (sub: C = NOT CF, as in the host flags' NZCV)."""
        n, z, c, v = self.tmp(), self.tmp(), self.tmp(), self.tmp()
        self.setcc("s", n)
        self.setcc("e", z)
        self.setcc("ae" if sub else "b", c)
        self.setcc("o", v)
        for r in (n, z, c, v):
            self.extend(r, r, 1, False, w=False)
        for r in (z, c, v):
            self.lea(False, n, Mem(r, n, 2, 0, 0))
        self.shift("shl", False, n, 28)
        self.release(z, c, v)
        return n

    def flags(self) -> None:
        """A reader: the host flags hold NZCV from here (loaded from the env slot unless they hold
        it on entry: SF ZF CF from lahf's byte by sahf, OF = V by `add al, 0x7f`)."""
        self.regs.add("nzcv")
        self.nzcv |= N_READS
        if not self.context & FLAGS_IN:
            own = self._rax()
            self.load(RAX, env(NZCV_OFF, 2), 2)
            self(b"\x04\x7f", b"\x9e")               # add al, 0x7f; sahf
            if own:
                self.release(RAX)
        self.canon_at = len(self.chunks)

    def _rax(self) -> bool:
        """rax for the flags' code: taken here (True) or reserved for it by the rule (False)."""
        if RAX in self.free:
            self.take(RAX)
            return True
        return False

    def nzcv_set(self, kind: str) -> None:
        """A writer, after the x86 add/sub/logic op whose flags are the result's: NZCV into the
        host flags' form (kind "sub": as it is; "add": C = CF, so cmc; "logic": C = V = 0, x86
        cleared CF and OF, so stc), and into the env slot where needed."""
        if kind == "add":
            self.cmc()
        elif kind == "logic":
            self(b"\xf9")                                # stc
        self.nzcv_written()

    def nzcv_written(self) -> None:
        """The host flags hold the new NZCV: store it to the env slot unless NO_STORE."""
        self.regs.add("nzcv")
        self.nzcv |= N_WRITES
        if not self.context & NO_STORE:
            own = self._rax()
            self(b"\x9f")                                # lahf
            self.setcc("o", RAX)
            self.store(env(NZCV_OFF), RAX, 2)
            if own:
                self.release(RAX)
        self.canon_at = len(self.chunks)

    def nzcv_from_word(self) -> None:
        """A writer whose new NZCV is in ax in the env slot's form (taken by the caller): stored
        where needed, then loaded into the host flags."""
        self.regs.add("nzcv")
        self.nzcv |= N_WRITES
        if not self.context & NO_STORE:
            self.store(env(NZCV_OFF), RAX, 2)
        self(b"\x04\x7f", b"\x9e")                   # add al, 0x7f; sahf
        self.canon_at = len(self.chunks)

    def if_else(self, cc: str, then: Callable[[], None], otherwise: Callable[[], None]) -> None:
        """`then` where x86 condition cc holds, else `otherwise`: jcc over `otherwise` and a jmp
        over `then` (short jumps: the code stays position-independent)."""
        m0 = self.mark()
        otherwise()
        m1 = self.mark()
        then()
        self.skip_from(m1, None)                  # otherwise: jmp past `then`
        self.skip_from(m0, cc, upto=m1 + 1)       # cc: jcc past `otherwise` and that jmp

    # ---- local branches --------------------------------------------------------------------------

    def mark(self) -> int:
        return len(self.chunks)

    def skip_from(self, mark: int, cc: str | None, upto: int | None = None) -> None:
        """Jump over the code emitted since `mark` (up to chunk `upto`) when x86 condition cc holds
        (always when None): a forward jcc/jmp, rel8 where it reaches, so the code stays
        position-independent."""
        length = sum(len(ch) for ch in self.chunks[mark:upto])
        if length < 128:
            jump = bytes([0xEB if cc is None else 0x70 + CC[cc], length])
        else:
            jump = (b"\xe9" if cc is None else bytes([0x0F, 0x80 + CC[cc]])) + length.to_bytes(4, "little")
        self.chunks.insert(mark, jump)
        self.addr_marks = [(i + (i >= mark), rel, value, kind) for i, rel, value, kind in self.addr_marks]
        if self.canon_at >= mark:
            self.canon_at += 1

    # ---- vectors ---------------------------------------------------------------------------------

    def vtmp(self) -> int:
        return self.vfree.pop(0)

    def vrelease(self, *regs: int) -> None:
        self.vfree = sorted(set(self.vfree) | set(regs))

    def sse(self, name: str, dst: int, src: int | Mem, imm: int | None = None, w: bool = False) -> None:
        prefix, op = SSE[name]
        self(encode_modrm(op, dst, src, w, prefix=prefix, imm=b"" if imm is None else bytes([imm])))

    def vget(self, n: int, into: int | None = None) -> int:
        x = self.vtmp() if into is None else into
        self.regs.add(f"v{n}")
        self.sse("movdqu_load", x, env(v_off(n), 16))
        return x

    def vput(self, n: int, x: int, q: bool = True) -> None:
        """Write xmm x to guest Vn; a 64-bit (Q = 0) result clears bits 127:64 as AArch64 does."""
        self.regs.add(f"v{n}")
        if not q:
            self.sse("movq_in", x, x)
        self.sse("movdqu_store", x, env(v_off(n), 16))

    def vcopy(self, dst: int, src: int) -> None:
        if dst != src:
            self.sse("movdqu_load", dst, src)

    def vconst(self, value: int, into: int | None = None) -> int:
        """xmm = a 128-bit constant (built through a general register, mov only)."""
        x = self.vtmp() if into is None else into
        lo, hi = value & ((1 << 64) - 1), value >> 64
        r = self.tmp()
        self.mov_imm(r, lo)
        self.sse("movd_in", x, r, w=True)
        if hi:
            t = self.vtmp()
            self.mov_imm(r, hi)
            self.sse("movd_in", t, r, w=True)
            self.sse("punpcklqdq", x, t)
            self.vrelease(t)
        self.release(r)
        return x

    def vshift(self, kind: str, bits: int, x: int, amount: int) -> None:
        opcode, digit = SHIFT_IMM[kind][bits]
        self(encode_modrm(bytes([0x0F, opcode]), digit, x, prefix=b"\x66", imm=bytes([amount])))

    def vbytes_shift(self, right: bool, x: int, amount: int) -> None:
        """psrldq / pslldq: shift the whole register by bytes."""
        self(encode_modrm(b"\x0f\x73", 3 if right else 7, x, prefix=b"\x66", imm=bytes([amount])))

    def vselect(self, mask: int, x: int, y: int) -> None:
        """y = mask ? x : y, lane-wise on an all-ones/all-zeros mask (x and mask are kept)."""
        t = self.vtmp()
        self.vcopy(t, x)
        self.sse("pxor", t, y)
        self.sse("pand", t, mask)
        self.sse("pxor", y, t)
        self.vrelease(t)


# ---- which x86 instructions write the arithmetic flags ------------------------------------------------
# (of what the builder emits; tests/translate/a64_to_x86/test_emitted_x86.py holds it to capstone's)
_PREFIXES = frozenset((0x66, 0xF2, 0xF3, 0xF0, 0x2E, 0x3E, 0x26, 0x36, 0x64, 0x65))
_WRITES_0F = frozenset((0x2E, 0x2F, 0xA3, 0xA4, 0xA5, 0xAB, 0xAC, 0xAD, 0xAF, 0xB0, 0xB1, 0xB3, 0xB8, 0xBA, 0xBB,
                        0xBC, 0xBD, 0xC0, 0xC1, 0xC7))
_WRITES_1 = frozenset((0x04, 0x05, 0x69, 0x6B, 0x80, 0x81, 0x83, 0x84, 0x85, 0xA8, 0xA9, 0x9D, 0x9E, 0xF5, 0xF8,
                       0xF9, 0xC0, 0xC1, 0xD0, 0xD1, 0xD2, 0xD3))


def writes_flags(chunk: bytes) -> bool:
    """Whether the x86 instruction `chunk` may write any of CF PF AF ZF SF OF."""
    i = 0
    while chunk[i] in _PREFIXES:
        i += 1
    if 0x40 <= chunk[i] <= 0x4F:              # REX
        i += 1
    op = chunk[i]
    if op == 0x0F:
        op2 = chunk[i + 1]
        if op2 == 0x38:
            return chunk[i + 2] in (0x17, 0xF6)              # ptest, adcx/adox
        if op2 == 0x3A:
            return 0x60 <= chunk[i + 2] <= 0x63              # pcmp[ei]str[im]
        return op2 in _WRITES_0F
    if op < 0x40:
        return (op & 7) < 6                   # the ALU ops' six forms (the rest are prefixes)
    if op in (0xF6, 0xF7, 0xFE, 0xFF):
        reg = (chunk[i + 1] >> 3) & 7
        return reg != 2 if op in (0xF6, 0xF7) else reg < 2   # not / inc, dec
    return op in _WRITES_1
