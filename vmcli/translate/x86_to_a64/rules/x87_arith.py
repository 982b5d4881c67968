"""x87 arithmetic in software: 80-bit operands, the result rounded to the control word's precision
(24, 53 or 64 bits: PC) in its rounding mode (RC), inline in each instruction's code.

The exponent range stays the 80-bit one whatever the precision (as on the x87); results below it
are denormalised before they are rounded, results above it become infinity or the largest finite
value as the rounding mode says. C1 is 1 when the rounding increased the significand. NaNs follow
the x87's rules: a signalling NaN is quieted, a quiet NaN wins over a signalling one, between two
of a kind the larger significand. An invalid operation (an unsupported encoding, inf * 0) gives the
indefinite NaN. The exception flags are not kept (rules/x87.py).
"""

from __future__ import annotations

from vmcli.translate.isa.a64 import encoder as A
from vmcli.translate.isa.x86.decoder import Mem, Reg
from vmcli.translate.x86_to_a64.builder import Ctx
from vmcli.translate.x86_to_a64.host import SCRATCH, X87_FCW, X87_FSW, X87_REGS
from vmcli.translate.x86_to_a64.rules.common import operands
from vmcli.translate.x86_to_a64.rules.table import RULES as rule
from vmcli.translate.x86_to_a64.rules.x87 import ZR, E, _finish, _load, _pop, _slot, _status, _store, _tag, _widen

SIGN = 1 << 63
QUIET = 1 << 62
INDEFINITE = (0xFFFF, SIGN | QUIET)


class Labels:
    """Forward branches inside one instruction's code: placeholders patched when the label is placed."""

    def __init__(self, c: Ctx) -> None:
        self.c = c
        self.pending: dict[str, list[tuple[int, str, int, int]]] = {}

    def branch(self, label: str, kind: str = "b", reg: int = 0, arg: int = 0) -> None:
        """kind: "b", a condition ("eq" ...), "cbz"/"cbnz" (reg, 64-bit), "tbz"/"tbnz" (reg, bit arg)."""
        self.pending.setdefault(label, []).append((len(self.c.words), kind, reg, arg))
        self.c(A.nop())

    def place(self, label: str) -> None:
        here = len(self.c.words)
        for at, kind, reg, arg in self.pending.pop(label, []):
            off = 4 * (here - at)
            if kind == "b":
                word = A.b(off)
            elif kind in ("cbz", "cbnz"):
                word = A.cbz(kind, 64, reg, off)
            elif kind in ("tbz", "tbnz"):
                word = A.tbz(kind, reg, arg, off)
            else:
                word = A.b_cond(kind, off)
            self.c.words[at] = word


def _normalise(c: Ctx, m: int, e: int, t: int) -> None:
    """A finite nonzero operand with its leading one at bit 63 (exponent 0 counts as 1)."""
    c(A.addsub_imm("subs", 32, ZR, e, 0), A.csel("csinc", 32, e, e, ZR, "ne"),
      A.dp1("clz", 64, t, m), A.dp2("lslv", 64, m, m, t), A.addsub("sub", 32, e, e, t))


def _round_pack(c: Ctx, L: Labels, sig: int, rest: int, e: int, sg: int, t: tuple[int, int, int, int],
                low: int | None = None, emax: int = 0x7FFF) -> int:
    """Round sig:rest (the leading one at bit 63 of sig) with exponent e (signed, any) to the
    control word's precision (or to 64 - `low` bits, for a store of a narrower format whose
    exponent field's all-ones is `emax`) and rounding; returns the register holding C1 (the
    significand went up). Leaves sig and e (sign and exponent: e | sg) as the result."""
    t0, t1, t2, t3 = t
    # below the exponent range: denormalise (shift right by 1 - e, what falls out is sticky)
    c(A.addsub_imm("subs", 32, ZR, e, 0))
    L.branch("normal", "gt")
    c(A.addsub("sub", 32, t0, ZR, e), A.addsub_imm("add", 32, t0, t0, 1))        # t0 = shift >= 1
    c(A.addsub_imm("subs", 32, ZR, t0, 64))
    L.branch("small", "lt")
    # 64 or more: sig moves into rest
    c(A.addsub_imm("subs", 64, ZR, rest, 0), A.cset(64, t1, "ne"), A.mov(64, rest, sig), A.movw("movz", 64, sig, 0),
      A.addsub_imm("sub", 32, t0, t0, 64), A.addsub_imm("subs", 32, ZR, t0, 64),
      A.csel("csel", 64, rest, ZR, rest, "ge"), A.csel("csinc", 64, t1, t1, ZR, "lt"),
      A.csel("csel", 32, t0, ZR, t0, "ge"), A.logic("orr", 64, rest, rest, t1))
    L.place("small")
    # 0 <= shift < 64 (shift 0 leaves both)
    L.branch("denormal_done", "cbz", t0)
    c(A.addsub("sub", 32, t1, ZR, t0), A.dp2("lslv", 64, t2, rest, t1), A.addsub_imm("subs", 64, ZR, t2, 0),
      A.cset(64, t2, "ne"), A.dp2("lsrv", 64, rest, rest, t0), A.dp2("lslv", 64, t3, sig, t1),
      A.logic("orr", 64, rest, rest, t3), A.logic("orr", 64, rest, rest, t2), A.dp2("lsrv", 64, sig, sig, t0))
    L.place("denormal_done")
    c(A.movw("movz", 32, e, 0))
    L.place("normal")
    # the precision: low = 64 - P bits of sig are rounded off (PC 0: 40, 2: 11, 3: 0; the reserved
    # PC 1 as 0)
    c(A.ldst("ldr", "r", 2, t0, E, X87_FCW))
    if low is None:
        c(A.ubfx(32, t1, t0, 8, 2), A.movw("movz", 32, t2, 40), A.addsub_imm("subs", 32, ZR, t1, 2),
          A.movw("movz", 32, t3, 11), A.csel("csel", 32, t2, t3, t2, "eq"), A.csel("csel", 32, t2, ZR, t2, "hi"))
    else:
        c(A.movw("movz", 32, t2, low))
    c(A.ubfx(32, t0, t0, 10, 2))                                                # t2 = low, t0 = RC
    # t1 = the discarded bits, the guard at bit 63; t3 = sticky below them
    c(A.movw("movz", 32, t1, 64), A.addsub("sub", 32, t1, t1, t2), A.dp2("lslv", 64, t1, sig, t1),
      A.addsub_imm("subs", 64, ZR, rest, 0), A.cset(64, t3, "ne"),
      A.addsub_imm("subs", 32, ZR, t2, 0), A.csel("csel", 64, t1, rest, t1, "eq"), A.csel("csel", 64, t3, ZR, t3, "eq"),
      A.lsl_imm(64, rest, t1, 1), A.addsub_imm("subs", 64, ZR, rest, 0), A.cset(64, rest, "ne"),
      A.logic("orr", 64, t3, t3, rest))                                            # t3 = sticky
    # rest = the increment (0/1): RN guard & (sticky | lsb); RD (g|s) & sign; RU (g|s) & !sign; RZ 0
    c(A.dp2("lsrv", 64, rest, sig, t2), A.logic_imm("and", 64, rest, rest, 1), A.logic("orr", 64, rest, rest, t3),
      A.logic("and", 64, rest, rest, t1, "lsr", 63),                                # RN
      A.logic("orr", 64, t3, t3, t1, "lsr", 63))                                    # t3 = inexact
    # RD: inexact and negative; RU: inexact and positive; RZ: never
    c(A.lsr_imm(32, t1, sg, 15),                                                    # t1 = sign
      A.logic("and", 64, t1, t3, t1),                                               # inexact & negative
      A.addsub_imm("subs", 32, ZR, t0, 1), A.csel("csel", 64, rest, t1, rest, "eq"),
      A.lsr_imm(32, t1, sg, 15), A.logic("bic", 64, t1, t3, t1),                    # inexact & positive
      A.addsub_imm("subs", 32, ZR, t0, 2), A.csel("csel", 64, rest, t1, rest, "eq"),
      A.addsub_imm("subs", 32, ZR, t0, 3), A.csel("csel", 64, rest, ZR, rest, "eq"))
    # sig = sig with the low bits cleared + (increment << low); a carry out of bit 63: 1.0 * 2
    c(A.movw("movz", 64, t1, 1), A.dp2("lslv", 64, t1, t1, t2), A.addsub_imm("sub", 64, t3, t1, 1),
      A.logic("bic", 64, sig, sig, t3), A.dp2("lslv", 64, t1, rest, t2), A.addsub("adds", 64, sig, sig, t1))
    L.branch("no_carry", "lo")
    c(A.movw("movz", 64, sig, 0x8000, 3), A.addsub_imm("add", 32, e, e, 1))
    L.place("no_carry")
    # a denormal that rounded up to the smallest normal
    c(A.lsr_imm(64, t1, sig, 63), A.addsub_imm("subs", 32, ZR, e, 0), A.csel("csel", 32, e, t1, e, "eq"))
    # above the range: infinity, or the largest finite value of the precision when the rounding
    # goes toward zero for this sign (RZ; RD for positive, RU for negative)
    c(A.movw("movz", 32, t1, emax), A.addsub("subs", 32, ZR, e, t1))
    L.branch("packed", "lt")
    c(A.lsr_imm(32, t1, sg, 15), A.addsub_imm("add", 32, t1, t1, 1),              # 1 for +, 2 for -
      A.addsub("subs", 32, ZR, t0, t1), A.ccmp("ccmp", 32, t0, 3, 0b0100, "ne", imm=True))
    L.branch("to_max", "eq")
    c(A.movw("movz", 32, e, emax), A.movw("movz", 64, sig, 0x8000, 3), A.movw("movz", 64, rest, 1))
    L.branch("packed", "b")
    L.place("to_max")
    c(A.movw("movz", 32, e, emax - 1), A.movw("movn", 64, sig, 0), A.movw("movz", 64, t1, 1),
      A.dp2("lslv", 64, t1, t1, t2), A.addsub_imm("sub", 64, t1, t1, 1), A.logic("bic", 64, sig, sig, t1),
      A.movw("movz", 64, rest, 0))
    L.place("packed")
    c(A.logic("orr", 32, e, e, sg))
    return rest


def _invalid_infinity_or_zero(c: Ctx, L: Labels, invalid: int, infinite: int, t0: int,
                              result: tuple[int, int, int]) -> None:
    """The end of a product's or quotient's special operands: to "invalid" when `invalid` is set, else
    (after the instruction word `infinite`, which sets t0 when the result is infinite) an infinity or
    a zero of the sign in sg. `result`: ma, ea, sg."""
    ma, ea, sg = result
    L.branch("invalid", "cbnz", invalid)
    c(infinite)
    L.branch("zero", "cbz", t0)
    c(A.movw("movz", 32, ea, 0x7FFF), A.movw("movz", 64, ma, 0x8000, 3), A.logic("orr", 32, ea, ea, sg))
    L.branch("special_done", "b")
    L.place("zero")
    c(A.mov(32, ea, sg), A.movw("movz", 64, ma, 0))
    L.branch("special_done", "b")


def _indefinite_or_quiet(c: Ctx, L: Labels, ma: int, ea: int, end: str) -> None:
    """The labels "invalid" (the result is the real indefinite) and "quiet" (the NaN in ma made
    quiet), both going on at `end`, which is placed here."""
    L.place("invalid")
    c(A.movw("movz", 32, ea, INDEFINITE[0]), A.movw("movz", 64, ma, 0xC000, 3))
    L.branch(end, "b")
    L.place("quiet")
    c(A.logic_imm("orr", 64, ma, ma, QUIET))
    L.place(end)


def _special(c: Ctx, L: Labels, ma: int, ea: int, mb: int, eb: int, sg: int, kind: str, t: tuple[int, int]) -> None:
    """The result when an operand is not finite and nonzero (or not supported), into ma and ea (sign
    and exponent; ea and eb hold the operands' signs and exponents): the invalid operation's
    indefinite, a quieted NaN, infinity or zero."""
    t0, t1 = t
    # unsupported encodings (an exponent not 0 with the integer bit clear): invalid
    for m, e in ((ma, ea), (mb, eb)):
        c(A.logic_imm("ands", 32, t0, e, 0x7FFF), A.cset(64, t0, "ne"), A.logic("bic", 64, t0, t0, m, "lsr", 63))
        L.branch("invalid", "cbnz", t0)
    # NaNs
    for m, e, r in ((ma, ea, t1), (mb, eb, t0)):                 # t1: a is a NaN, t0: b is
        c(A.logic_imm("and", 32, r, e, 0x7FFF), A.logic_imm("eor", 32, r, r, 0x7FFF),
          A.addsub_imm("subs", 32, ZR, r, 0), A.lsl_imm(64, r, m, 1), A.ccmp("ccmp", 64, r, 0, 0b0100, "eq", imm=True),
          A.cset(64, r, "ne"))
    L.branch("b_not_nan", "cbz", t0)
    L.branch("b_nan", "cbz", t1)
    # both NaNs: the quiet one over a signalling one, else the larger significand, else the positive
    c(A.logic("eor", 64, t0, ma, mb))
    L.branch("same_kind", "tbz", t0, 62)
    L.branch("quiet", "tbnz", ma, 62)
    L.branch("b_nan", "b")
    L.place("same_kind")
    c(A.addsub("subs", 64, ZR, ma, mb))
    L.branch("quiet", "hi")
    L.branch("b_nan", "lo")
    L.branch("quiet", "tbz", ea, 15)            # equal significands: the positive one
    L.place("b_nan")
    c(A.mov(64, ma, mb), A.mov(32, ea, eb))
    L.branch("quiet", "b")
    L.place("b_not_nan")
    L.branch("quiet", "cbnz", t1)
    # infinities and zeros: t1 = a is infinite, t0 = b is
    c(A.logic_imm("and", 32, t1, ea, 0x7FFF), A.logic_imm("eor", 32, t1, t1, 0x7FFF),
      A.addsub_imm("subs", 32, ZR, t1, 0), A.cset(64, t1, "eq"),
      A.logic_imm("and", 32, t0, eb, 0x7FFF), A.logic_imm("eor", 32, t0, t0, 0x7FFF),
      A.addsub_imm("subs", 32, ZR, t0, 0), A.cset(64, t0, "eq"))
    if kind == "mul":
        # inf * 0: invalid; else infinity if either is, else zero
        c(A.addsub_imm("subs", 64, ZR, mb, 0), A.cset(64, ea, "eq"), A.logic("and", 64, ea, ea, t1),
          A.addsub_imm("subs", 64, ZR, ma, 0), A.cset(64, eb, "eq"), A.logic("and", 64, eb, eb, t0),
          A.logic("orr", 64, ea, ea, eb))
        _invalid_infinity_or_zero(c, L, ea, A.logic("orr", 64, t0, t0, t1), t0, (ma, ea, sg))
    elif kind == "div":
        # inf / inf and 0 / 0: invalid; inf / y and x / 0: infinity; else zero
        c(A.addsub_imm("subs", 64, ZR, mb, 0), A.cset(64, eb, "eq"), A.addsub_imm("subs", 64, ZR, ma, 0),
          A.cset(64, ea, "eq"), A.logic("and", 64, ma, ea, eb), A.logic("and", 64, mb, t1, t0),
          A.logic("orr", 64, ma, ma, mb))
        _invalid_infinity_or_zero(c, L, ma, A.logic("orr", 64, t0, t1, eb), t0, (ma, ea, sg))
    else:
        # inf + inf of opposite signs: invalid; else the infinity (y's sign flipped by a subtraction)
        if kind == "sub":
            c(A.logic_imm("eor", 32, eb, eb, 0x8000))
        c(A.logic("and", 64, sg, t0, t1))
        L.branch("one_inf", "cbz", sg)
        c(A.logic("eor", 32, sg, ea, eb))
        L.branch("invalid", "tbnz", sg, 15)
        L.branch("special_done", "b")
        L.place("one_inf")
        L.branch("special_done", "cbnz", t1)
        c(A.mov(64, ma, mb), A.mov(32, ea, eb))
        L.branch("special_done", "b")
    _indefinite_or_quiet(c, L, ma, ea, "special_done")


def _flags_save(c: Ctx) -> int | None:
    """NZCV, when a guest flag in it is live, kept in a scratch vector register (the arithmetic
    needs every scratch general register)."""
    if not c.nzcv_live():
        return None
    t, v = c.tmp(), c.vtmp()
    c(A.mrs_nzcv(t), A.ins_gen(3, v, 0, t))
    c.release(t)
    return v


def _flags_restore(c: Ctx, v: int | None) -> None:
    if v is not None:
        t = c.tmp()
        c(A.umov(3, t, v, 0), A.msr_nzcv(t))
        c.release(t)


def _load_ref(c: Ctx, ref: int | Mem) -> tuple[int, int]:
    """(significand, sign/exponent) of st(ref) or of a float in memory (a signalling NaN kept)."""
    if isinstance(ref, Mem):
        held = [r for r in SCRATCH if r not in c.free]
        v = c.load(ref, ref.size)
        m, se = _widen(c, v, ref.size, quiet=False)
        c.addresses.clear()                       # the address registers (and v) are free again
        c.release(*[r for r in SCRATCH if r not in c.free and r not in held and r not in (m, se)])
        return m, se
    sw, top = _status(c)
    a = _slot(c, top, ref)
    c.release(sw, top)
    m, se = _load(c, a)
    c.release(a)
    return m, se


def _operands(c: Ctx, reverse: bool) -> tuple[int | Mem, int | Mem, int]:
    """(first operand, second operand, destination st(i)): the destination and the source, swapped
    for the reversed forms (fsubr: source - destination). A memory form's destination is st(0)."""
    ops = operands(c)
    src: int | Mem
    if len(ops) == 1:
        assert isinstance(ops[0], Mem)
        dest, src = 0, ops[0]
    else:
        dst, other = ops
        assert isinstance(dst, Reg) and isinstance(other, Reg)
        dest, src = dst.num, other.num
    return (src, dest, dest) if reverse else (dest, src, dest)


def _load_both(c: Ctx, x: int | Mem, y: int | Mem) -> tuple[int, int, int, int]:
    """(mx, ex, my, ey), the memory operand loaded first (its address registers are free after)."""
    if isinstance(x, Mem):
        mx, ex = _load_ref(c, x)
        my, ey = _load_ref(c, y)
    else:
        my, ey = _load_ref(c, y)
        mx, ex = _load_ref(c, x)
    return mx, ex, my, ey


def _store_result(c: Ctx, m: int, se: int, c1: int, dest: int) -> None:
    """st(dest) = m, se; C1 = c1; the pop of the p forms."""
    sw, top = _status(c)
    a = _slot(c, top, dest)
    c(A.ldst("str", "r", 8, m, a, X87_REGS), A.ldst("str", "r", 2, se, a, X87_REGS + 8), A.bfi(32, sw, c1, 9, 1))
    if c.insn.spec.mnemonic.endswith("p"):
        _pop(c, sw, top, c1=False)
    else:
        c(A.ldst("str", "r", 2, sw, E, X87_FSW))


def _binary_end(c: Ctx, L: Labels, kind: str, operands: tuple[int, int, int, int, int], c1: int,
                spare: tuple[int, int], done: tuple[int, ...], dest: int, saved: int | None) -> None:
    """The end of fadd, fmul and fdiv once the finite result is in (ma, ea) and its C1 in `c1`: the
    special operands' path (C1 = 0), then the result stored to st(dest) and the flags back.
    `operands`: ma, ea, mb, eb and the sign register; `done`: the registers released at the store
    (in this order: the next ones handed out come from its front)."""
    ma, ea, mb, eb, sg = operands
    L.branch("store", "b")
    L.place("special")
    c(A.movw("movz", 32, c1, 0))                                                   # C1 = 0
    _special(c, L, ma, ea, mb, eb, sg, kind, spare)
    L.place("store")
    c.release(*done)
    _store_result(c, ma, ea, c1, dest)
    _flags_restore(c, saved)
    assert not L.pending, L.pending


def _to_special(c: Ctx, L: Labels, m: int, e: int, k: int, t0: int, t1: int, zero: bool) -> None:
    """Branch to "special" when the operand is not finite or not supported (or zero, when `zero`)."""
    if zero:
        L.branch("special", "cbz", m)
    c(A.logic_imm("and", 32, t0, e, 0x7FFF), A.movw("movz", 32, t1, 0x7FFF), A.addsub("subs", 32, ZR, t0, t1))
    L.branch("special", "eq")
    L.branch(f"supported{k}", "tbnz", m, 63)
    L.branch("special", "cbnz", t0)
    L.place(f"supported{k}")


def _product_start(c: Ctx, L: Labels, reverse: bool) -> tuple[int | None, int, tuple[int, ...]]:
    """The start of fmul and fdiv: the flags saved, the operands loaded (swapped for the reverse
    forms), the result's sign in sg; unless both are finite, nonzero and supported (the integer bit
    set, or a denormal), to the special path; else both normalised, exponents without their sign.
    Returns the saved flags, st(dest) and (ma, ea, mb, eb, sg, t0, t1, t2)."""
    saved = _flags_save(c)
    x, y, dest = _operands(c, reverse)
    ma, ea, mb, eb = _load_both(c, x, y)
    sg, t0, t1, t2 = c.tmp(), c.tmp(), c.tmp(), c.tmp()
    c(A.logic("eor", 32, sg, ea, eb), A.logic_imm("and", 32, sg, sg, 0x8000))
    for k, (m, e) in enumerate(((ma, ea), (mb, eb))):
        _to_special(c, L, m, e, k, t0, t1, zero=True)
    c(A.logic_imm("and", 32, ea, ea, 0x7FFF), A.logic_imm("and", 32, eb, eb, 0x7FFF))
    _normalise(c, ma, ea, t0)
    _normalise(c, mb, eb, t0)
    return saved, dest, (ma, ea, mb, eb, sg, t0, t1, t2)


@rule("fmul", "fmulp")
def _fmul(c: Ctx) -> None:
    L = Labels(c)
    saved, dest, (ma, ea, mb, eb, sg, t0, t1, t2) = _product_start(c, L, False)
    c(A.mull("umulh", t1, ma, mb), A.madd(64, ma, ma, mb, ZR))                    # t1:ma = ma * mb
    c.const(t0, 16383, 32)
    c(A.addsub("add", 32, ea, ea, eb), A.addsub("sub", 32, ea, ea, t0),
      A.extr(64, t0, t1, ma, 63), A.lsl_imm(64, mb, ma, 1), A.logic_imm("ands", 64, ZR, t1, SIGN),
      A.csel("csel", 64, t1, t1, t0, "ne"), A.csel("csel", 64, ma, ma, mb, "ne"), A.cset(32, t0, "ne"),
      A.addsub("add", 32, ea, ea, t0))
    c1 = _round_pack(c, L, t1, ma, ea, sg, (t0, mb, eb, t2))
    c(A.mov(64, t0, c1), A.mov(64, ma, t1))
    _binary_end(c, L, "mul", (ma, ea, mb, eb, sg), t0, (t1, t2), (mb, eb, sg, t1, t2), dest, saved)


@rule("fadd", "faddp", "fsub", "fsubp", "fsubr", "fsubrp")
def _fadd(c: Ctx) -> None:
    """x + y or x - y: y aligned to x's exponent in 128 bits (what falls below is sticky), added or
    subtracted, normalised and rounded. An exact zero is +0, or -0 when rounding down (or both
    operands are -0 in an addition)."""
    L = Labels(c)
    mnemonic = c.insn.spec.mnemonic
    sub = mnemonic.startswith("fsub")
    saved = _flags_save(c)
    x, y, dest = _operands(c, mnemonic.startswith("fsubr"))
    ma, ea, mb, eb = _load_both(c, x, y)
    t0, t1, t2, t3, t4 = c.tmp(), c.tmp(), c.tmp(), c.tmp(), c.tmp()
    for k, (m, e) in enumerate(((ma, ea), (mb, eb))):
        _to_special(c, L, m, e, k, t0, t1, zero=False)
    if sub:
        c(A.logic_imm("eor", 32, eb, eb, 0x8000))
    # t0, t1: the exponents (0 counts as 1); x the larger (a swap when not)
    for e, r in ((ea, t0), (eb, t1)):
        c(A.logic_imm("ands", 32, r, e, 0x7FFF), A.csel("csinc", 32, r, r, ZR, "ne"))
    c(A.addsub("subs", 32, ZR, t0, t1))
    for p, q in ((ma, mb), (ea, eb), (t0, t1)):
        c(A.csel("csel", 64, t2, q, p, "lo"), A.csel("csel", 64, q, p, q, "lo"), A.mov(64, p, t2))
    # mb:t2 = y shifted right by d = t0 - t1, what falls out sticky (in t2's bit 0)
    c(A.addsub("sub", 32, t1, t0, t1), A.movw("movz", 64, t2, 0))
    L.branch("aligned", "cbz", t1)
    c(A.addsub_imm("subs", 32, ZR, t1, 64))
    L.branch("short", "lo")
    c(A.addsub_imm("subs", 32, ZR, t1, 128), A.addsub_imm("sub", 32, t1, t1, 64), A.csel("csel", 64, t2, ZR, mb, "hs"),
      A.cset(64, t3, "hs"), A.csel("csel", 32, t1, ZR, t1, "hs"), A.addsub_imm("subs", 64, ZR, mb, 0),
      A.csel("csel", 64, t3, ZR, t3, "eq"), A.movw("movz", 64, mb, 0))
    # t2 (y's bits) >> t1 (0..63), sticky of what falls out; t3: 1 when all of y fell out
    c(A.addsub("sub", 32, t4, ZR, t1), A.dp2("lslv", 64, t4, t2, t4), A.addsub_imm("subs", 32, ZR, t1, 0),
      A.csel("csel", 64, t4, ZR, t4, "eq"), A.dp2("lsrv", 64, t2, t2, t1), A.logic("orr", 64, t4, t4, t3),
      A.addsub_imm("subs", 64, ZR, t4, 0), A.cset(64, t4, "ne"), A.logic("orr", 64, t2, t2, t4))
    L.branch("aligned", "b")
    L.place("short")
    c(A.addsub("sub", 32, t4, ZR, t1), A.dp2("lslv", 64, t2, mb, t4), A.dp2("lsrv", 64, mb, mb, t1))
    L.place("aligned")
    # the sign of the result is x's (ea's bit 15) unless y was larger in a subtraction
    c(A.logic("eor", 32, t3, ea, eb), A.logic_imm("and", 32, ea, ea, 0x8000))
    L.branch("subtract", "tbnz", t3, 15)
    c(A.addsub("adds", 64, ma, ma, mb))
    L.branch("carry", "hs")
    L.branch("normalised", "tbnz", ma, 63)
    c(A.logic("orr", 64, t4, ma, t2))
    L.branch("nonzero", "cbnz", t4)
    L.branch("zero", "b")                       # zeros of one sign: that zero
    L.place("carry")
    c(A.logic_imm("and", 64, t4, t2, 1), A.extr(64, t2, ma, t2, 1), A.logic("orr", 64, t2, t2, t4),
      A.lsr_imm(64, ma, ma, 1),
      A.logic_imm("orr", 64, ma, ma, SIGN), A.addsub_imm("add", 32, t0, t0, 1))
    L.branch("normalised", "b")
    L.place("subtract")
    c(A.addsub("subs", 64, t2, ZR, t2), A.adc("sbcs", 64, ma, ma, mb))
    L.branch("no_borrow", "hs")
    # y was larger: negate, the sign is y's
    c(A.addsub("subs", 64, t2, ZR, t2), A.adc("sbc", 64, ma, ZR, ma), A.logic_imm("eor", 32, ea, ea, 0x8000))
    L.place("no_borrow")
    c(A.logic("orr", 64, t4, ma, t2))
    L.branch("nonzero", "cbnz", t4)
    # an exact zero: +0, -0 when rounding down
    c(A.ldst("ldr", "r", 2, t4, E, X87_FCW), A.ubfx(32, t4, t4, 10, 2), A.addsub_imm("subs", 32, ZR, t4, 1),
      A.movw("movz", 32, ea, 0x8000), A.csel("csel", 32, ea, ea, ZR, "eq"), A.movw("movz", 64, t0, 0))
    L.branch("zero", "b")
    L.place("nonzero")
    # the leading one to bit 63 of ma:t2
    c(A.dp1("clz", 64, t4, ma), A.addsub_imm("subs", 32, ZR, t4, 64))
    L.branch("high", "lo")
    c(A.mov(64, ma, t2), A.movw("movz", 64, t2, 0), A.addsub_imm("sub", 32, t0, t0, 64), A.dp1("clz", 64, t4, ma))
    L.place("high")
    c(A.addsub("sub", 32, t0, t0, t4), A.dp2("lslv", 64, ma, ma, t4), A.addsub("sub", 32, t3, ZR, t4),
      A.dp2("lsrv", 64, t3, t2, t3), A.addsub_imm("subs", 32, ZR, t4, 0), A.csel("csel", 64, t3, ZR, t3, "eq"),
      A.logic("orr", 64, ma, ma, t3), A.dp2("lslv", 64, t2, t2, t4))
    L.place("normalised")
    c1 = _round_pack(c, L, ma, t2, t0, ea, (t1, t3, t4, mb))
    c(A.mov(64, t1, c1), A.mov(32, ea, t0))
    L.branch("store", "b")
    L.place("zero")
    c(A.movw("movz", 64, ma, 0), A.movw("movz", 32, t1, 0))
    _binary_end(c, L, "sub" if sub else "add", (ma, ea, mb, eb, t0), t1, (t3, t4), (mb, eb, t0, t2, t3, t4),
                dest, saved)


@rule("fdiv", "fdivp", "fdivr", "fdivrp")
def _fdiv(c: Ctx) -> None:
    """x / y: the quotient of the normalised significands by restoring division, one bit a step
    (64 bits, then the guard bit; the remainder is sticky), normalised to [1, 2) first."""
    L = Labels(c)
    saved, dest, (ma, ea, mb, eb, sg, t0, t1, t2) = _product_start(c, L, c.insn.spec.mnemonic.startswith("fdivr"))
    c.const(t0, 16383, 32)
    c(A.addsub("sub", 32, ea, ea, eb), A.addsub("add", 32, ea, ea, t0))
    # x < y: 2x / y (exponent - 1), the remainder's bit 64 in t2
    c(A.movw("movz", 64, t2, 0), A.addsub("subs", 64, ZR, ma, mb))
    L.branch("ordered", "hs")
    c(A.lsr_imm(64, t2, ma, 63), A.lsl_imm(64, ma, ma, 1), A.addsub_imm("sub", 32, ea, ea, 1))
    L.place("ordered")
    # t1 = quotient, ma = remainder (bit 64 in t2), eb = steps left
    c(A.movw("movz", 64, t1, 0), A.movw("movz", 32, eb, 65))
    loop = len(c.words)
    c(A.addsub("subs", 64, ZR, ma, mb), A.cset(64, t0, "hs"), A.logic("orr", 64, t0, t0, t2),
      A.addsub("sub", 64, t2, ma, mb), A.addsub_imm("subs", 64, ZR, t0, 0), A.csel("csel", 64, ma, t2, ma, "ne"))
    # q = q << 1 | bit, except the 65th bit (the guard), which goes to t0 alone
    c(A.addsub_imm("subs", 32, eb, eb, 1))
    L.branch("last", "eq")
    c(A.logic("orr", 64, t1, t0, t1, "lsl", 1), A.lsr_imm(64, t2, ma, 63), A.lsl_imm(64, ma, ma, 1))
    c(A.b(4 * (loop - len(c.words))))
    L.place("last")
    # rest: the guard at bit 63, the remainder as sticky below it
    c(A.addsub_imm("subs", 64, ZR, ma, 0), A.cset(64, ma, "ne"), A.logic("orr", 64, ma, ma, t0, "lsl", 63))
    c1 = _round_pack(c, L, t1, ma, ea, sg, (t0, mb, eb, t2))
    c(A.mov(64, t0, c1), A.mov(64, ma, t1))
    _binary_end(c, L, "div", (ma, ea, mb, eb, sg), t0, (t1, t2), (mb, eb, sg, t1, t2), dest, saved)


@rule("fsqrt")
def _fsqrt(c: Ctx) -> None:
    """The square root of st(0): the significand's integer square root digit by digit (two radicand
    bits a step, 64 steps) of m * 2^63 (an even exponent) or m * 2^64 (odd); the guard bit is
    remainder > root, and the exact result can never be halfway."""
    L = Labels(c)
    saved = _flags_save(c)
    ma, ea = _load_ref(c, 0)
    q, rhi, rlo, nhi, nlo, thi, tlo = (c.tmp() for _ in range(7))
    # the main path: finite, positive, nonzero and supported
    L.branch("special", "cbz", ma)
    L.branch("special", "tbnz", ea, 15)
    _to_special(c, L, ma, ea, 0, thi, tlo, zero=False)
    _normalise(c, ma, ea, thi)
    c.const(thi, 16383, 32)
    c(A.addsub("sub", 32, ea, ea, thi),                                            # E, unbiased
      A.lsr_imm(64, nhi, ma, 1), A.lsl_imm(64, nlo, ma, 63),                      # m * 2^63
      A.logic_imm("ands", 32, ZR, ea, 1), A.csel("csel", 64, nhi, ma, nhi, "ne"),
      A.csel("csel", 64, nlo, ZR, nlo, "ne"),
      A.asr_imm(32, ea, ea, 1), A.addsub("add", 32, ea, ea, thi))                  # the root's exponent
    ve = c.vtmp()
    c(A.ins_gen(3, ve, 0, ea), A.movw("movz", 64, q, 0), A.movw("movz", 64, rhi, 0), A.movw("movz", 64, rlo, 0),
      A.movw("movz", 32, ea, 64))
    loop = len(c.words)
    c(A.extr(64, rhi, rhi, rlo, 62), A.extr(64, rlo, rlo, nhi, 62), A.extr(64, nhi, nhi, nlo, 62),
      A.lsl_imm(64, nlo, nlo, 2),
      A.lsr_imm(64, thi, q, 62), A.lsl_imm(64, tlo, q, 2), A.logic_imm("orr", 64, tlo, tlo, 1),
      A.lsl_imm(64, q, q, 1), A.addsub("subs", 64, ZR, rlo, tlo), A.adc("sbcs", 64, ZR, rhi, thi))
    L.branch("less", "lo")
    c(A.addsub("subs", 64, rlo, rlo, tlo), A.adc("sbc", 64, rhi, rhi, thi), A.logic_imm("orr", 64, q, q, 1))
    L.place("less")
    c(A.addsub_imm("subs", 32, ea, ea, 1))
    c(A.b_cond("ne", 4 * (loop - len(c.words))))
    # rest: the guard (remainder > root) at bit 63, sticky (remainder not 0) below
    c(A.addsub("subs", 64, ZR, rlo, q), A.cset(64, thi, "hi"), A.addsub_imm("subs", 64, ZR, rhi, 0),
      A.csel("csinc", 64, thi, thi, ZR, "eq"))
    c(A.logic("orr", 64, tlo, rhi, rlo), A.addsub_imm("subs", 64, ZR, tlo, 0), A.cset(64, tlo, "ne"),
      A.logic("orr", 64, tlo, tlo, thi, "lsl", 63), A.umov(3, ea, ve, 0), A.movw("movz", 32, nhi, 0))
    c1 = _round_pack(c, L, q, tlo, ea, nhi, (thi, rhi, rlo, nlo))
    c(A.mov(64, thi, c1), A.mov(64, ma, q))
    L.branch("store", "b")
    L.place("special")
    c(A.movw("movz", 32, thi, 0))                                                  # C1 = 0
    # unsupported: invalid; a NaN: quieted; zeros stay; negative: invalid; +inf stays
    c(A.logic_imm("ands", 32, tlo, ea, 0x7FFF), A.cset(64, tlo, "ne"), A.logic("bic", 64, tlo, tlo, ma, "lsr", 63))
    L.branch("invalid", "cbnz", tlo)
    c(A.logic_imm("and", 32, tlo, ea, 0x7FFF), A.logic_imm("eor", 32, tlo, tlo, 0x7FFF),
      A.addsub_imm("subs", 32, ZR, tlo, 0), A.lsl_imm(64, tlo, ma, 1),
      A.ccmp("ccmp", 64, tlo, 0, 0b0100, "eq", imm=True))
    L.branch("quiet", "ne")
    L.branch("store", "cbz", ma)                                                   # +-0
    L.branch("store", "tbz", ea, 15)                                               # +inf
    _indefinite_or_quiet(c, L, ma, ea, "store")
    c.release(q, rhi, rlo, nhi, nlo, tlo)
    _store_result(c, ma, ea, thi, 0)
    _flags_restore(c, saved)
    assert not L.pending, L.pending


# m32 and m64: (low bits dropped from the 64-bit significand, exponent bias, exponent all-ones,
# fraction bits)
_NARROW = {4: (40, 127, 0xFF, 23), 8: (11, 1023, 0x7FF, 52)}


def _store_to_memory(c: Ctx, L: Labels, m: int, mem: Mem, c1: int, popping: str, saved: int | None) -> None:
    """The end of a store to memory (fst/fstp m32/m64, fist/fistp): m written, C1 from `c1` into the
    status word, st(0) popped by the `popping` mnemonic, the flags back."""
    c.ldst("str", "r", mem.size, m, mem)
    sw, top = _status(c)
    c(A.bfi(32, sw, c1, 9, 1))
    if c.insn.spec.mnemonic == popping:
        _pop(c, sw, top, c1=False)
    else:
        c(A.ldst("str", "r", 2, sw, E, X87_FSW))
    _flags_restore(c, saved)
    assert not L.pending, L.pending


def fst_narrow(c: Ctx, mem: Mem) -> None:
    """st(0) rounded to a float32/float64 at mem by the control word's rounding (not its
    precision), C1 set when rounded up; a NaN quieted with its payload's top bits, an unsupported
    encoding the format's indefinite; overflow and underflow as the arithmetic's."""
    low, bias, emax, fbits = _NARROW[mem.size]
    bits = 8 * mem.size
    L = Labels(c)
    saved = _flags_save(c)
    m, se = _load_ref(c, 0)
    sg, t0, t1, t2, t3 = (c.tmp() for _ in range(5))
    c(A.logic_imm("and", 32, sg, se, 0x8000))
    L.branch("special", "cbz", m)
    _to_special(c, L, m, se, 0, t0, t1, zero=False)
    c(A.logic_imm("and", 32, se, se, 0x7FFF))
    _normalise(c, m, se, t0)
    c.const(t0, 16383 - bias, 32)
    c(A.addsub("sub", 32, se, se, t0), A.movw("movz", 64, t1, 0))
    c1 = _round_pack(c, L, m, t1, se, sg, (t0, t2, t3, c.tmp()), low=low, emax=emax)
    # pack: sign, exponent, the fraction below the integer bit
    c(A.mov(64, t2, c1), A.ubfx(64, m, m, low, fbits), A.logic_imm("and", 32, t0, se, 0x7FFF),
      A.logic("orr", 64, m, m, t0, "lsl", fbits), A.lsr_imm(32, t0, se, 15),
      A.logic("orr", 64, m, m, t0, "lsl", bits - 1))
    L.branch("store", "b")
    L.place("special")
    c(A.movw("movz", 32, t2, 0))                                                   # C1 = 0
    c(A.logic_imm("ands", 32, t0, se, 0x7FFF), A.cset(64, t0, "ne"), A.logic("bic", 64, t0, t0, m, "lsr", 63))
    L.branch("invalid", "cbnz", t0)
    # zero, infinity, NaN (quieted): the sign, all-ones or zero exponent, the fraction's top bits
    c(A.logic_imm("and", 32, t0, se, 0x7FFF), A.addsub_imm("subs", 32, ZR, t0, 0), A.movw("movz", 32, t1, emax),
      A.csel("csel", 32, t0, ZR, t1, "eq"), A.lsl_imm(64, t1, m, 1), A.addsub_imm("subs", 64, ZR, t1, 0),
      A.cset(64, t3, "ne"), A.ubfx(64, m, m, low, fbits), A.logic("orr", 64, m, m, t3, "lsl", fbits - 1),
      A.logic("orr", 64, m, m, t0, "lsl", fbits), A.lsr_imm(32, t0, sg, 15),
      A.logic("orr", 64, m, m, t0, "lsl", bits - 1))
    L.branch("store", "b")
    L.place("invalid")
    c.const(m, 0xFFC00000 if bits == 32 else 0xFFF8000000000000)
    L.place("store")
    c.release(se, sg, t0, t1, t3)
    _store_to_memory(c, L, m, mem, t2, "fstp", saved)


def _round_integer(c: Ctx, L: Labels, m: int, se: int, sg: int, q: int, f: int, k: int, t: tuple[int, int]) -> int:
    """The integer nearest st(0) (m, se: finite, nonzero, supported) by the control word's rounding:
    q = its magnitude, k = the fraction bits the significand had (16446 - exponent). Branches to
    "large" when k <= 0 (|x| >= 2^63, already an integer). Returns the register of the increment
    (C1)."""
    t0, t1 = t
    c.const(t0, 16446, 32)
    c(A.logic_imm("and", 32, k, se, 0x7FFF), A.addsub("sub", 32, k, t0, k), A.addsub_imm("subs", 32, ZR, k, 0))
    L.branch("large", "le")
    c(A.addsub_imm("subs", 32, ZR, k, 64))
    L.branch("short", "lt")
    # no integer bits: q = 0, f = m >> (k - 64), what falls out sticky (all of m when k >= 128)
    c(A.addsub_imm("sub", 32, t0, k, 64), A.movw("movz", 64, q, 0), A.addsub_imm("subs", 32, ZR, t0, 64),
      A.csel("csel", 32, t0, ZR, t0, "hs"), A.csel("csel", 64, f, ZR, m, "hs"), A.cset(64, t1, "hs"),
      A.addsub("sub", 32, k, ZR, t0), A.dp2("lslv", 64, k, f, k), A.addsub_imm("subs", 32, ZR, t0, 0),
      A.csel("csel", 64, k, ZR, k, "eq"), A.logic("orr", 64, t1, t1, k), A.dp2("lsrv", 64, f, f, t0),
      A.addsub_imm("subs", 64, ZR, t1, 0), A.cset(64, t1, "ne"), A.logic("orr", 64, f, f, t1))
    L.branch("fraction", "b")
    L.place("short")
    c(A.dp2("lsrv", 64, q, m, k), A.addsub("sub", 32, t0, ZR, k), A.dp2("lslv", 64, f, m, t0))
    L.place("fraction")
    # the increment: RN guard & (sticky | lsb); RD inexact & negative; RU inexact & positive; RZ 0
    c(A.lsl_imm(64, t0, f, 1), A.addsub_imm("subs", 64, ZR, t0, 0), A.cset(64, t0, "ne"),      # sticky
      A.logic_imm("and", 64, t1, q, 1), A.logic("orr", 64, t1, t1, t0), A.logic("and", 64, t1, t1, f, "lsr", 63),
      A.logic("orr", 64, t0, t0, f, "lsr", 63),                                              # t0 = inexact
      A.ldst("ldr", "r", 2, k, E, X87_FCW), A.ubfx(32, k, k, 10, 2),
      A.lsr_imm(32, f, sg, 15), A.logic("and", 64, f, t0, f), A.addsub_imm("subs", 32, ZR, k, 1),
      A.csel("csel", 64, t1, f, t1, "eq"),
      A.lsr_imm(32, f, sg, 15), A.logic("bic", 64, f, t0, f), A.addsub_imm("subs", 32, ZR, k, 2),
      A.csel("csel", 64, t1, f, t1, "eq"), A.addsub_imm("subs", 32, ZR, k, 3), A.csel("csel", 64, t1, ZR, t1, "eq"),
      A.addsub("add", 64, q, q, t1))
    return t1


def _integer_start(c: Ctx, L: Labels) -> tuple[int | None, int, int, tuple[int, ...]]:
    """The start of frndint and fist/fistp: the flags saved, st(0) loaded (m, se), seven scratch
    registers (sg, q, f, k, t0, t1, c1) with the sign in sg and C1 = 0; a special st(0) to its path."""
    saved = _flags_save(c)
    m, se = _load_ref(c, 0)
    sg, q, f, k, t0, t1, c1 = (c.tmp() for _ in range(7))
    c(A.logic_imm("and", 32, sg, se, 0x8000), A.movw("movz", 32, c1, 0))
    _to_special(c, L, m, se, 0, t0, t1, zero=False)
    return saved, m, se, (sg, q, f, k, t0, t1, c1)


@rule("frndint")
def _frndint(c: Ctx) -> None:
    """st(0) rounded to an integer by the control word's rounding (a zero keeps the sign)."""
    L = Labels(c)
    saved, m, se, (sg, q, f, k, t0, t1, c1) = _integer_start(c, L)
    L.branch("store", "cbz", m)
    inc = _round_integer(c, L, m, se, sg, q, f, k, (t0, t1))
    c(A.mov(64, c1, inc), A.mov(32, se, sg), A.movw("movz", 64, m, 0))
    L.branch("store", "cbz", q)
    c(A.dp1("clz", 64, t0, q), A.dp2("lslv", 64, m, q, t0), A.movw("movz", 32, t1, 16446),
      A.addsub("sub", 32, t1, t1, t0), A.logic("orr", 32, se, se, t1))
    L.branch("store", "b")
    L.place("large")
    L.branch("store", "b")
    L.place("special")
    # unsupported: invalid; a NaN quieted; an infinity stays
    c(A.logic_imm("ands", 32, t0, se, 0x7FFF), A.cset(64, t0, "ne"), A.logic("bic", 64, t0, t0, m, "lsr", 63))
    L.branch("invalid", "cbnz", t0)
    c(A.lsl_imm(64, t0, m, 1))
    L.branch("store", "cbz", t0)
    c(A.logic_imm("orr", 64, m, m, QUIET))
    L.branch("store", "b")
    L.place("invalid")
    c(A.movw("movz", 32, se, INDEFINITE[0]), A.movw("movz", 64, m, 0xC000, 3))
    L.place("store")
    c.release(sg, q, f, k, t0, t1)
    _store_result(c, m, se, c1, 0)
    _flags_restore(c, saved)
    assert not L.pending, L.pending


@rule("fistp", "fist")
def _fistp(c: Ctx) -> None:
    """st(0) rounded to an integer by the control word's rounding, stored as 16, 32 or 64 bits; a
    NaN, an infinity, an unsupported encoding or a value out of range store the integer
    indefinite (the sign bit alone)."""
    (mem,) = operands(c)
    assert isinstance(mem, Mem)
    bits = 8 * mem.size
    L = Labels(c)
    saved, m, se, (sg, q, f, k, t0, t1, c1) = _integer_start(c, L)
    L.branch("zero", "cbz", m)
    inc = _round_integer(c, L, m, se, sg, q, f, k, (t0, t1))
    c(A.mov(64, c1, inc))
    L.branch("range", "b")
    L.place("large")
    # |x| >= 2^63: only -2^63 fits, in 64 bits
    c(A.mov(64, q, m), A.addsub_imm("subs", 32, ZR, k, 0))
    L.branch("invalid", "ne")
    L.place("range")
    # q <= 2^(bits-1) - 1, or 2^(bits-1) when negative
    c(A.movw("movz", 64, t0, 1), A.lsl_imm(64, t0, t0, bits - 1), A.addsub_imm("sub", 64, t1, t0, 1),
      A.lsr_imm(32, f, sg, 15), A.addsub("add", 64, t1, t1, f), A.addsub("subs", 64, ZR, q, t1))
    L.branch("invalid", "hi")
    c(A.addsub("sub", 64, t0, ZR, q), A.addsub_imm("subs", 32, ZR, sg, 0), A.csel("csel", 64, m, q, t0, "eq"))
    L.branch("store", "b")
    L.place("zero")
    c(A.movw("movz", 64, m, 0))
    L.branch("store", "b")
    L.place("special")
    L.place("invalid")
    c(A.movw("movz", 32, c1, 0), A.movw("movz", 64, m, 1), A.lsl_imm(64, m, m, bits - 1))
    L.place("store")
    c.release(se, sg, q, f, k, t0, t1)
    _store_to_memory(c, L, m, mem, c1, "fistp", saved)


@rule("fstp", "fst")
def _fstp(c: Ctx) -> None:
    (dst,) = operands(c)
    if isinstance(dst, Mem) and dst.size < 10:
        fst_narrow(c, dst)
        return
    sw, top = _status(c)
    a0 = _slot(c, top, 0)
    sig, se = _load(c, a0)
    if isinstance(dst, Mem):
        a = c.addr(dst)
        c(A.ldst("str", "r", 8, sig, a, 0), A.ldst("str", "r", 2, se, a, 8))
    else:
        p = c.tmp()
        c(A.addsub_imm("add", 32, p, top, dst.num), A.logic_imm("and", 32, p, p, 7))
        _store(c, _slot(c, p, 0), sig, se)
        _tag(c, p, True)                   # st(i) is in use now
    if c.insn.spec.mnemonic == "fstp":
        _pop(c, sw, top)
    else:
        _finish(c, sw)
