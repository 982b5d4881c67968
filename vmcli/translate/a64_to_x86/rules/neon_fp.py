"""Advanced SIMD floating point: lane-wise arithmetic, compares, conversions, rounding, fused forms."""

from __future__ import annotations

from vmcli.translate.a64_to_x86.builder import Ctx
from vmcli.translate.a64_to_x86.rules.floats import (
    ROUND,
    fbinary,
    fconst,
    fma,
    fmaxnm,
    fput_scalar,
    frint,
    frinta,
    funary_x,
    isnan,
    negate,
)
from vmcli.translate.a64_to_x86.rules.lanes import element, lane_const, movq_in, pairs, vzero
from vmcli.translate.a64_to_x86.rules.table import RULES as rule
from vmcli.translate.isa.x86.encoder import encode_modrm

# ---- floating point -------------------------------------------------------------------------------
#
# x86 and AArch64 agree on every non-NaN result (IEEE 754, round to nearest, no flush to zero) but
# not on NaNs: AArch64 returns the first signalling NaN operand quieted, else the first quiet NaN,
# else (an invalid operation) the default NaN 0x7FC00000 / 0x7FF8000000000000; x86 returns its
# own default NaN (sign set) and picks between NaN operands by other rules. _nan_result rebuilds
# AArch64's choice in every lane where the x86 result is a NaN.

def _fdouble(c: Ctx) -> bool:
    return c.lanes()[0] == 64


@rule("fadd_v", "fsub_v", "fmul_v", "fdiv_v", "fmax_v", "fmin_v")
def _farith(c: Ctx) -> None:
    f = c.fields
    a, b = c.vget(f["Rn"]), c.vget(f["Rm"])
    c.vput(f["Rd"], fbinary(c, c.name[:-2], _fdouble(c), a, b), bool(f["Q"]))


@rule("fcmeq_v", "fcmge_v", "fcmgt_v")
def _fcmp(c: Ctx) -> None:
    f, m = c.fields, c.name[:-2]
    op = "cmppd" if _fdouble(c) else "cmpps"
    a, b = c.vget(f["Rn"]), c.vget(f["Rm"])
    if m == "fcmeq":
        c.sse(op, a, b, imm=0)
        r = a
    else:                         # n >= m is m <= n; n > m is m < n (false on NaN, as AArch64)
        c.sse(op, b, a, imm=2 if m == "fcmge" else 1)
        r = b
    c.vput(f["Rd"], r, bool(f["Q"]))


@rule("fabs_v", "fneg_v", "fsqrt_v")
def _funary(c: Ctx) -> None:
    f = c.fields
    r = funary_x(c, c.name[:-2], _fdouble(c), c.vget(f["Rn"]))
    c.vput(f["Rd"], r, bool(f["Q"]))


@rule("scvtf_v", "fcvtzs_v")
def _fconvert(c: Ctx) -> None:
    f = c.fields
    c.vput(f["Rd"], _convert(c, c.name == "scvtf_v", _fdouble(c), c.vget(f["Rn"])), bool(f["Q"]))


@rule("scvtf_sv", "fcvtzs_sv")
def _fconvert_scalar(c: Ctx) -> None:
    """The scalar forms: lane 0 of the vector forms' result, the rest of the register cleared."""
    f = c.fields
    double = f["sz"] == 1
    fput_scalar(c, f["Rd"], _convert(c, c.name == "scvtf_sv", double, c.vget(f["Rn"])), double)


def _convert(c: Ctx, scvtf: bool, double: bool, a: int) -> int:
    """Every lane of a converted. fcvtzs saturates and turns NaN into 0; x86 gives the 'integer
    indefinite' 0x80..0 for both: lanes >= 2^31 (2^63) are flipped to the maximum, NaN lanes
    cleared."""
    if scvtf:
        if double:
            r = c.vtmp()
            _per_lane_64(c, a, r, "cvtsi2sd")
        else:
            r = c.vtmp()
            c.sse("cvtdq2ps", r, a)
    elif double:
        r = c.vtmp()
        _per_lane_64(c, a, r, "cvttsd2si")
    else:
        r = c.vtmp()
        c.sse("cvttps2dq", r, a)
        big = c.vconst(lane_const(0x4F000000, 32))           # 2^31
        c.sse("cmpps", big, a, imm=2)                          # 2^31 <= a
        c.sse("pxor", r, big)
        nan = isnan(c, a, False)
        c.sse("pandn", nan, r)
        r = nan
    return r


def _per_lane_64(c: Ctx, a: int, out: int, op: str) -> None:
    """out = op applied to both 64-bit lanes of a (through a general register)."""
    r = c.tmp()
    big = c.vconst(0x43E0000000000000) if op == "cvttsd2si" else None     # 2^63
    limit, zero = c.tmp(), c.tmp()
    c.mov_imm(limit, (1 << 63) - 1)
    c.mov_imm(zero, 0)
    parts = []
    for lane in range(2):
        t = c.vtmp()
        c.vcopy(t, a)
        if lane:
            c.sse("pshufd", t, t, imm=0xEE)
        if op == "cvtsi2sd":
            c(encode_modrm(b"\x0f\x7e", t, r, True, prefix=b"\x66"))       # movq r, t
            c.sse("pxor", t, t)
            c.sse("cvtsi2sd", t, r, w=True)
        else:
            assert big is not None
            c.sse("cvttsd2si", r, t, w=True)
            c.sse("ucomisd", t, big)
            c.cmov("ae", True, r, limit)                                   # >= 2^63 (not NaN)
            c.sse("ucomisd", t, t)
            c.cmov("p", True, r, zero)                                     # NaN
            c.sse("pxor", t, t)
            movq_in(c, t, r)
        parts.append(t)
    c.vcopy(out, parts[0])
    c.sse("punpcklqdq", out, parts[1])


@rule("faddp_v")
def _faddp(c: Ctx) -> None:
    f = c.fields
    even, odd = pairs(c)
    c.vput(f["Rd"], fbinary(c, "fadd", _fdouble(c), even, odd), bool(f["Q"]))


@rule(*(f"{m}_v" for m in ROUND))
def _frint_v(c: Ctx) -> None:
    f = c.fields
    c.vput(f["Rd"], frint(c, c.name[:-2], _fdouble(c), c.vget(f["Rn"])), bool(f["Q"]))


@rule("fmul_elem")
def _fmul_elem(c: Ctx) -> None:
    f = c.fields
    double = _fdouble(c)
    a = c.vget(f["Rn"])
    c.vput(f["Rd"], fbinary(c, "fmul", double, a, element(c, 64 if double else 32)), bool(f["Q"]))


@rule("faddp_s")
def _faddp_s(c: Ctx) -> None:
    """Lane 0 + lane 1 (in that operand order, for the NaN rule); an S or D result."""
    f = c.fields
    double = bool(f["sz"])
    a = c.vget(f["Rn"])
    b = c.vtmp()
    c.vcopy(b, a)
    c.vbytes_shift(True, b, 8 if double else 4)
    fput_scalar(c, f["Rd"], fbinary(c, "fadd", double, a, b), double)


@rule("fmla_v", "fmls_v", "fmla_elem", "fmls_elem")
def _fmla(c: Ctx) -> None:
    f = c.fields
    q = bool(f["Q"])
    d, n = c.vget(f["Rd"]), c.vget(f["Rn"])
    mm = element(c, 32) if c.name.endswith("elem") else c.vget(f["Rm"])
    if c.name.startswith("fmls"):
        negate(c, n)
    c.vput(f["Rd"], fma(c, d, n, mm, q), q)


@rule("fmaxnm_v", "fminnm_v")
def _fmaxnm_v(c: Ctx) -> None:
    f = c.fields
    a, b = c.vget(f["Rn"]), c.vget(f["Rm"])
    c.vput(f["Rd"], fmaxnm(c, c.name[:-2], _fdouble(c), a, b), bool(f["Q"]))


@rule("frinta_v")
def _frinta_v(c: Ctx) -> None:
    f = c.fields
    c.vput(f["Rd"], frinta(c, _fdouble(c), c.vget(f["Rn"])), bool(f["Q"]))


@rule("fabd_v")
def _fabd_v(c: Ctx) -> None:
    """|n - m| with FPAbs clearing the sign of a NaN result too."""
    f = c.fields
    double = _fdouble(c)
    r = fbinary(c, "fsub", double, c.vget(f["Rn"]), c.vget(f["Rm"]))
    c.sse("pand", r, fconst(c, double, 0x7FFFFFFF, (1 << 63) - 1))
    c.vput(f["Rd"], r, bool(f["Q"]))


@rule("facge_v", "facgt_v", "fcmgt0_v", "fcmeq0_v", "fcmlt0_v", "fcmge0_v", "fcmle0_v")
def _fcmp_more(c: Ctx) -> None:
    """Compares with zero, and of magnitudes (facge |n| >= |m|); false where a NaN is involved."""
    f, m = c.fields, c.name[:-2]
    double = _fdouble(c)
    op = "cmppd" if double else "cmpps"
    a = c.vget(f["Rn"])
    if m.startswith("fac"):
        absmask = fconst(c, double, 0x7FFFFFFF, (1 << 63) - 1)
        b = c.vget(f["Rm"])
        c.sse("pand", a, absmask)
        c.sse("pand", b, absmask)
    else:
        b = vzero(c)
    # n > m is m < n; n >= m is m <= n; n == 0; n < 0; n <= 0
    pred, swap = {"facge": (2, True), "facgt": (1, True), "fcmgt0": (1, True), "fcmge0": (2, True),
                  "fcmeq0": (0, False), "fcmlt0": (1, False), "fcmle0": (2, False)}[m]
    x, y = (b, a) if swap else (a, b)
    c.sse(op, x, y, imm=pred)
    c.vput(f["Rd"], x, bool(f["Q"]))


@rule("ucvtf_v")
def _ucvtf_v(c: Ctx) -> None:
    """Unsigned 32-bit lanes: (float) hi16 * 65536 and (float) lo16 are exact; their sum rounds once."""
    f = c.fields
    x = c.vget(f["Rn"])
    lo = c.vtmp()
    c.vcopy(lo, x)
    c.sse("pand", lo, c.vconst(lane_const(0xFFFF, 32)))
    c.vshift("psrl", 32, x, 16)
    c.sse("cvtdq2ps", x, x)
    c.sse("mulps", x, c.vconst(lane_const(0x47800000, 32)))       # 65536.0
    c.sse("cvtdq2ps", lo, lo)
    c.sse("addps", x, lo)
    c.vput(f["Rd"], x, bool(f["Q"]))


@rule("fcvtzu_v")
def _fcvtzu_v(c: Ctx) -> None:
    """Truncate to unsigned 32-bit lanes: below 2^31 cvttps2dq is exact; from 2^31 convert x - 2^31
    and set the top bit; from 2^32 all ones; NaN and negatives 0."""
    f = c.fields
    x = c.vget(f["Rn"])
    r = c.vtmp()
    c.sse("cvttps2dq", r, x)
    two31 = c.vconst(lane_const(0x4F000000, 32))
    t = c.vtmp()
    c.vcopy(t, x)
    c.sse("subps", t, two31)
    c.sse("cvttps2dq", t, t)
    c.sse("pxor", t, c.vconst(lane_const(0x80000000, 32)))
    c.sse("cmpps", two31, x, imm=2)                                 # 2^31 <= x
    c.vselect(two31, t, r)
    two32 = c.vconst(lane_const(0x4F800000, 32))
    c.sse("cmpps", two32, x, imm=2)                                 # 2^32 <= x: all ones
    c.sse("por", r, two32)
    ok = vzero(c)
    c.sse("cmpps", ok, x, imm=2)                                    # 0 <= x (false for NaN)
    c.sse("pand", r, ok)
    c.vput(f["Rd"], r, bool(f["Q"]))
