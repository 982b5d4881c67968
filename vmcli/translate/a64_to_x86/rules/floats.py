"""x86 float arithmetic made AArch64's, bit for bit: NaN choice and default NaNs, single-rounding fused
multiply-add (through double precision), rounding modes, fmaxnm/fminnm and frinta."""

from __future__ import annotations

from vmcli.translate.a64_to_x86.builder import Ctx
from vmcli.translate.a64_to_x86.rules.lanes import lane_const, sign_mask
from vmcli.translate.isa.x86.encoder import encode_modrm


def fconst(c: Ctx, double: bool, v32: int, v64: int) -> int:
    return c.vconst(lane_const(v64, 64) if double else lane_const(v32, 32))


def isnan(c: Ctx, x: int, double: bool) -> int:
    m = c.vtmp()
    c.vcopy(m, x)
    c.sse("cmppd" if double else "cmpps", m, x, imm=3)      # unordered with itself
    return m


def issnan(c: Ctx, x: int, nan: int, double: bool) -> int:
    """Lanes holding a signalling NaN (a NaN whose quiet bit is clear)."""
    m = c.vtmp()
    c.vcopy(m, x)
    if double:
        c.vshift("psll", 64, m, 12)
        c.vshift("psra", 32, m, 31)
        c.sse("pshufd", m, m, imm=0xF5)
    else:
        c.vshift("psll", 32, m, 9)
        c.vshift("psra", 32, m, 31)
    c.sse("pandn", m, nan)
    return m


def nan_choice(c: Ctx, a: int, b: int | None, double: bool) -> int:
    """Per lane: the AArch64 NaN result of an operation on a (and b)."""
    qbit = fconst(c, double, 0x00400000, 0x0008000000000000)
    v = fconst(c, double, 0x7FC00000, 0x7FF8000000000000)
    qa = c.vtmp()
    c.vcopy(qa, a)
    c.sse("por", qa, qbit)
    na = isnan(c, a, double)
    if b is not None:
        qb = c.vtmp()
        c.vcopy(qb, b)
        c.sse("por", qb, qbit)
        nb = isnan(c, b, double)
        c.vselect(nb, qb, v)
        c.vselect(na, qa, v)
        sb = issnan(c, b, nb, double)
        c.vselect(sb, qb, v)
        c.vrelease(qb, nb, sb)
    else:
        c.vselect(na, qa, v)
    sa = issnan(c, a, na, double)
    c.vselect(sa, qa, v)
    c.vrelease(qbit, qa, na, sa)
    return v


def fix_nans(c: Ctx, mask: int, double: bool, build, r: int) -> None:
    """r = build() in the lanes of mask (NaN lanes), skipped entirely when no lane is a NaN: the
    common case runs a handful of instructions instead of the whole NaN rule."""
    t = c.tmp()
    c(encode_modrm(b"\x0f\x50", t, mask, prefix=b"\x66" if double else b""))    # movmskp{s,d}
    c.test(False, t, t)
    c.release(t)
    start = c.mark()
    c.vselect(mask, build(), r)
    c.skip_from(start, "e")


FARITH = {"fadd": "add", "fsub": "sub", "fmul": "mul", "fdiv": "div", "fmax": "max", "fmin": "min"}


def fbinary(c: Ctx, m: str, double: bool, a: int, b: int) -> int:
    """fadd/fsub/fmul/fdiv/fmax/fmin of xmm a and b, lane-wise, with AArch64's NaN and zero rules."""
    suffix = "pd" if double else "ps"
    r = c.vtmp()
    c.vcopy(r, a)
    c.sse(FARITH[m] + suffix, r, b)
    if m in ("fmax", "fmin"):
        # equal operands (+0 and -0 among them): max is a & b, min a | b (x86 returns b)
        eq = c.vtmp()
        c.vcopy(eq, a)
        c.sse("cmp" + suffix, eq, b, imm=0)
        z = c.vtmp()
        c.vcopy(z, a)
        c.sse("pand" if m == "fmax" else "por", z, b)
        c.vselect(eq, z, r)
        nan = c.vtmp()
        c.vcopy(nan, a)
        c.sse("cmp" + suffix, nan, b, imm=3)
    else:
        nan = isnan(c, r, double)
    fix_nans(c, nan, double, lambda: nan_choice(c, a, b, double), r)
    return r


def funary_x(c: Ctx, m: str, double: bool, a: int) -> int:
    """fabs/fneg only touch the sign bit (NaNs pass unchanged, as AArch64 does); fsqrt takes the
    NaN rule; fmov is a copy."""
    if m == "fabs":
        c.sse("pand", a, fconst(c, double, 0x7FFFFFFF, (1 << 63) - 1))
        return a
    if m == "fneg":
        c.sse("pxor", a, fconst(c, double, 0x80000000, 1 << 63))
        return a
    if m == "fmov":
        return a
    r = c.vtmp()
    c.sse("sqrtpd" if double else "sqrtps", r, a)
    fix_nans(c, isnan(c, r, double), double, lambda: nan_choice(c, a, None, double), r)
    return r


def fput_scalar(c: Ctx, rd: int, x: int, double: bool) -> None:
    if not double:
        c.sse("pand", x, c.vconst(0xFFFFFFFF))
    c.vput(rd, x, q=not double)


# ---- rounding, multiply-accumulate, by element -----------------------------------------------------

ROUND = {"frintn": 0, "frintm": 1, "frintp": 2, "frintz": 3, "frintx": 0, "frinti": 0}   # FPCR: nearest


def frint(c: Ctx, m: str, double: bool, a: int) -> int:
    """roundps/roundpd with the rounding of the instruction; NaNs take the AArch64 rule."""
    r = c.vtmp()
    c(encode_modrm(b"\x0f\x3a\x09" if double else b"\x0f\x3a\x08", r, a, prefix=b"\x66",
                   imm=bytes([ROUND[m]])))
    fix_nans(c, isnan(c, a, double), double, lambda: nan_choice(c, a, None, double), r)
    return r


# ---- fused multiply-add (single precision) -----------------------------------------------------------
#
# SSE4.1 has no FMA. For single precision the fused result is still exact: n*m is exact in double
# precision, the sum s = RN(n*m + a) and its error e (TwoSum) are exact, and rounding s to odd
# (truncate, set the last bit when e != 0) before the one rounding to single gives the correctly
# rounded fused result (53 >= 2*24 + 2 bits). NaNs follow FPMulAdd: signalling before quiet, addend
# before the factors, and a quiet NaN addend with inf * 0 gives the default NaN. Double precision
# would need 106-bit products: fmadd/fmla on doubles stay unsupported.

def fma_half(c: Ctx, a: int, n: int, m: int, high: bool) -> int:
    """Two lanes (low or high half) of a + n*m, rounded once to single, in the low half of an xmm."""
    regs = []
    for x in (a, n, m):
        t = c.vtmp()
        if high:
            c.sse("pshufd", t, x, imm=0xEE)
            c.sse("cvtps2pd", t, t)
        else:
            c.sse("cvtps2pd", t, x)
        regs.append(t)
    da, dn, dm = regs
    c.sse("mulpd", dn, dm)                 # p = n*m, exact
    s = c.vtmp()
    c.vcopy(s, dn)
    c.sse("addpd", s, da)                  # s = RN(p + a)
    bb = c.vtmp()                          # TwoSum: e = (p - (s - bb)) + (a - bb), bb = s - p
    c.vcopy(bb, s)
    c.sse("subpd", bb, dn)
    c.vcopy(dm, s)
    c.sse("subpd", dm, bb)
    c.sse("subpd", dn, dm)
    c.sse("subpd", da, bb)
    c.sse("addpd", dn, da)
    e = dn
    inexact, ordered = da, dm              # e != 0 and not NaN (s infinite or NaN: left alone)
    c.sse("pxor", bb, bb)
    c.vcopy(inexact, e)
    c.sse("cmppd", inexact, bb, imm=4)
    c.vcopy(ordered, e)
    c.sse("cmppd", ordered, e, imm=7)
    c.sse("pand", inexact, ordered)
    away = ordered                         # s was rounded away from zero: sign(e) != sign(s)
    c.vcopy(away, e)
    c.sse("pxor", away, s)
    sign_mask(c, away, 64)
    c.sse("pand", away, inexact)
    c.sse("paddq", s, away)                # s - 1 ulp (away is all ones = -1 in those lanes)
    one = c.vconst(lane_const(1, 64), into=bb)
    c.sse("pand", inexact, one)
    c.sse("por", s, inexact)               # set the last bit where inexact: s rounded to odd
    c.sse("cvtpd2ps", e, s)
    c.vrelease(da, dm, bb, s)
    return e


def fma_nan(c: Ctx, a: int, n: int, m: int) -> int:
    """Per lane: FPMulAdd's NaN result for addend a and factors n, m (single precision)."""
    v = fconst(c, False, 0x7FC00000, 0)
    qbit = fconst(c, False, 0x00400000, 0)
    q = c.vtmp()
    for x in (m, n, a):                    # quiet NaNs, lowest priority first
        c.vcopy(q, x)
        c.sse("por", q, qbit)
        nan = isnan(c, x, False)
        c.vselect(nan, q, v)
        c.vrelease(nan)
    for x in (m, n, a):                    # then signalling NaNs
        c.vcopy(q, x)
        c.sse("por", q, qbit)
        nan = isnan(c, x, False)
        snan = issnan(c, x, nan, False)
        c.vselect(snan, q, v)
        c.vrelease(nan, snan)
    c.vrelease(q, qbit)
    # a quiet NaN addend with inf * 0 (either order): the default NaN
    absmask = c.vconst(lane_const(0x7FFFFFFF, 32))
    inf = c.vconst(lane_const(0x7F800000, 32))
    flags = []
    for x in (n, m):
        t = c.vtmp()
        c.vcopy(t, x)
        c.sse("pand", t, absmask)
        z = c.vtmp()
        c.sse("pxor", z, z)
        c.sse("pcmpeqd", z, t)             # zero
        c.sse("pcmpeqd", t, inf)           # infinite
        flags.append((t, z))
    c.vrelease(absmask, inf)
    (inf_n, zero_n), (inf_m, zero_m) = flags
    c.sse("pand", inf_n, zero_m)
    c.sse("pand", zero_n, inf_m)
    c.sse("por", inf_n, zero_n)
    c.vrelease(zero_n, inf_m, zero_m)
    nan = isnan(c, a, False)
    quiet_a = issnan(c, a, nan, False)
    c.sse("pandn", quiet_a, nan)           # a is a NaN and not signalling
    c.sse("pand", inf_n, quiet_a)
    c.vrelease(nan, quiet_a)
    dnan = fconst(c, False, 0x7FC00000, 0)
    c.vselect(inf_n, dnan, v)
    c.vrelease(inf_n, dnan)
    return v


def fma(c: Ctx, a: int, n: int, m: int, q: bool) -> int:
    lo = fma_half(c, a, n, m, False)
    if q:
        hi = fma_half(c, a, n, m, True)
        c.sse("punpcklqdq", lo, hi)
        c.vrelease(hi)
    nan = isnan(c, lo, False)
    fix_nans(c, nan, False, lambda: fma_nan(c, a, n, m), lo)
    return lo


def negate(c: Ctx, x: int) -> None:
    c.sse("pxor", x, c.vconst(lane_const(0x80000000, 32)))


# ---- fmaxnm/fminnm, frinta ---------------------------------------------------------------------------

def fmaxnm(c: Ctx, m: str, double: bool, a: int, b: int) -> int:
    """A quiet NaN facing a number is replaced by that number, then it is fmax/fmin: signalling
    NaNs and two quiet NaNs still propagate by the NaN rule (FPMaxNum/FPMinNum)."""
    na, nb = isnan(c, a, double), isnan(c, b, double)
    qa = issnan(c, a, na, double)
    c.sse("pandn", qa, na)                 # a is a quiet NaN
    qb = issnan(c, b, nb, double)
    c.sse("pandn", qb, nb)                 # b is a quiet NaN
    c.sse("pandn", nb, qa)                 # a quiet NaN, b not a NaN
    c.sse("pandn", na, qb)                 # b quiet NaN, a not a NaN
    a2 = c.vtmp()
    c.vcopy(a2, a)
    c.vselect(nb, b, a2)
    c.vselect(na, a, b)
    c.vrelease(na, nb, qa, qb)
    return fbinary(c, "fmax" if m == "fmaxnm" else "fmin", double, a2, b)


def frinta(c: Ctx, double: bool, a: int) -> int:
    """Round half away from zero: t = trunc(x); x - t is exact; |x - t| >= 0.5 moves t one away."""
    t = c.vtmp()
    c(encode_modrm(b"\x0f\x3a\x09" if double else b"\x0f\x3a\x08", t, a, prefix=b"\x66", imm=bytes([3])))
    d = c.vtmp()
    c.vcopy(d, a)
    c.sse("subpd" if double else "subps", d, t)
    c.sse("pand", d, fconst(c, double, 0x7FFFFFFF, (1 << 63) - 1))
    half = fconst(c, double, 0x3F000000, 0x3FE0000000000000)
    c.sse("cmppd" if double else "cmpps", half, d, imm=2)          # 0.5 <= |x - t| (false for NaN)
    one = fconst(c, double, 0x3F800000, 0x3FF0000000000000)
    sign = c.vtmp()
    c.vcopy(sign, a)
    c.sse("pand", sign, fconst(c, double, 0x80000000, 1 << 63))
    c.sse("por", one, sign)                                         # +-1 with x's sign
    c.sse("addpd" if double else "addps", one, t)
    c.vselect(half, one, t)                                         # (t alone keeps a -0)
    fix_nans(c, isnan(c, a, double), double, lambda: nan_choice(c, a, None, double), t)
    return t
