"""SSE4.1: more lane-wise integer operations, blends, ptest, widening moves, inserts and extracts,
rounding and phminposuw."""

from __future__ import annotations

from vmcli.translate.isa.a64 import encoder as A
from vmcli.translate.isa.x86.decoder import Mem
from vmcli.translate.x86_to_a64.builder import Ctx
from vmcli.translate.x86_to_a64.rules.common import operands
from vmcli.translate.x86_to_a64.rules.table import RULES as rule
from vmcli.translate.x86_to_a64.rules.vector import (
    imm8,
    imm_below,
    lanewise_rules,
    move128,
    pack_rules,
    pextr,
    pinsr,
    pmuludq,
    scalar_insert,
    vops,
)

lanewise_rules({"pmulld": ("mul", "4s"), "pminsb": ("smin", "16b"), "pmaxsb": ("smax", "16b"),
                "pminsd": ("smin", "4s"), "pmaxsd": ("smax", "4s"), "pminuw": ("umin", "8h"),
                "pmaxuw": ("umax", "8h"), "pminud": ("umin", "4s"), "pmaxud": ("umax", "4s"),
                "pcmpeqq": ("cmeq", "2d")})
rule("pmuldq", aligned=True)(pmuludq)
pack_rules({"packusdw": ("sqxtun", "4h", "8h")})
rule("movntdqa", aligned=True)(move128)
rule("pinsrb", "pinsrd", "pinsrq")(pinsr)
rule("pextrb", "pextrd", "extractps")(pextr)


@rule("blendps", "blendpd", "pblendw", aligned=True)
def _blend(c: Ctx) -> None:
    m = c.insn.spec.mnemonic
    d, s = vops(c)
    imm = imm8(c)
    size, lanes = {"blendps": (2, 4), "blendpd": (3, 2), "pblendw": (1, 8)}[m]
    for i in range(lanes):
        if imm >> i & 1:
            c(A.ins_elem(size, d, i, s, i))


@rule("blendvps", "blendvpd", "pblendvb", aligned=True, implicit=(("xmm", 0),))
def _blendv(c: Ctx) -> None:
    arr, sh = {"blendvps": ("4s", 31), "blendvpd": ("2d", 63), "pblendvb": ("16b", 7)}[c.insn.spec.mnemonic]
    d, s = vops(c)
    t = c.vtmp()
    c(A.vshift("sshr", arr, t, 0, sh), A.v3("bit", "16b", d, s, t))


@rule("ptest", aligned=True)
def _ptest(c: Ctx) -> None:
    """ZF = (d & s) == 0, CF = (~d & s) == 0; OF SF AF PF cleared."""
    d, s = vops(c)
    if c.nzcv_live():
        a, b = c.vtmp(), c.vtmp()
        za, zb, t = c.tmp(), c.tmp(), c.tmp()
        c(A.v3("and", "16b", a, d, s), A.v3("bic", "16b", b, s, d), A.across("umaxv", "4s", a, a),
          A.across("umaxv", "4s", b, b), A.fpint("fmov_to_gpr", 32, "s", za, a),
          A.fpint("fmov_to_gpr", 32, "s", zb, b))
        # Z from za (N = 0, C = 1, V = 0), then C = NOT CF = (zb != 0): clz of 0 is 32
        c(A.addsub_imm("subs", 64, A.ZR, za, 0), A.mrs_nzcv(t), A.dp1("clz", 32, zb, zb),
          A.lsr_imm(32, zb, zb, 5), A.logic("eor", 32, t, t, zb, "lsl", 29), A.msr_nzcv(t))
    c.pf_const(0)
    c.af_const(0)


_PMOVX = {"bw": ("8b",), "bd": ("8b", "4h"), "bq": ("8b", "4h", "2s"), "wd": ("4h",), "wq": ("4h", "2s"),
          "dq": ("2s",)}


@rule(*[f"pmov{s}x{k}" for s in "sz" for k in _PMOVX])
def _pmovx(c: Ctx) -> None:
    m = c.insn.spec.mnemonic
    d, s = vops(c)
    signed = m[4] == "s"
    t = c.vtmp()
    src = s
    steps = _PMOVX[m[-2:]]
    for i, arr in enumerate(steps):
        out = d if i == len(steps) - 1 else t
        c(A.widen(signed, arr, out, src))
        src = out



@rule("insertps")
def _insertps(c: Ctx) -> None:
    dst, src, _ = operands(c)
    imm = imm8(c)
    d = dst.num
    if isinstance(src, Mem):
        s, sel = c.vread(src, 4), 0
    else:
        s, sel = src.num, imm >> 6
    t = c.vtmp()
    c(A.vmov(t, d), A.ins_elem(2, t, (imm >> 4) & 3, s, sel))
    for i in range(4):
        if imm >> i & 1:
            c(A.ins_gen(2, t, i, A.ZR))
    c.vmov(d, t)


# ---- rounding ----------------------------------------------------------------------------------

@rule("roundps", "roundpd", "roundss", "roundsd", aligned=True, imms=tuple(range(16)),
      accepts=imm_below(16))
def _round(c: Ctx) -> None:
    m = c.insn.spec.mnemonic
    arr = "4s" if m.endswith(("ps", "ss")) else "2d"
    d, s = vops(c)
    imm = imm8(c)
    mode = 0 if imm & 4 else imm & 3                   # bit 2: use MXCSR.RC (round to nearest here)
    op = ("frintn", "frintm", "frintp", "frintz")[mode]
    r = c.vtmp()
    c(A.f2(op, arr, r, s))
    if m[-2] == "p":
        c.vmov(d, r)
    else:
        scalar_insert(c, d, r, arr)


@rule("phminposuw", aligned=True)
def _phminposuw(c: Ctx) -> None:
    d, s = vops(c)
    m, dm, idx, mi = c.vtmp(), c.vtmp(), c.vtmp(), c.vtmp()
    g = c.tmp()
    # minimum, then the lowest lane holding it: lanes that are not the minimum read 0xFFFF
    c(A.across("uminv", "8h", m, s), A.dup_elem("8h", dm, m, 0), A.v3("cmeq", "8h", dm, s, dm))
    c.const(g, 0x0003000200010000)
    c(A.fpint("fmov_from_gpr", 64, "d", idx, g))
    c.const(g, 0x0007000600050004)
    c(A.ins_gen(3, idx, 1, g), A.v3("orn", "16b", idx, idx, dm), A.across("uminv", "8h", mi, idx),
      A.ins_elem(1, m, 1, mi, 0))
    c.vmov(d, m)
