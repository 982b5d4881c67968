"""Scalar floating point: an S or D result clears the rest of the V register."""

from __future__ import annotations

from vmcli.translate.a64_to_x86.builder import COND_CC, Ctx
from vmcli.translate.a64_to_x86.host import nzcv_word
from vmcli.translate.a64_to_x86.rules.common import vfp_expand
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
    negate,
)
from vmcli.translate.a64_to_x86.rules.lanes import vzero
from vmcli.translate.a64_to_x86.rules.table import RULES as rule
from vmcli.translate.isa.a64.conditions import COND
from vmcli.translate.isa.x86.encoder import encode_modrm
from vmcli.translate.isa.x86.registers import RAX

# ---- scalar floating point: an S or D result clears the rest of the V register ----------------------

def _sdouble(c: Ctx) -> bool:
    return c.fields["ftype"] == 1


@rule("fmul_s", "fdiv_s", "fadd_s", "fsub_s", "fmax_s", "fmin_s")
def _farith_s(c: Ctx) -> None:
    f, double = c.fields, _sdouble(c)
    r = fbinary(c, c.name[:-2], double, c.vget(f["Rn"]), c.vget(f["Rm"]))
    fput_scalar(c, f["Rd"], r, double)


@rule("fmov_s", "fabs_s", "fneg_s", "fsqrt_s")
def _funary_s(c: Ctx) -> None:
    f, double = c.fields, _sdouble(c)
    r = funary_x(c, c.name[:-2], double, c.vget(f["Rn"]))
    fput_scalar(c, f["Rd"], r, double)


@rule("fcmp_s", "fcmpe_s", "fcmp0_s", "fcmpe0_s")
def _fcmp_s(c: Ctx) -> None:
    """NZCV: unordered 0011, equal 0110, less 1000, greater 0010. ucomis leaves ZF PF CF = 111
    unordered, 100 equal, 001 less, 000 greater, and SF = OF = 0, so lahf's byte is the env slot's
    form of NZCV (CF = NOT C) but for N = less (CF copied to SF) and unordered (ah = 0x02, V = 1)."""
    f, double = c.fields, _sdouble(c)
    c.take(RAX)
    a = c.vget(f["Rn"])
    b = vzero(c) if "0" in c.name else c.vget(f["Rm"])
    _fcmp_word(c, double, a, b)
    c.nzcv_from_word()
    c.release(RAX)


def _fcmp_word(c: Ctx, double: bool, a: int, b: int) -> None:
    """fcmp a, b's NZCV in ax, in the env slot's form (rax taken by the caller)."""
    _ucomi(c, double, a, b)
    k = c.tmp()
    c(b"\x9f")                              # lahf
    c.setcc("p", RAX)                       # al = V = unordered
    c.mov_imm(k, 0x0201, w=False)
    c.cmov("p", False, RAX, k)              # (ucomis's flags still)
    c.mov(False, k, RAX)
    c.shift("shl", False, k, 7)
    c.alu_imm("and", False, k, 0x8000)      # SF = CF: less (ordered now)
    c.alu("or", False, RAX, k)
    c.release(k)


@rule("fccmp_s", "fccmpe_s")
def _fccmp_s(c: Ctx) -> None:
    """Where the condition holds, NZCV from fcmp's comparison, else the instruction's #nzcv; both
    as the env slot's word in ax, then stored and loaded as fcmp's are."""
    f, double = c.fields, _sdouble(c)
    cond = COND[f["cond"]]
    c.take(RAX)
    a, b = c.vget(f["Rn"]), c.vget(f["Rm"])

    def compare() -> None:
        _fcmp_word(c, double, a, b)

    def otherwise() -> None:
        c.mov_imm(RAX, nzcv_word(f["nzcv"] << 28), w=False)

    if cond in ("al", "nv"):
        compare()
    else:
        c.flags()
        c.if_else(COND_CC[cond], compare, otherwise)
    c.nzcv_from_word()
    c.release(RAX)


def _ucomi(c: Ctx, double: bool, a: int, b: int) -> None:
    """ucomisd / ucomiss a, b."""
    c(encode_modrm(b"\x0f\x2e", a, b, prefix=b"\x66" if double else b""))


@rule("scvtf_s")
def _scvtf_s(c: Ctx) -> None:
    f, double = c.fields, _sdouble(c)
    sf = bool(f["sf"])
    r = c.get(f["Rn"], sf)
    if not sf:
        c.extend(r, r, 4, True)
    x = vzero(c)
    c(encode_modrm(b"\x0f\x2a", x, r, True, prefix=b"\xf2" if double else b"\xf3"))   # cvtsi2s{d,s} x, r64
    c.vput(f["Rd"], x, True)


@rule("fcvtzs_s", "fcvtns_s", "fcvtps_s", "fcvtms_s", "fcvtas_s")
def _fcvtzs_s(c: Ctx) -> None:
    """x86 gives 0x80..0 for NaN and out-of-range values: AArch64 saturates and gives 0 for NaN.
    The other roundings round to an integral value first (frint*: exact, NaN stays NaN), which
    cvtts{d,s}2si then converts exactly."""
    f, double = c.fields, _sdouble(c)
    sf = bool(f["sf"])
    a = c.vget(f["Rn"])
    mode = c.name[4]
    if mode == "a":
        a = frinta(c, double, a)
    elif mode != "z":
        a = frint(c, "frint" + mode, double, a)
    r = c.tmp()
    c(encode_modrm(b"\x0f\x2c", r, a, sf, prefix=b"\xf2" if double else b"\xf3"))   # cvtts{d,s}2si
    bits = 64 if sf else 32
    if double:
        big = c.vconst(0x43E0000000000000 if sf else 0x41E0000000000000)
    else:
        big = c.vconst(0x5F000000 if sf else 0x4F000000)
    limit, zero = c.tmp(), c.tmp()
    c.mov_imm(limit, (1 << (bits - 1)) - 1)
    c.mov_imm(zero, 0)
    _ucomi(c, double, a, big)
    c.cmov("ae", sf, r, limit)             # >= 2^(bits-1), not NaN
    _ucomi(c, double, a, a)
    c.cmov("p", sf, r, zero)               # NaN
    c.put(f["Rd"], r, sf)


@rule("fmov_gen")
def _fmov_gen(c: Ctx) -> None:
    """fmov between general and FP registers: bits move unchanged; an FP destination is S/D."""
    f = c.fields
    sf = bool(f["sf"])
    if f["op"] == 1:                       # to FP
        r = c.get(f["Rn"], sf)
        x = c.vtmp()
        c.sse("movd_in", x, r, w=sf)
        c.vput(f["Rd"], x, True)
    else:
        x = c.vget(f["Rn"])
        r = c.tmp()
        c(encode_modrm(b"\x0f\x7e", x, r, sf, prefix=b"\x66"))                        # movd/movq r, xmm
        c.put(f["Rd"], r, sf)


@rule("fcvt_s")
def _fcvt_s(c: Ctx) -> None:
    """fcvt between single and double: both quiet a signalling NaN and keep sign and payload."""
    f = c.fields
    a = c.vget(f["Rn"])
    x = vzero(c)
    to_double = f["ftype"] == 0
    c(encode_modrm(b"\x0f\x5a", x, a, prefix=b"\xf3" if to_double else b"\xf2"))  # cvtss2sd / cvtsd2ss
    c.vput(f["Rd"], x, True)


@rule("fmovi_sd")
def _fmovi_sd(c: Ctx) -> None:
    f = c.fields
    imm8 = int("".join(str(f[k]) for k in "abcdefgh"), 2)
    c.vput(f["Rd"], c.vconst(vfp_expand(imm8, 64 if f["ftype"] else 32)), True)


@rule("fcsel")
def _fcsel(c: Ctx) -> None:
    f, double = c.fields, c.fields["ftype"] == 1
    cond = COND[f["cond"]]
    n = c.vget(f["Rn"])
    if cond not in ("al", "nv"):
        mm = c.vget(f["Rm"])
        c.flags()
        t = c.tmp()
        c.setcc(COND_CC[cond], t)
        c.extend(t, t, 1, False)
        c.unary("neg", True, t)                 # 0 or all ones
        mask = c.vtmp()
        c.sse("movd_in", mask, t, w=True)
        c.sse("punpcklqdq", mask, mask)
        c.vselect(mask, n, mm)
        n = mm
    fput_scalar(c, f["Rd"], n, double)


@rule(*(f"{m}_s" for m in ROUND))
def _frint_s(c: Ctx) -> None:
    f, double = c.fields, _sdouble(c)
    fput_scalar(c, f["Rd"], frint(c, c.name[:-2], double, c.vget(f["Rn"])), double)


@rule("fmadd_s", "fmsub_s", "fnmadd_s", "fnmsub_s")
def _fmadd_s(c: Ctx) -> None:
    """fmadd a + n*m; fmsub a - n*m; fnmadd -a - n*m; fnmsub -a + n*m (the negations are applied
    to the operands first, NaNs included, as FPMulAdd's callers do)."""
    f, m = c.fields, c.name[:-2]
    a, n, mm = c.vget(f["Ra"]), c.vget(f["Rn"]), c.vget(f["Rm"])
    if m in ("fmsub", "fnmadd"):
        negate(c, n)
    if m in ("fnmadd", "fnmsub"):
        negate(c, a)
    fput_scalar(c, f["Rd"], fma(c, a, n, mm, False), False)


# ---- unsigned conversions --------------------------------------------------------------------------

def _cvtsi(c: Ctx, double: bool, x: int, r: int) -> None:
    """x = (float) r as a signed 64-bit integer (cvtsi2ss/sd), x cleared first."""
    c.sse("pxor", x, x)
    c(encode_modrm(b"\x0f\x2a", x, r, True, prefix=b"\xf2" if double else b"\xf3"))


@rule("ucvtf_s")
def _ucvtf_s(c: Ctx) -> None:
    """A W source is exact as a signed 64-bit value. An X source with the top bit set converts
    (x >> 1 | x & 1) and doubles it: the kept lowest bit makes the one rounding come out right."""
    f = c.fields
    sf, double = bool(f["sf"]), f["ftype"] == 1
    r = c.get(f["Rn"], sf)
    x = c.vtmp()
    if not sf:
        _cvtsi(c, double, x, r)
    else:
        half, low = c.tmp(), c.tmp()
        c.mov(True, half, r)
        c.shift("shr", True, half, 1)
        c.mov(True, low, r)
        c.alu_imm("and", True, low, 1)
        c.alu("or", True, half, low)
        c.test(True, r, r)
        c.cmov("s", True, r, half)         # top bit set: convert the halved value
        _cvtsi(c, double, x, r)
        t = c.vtmp()
        c.vcopy(t, x)
        c.sse("addpd" if double else "addps", t, x)
        mask = c.vtmp()                    # where the top bit was set, take the doubled value
        c.get(f["Rn"], sf, into=half)
        c.shift("sar", True, half, 63)
        c.sse("movd_in", mask, half, w=True)
        c.vselect(mask, t, x)
    c.vput(f["Rd"], x, True)


@rule("fcvtzu_s")
def _fcvtzu_s(c: Ctx) -> None:
    """Truncate to unsigned with AArch64's saturation: NaN and negatives give 0, too large gives
    all ones. Values from 2^63 convert as (x - 2^63) with the top bit set back."""
    f = c.fields
    sf, double = bool(f["sf"]), f["ftype"] == 1
    cvt = (b"\xf2" if double else b"\xf3")
    a = c.vget(f["Rn"])
    r, zero, ones = c.tmp(), c.tmp(), c.tmp()
    c(encode_modrm(b"\x0f\x2c", r, a, True, prefix=cvt))          # cvtts?2si r64
    c.mov_imm(zero, 0)
    c.mov_imm(ones, (1 << 64) - 1 if sf else 0xFFFFFFFF)
    c.test(True, r, r)
    c.cmov("s", True, r, zero)                                       # negative, NaN, >= 2^63
    c.release(zero)
    if sf:
        big = c.vconst(0x43E0000000000000 if double else 0x5F000000)  # 2^63
        t = c.vtmp()
        c.vcopy(t, a)
        c.sse("subpd" if double else "subps", t, big)                # scalar lane 0 only matters
        r2 = c.tmp()
        c(encode_modrm(b"\x0f\x2c", r2, t, True, prefix=cvt))
        k = c.tmp()
        c.mov_imm(k, 1 << 63)
        c.alu("xor", True, r2, k)
        _ucomi(c, double, a, big)
        c.cmov("ae", True, r, r2)
        top = c.vconst(0x43F0000000000000 if double else 0x5F800000)  # 2^64
    else:
        top = c.vconst(0x41F0000000000000 if double else 0x4F800000)  # 2^32
    _ucomi(c, double, a, top)
    c.cmov("ae", True, r, ones)
    c.put(f["Rd"], r, sf)


@rule("fmaxnm_s", "fminnm_s")
def _fmaxnm_s(c: Ctx) -> None:
    f, double = c.fields, _sdouble(c)
    a, b = c.vget(f["Rn"]), c.vget(f["Rm"])
    fput_scalar(c, f["Rd"], fmaxnm(c, c.name[:-2], double, a, b), double)


@rule("frinta_s")
def _frinta_s(c: Ctx) -> None:
    f, double = c.fields, _sdouble(c)
    fput_scalar(c, f["Rd"], frinta(c, double, c.vget(f["Rn"])), double)


@rule("fabd_s")
def _fabd_s(c: Ctx) -> None:
    f = c.fields
    double = f["sz"] == 1
    r = fbinary(c, "fsub", double, c.vget(f["Rn"]), c.vget(f["Rm"]))
    c.sse("pand", r, fconst(c, double, 0x7FFFFFFF, (1 << 63) - 1))
    fput_scalar(c, f["Rd"], r, double)


@rule("fnmul_s")
def _fnmul_s(c: Ctx) -> None:
    """-(n * m): the negation applies to the result, NaN included."""
    f, double = c.fields, _sdouble(c)
    r = fbinary(c, "fmul", double, c.vget(f["Rn"]), c.vget(f["Rm"]))
    c.sse("pxor", r, fconst(c, double, 0x80000000, 1 << 63))
    fput_scalar(c, f["Rd"], r, double)
