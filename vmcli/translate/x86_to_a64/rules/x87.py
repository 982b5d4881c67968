"""x87: the register stack, its loads, stores and compares, one rule per mnemonic.

The state is in the env block (host.py: control word, status word with TOP in bits 13:11, the
abridged tag word, the physical registers R0..R7 as significand + sign/exponent). TOP is not known
when the code is made, so each instruction reads it from the status word and finds st(i) at
R[(TOP + i) & 7]. The forms here are exact (no rounding): data movement keeps every bit of an 80-bit
value (NaN payloads, unnormals, pseudo-denormals), m32/m64 widen exactly (denormals normalised,
signalling NaNs quieted) and integers convert exactly. C1 is cleared where the SDM clears it; the
exception flags (status word bits 7:0) are not updated, as MXCSR's are not for SSE, and stack
overflow and underflow are not modelled (docs/translator.md, documented exceptions).
"""

from __future__ import annotations

from vmcli.translate.isa.a64 import encoder as A
from vmcli.translate.isa.x86.decoder import Insn, Reg
from vmcli.translate.x86_to_a64.builder import Ctx
from vmcli.translate.x86_to_a64.host import AF_SRC, ENV_REG, PF_RES, X87_FCW, X87_FSW, X87_FTW, X87_REGS
from vmcli.translate.x86_to_a64.rules.common import ALL, operands
from vmcli.translate.x86_to_a64.rules.table import RULES as rule

E = ENV_REG
ZR = A.ZR
NOT_C1 = 0xFFFFFDFF       # the status word without C1 (bit 9)
SIGN = 1 << 63


def _status(c: Ctx) -> tuple[int, int]:
    """(status word, TOP) in scratch registers."""
    sw, top = c.tmp(), c.tmp()
    c(A.ldst("ldr", "r", 2, sw, E, X87_FSW), A.ubfx(32, top, sw, 11, 3))
    return sw, top


def _slot(c: Ctx, top: int, i: int) -> int:
    """A register holding env + 16 * ((TOP + i) & 7): st(i)'s slot, less X87_REGS."""
    a = c.tmp()
    if i:
        c(A.addsub_imm("add", 32, a, top, i), A.logic_imm("and", 32, a, a, 7), A.addsub("add", 64, a, E, a, "lsl", 4))
    else:
        c(A.addsub("add", 64, a, E, top, "lsl", 4))
    return a


def _load(c: Ctx, a: int) -> tuple[int, int]:
    """(significand, sign/exponent) of the register at slot a."""
    sig, se = c.tmp(), c.tmp()
    c(A.ldst("ldr", "r", 8, sig, a, X87_REGS), A.ldst("ldr", "r", 2, se, a, X87_REGS + 8))
    return sig, se


def _store(c: Ctx, a: int, sig: int, se: int) -> None:
    c(A.ldst("str", "r", 8, sig, a, X87_REGS), A.ldst("str", "r", 2, se, a, X87_REGS + 8))


def _finish(c: Ctx, sw: int, top: int | None = None, c1: bool = True) -> None:
    """C1 = 0 (unless not c1) and, when given, TOP = top; the status word stored."""
    if top is not None:
        c(A.bfi(32, sw, top, 11, 3))
    if c1:
        c(A.logic_imm("and", 32, sw, sw, NOT_C1))
    c(A.ldst("str", "r", 2, sw, E, X87_FSW))


def _tag(c: Ctx, phys: int, used: bool) -> None:
    """The tag of physical register `phys` (a register holding 0..7): in use or empty."""
    tw, bit = c.tmp(), c.tmp()
    c(A.ldst("ldr", "r", 1, tw, E, X87_FTW), A.movw("movz", 32, bit, 1), A.dp2("lslv", 32, bit, bit, phys),
      A.logic("orr" if used else "bic", 32, tw, tw, bit), A.ldst("str", "r", 1, tw, E, X87_FTW))
    c.release(tw, bit)


def _push(c: Ctx, sw: int, top: int) -> int:
    """TOP - 1 and C1 = 0 (the status word stored), the new st(0) in use; returns its slot."""
    new = c.tmp()
    c(A.addsub_imm("sub", 32, new, top, 1), A.logic_imm("and", 32, new, new, 7))
    _finish(c, sw, new)
    _tag(c, new, True)
    return _slot(c, new, 0)


def _pop(c: Ctx, sw: int, top: int, c1: bool = True) -> None:
    """st(0) empty, TOP + 1 and C1 = 0 unless not c1 (the status word stored)."""
    _tag(c, top, False)
    c(A.addsub_imm("add", 32, top, top, 1), A.logic_imm("and", 32, top, top, 7))
    _finish(c, sw, top, c1)


# ---- conversions into the 80-bit format (exact) ---------------------------------------------------

# (exponent bits, fraction bits, 16383 - the format's exponent bias) of m32 and m64
_FLOAT = {4: (8, 23, 16383 - 127), 8: (11, 52, 16383 - 1023)}


def _widen(c: Ctx, v: int, size: int, quiet: bool = True) -> tuple[int, int]:
    """(significand, sign/exponent) of the float of `size` bytes in v: exact, denormals
    normalised, a signalling NaN quieted (what fld m32/m64 loads; not quiet: kept signalling, for
    the arithmetic's NaN rules)."""
    ebits, fbits, bias = _FLOAT[size]
    bits = 8 * size
    emax = (1 << ebits) - 1
    e, m, t, n = c.tmp(), c.tmp(), c.tmp(), c.tmp()
    lsb = 63 - fbits                       # the fraction's top bit at bit 62
    c(A.ubfx(64, e, v, fbits, ebits), A.bfm("ubfm", 64, m, v, (64 - lsb) % 64, fbits - 1))
    c(A.addsub_imm("subs", 32, ZR, e, emax), A.csetm(64, n, "eq"))           # n: all ones for inf/NaN
    c(A.addsub_imm("subs", 32, ZR, e, 0), A.cset(64, t, "ne"), A.csel("csinc", 32, e, e, ZR, "ne"),
      A.logic("orr", 64, m, m, t, "lsl", 63))                                # the integer bit; e = 1 if 0
    # normalise: shift the leading one to bit 63 (a zero keeps exponent 0)
    c(A.dp1("clz", 64, t, m), A.dp2("lslv", 64, m, m, t), A.addsub("sub", 32, e, e, t))
    c.const(t, bias, 32)
    c(A.addsub("add", 32, e, e, t), A.addsub_imm("subs", 64, ZR, m, 0), A.csel("csel", 32, e, ZR, e, "eq"))
    # inf and NaN: exponent 0x7FFF, a NaN quieted
    c(A.logic_imm("and", 32, t, n, 0x7FFF), A.logic("orr", 32, e, e, t),
      A.lsl_imm(64, t, m, 1), A.addsub_imm("subs", 64, ZR, t, 0), A.cset(64, t, "ne"),
      A.logic("and", 64, t, t, n))
    if quiet:
        c(A.logic("orr", 64, m, m, t, "lsl", 62))
    c(A.lsr_imm(64 if bits == 64 else 32, t, v, bits - 1), A.logic("orr", 32, e, e, t, "lsl", 15))
    c.release(t, n)
    return m, e


def _integer(c: Ctx, v: int) -> tuple[int, int]:
    """(significand, sign/exponent) of the signed 64-bit integer in v (exact)."""
    m, e, n = c.tmp(), c.tmp(), c.tmp()
    c(A.addsub_imm("subs", 64, ZR, v, 0), A.csel("csneg", 64, m, v, v, "ge"), A.lsr_imm(64, n, v, 63))
    c(A.logic("orr", 32, e, ZR, n, "lsl", 15))
    c(A.dp1("clz", 64, n, m), A.dp2("lslv", 64, m, m, n))
    t = c.tmp()
    c.const(t, 16383 + 63, 32)
    c(A.addsub("sub", 32, t, t, n), A.csel("csel", 32, t, ZR, t, "eq"), A.logic("orr", 32, e, e, t))
    c.release(n, t)
    return m, e


# ---- loads and stores ---------------------------------------------------------------------------------

@rule("fld", "fild", rm_regs=tuple(range(7)))       # fld st(7) always overflows: it reads what it pushes into
def _fld(c: Ctx) -> None:
    (src,) = operands(c)
    saved = None
    if isinstance(src, Reg):
        sw, top = _status(c)
        a = _slot(c, top, src.num)
        sig, se = _load(c, a)
        c.release(a)
    elif src.size == 10:
        a = c.addr(src)
        sig, se = c.tmp(), c.tmp()
        c(A.ldst("ldr", "r", 8, sig, a, 0), A.ldst("ldr", "r", 2, se, a, 8))
        c.release(a)
        sw, top = _status(c)
    else:
        saved = c.flags_save()
        v = c.load(src, src.size, signed=c.insn.spec.mnemonic == "fild")
        c.release(*c.addresses.values())
        sig, se = _widen(c, v, src.size) if c.insn.spec.mnemonic == "fld" else _integer(c, v)
        c.release(v)
        sw, top = _status(c)
    _store(c, _push(c, sw, top), sig, se)
    c.flags_restore(saved)


# (significand, sign/exponent, rounding): the constant rounded to nearest; "down": one less when
# rounding down or toward zero (the nearest is above the exact value), "up": one more when rounding
# up (it is below)
_CONSTANTS = {"fldz": (0, 0, ""), "fld1": (SIGN, 0x3FFF, ""),
              "fldl2t": (0xD49A784BCD1B8AFE, 0x4000, "up"), "fldl2e": (0xB8AA3B295C17F0BC, 0x3FFF, "down"),
              "fldpi": (0xC90FDAA22168C235, 0x4000, "down"), "fldlg2": (0x9A209A84FBCFF799, 0x3FFD, "down"),
              "fldln2": (0xB17217F7D1CF79AC, 0x3FFE, "down")}


@rule(*_CONSTANTS)
def _fld_constant(c: Ctx) -> None:
    sig_value, se_value, rounding = _CONSTANTS[c.insn.spec.mnemonic]
    sw, top = _status(c)
    sig, se = c.tmp(), c.tmp()
    c.const(sig, sig_value)
    c.const(se, se_value, 32)
    if rounding:
        t = c.tmp()
        c(A.ldst("ldr", "r", 2, t, E, X87_FCW))
        if rounding == "down":                       # RC 1 (down) or 3 (toward zero): bit 10
            c(A.ubfx(32, t, t, 10, 1), A.addsub("sub", 64, sig, sig, t))
        else:                                         # RC 2 (up)
            u = c.tmp()
            c(A.ubfx(32, u, t, 10, 1), A.ubfx(32, t, t, 11, 1), A.logic("bic", 32, t, t, u),
              A.addsub("add", 64, sig, sig, t))
            c.release(u)
        c.release(t)
    _store(c, _push(c, sw, top), sig, se)


@rule("fxch")
def _fxch(c: Ctx) -> None:
    (other,) = operands(c)
    sw, top = _status(c)
    a0, ai = _slot(c, top, 0), _slot(c, top, other.num)
    sig0, se0 = _load(c, a0)
    sigi, sei = _load(c, ai)
    _store(c, a0, sigi, sei)
    _store(c, ai, sig0, se0)
    _finish(c, sw)


@rule("fchs", "fabs")
def _fchs(c: Ctx) -> None:
    sw, top = _status(c)
    a0 = _slot(c, top, 0)
    se = c.tmp()
    c(A.ldst("ldr", "r", 2, se, a0, X87_REGS + 8))
    if c.insn.spec.mnemonic == "fchs":
        c(A.logic_imm("eor", 32, se, se, 0x8000))
    else:
        c(A.logic_imm("and", 32, se, se, 0x7FFF))
    c(A.ldst("str", "r", 2, se, a0, X87_REGS + 8))
    _finish(c, sw)


@rule("fincstp", "fdecstp")
def _fincstp(c: Ctx) -> None:
    sw, top = _status(c)
    c(A.addsub_imm("add" if c.insn.spec.mnemonic == "fincstp" else "sub", 32, top, top, 1),
      A.logic_imm("and", 32, top, top, 7))
    _finish(c, sw, top)


@rule("ffree")
def _ffree(c: Ctx) -> None:
    (reg,) = operands(c)
    sw, top = _status(c)
    p = c.tmp()
    c(A.addsub_imm("add", 32, p, top, reg.num), A.logic_imm("and", 32, p, p, 7))
    _tag(c, p, False)
    _finish(c, sw)


# ---- control and status words -----------------------------------------------------------------------

@rule("fnstsw")
def _fnstsw(c: Ctx) -> None:
    (dst,) = operands(c)
    sw = c.tmp()
    c(A.ldst("ldr", "r", 2, sw, E, X87_FSW))
    c.write(dst, 2, sw)


@rule("fnstcw")
def _fnstcw(c: Ctx) -> None:
    (dst,) = operands(c)
    cw = c.tmp()
    c(A.ldst("ldr", "r", 2, cw, E, X87_FCW))
    c.store(dst, 2, cw)


@rule("fldcw")
def _fldcw(c: Ctx) -> None:
    (src,) = operands(c)
    cw = c.load(src, 2)
    # the reserved bits read as the CPU keeps them: 15:13 and 7 clear, 6 set
    c(A.logic_imm("and", 32, cw, cw, 0x1FFF), A.logic_imm("and", 32, cw, cw, 0xFFFFFF7F),
      A.logic_imm("orr", 32, cw, cw, 0x40),
      A.ldst("str", "r", 2, cw, E, X87_FCW))


# ---- compares ---------------------------------------------------------------------------------------

def _key(c: Ctx, sig: int, se: int) -> tuple[int, int, int]:
    """(high, low, unordered) of an 80-bit value: high:low is a signed 128-bit integer that orders as
    the values do (the magnitude exponent:significand, negated when the sign is set; both zeros are
    0), unordered is 1 for a NaN and for the encodings the x87 does not support (unnormals,
    pseudo-infinities and pseudo-NaNs: an exponent that is not 0 with the integer bit clear)."""
    e, u, t, t2 = c.tmp(), c.tmp(), c.tmp(), c.tmp()
    c(A.logic_imm("and", 32, e, se, 0x7FFF),
      A.addsub_imm("subs", 32, ZR, e, 0), A.cset(64, u, "ne"), A.logic("bic", 64, u, u, sig, "lsr", 63),
      A.logic_imm("eor", 32, t, e, 0x7FFF), A.lsl_imm(64, t2, sig, 1),
      A.addsub_imm("subs", 32, ZR, t, 0), A.ccmp("ccmp", 64, t2, 0, 0b0100, "eq", imm=True),
      A.cset(64, t, "ne"), A.logic("orr", 64, u, u, t))
    c.release(t, t2)
    # a denormal or pseudo-denormal (exponent 0, significand not 0) scales as exponent 1
    c(A.addsub_imm("subs", 64, ZR, sig, 0), A.ccmp("ccmp", 32, e, 0, 0b0000, "ne", imm=True),
      A.csel("csinc", 32, e, e, ZR, "ne"))
    lo, hi = c.tmp(), c.tmp()
    c(A.addsub("subs", 64, lo, ZR, sig), A.adc("sbc", 64, hi, ZR, e),
      A.logic_imm("ands", 32, ZR, se, 0x8000), A.csel("csel", 64, lo, lo, sig, "ne"),
      A.csel("csel", 64, hi, hi, e, "ne"))
    c.release(e, sig, se)
    return hi, lo, u


@rule("fucomi", "fcomi", "fucomip", "fcomip")
def _fcomi(c: Ctx) -> None:
    """ZF PF CF = 111 unordered, 000 greater, 001 less, 100 equal; OF SF AF cleared. fcomi raises
    the invalid exception for a quiet NaN too, which is not kept: both compare alike."""
    _, other = operands(c)
    if not c.live(ALL):                  # a later instruction of the block sets every flag first
        if c.insn.spec.mnemonic.endswith("p"):
            sw, top = _status(c)
            _pop(c, sw, top, c1=False)
        return
    sw, top = _status(c)
    a0, ai = _slot(c, top, 0), _slot(c, top, other.num)
    c.release(sw, top)
    sig, se = _load(c, a0)
    hi0, lo0, u0 = _key(c, sig, se)
    c.release(a0)
    sig, se = _load(c, ai)
    c.release(ai)
    hi1, lo1, u1 = _key(c, sig, se)
    z, lt = c.tmp(), c.tmp()
    # NZCV = 0 ZF !CF 0; PF_RES's parity is even exactly when unordered; AF 0
    c(A.logic("eor", 64, z, lo0, lo1), A.logic("eor", 64, lt, hi0, hi1), A.logic("orr", 64, z, z, lt),
      A.addsub("subs", 64, ZR, lo0, lo1), A.adc("sbcs", 64, ZR, hi0, hi1), A.cset(64, lt, "lt"),
      A.addsub_imm("subs", 64, ZR, z, 0), A.cset(64, z, "eq"), A.logic("orr", 64, u0, u0, u1),
      A.logic("orr", 64, z, z, u0), A.logic("orr", 64, lt, lt, u0),
      A.logic_imm("eor", 32, lt, lt, 1), A.lsl_imm(32, z, z, 30), A.logic("orr", 32, z, z, lt, "lsl", 29),
      A.msr_nzcv(z), A.logic_imm("eor", 64, PF_RES, u0, 1), A.mov(64, AF_SRC, PF_RES))
    c.release(hi0, lo0, u0, hi1, lo1, u1, z, lt)
    if c.insn.spec.mnemonic.endswith("p"):
        sw, top = _status(c)
        _pop(c, sw, top, c1=False)  # C1 kept (the SDM says cleared; the CPU keeps it)


@rule("fxam")
def _fxam(c: Ctx) -> None:
    """C3 C2 C0 = the class of st(0) (000 unsupported, 001 NaN, 010 normal, 011 infinity, 100 zero,
    101 empty, 110 denormal), C1 = its sign."""
    saved = c.flags_save()
    sw, top = _status(c)
    a0 = _slot(c, top, 0)
    sig, se = _load(c, a0)
    c.release(a0)
    e, cls, t, t2 = c.tmp(), c.tmp(), c.tmp(), c.tmp()
    c(A.logic_imm("and", 32, e, se, 0x7FFF), A.movw("movz", 32, cls, 0b010),
      A.logic_imm("ands", 64, ZR, sig, SIGN), A.csel("csel", 32, cls, cls, ZR, "ne"),      # normal, unnormal
      A.movw("movz", 32, t, 0b110), A.movw("movz", 32, t2, 0b100),
      A.addsub_imm("subs", 64, ZR, sig, 0), A.csel("csel", 32, t, t2, t, "eq"),           # zero, denormal
      A.addsub_imm("subs", 32, ZR, e, 0), A.csel("csel", 32, cls, t, cls, "eq"),
      A.lsl_imm(64, t2, sig, 1), A.movw("movz", 32, t, 0b011), A.addsub_imm("subs", 64, ZR, t2, 0),
      A.movw("movz", 32, t2, 0b001), A.csel("csel", 32, t, t, t2, "eq"),                   # infinity, NaN
      A.logic_imm("ands", 64, ZR, sig, SIGN), A.csel("csel", 32, t, t, ZR, "ne"),         # pseudo-inf/NaN
      A.movw("movz", 32, t2, 0x7FFF), A.addsub("subs", 32, ZR, e, t2), A.csel("csel", 32, cls, t, cls, "eq"),
      A.ldst("ldr", "r", 1, t2, E, X87_FTW), A.dp2("lsrv", 32, t2, t2, top),
      A.movw("movz", 32, t, 0b101), A.logic_imm("ands", 32, ZR, t2, 1), A.csel("csel", 32, cls, cls, t, "ne"),
      A.bfi(32, sw, cls, 8, 1), A.lsr_imm(32, t, cls, 1), A.bfi(32, sw, t, 10, 1), A.lsr_imm(32, t, cls, 2),
      A.bfi(32, sw, t, 14, 1), A.lsr_imm(32, t, se, 15), A.bfi(32, sw, t, 9, 1),
      A.ldst("str", "r", 2, sw, E, X87_FSW))
    c.flags_restore(saved)


# ---- what a block needs of the stack -------------------------------------------------------------------

def _effect(insn: Insn) -> tuple[tuple[int, ...], int, tuple[int, ...]]:
    """(st(i) read before the stack moves, the move: -1 push, +1 pop, st(i) made empty or in use
    after: negative i for empty, i + 8 for in use)."""
    m = insn.spec.mnemonic
    regs = tuple(o.num for o in insn.operands if isinstance(o, Reg) and o.kind == "st")
    if m in ("fld", "fild", "fldz", "fld1", "fldl2t", "fldl2e", "fldpi", "fldlg2", "fldln2"):
        return regs, -1, ()
    if m in ("fstp", "fst"):
        return (0,), int(m == "fstp"), tuple(8 + r for r in regs)
    if m.startswith("fcmov"):
        return (0, *regs), 0, ()
    if m in ("fxch", "fucomi", "fcomi", "fucomip", "fcomip", "fmul", "fmulp", "fadd", "faddp", "fsub", "fsubp",
             "fsubr", "fsubrp", "fdiv", "fdivp", "fdivr", "fdivrp"):
        return (0, *regs), int(m.endswith("p")), ()
    if m in ("fchs", "fabs", "fsqrt", "frndint", "fist"):
        return (0,), 0, ()
    if m == "fistp":
        return (0,), 1, ()
    if m in ("fchs", "fabs", "fsqrt"):
        return (0,), 0, ()
    if m == "ffree":
        return (), 0, tuple(-1 - r for r in regs)
    return (), 0, ()                       # fxam, fnstsw, fnstcw, fldcw: any stack


def stack_needs(insns: list[Insn]) -> tuple[set[int], set[int]] | None:
    """(st(i) at the block's start that must be in use, those that must be empty) for its x87
    instructions to meet no stack overflow or underflow (which the translation does not model), or
    None when no start avoids them."""
    known: dict[int, bool] = {}            # offset from the starting TOP -> in use
    used: set[int] = set()
    empty: set[int] = set()
    depth = 0
    for insn in insns:
        if not insn.spec.x87:
            continue
        if insn.spec.mnemonic in ("fincstp", "fdecstp"):
            depth += 1 if insn.spec.mnemonic == "fincstp" else -1
            continue
        reads, move, after = _effect(insn)
        for i in reads:
            o = (depth + i) & 7
            if o not in known:
                used.add(o)
                known[o] = True
            elif not known[o]:
                return None
        if move == -1:
            o = (depth - 1) & 7
            if o not in known:
                empty.add(o)
            elif known[o]:
                return None
            known[o] = True
            depth -= 1
        for a in after:
            known[(depth + (a - 8 if a >= 8 else -1 - a)) & 7] = a >= 8
        if move == 1:
            known[depth & 7] = False
            depth += 1
    return used, empty


# fcmov's conditions: the x86 condition of the flags (p/np through the parity of PF_RES)
_FCMOV = {"fcmovb": "b", "fcmove": "e", "fcmovbe": "be", "fcmovu": "p", "fcmovnb": "ae", "fcmovne": "ne",
          "fcmovnbe": "a", "fcmovnu": "np"}


@rule(*_FCMOV)
def _fcmov(c: Ctx) -> None:
    """st(0) = st(i) when the condition holds (the guest's flags are read, not changed)."""
    _, other = operands(c)
    cc = _FCMOV[c.insn.spec.mnemonic]
    _, top = _status(c)
    a0, ai = _slot(c, top, 0), _slot(c, top, other.num)
    sig, se = _load(c, ai)
    if cc in ("p", "np"):
        odd = c.parity_odd()                      # bit 0: PF = 0
        # the copy is skipped (a branch over its two stores) when the condition fails
        c(A.tbz("tbnz" if cc == "p" else "tbz", odd, 0, 12))
        _store(c, a0, sig, se)
    else:
        sig0, se0 = _load(c, a0)
        cond = c.condition(cc)
        c(A.csel("csel", 64, sig, sig, sig0, cond), A.csel("csel", 32, se, se, se0, cond))
        _store(c, a0, sig, se)
    # the status word stays (C1 too: the CPU keeps it)


@rule("wait")
def _wait(c: Ctx) -> None:
    """fwait: it raises a pending unmasked x87 exception; with the exceptions masked (the
    translation's assumption, docs/translator.md) there is none, and it does nothing."""
