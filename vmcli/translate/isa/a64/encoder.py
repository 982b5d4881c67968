"""AArch64 machine-code encoder for the instructions the x86-64 -> AArch64 rules emit.

Each function returns one 32-bit instruction word. Field layouts follow the Arm ARM (DDI 0487),
section C4 "A64 Instruction Set Encoding"; tests/translate/x86_to_a64/test_emitted_words.py
round-trips every word the rules emit through capstone and keystone. Registers are plain numbers
0..31 (31 = xzr/wzr where the encoding says so). Vector arrangements are named as in assembly:
"8b", "16b", "4h", "8h", "2s", "4s", "1d", "2d".
"""

from __future__ import annotations

from vmcli.translate.isa.a64.conditions import COND_CODE as COND
from vmcli.translate.isa.a64.registers import ZR

# arrangement -> (Q, size)
ARR = {"8b": (0, 0), "16b": (1, 0), "4h": (0, 1), "8h": (1, 1), "2s": (0, 2), "4s": (1, 2),
       "1d": (0, 3), "2d": (1, 3)}


def _sf(bits: int) -> int:
    return (1 << 31) if bits == 64 else 0


def _rrr(base: int, rd: int, rn: int, rm: int) -> int:
    return base | (rm << 16) | (rn << 5) | rd


# ---- integer data processing ----------------------------------------------------------------

_ADDSUB = {"add": 0x0B000000, "adds": 0x2B000000, "sub": 0x4B000000, "subs": 0x6B000000}
_SHIFT = {"lsl": 0, "lsr": 1, "asr": 2, "ror": 3}


def addsub(op: str, bits: int, rd: int, rn: int, rm: int, shift: str = "lsl", amount: int = 0) -> int:
    """add/adds/sub/subs Rd, Rn, Rm{, shift #amount}."""
    return _sf(bits) | _ADDSUB[op] | (_SHIFT[shift] << 22) | (amount << 10) | _rrr(0, rd, rn, rm)


_ADDSUB_IMM = {"add": 0x11000000, "adds": 0x31000000, "sub": 0x51000000, "subs": 0x71000000}


def addsub_imm(op: str, bits: int, rd: int, rn: int, imm12: int, lsl12: bool = False) -> int:
    assert 0 <= imm12 < 4096
    return _sf(bits) | _ADDSUB_IMM[op] | (int(lsl12) << 22) | (imm12 << 10) | (rn << 5) | rd


_LOGIC = {"and": 0x0A000000, "bic": 0x0A200000, "orr": 0x2A000000, "orn": 0x2A200000,
          "eor": 0x4A000000, "eon": 0x4A200000, "ands": 0x6A000000, "bics": 0x6A200000}


def logic(op: str, bits: int, rd: int, rn: int, rm: int, shift: str = "lsl", amount: int = 0) -> int:
    return _sf(bits) | _LOGIC[op] | (_SHIFT[shift] << 22) | (amount << 10) | _rrr(0, rd, rn, rm)


def mov(bits: int, rd: int, rm: int) -> int:
    """mov Rd, Rm (orr Rd, zr, Rm); a 32-bit mov zero-extends into the X register."""
    return logic("orr", bits, rd, ZR, rm)


_LOGIC_IMM = {"and": 0x12000000, "orr": 0x32000000, "eor": 0x52000000, "ands": 0x72000000}


def bitmask_imm(value: int, bits: int) -> tuple[int, int, int] | None:
    """(N, immr, imms) encoding a logical immediate, or None when `value` is not encodable."""
    value &= (1 << bits) - 1
    if value in (0, (1 << bits) - 1):
        return None
    size = bits
    while size > 2:
        half = size // 2
        mask = (1 << half) - 1
        if (value & mask) != ((value >> half) & mask):
            break
        size = half
    elem = value & ((1 << size) - 1)
    ones = bin(elem).count("1")
    # rotate right until the run of ones sits at bit 0
    for rot in range(size):
        rotated = ((elem >> rot) | (elem << (size - rot))) & ((1 << size) - 1)
        if rotated == (1 << ones) - 1:
            immr = (size - rot) % size
            n = 1 if size == 64 else 0
            imms = (((-size << 1) & 0x3F) | (ones - 1)) if size < 64 else ones - 1
            return n, immr, imms & 0x3F
    return None


def logic_imm(op: str, bits: int, rd: int, rn: int, value: int) -> int:
    enc = bitmask_imm(value, bits)
    assert enc is not None, hex(value)
    n, immr, imms = enc
    return _sf(bits) | _LOGIC_IMM[op] | (n << 22) | (immr << 16) | (imms << 10) | (rn << 5) | rd


_MOVW = {"movn": 0x12800000, "movz": 0x52800000, "movk": 0x72800000}


def movw(op: str, bits: int, rd: int, imm16: int, hw: int = 0) -> int:
    return _sf(bits) | _MOVW[op] | (hw << 21) | ((imm16 & 0xFFFF) << 5) | rd


_BFM = {"sbfm": 0x13000000, "bfm": 0x33000000, "ubfm": 0x53000000}


def bfm(op: str, bits: int, rd: int, rn: int, immr: int, imms: int) -> int:
    n = (1 << 22) if bits == 64 else 0
    return _sf(bits) | _BFM[op] | n | (immr << 16) | (imms << 10) | (rn << 5) | rd


def lsl_imm(bits: int, rd: int, rn: int, sh: int) -> int:
    return bfm("ubfm", bits, rd, rn, (bits - sh) % bits, bits - 1 - sh)


def lsr_imm(bits: int, rd: int, rn: int, sh: int) -> int:
    return bfm("ubfm", bits, rd, rn, sh, bits - 1)


def asr_imm(bits: int, rd: int, rn: int, sh: int) -> int:
    return bfm("sbfm", bits, rd, rn, sh, bits - 1)


def ubfx(bits: int, rd: int, rn: int, lsb: int, width: int) -> int:
    return bfm("ubfm", bits, rd, rn, lsb, lsb + width - 1)


def sbfx(bits: int, rd: int, rn: int, lsb: int, width: int) -> int:
    return bfm("sbfm", bits, rd, rn, lsb, lsb + width - 1)


def bfi(bits: int, rd: int, rn: int, lsb: int, width: int) -> int:
    return bfm("bfm", bits, rd, rn, (bits - lsb) % bits, width - 1)


def bfxil(bits: int, rd: int, rn: int, lsb: int, width: int) -> int:
    return bfm("bfm", bits, rd, rn, lsb, lsb + width - 1)


def extr(bits: int, rd: int, rn: int, rm: int, lsb: int) -> int:
    n = (1 << 22) if bits == 64 else 0
    return _sf(bits) | 0x13800000 | n | (rm << 16) | (lsb << 10) | (rn << 5) | rd


_ADC = {"adc": 0x1A000000, "adcs": 0x3A000000, "sbc": 0x5A000000, "sbcs": 0x7A000000}


def adc(op: str, bits: int, rd: int, rn: int, rm: int) -> int:
    return _sf(bits) | _rrr(_ADC[op], rd, rn, rm)


_DP2 = {"udiv": 2, "sdiv": 3, "lslv": 8, "lsrv": 9, "asrv": 10, "rorv": 11}


def dp2(op: str, bits: int, rd: int, rn: int, rm: int) -> int:
    return _sf(bits) | 0x1AC00000 | (_DP2[op] << 10) | _rrr(0, rd, rn, rm)


_DP1 = {"rbit": 0, "rev16": 1, "rev32": 2, "rev": 3, "clz": 4, "cls": 5}


def dp1(op: str, bits: int, rd: int, rn: int) -> int:
    opc = _DP1[op]
    if op == "rev" and bits == 32:
        opc = 2
    return _sf(bits) | 0x5AC00000 | (opc << 10) | (rn << 5) | rd


def madd(bits: int, rd: int, rn: int, rm: int, ra: int, sub: bool = False) -> int:
    return _sf(bits) | 0x1B000000 | (int(sub) << 15) | (ra << 10) | _rrr(0, rd, rn, rm)


def mul(bits: int, rd: int, rn: int, rm: int) -> int:
    return madd(bits, rd, rn, rm, ZR)


_MULL = {"smaddl": 0x9B200000, "umaddl": 0x9BA00000, "smulh": 0x9B400000, "umulh": 0x9BC00000}


def mull(op: str, rd: int, rn: int, rm: int, ra: int = ZR) -> int:
    return _MULL[op] | (ra << 10) | _rrr(0, rd, rn, rm)


_CSEL = {"csel": 0x1A800000, "csinc": 0x1A800400, "csinv": 0x5A800000, "csneg": 0x5A800400}


def csel(op: str, bits: int, rd: int, rn: int, rm: int, cond: str) -> int:
    return _sf(bits) | _CSEL[op] | (COND[cond] << 12) | _rrr(0, rd, rn, rm)


def cset(bits: int, rd: int, cond: str) -> int:
    return csel("csinc", bits, rd, ZR, ZR, _invert(cond))


def csetm(bits: int, rd: int, cond: str) -> int:
    return csel("csinv", bits, rd, ZR, ZR, _invert(cond))


def _invert(cond: str) -> str:
    return next(k for k, v in COND.items() if v == COND[cond] ^ 1)


def ccmp(op: str, bits: int, rn: int, rm_or_imm: int, nzcv: int, cond: str, imm: bool = False) -> int:
    """ccmp/ccmn Rn, Rm|#imm5, #nzcv, cond: the flags of Rn - op (Rn + op for ccmn) when cond holds,
    else nzcv."""
    base = 0x7A400000 if op == "ccmp" else 0x3A400000
    return (_sf(bits) | base | (rm_or_imm << 16) | (COND[cond] << 12) | (int(imm) << 11) | (rn << 5)
            | nzcv)


def cbz(op: str, bits: int, rt: int, offset: int) -> int:
    """cbz/cbnz Rt, offset (bytes from this instruction)."""
    return _sf(bits) | (0x34000000 if op == "cbz" else 0x35000000) | (((offset >> 2) & 0x7FFFF) << 5) | rt


def tbz(op: str, rt: int, bit: int, offset: int) -> int:
    """tbz/tbnz Rt, #bit, offset (bytes from this instruction)."""
    return ((bit >> 5) << 31) | (0x36000000 if op == "tbz" else 0x37000000) | ((bit & 31) << 19) | (
        ((offset >> 2) & 0x3FFF) << 5) | rt


def mrs_nzcv(rt: int) -> int:
    return 0xD53B4200 | rt


def msr_nzcv(rt: int) -> int:
    return 0xD51B4200 | rt


def nop() -> int:
    return 0xD503201F


def b(offset: int) -> int:
    return 0x14000000 | ((offset >> 2) & 0x3FFFFFF)


def b_cond(cond: str, offset: int) -> int:
    return 0x54000000 | (((offset >> 2) & 0x7FFFF) << 5) | COND[cond]


def ret() -> int:
    return 0xD65F03C0


# ---- loads and stores (unsigned scaled offset form, base in a register) ---------------------

# (kind, size in bytes, signed-into-64) -> opcode base; kind "r" = general register, "v" = SIMD&FP
_LDST = {
    ("str", "r", 1): 0x39000000, ("ldr", "r", 1): 0x39400000, ("ldrs64", "r", 1): 0x39800000,
    ("str", "r", 2): 0x79000000, ("ldr", "r", 2): 0x79400000, ("ldrs64", "r", 2): 0x79800000,
    ("str", "r", 4): 0xB9000000, ("ldr", "r", 4): 0xB9400000, ("ldrs64", "r", 4): 0xB9800000,
    ("str", "r", 8): 0xF9000000, ("ldr", "r", 8): 0xF9400000,
    ("ldrs32", "r", 1): 0x39C00000, ("ldrs32", "r", 2): 0x79C00000,
    ("str", "v", 1): 0x3D000000, ("ldr", "v", 1): 0x3D400000,
    ("str", "v", 2): 0x7D000000, ("ldr", "v", 2): 0x7D400000,
    ("str", "v", 4): 0xBD000000, ("ldr", "v", 4): 0xBD400000,
    ("str", "v", 8): 0xFD000000, ("ldr", "v", 8): 0xFD400000,
    ("str", "v", 16): 0x3D800000, ("ldr", "v", 16): 0x3DC00000,
}


def ldst(op: str, kind: str, size: int, rt: int, rn: int, offset: int = 0) -> int:
    assert offset % size == 0 and 0 <= offset // size < 4096
    return _LDST[(op, kind, size)] | ((offset // size) << 10) | (rn << 5) | rt


def ldst_fits(size: int, offset: int) -> bool:
    """Whether ldst's scaled unsigned offset (or ldst_unscaled's signed 9 bits) can hold offset."""
    return (offset % size == 0 and 0 <= offset // size < 4096) or -256 <= offset < 256


def ldst_any(op: str, kind: str, size: int, rt: int, rn: int, offset: int) -> int:
    """ldst with its scaled offset when it fits, else ldur/stur (signed 9-bit, unscaled)."""
    if offset % size == 0 and 0 <= offset // size < 4096:
        return ldst(op, kind, size, rt, rn, offset)
    assert -256 <= offset < 256
    return (_LDST[(op, kind, size)] & ~0x01000000) | ((offset & 0x1FF) << 12) | (rn << 5) | rt


def ldst_reg(op: str, kind: str, size: int, rt: int, rn: int, rm: int, shift: bool) -> int:
    """ldr/str Rt, [Rn, Xm{, lsl #log2(size)}]: the register-offset form."""
    base = _LDST[(op, kind, size)] & ~0x01000000
    return base | 0x00200800 | (rm << 16) | (0b011 << 13) | (int(shift) << 12) | (rn << 5) | rt


def ldp_q(rt: int, rt2: int, rn: int, offset: int = 0) -> int:
    """ldp qt, qt2, [xn, #offset] (signed, a multiple of 16)."""
    return 0xAD400000 | (((offset // 16) & 0x7F) << 15) | (rt2 << 10) | (rn << 5) | rt


def stp_q(rt: int, rt2: int, rn: int, offset: int = 0) -> int:
    """stp qt, qt2, [xn, #offset] (signed, a multiple of 16)."""
    return 0xAD000000 | (((offset // 16) & 0x7F) << 15) | (rt2 << 10) | (rn << 5) | rt


def str_pre(rt: int, rn: int, offset: int) -> int:
    """str Xt, [Xn, #offset]! (pre-index, signed 9-bit)."""
    return 0xF8000C00 | ((offset & 0x1FF) << 12) | (rn << 5) | rt


def ldr_post(rt: int, rn: int, offset: int) -> int:
    """ldr Xt, [Xn], #offset (post-index, signed 9-bit)."""
    return 0xF8400400 | ((offset & 0x1FF) << 12) | (rn << 5) | rt


# LSE atomics (ARMv8.1), acquire + release: the x86 lock prefix's full barrier. size in bytes.
_LSE = {"ldadd": 0x0, "ldclr": 0x1, "ldeor": 0x2, "ldset": 0x3}


def lse(op: str, size: int, rs: int, rt: int, rn: int) -> int:
    """ldaddal/ldclral/ldeoral/ldsetal/swpal Rs, Rt, [Xn]: Rt <- [Xn]; [Xn] <- [Xn] op Rs."""
    sz = {1: 0, 2: 1, 4: 2, 8: 3}[size]
    if op == "swp":
        return (sz << 30) | 0x38E08000 | (rs << 16) | (rn << 5) | rt
    return (sz << 30) | 0x38E00000 | (rs << 16) | (_LSE[op] << 12) | (rn << 5) | rt


def casal(size: int, rs: int, rt: int, rn: int) -> int:
    """casal Rs, Rt, [Xn]: if [Xn] == Rs then [Xn] <- Rt; Rs <- the old [Xn] (acquire + release)."""
    sz = {1: 0, 2: 1, 4: 2, 8: 3}[size]
    return (sz << 30) | 0x08E0FC00 | (rs << 16) | (rn << 5) | rt


# ---- SIMD & floating point ------------------------------------------------------------------

def _qs(arr: str) -> tuple[int, int]:
    return ARR[arr]


# three-same integer: (U, opcode, size override or None)
_V3 = {
    "shadd": (0, 0x00, None), "sqadd": (0, 0x01, None), "srhadd": (0, 0x02, None),
    "and": (0, 0x03, 0), "bic": (0, 0x03, 1), "orr": (0, 0x03, 2), "orn": (0, 0x03, 3),
    "sqsub": (0, 0x05, None), "cmgt": (0, 0x06, None), "cmge": (0, 0x07, None),
    "sshl": (0, 0x08, None), "smax": (0, 0x0C, None), "smin": (0, 0x0D, None),
    "sabd": (0, 0x0E, None), "add": (0, 0x10, None), "cmtst": (0, 0x11, None),
    "mul": (0, 0x13, None), "addp": (0, 0x17, None),
    "uqadd": (1, 0x01, None), "urhadd": (1, 0x02, None),
    "eor": (1, 0x03, 0), "bsl": (1, 0x03, 1), "bit": (1, 0x03, 2), "bif": (1, 0x03, 3),
    "uqsub": (1, 0x05, None), "cmhi": (1, 0x06, None), "cmhs": (1, 0x07, None),
    "ushl": (1, 0x08, None), "umax": (1, 0x0C, None), "umin": (1, 0x0D, None),
    "uabd": (1, 0x0E, None), "sub": (1, 0x10, None), "cmeq": (1, 0x11, None),
    "sqrdmulh": (1, 0x16, None),
}


def v3(op: str, arr: str, rd: int, rn: int, rm: int) -> int:
    u, opc, size = _V3[op]
    q, sz = _qs(arr)
    if size is not None:
        sz = size
    return 0x0E200400 | (q << 30) | (u << 29) | (sz << 22) | (opc << 11) | _rrr(0, rd, rn, rm)


# three-same float: (U, o1 (bit 23), opcode); sz from arrangement (4s/2s -> 0, 2d -> 1)
_F3 = {
    "fmaxnm": (0, 0, 0x18), "fadd": (0, 0, 0x1A), "fcmeq": (0, 0, 0x1C), "fmax": (0, 0, 0x1E),
    "fminnm": (0, 1, 0x18), "fsub": (0, 1, 0x1A), "fmin": (0, 1, 0x1E),
    "faddp": (1, 0, 0x1A), "fmul": (1, 0, 0x1B), "fcmge": (1, 0, 0x1C), "fdiv": (1, 0, 0x1F),
    "fabd": (1, 1, 0x1A), "fcmgt": (1, 1, 0x1C), "fmla": (0, 0, 0x19), "fmls": (0, 1, 0x19),
}


def f3(op: str, arr: str, rd: int, rn: int, rm: int) -> int:
    u, o1, opc = _F3[op]
    q = 1 if arr in ("4s", "2d") else 0
    sz = 1 if arr == "2d" else 0
    return 0x0E200400 | (q << 30) | (u << 29) | (o1 << 23) | (sz << 22) | (opc << 11) | _rrr(0, rd, rn, rm)


def f3_scalar(op: str, prec: str, rd: int, rn: int, rm: int) -> int:
    """Scalar forms of the three-same float group (fcmeq/fcmge/fcmgt s/d)."""
    u, o1, opc = _F3[op]
    sz = 1 if prec == "d" else 0
    return 0x5E200400 | (u << 29) | (o1 << 23) | (sz << 22) | (opc << 11) | _rrr(0, rd, rn, rm)


# two-register misc integer: (U, opcode, size override)
_V2 = {
    "rev64": (0, 0x00, None), "rev16": (0, 0x01, None), "saddlp": (0, 0x02, None),
    "cnt": (0, 0x05, None), "sqabs": (0, 0x07, None), "cmgt0": (0, 0x08, None),
    "cmeq0": (0, 0x09, None), "cmlt0": (0, 0x0A, None), "abs": (0, 0x0B, None),
    "xtn": (0, 0x12, None), "sqxtn": (0, 0x14, None),
    "rev32": (1, 0x00, None), "uaddlp": (1, 0x02, None), "cmge0": (1, 0x08, None),
    "cmle0": (1, 0x09, None), "neg": (1, 0x0B, None), "sqxtun": (1, 0x12, None),
    "uqxtn": (1, 0x14, None), "not": (1, 0x05, 0), "rbit": (1, 0x05, 1),
}


def v2(op: str, arr: str, rd: int, rn: int) -> int:
    """Two-register misc; for narrowing ops `arr` names the destination (8b/16b = xtn2-style upper)."""
    u, opc, size = _V2[op]
    q, sz = _qs(arr)
    if size is not None:
        sz = size
    return 0x0E200800 | (q << 30) | (u << 29) | (sz << 22) | (opc << 12) | (rn << 5) | rd


# two-register misc float: (U, o1 (bit 23), opcode)
_F2 = {
    "frintn": (0, 0, 0x18), "frintm": (0, 0, 0x19), "fcvtns": (0, 0, 0x1A), "scvtf": (0, 0, 0x1D),
    "frintp": (0, 1, 0x18), "frintz": (0, 1, 0x19), "fcvtzs": (0, 1, 0x1B), "fabs": (0, 1, 0x0F),
    "fcmeq0": (0, 1, 0x0D), "fneg": (1, 1, 0x0F), "fsqrt": (1, 1, 0x1F),
    "fcvtn": (0, 0, 0x16), "fcvtl": (0, 0, 0x17),
}


def f2(op: str, arr: str, rd: int, rn: int) -> int:
    u, o1, opc = _F2[op]
    q = 1 if arr in ("4s", "2d") else 0
    sz = 1 if arr == "2d" else 0
    if op in ("fcvtn", "fcvtl"):
        # arr names the wide side: fcvtn 4h/2s <- 4s/2d; sz = 1 for double, Q picks the "2" form
        q = 0
        sz = 1 if arr == "2d" else 0
    return 0x0E200800 | (q << 30) | (u << 29) | (o1 << 23) | (sz << 22) | (opc << 12) | (rn << 5) | rd


_SHIFTI = {"sshr": (0, 0x00), "ushr": (1, 0x00), "shl": (0, 0x0A), "sshll": (0, 0x14),
           "ushll": (1, 0x14), "shrn": (0, 0x10), "rshrn": (0, 0x11), "sri": (1, 0x08),
           "sli": (1, 0x0A)}


def vshift(op: str, arr: str, rd: int, rn: int, amount: int) -> int:
    """Shift by immediate; `arr` is the element arrangement of the source (narrowing: of the result)."""
    u, opc = _SHIFTI[op]
    q, sz = _qs(arr)
    esize = 8 << sz
    immhb = esize + amount if op in ("shl", "sshll", "ushll", "sli") else 2 * esize - amount
    return 0x0F000400 | (q << 30) | (u << 29) | (immhb << 16) | (opc << 11) | (rn << 5) | rd


_PERM = {"uzp1": 1, "trn1": 2, "zip1": 3, "uzp2": 5, "trn2": 6, "zip2": 7}


def perm(op: str, arr: str, rd: int, rn: int, rm: int) -> int:
    q, sz = _qs(arr)
    return 0x0E000800 | (q << 30) | (sz << 22) | (_PERM[op] << 12) | _rrr(0, rd, rn, rm)


def ext(rd: int, rn: int, rm: int, index: int) -> int:
    return 0x6E000000 | (index << 11) | _rrr(0, rd, rn, rm)


def tbl(rd: int, rn: int, rm: int) -> int:
    return 0x4E000000 | _rrr(0, rd, rn, rm)


def _imm5(size: int, index: int) -> int:
    return ((index << 1) | 1) << size


def dup_elem(arr: str, rd: int, rn: int, index: int) -> int:
    q, sz = _qs(arr)
    return 0x0E000400 | (q << 30) | (_imm5(sz, index) << 16) | (rn << 5) | rd


def dup_gen(arr: str, rd: int, rn: int) -> int:
    q, sz = _qs(arr)
    return 0x0E000C00 | (q << 30) | (_imm5(sz, 0) << 16) | (rn << 5) | rd


def ins_gen(size: int, rd: int, index: int, rn: int) -> int:
    """ins Vd.<T>[index], Rn; size 0..3 = b/h/s/d."""
    return 0x4E001C00 | (_imm5(size, index) << 16) | (rn << 5) | rd


def ins_elem(size: int, rd: int, index: int, rn: int, src_index: int) -> int:
    return 0x6E000400 | (_imm5(size, index) << 16) | ((src_index << size) << 11) | (rn << 5) | rd


def umov(size: int, rd: int, rn: int, index: int) -> int:
    q = 1 if size == 3 else 0
    return 0x0E003C00 | (q << 30) | (_imm5(size, index) << 16) | (rn << 5) | rd


def movi(arr: str, rd: int, imm8: int, lsl: int = 0, op: int = 0, cmode: int | None = None) -> int:
    """Modified-immediate group. Defaults to MOVI with an 8-bit value shifted left by `lsl`."""
    q, sz = _qs(arr)
    if cmode is None:
        cmode = {0: 0xE, 1: 0x8 | (lsl // 8) << 1, 2: (lsl // 8) << 1, 3: 0xE}[sz]
        if sz == 3:
            op = 1
    abc, defgh = imm8 >> 5, imm8 & 0x1F
    return 0x0F000400 | (q << 30) | (op << 29) | (abc << 16) | (cmode << 12) | (defgh << 5) | rd


def orr_vimm(arr: str, rd: int, imm8: int, lsl: int) -> int:
    """orr Vd.4s/2s/8h/4h, #imm8, lsl #lsl."""
    _, sz = _qs(arr)
    cmode = ((lsl // 8) << 1 | 1) if sz == 2 else (0x9 | (lsl // 8) << 1)
    return movi(arr, rd, imm8, op=0, cmode=cmode)


def bic_vimm(arr: str, rd: int, imm8: int, lsl: int) -> int:
    _, sz = _qs(arr)
    cmode = ((lsl // 8) << 1 | 1) if sz == 2 else (0x9 | (lsl // 8) << 1)
    return movi(arr, rd, imm8, op=1, cmode=cmode)


_ACROSS = {"addv": (0, 0x1B), "smaxv": (0, 0x0A), "sminv": (0, 0x1A), "umaxv": (1, 0x0A),
           "uminv": (1, 0x1A), "saddlv": (0, 0x03), "uaddlv": (1, 0x03)}


def across(op: str, arr: str, rd: int, rn: int) -> int:
    u, opc = _ACROSS[op]
    q, sz = _qs(arr)
    return 0x0E300800 | (q << 30) | (u << 29) | (sz << 22) | (opc << 12) | (rn << 5) | rd


_V3DIFF = {"saddl": (0, 0x0), "uaddl": (1, 0x0), "ssubl": (0, 0x2), "usubl": (1, 0x2),
           "smull": (0, 0xC), "umull": (1, 0xC)}


def v3diff(op: str, arr: str, rd: int, rn: int, rm: int, upper: bool = False) -> int:
    """Widening three-different ops; `arr` names the narrow source arrangement (8b/4h/2s)."""
    u, opc = _V3DIFF[op]
    _, sz = _qs(arr)
    return 0x0E200000 | (int(upper) << 30) | (u << 29) | (sz << 22) | (opc << 12) | _rrr(0, rd, rn, rm)


def narrow2(op: str, arr: str, rd: int, rn: int, upper: bool) -> int:
    """xtn/sqxtn/sqxtun/uqxtn writing the lower (upper=False) or upper half; arr = narrow elements."""
    u, opc, _ = _V2[op]
    _, sz = _qs(arr)
    return 0x0E200800 | (int(upper) << 30) | (u << 29) | (sz << 22) | (opc << 12) | (rn << 5) | rd


def widen(signed: bool, arr: str, rd: int, rn: int, upper: bool = False) -> int:
    """sxtl/uxtl (sshll/ushll #0) of the narrow arrangement `arr` (8b/4h/2s)."""
    _, sz = _qs(arr)
    esize = 8 << sz
    return 0x0F000400 | (int(upper) << 30) | ((0 if signed else 1) << 29) | (esize << 16) \
        | (0x14 << 11) | (rn << 5) | rd


def vmov(rd: int, rn: int) -> int:
    """mov Vd.16b, Vn.16b."""
    return v3("orr", "16b", rd, rn, rn)


# scalar floating point ("s" single, "d" double)
_FP2 = {"fmul": 0x0800, "fdiv": 0x1800, "fadd": 0x2800, "fsub": 0x3800, "fmax": 0x4800,
        "fmin": 0x5800}


def fp2(op: str, prec: str, rd: int, rn: int, rm: int) -> int:
    t = 1 if prec == "d" else 0
    return 0x1E200000 | (t << 22) | _FP2[op] | _rrr(0, rd, rn, rm)


_FP1 = {"fmov": 0, "fabs": 1, "fneg": 2, "fsqrt": 3, "fcvt_s": 4, "fcvt_d": 5, "frintn": 8,
        "frintp": 9, "frintm": 10, "frintz": 11}


def fp1(op: str, prec: str, rd: int, rn: int) -> int:
    t = 1 if prec == "d" else 0
    return 0x1E204000 | (t << 22) | (_FP1[op] << 15) | (rn << 5) | rd


def fcmp(prec: str, rn: int, rm: int) -> int:
    t = 1 if prec == "d" else 0
    return 0x1E202000 | (t << 22) | (rm << 16) | (rn << 5)


_FPINT = {"fcvtns": (0, 0), "fcvtzs": (3, 0), "scvtf": (0, 2), "fmov_to_gpr": (0, 6),
          "fmov_from_gpr": (0, 7)}


def fpint(op: str, bits: int, prec: str, rd: int, rn: int) -> int:
    """Conversions/moves between general and FP registers (scalar)."""
    rmode, opc = _FPINT[op]
    t = 1 if prec == "d" else 0
    return _sf(bits) | 0x1E200000 | (t << 22) | (rmode << 19) | (opc << 16) | (rn << 5) | rd


def fmov_to_gpr_hi(rd: int, rn: int) -> int:
    """fmov Xd, Vn.d[1]."""
    return 0x9EAE0000 | (rn << 5) | rd
