"""SSE2: double precision, the integer SIMD instructions (p*), and conversions between them."""

from __future__ import annotations

from vmcli.translate.isa.a64 import encoder as A
from vmcli.translate.isa.x86.decoder import Imm, Mem, Reg
from vmcli.translate.x86_to_a64.builder import Ctx
from vmcli.translate.x86_to_a64.rules.common import operands
from vmcli.translate.x86_to_a64.rules.table import RULES as rule
from vmcli.translate.x86_to_a64.rules.vector import (
    andn,
    cmpps,
    comis,
    cvt2si,
    cvtsi2s,
    farith_packed,
    farith_scalar,
    imm8,
    imm_below,
    lanewise_rules,
    minmax,
    move128,
    movlh_mem,
    movmsk,
    movss,
    pack_rules,
    pextr,
    pinsr,
    pmuludq,
    scalar_insert,
    shufps,
    sqrt,
    vops,
)

rule("addpd", "subpd", "mulpd", "divpd", aligned=True)(farith_packed)
rule("addsd", "subsd", "mulsd", "divsd")(farith_scalar)
rule("sqrtpd", "sqrtsd", aligned=True)(sqrt)
rule("minpd", "maxpd", "minsd", "maxsd", aligned=True)(minmax)
rule("cmppd", "cmpsd", aligned=True, imms=tuple(range(8)), accepts=imm_below(8))(cmpps)
rule("comisd", "ucomisd")(comis)
rule("cvtsi2sd")(cvtsi2s)
rule("cvttsd2si", "cvtsd2si")(cvt2si)
lanewise_rules({
    "andpd": ("and", "16b"), "pand": ("and", "16b"), "orpd": ("orr", "16b"), "por": ("orr", "16b"),
    "xorpd": ("eor", "16b"), "pxor": ("eor", "16b"),
    "paddb": ("add", "16b"), "paddw": ("add", "8h"), "paddd": ("add", "4s"), "paddq": ("add", "2d"),
    "psubb": ("sub", "16b"), "psubw": ("sub", "8h"), "psubd": ("sub", "4s"), "psubq": ("sub", "2d"),
    "paddsb": ("sqadd", "16b"), "paddsw": ("sqadd", "8h"), "paddusb": ("uqadd", "16b"),
    "paddusw": ("uqadd", "8h"), "psubsb": ("sqsub", "16b"), "psubsw": ("sqsub", "8h"),
    "psubusb": ("uqsub", "16b"), "psubusw": ("uqsub", "8h"),
    "pmullw": ("mul", "8h"),
    "pminub": ("umin", "16b"), "pmaxub": ("umax", "16b"), "pminsw": ("smin", "8h"), "pmaxsw": ("smax", "8h"),
    "pavgb": ("urhadd", "16b"), "pavgw": ("urhadd", "8h"),
    "pcmpeqb": ("cmeq", "16b"), "pcmpeqw": ("cmeq", "8h"), "pcmpeqd": ("cmeq", "4s"),
    "pcmpgtb": ("cmgt", "16b"), "pcmpgtw": ("cmgt", "8h"), "pcmpgtd": ("cmgt", "4s"),
    "punpcklbw": ("zip1", "16b"), "punpcklwd": ("zip1", "8h"), "punpckldq": ("zip1", "4s"),
    "punpcklqdq": ("zip1", "2d"), "punpckhbw": ("zip2", "16b"), "punpckhwd": ("zip2", "8h"),
    "punpckhdq": ("zip2", "4s"), "punpckhqdq": ("zip2", "2d"),
    "unpcklpd": ("zip1", "2d"), "unpckhpd": ("zip2", "2d"),
})
rule("andnpd", "pandn", aligned=True)(andn)
rule("pmuludq", aligned=True)(pmuludq)
pack_rules({"packsswb": ("sqxtn", "8b", "16b"), "packuswb": ("sqxtun", "8b", "16b"),
            "packssdw": ("sqxtn", "4h", "8h")})
rule("shufpd", aligned=True)(shufps)
rule("movupd", "movdqu")(move128)
rule("movapd", "movdqa", "movntdq", "movntpd", aligned=True)(move128)
rule("movsd")(movss)
rule("movlpd", "movhpd")(movlh_mem)
rule("movmskpd")(movmsk)
rule("pinsrw")(pinsr)
rule("pextrw")(pextr)             # 66 0F C5 (SSE2) and its memory-capable 66 0F 3A 15 (SSE4.1)


# ---- conversions -------------------------------------------------------------------------------

def int_indefinite(c: Ctx, r: int, src: int, arr_f: str) -> None:
    """x86 gives 0x80000000 for NaN and out-of-range; fcvt* saturate (INT_MAX) or give 0 (NaN)."""
    imax, ok, lim = c.vtmp(), c.vtmp(), c.vtmp()
    c(A.movi("4s", imax, 0x80, 24, op=1, cmode=0x6))            # mvni: 0x7FFFFFFF
    c(A.v3("cmeq", "4s", imax, r, imax), A.v3("sub", "4s", r, r, imax))
    c(A.f3("fcmeq", arr_f, ok, src, src), A.movi("4s", lim, 0x80, 24), A.v3("bif", "16b", r, lim, ok))


@rule("cvtps2dq", "cvttps2dq", aligned=True)
def _cvtps2dq(c: Ctx) -> None:
    d, s = vops(c)
    r = c.vtmp()
    c(A.f2("fcvtzs" if c.insn.spec.mnemonic == "cvttps2dq" else "fcvtns", "4s", r, s))
    int_indefinite(c, r, s, "4s")
    c.vmov(d, r)


@rule("cvtpd2dq", "cvttpd2dq", aligned=True)
def _cvtpd2dq(c: Ctx) -> None:
    d, s = vops(c)
    r64, n, w, ok, m, lim = (c.vtmp() for _ in range(6))
    c(A.f2("fcvtzs" if c.insn.spec.mnemonic == "cvttpd2dq" else "fcvtns", "2d", r64, s))
    c(A.narrow2("sqxtn", "2s", n, r64, False), A.widen(True, "2s", w, n), A.v3("cmeq", "2d", ok, w, r64),
      A.f3("fcmeq", "2d", m, s, s), A.v3("and", "16b", ok, ok, m), A.narrow2("xtn", "2s", ok, ok, False),
      A.movi("2s", lim, 0x80, 24), A.v3("bif", "8b", n, lim, ok))
    c.vmov(d, n)


@rule("cvtdq2ps", aligned=True)
def _cvtdq2ps(c: Ctx) -> None:
    d, s = vops(c)
    c(A.f2("scvtf", "4s", d, s))


@rule("cvtdq2pd")
def _cvtdq2pd(c: Ctx) -> None:
    d, s = vops(c)
    t = c.vtmp()
    c(A.widen(True, "2s", t, s), A.f2("scvtf", "2d", d, t))


@rule("cvtps2pd")
def _cvtps2pd(c: Ctx) -> None:
    d, s = vops(c)
    c(A.f2("fcvtl", "2d", d, s))


@rule("cvtpd2ps", aligned=True)
def _cvtpd2ps(c: Ctx) -> None:
    d, s = vops(c)
    c(A.f2("fcvtn", "2d", d, s))                       # fcvtn Vd.2s, Vn.2d: upper half zeroed


@rule("cvtss2sd", "cvtsd2ss")
def _cvt_scalar(c: Ctx) -> None:
    d, s = vops(c)
    r = c.vtmp()
    if c.insn.spec.mnemonic == "cvtss2sd":
        c(A.fp1("fcvt_d", "s", r, s))
        scalar_insert(c, d, r, "2d")
    else:
        c(A.fp1("fcvt_s", "d", r, s))
        scalar_insert(c, d, r, "4s")



@rule("pmulhw", "pmulhuw", aligned=True)
def _pmulh(c: Ctx) -> None:
    d, s = vops(c)
    op = "smull" if c.insn.spec.mnemonic == "pmulhw" else "umull"
    lo, hi = c.vtmp(), c.vtmp()
    c(A.v3diff(op, "4h", lo, d, s), A.v3diff(op, "4h", hi, d, s, upper=True), A.perm("uzp2", "8h", d, lo, hi))



@rule("pmaddwd", aligned=True)
def _pmaddwd(c: Ctx) -> None:
    d, s = vops(c)
    lo, hi = c.vtmp(), c.vtmp()
    c(A.v3diff("smull", "4h", lo, d, s), A.v3diff("smull", "4h", hi, d, s, upper=True),
      A.v3("addp", "4s", d, lo, hi))


@rule("psadbw", aligned=True)
def _psadbw(c: Ctx) -> None:
    d, s = vops(c)
    t = c.vtmp()
    c(A.v3("uabd", "16b", t, d, s), A.v2("uaddlp", "16b", t, t), A.v2("uaddlp", "8h", t, t),
      A.v2("uaddlp", "4s", d, t))



# ---- shifts ------------------------------------------------------------------------------------

_VSHIFT = {"psrlw": ("ushr", "8h"), "psrld": ("ushr", "4s"), "psrlq": ("ushr", "2d"),
           "psraw": ("sshr", "8h"), "psrad": ("sshr", "4s"),
           "psllw": ("shl", "8h"), "pslld": ("shl", "4s"), "psllq": ("shl", "2d")}


@rule(*_VSHIFT, aligned=True)
def _vshift(c: Ctx) -> None:
    op, arr = _VSHIFT[c.insn.spec.mnemonic]
    esize = {"8h": 16, "4s": 32, "2d": 64}[arr]
    dst, src = operands(c)
    d = dst.num
    if isinstance(src, Imm):
        n = src.value & 0xFF
        if op == "sshr":
            n = min(n, esize - 1)
        if n == 0:
            return
        if n >= esize:
            c(A.movi("2d", d, 0))
        else:
            c(A.vshift(op, arr, d, d, n))
        return
    s = c.vread(src, 16)
    saved = c.flags_save()                    # the clamp below compares
    cnt, lim, v = c.tmp(), c.tmp(), c.vtmp()
    # the count is the whole low quadword; anything >= esize shifts everything out
    c(A.fpint("fmov_to_gpr", 64, "d", cnt, s), A.movw("movz", 64, lim, esize),
      A.addsub("subs", 64, A.ZR, cnt, lim), A.csel("csel", 64, cnt, cnt, lim, "lo"))
    c.flags_restore(saved)
    if op != "shl":
        c(A.addsub("sub", 64, cnt, A.ZR, cnt))
    c(A.dup_gen(arr if arr != "2d" else "2d", v, cnt))
    c(A.v3("sshl" if op == "sshr" else "ushl", arr, d, d, v))


@rule("psrldq", "pslldq")
def _vshift_bytes(c: Ctx) -> None:
    dst, imm = operands(c)
    d = dst.num
    n = imm.value & 0xFF
    if n == 0:
        return
    if n >= 16:
        c(A.movi("2d", d, 0))
        return
    z = c.vtmp()
    c(A.movi("2d", z, 0))
    if c.insn.spec.mnemonic == "psrldq":
        c(A.ext(d, d, z, n))
    else:
        c(A.ext(d, z, d, 16 - n))



@rule("pshufd", "pshuflw", "pshufhw", aligned=True)
def _pshufd(c: Ctx) -> None:
    m = c.insn.spec.mnemonic
    d, s = vops(c)
    imm = imm8(c)
    t = c.vtmp()
    if m == "pshufd":
        for i in range(4):
            c(A.ins_elem(2, t, i, s, (imm >> 2 * i) & 3))
    else:
        base = 0 if m == "pshuflw" else 4
        c(A.vmov(t, s))
        for i in range(4):
            c(A.ins_elem(1, t, base + i, s, base + ((imm >> 2 * i) & 3)))
    c.vmov(d, t)



@rule("movd", "movq")
def _movd(c: Ctx) -> None:
    dst, src = operands(c)
    if isinstance(dst, Reg) and dst.kind == "xmm":
        if isinstance(src, Reg) and src.kind == "gpr":
            bits = 8 * src.size
            c(A.fpint("fmov_from_gpr", bits, "s" if bits == 32 else "d", dst.num, src.num))
        elif isinstance(src, Mem):
            c.ldst("ldr", "v", src.size, dst.num, src)
        else:
            c(A.fp1("fmov", "d", dst.num, src.num))                  # movq xmm, xmm: upper zeroed
        return
    if isinstance(dst, Mem):
        c.ldst("str", "v", dst.size, src.num, dst)
    elif dst.kind == "gpr":
        bits = 8 * dst.size
        c(A.fpint("fmov_to_gpr", bits, "s" if bits == 32 else "d", dst.num, src.num))
    else:
        c(A.fp1("fmov", "d", dst.num, src.num))



@rule("pmovmskb")
def _pmovmskb(c: Ctx) -> None:
    dst, src = operands(c)
    t, k = c.vtmp(), c.vtmp()
    g = c.tmp()
    c.const(g, 0x8040201008040201)
    c(A.dup_gen("2d", k, g), A.v2("cmlt0", "16b", t, src.num), A.v3("and", "16b", t, t, k),
      A.v3("addp", "16b", t, t, t), A.v3("addp", "16b", t, t, t), A.v3("addp", "16b", t, t, t),
      A.umov(1, dst.num, t, 0))
