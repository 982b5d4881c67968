"""AVX and AVX2 (VEX-encoded SSE forms, 128 and 256 bits) and BMI1/BMI2.

A VEX instruction `vop dst, src1, src2` is its SSE form's `op dst, src2` after `dst = src1`, done on
the low 128 bits (the xmm registers, v0..v15) and, for 256-bit forms, again on the upper halves,
which live in the env block at x28 (host.py): loaded into scratch registers, computed by the same
SSE rule, stored back. A VEX.128 form zeroes its destination's upper half. So every SSE rule's
exactness (x86's NaNs, saturation, shuffles) carries over, and the rule runs once per half.
"""

from __future__ import annotations

import dataclasses

from vmcli.translate.isa.a64 import encoder as A
from vmcli.translate.isa.x86.decoder import Imm, Insn, Mem, Operand, Reg
from vmcli.translate.isa.x86.flags import AF, CF, PF
from vmcli.translate.isa.x86.opcodes import SPECS, OpSpec
from vmcli.translate.x86_to_a64.builder import Ctx
from vmcli.translate.x86_to_a64.host import ENV_REG
from vmcli.translate.x86_to_a64.rules.common import operands
from vmcli.translate.x86_to_a64.rules.table import RULES as rule
from vmcli.translate.x86_to_a64.rules.vector import fix_invalid, imm_below, scalar_insert


def _sse_spec(vex: OpSpec) -> OpSpec:
    """The SSE form a VEX form is: the same opcode, map and (implied) prefix, and the same kinds of
    operands but the VEX.vvvv one."""
    def kinds(spec: OpSpec, loose: bool) -> list[str]:
        return [("W" if loose and o[0] in "MU" else o[0]) for o in spec.operands if o[0] != "H"]

    same = [s for s in SPECS if not s.vex and (s.map, s.prefix, s.opcode) == (vex.map, vex.prefix, vex.opcode)]
    exact = [s for s in same if kinds(s, False) == kinds(vex, False)]
    return exact[0] if exact else next(s for s in same if kinds(s, True) == kinds(vex, True))


def _run(c: Ctx, spec: OpSpec, ops: tuple[Operand, ...]) -> None:
    """Run the rule of SSE `spec` on `ops` (register numbers may be scratch vector registers)."""
    outer = c.insn
    c.insn = dataclasses.replace(outer, spec=spec, operands=ops, vex_l=0)
    try:
        rule.rules[spec.mnemonic].emit(c)
    finally:
        c.insn = outer


def _xmm(n: int) -> Reg:
    return Reg("xmm", n, 16)


def _op3(c: Ctx, spec: OpSpec, d: int, a: int, b: Operand, extra: tuple[Operand, ...] = ()) -> None:
    """d = a op b through the destructive SSE rule `op d, b` (d, a: vector registers)."""
    if d == a:
        _run(c, spec, (_xmm(d), b, *extra))
    elif isinstance(b, Reg) and b.kind == "xmm" and b.num == d:
        t = c.vtmp()
        c.vmov(t, a)
        _run(c, spec, (_xmm(t), b, *extra))
        c.vmov(d, t)
    else:
        c.vmov(d, a)
        _run(c, spec, (_xmm(d), b, *extra))


def _halves(c: Ctx, op: Operand) -> tuple[Operand, Operand]:
    """The low and high 128 bits of a 256-bit source (registers, or both loaded with one ldp)."""
    if isinstance(op, Reg):
        return _xmm(op.num), _xmm(c.vhigh_load(op.num))
    assert isinstance(op, Mem)
    lo, hi = c.vtmp(), c.vtmp()
    c(A.ldp_q(lo, hi, c.addr(op)))
    return _xmm(lo), _xmm(hi)


def _vex_binary(c: Ctx) -> None:
    """vop dst, src1, src2 (packed, both lengths; scalar: the low lanes, src1's others kept)."""
    ops = operands(c)
    dst, s1, s2 = ops[0], ops[1], ops[2]
    assert isinstance(dst, Reg) and isinstance(s1, Reg)
    spec = _sse_spec(c.insn.spec)
    extra = ops[3:]
    if dst.size == 32:
        lo, hi = _halves(c, s2)
        h1 = c.vhigh_load(s1.num)
        mark = list(c.vfree)
        _op3(c, spec, h1, h1, hi, extra)
        c.vhigh_store(dst.num, h1)
        # the upper half is stored: the scratch registers it took are free again (its constants stay)
        c.vfree = [v for v in mark if v not in c.vconsts.values()]
        _op3(c, spec, dst.num, s1.num, lo, extra)
        return
    b: Operand = s2 if not isinstance(s2, Mem) else dataclasses.replace(s2, size=s2.size if s2.size < 16 else 16)
    _op3(c, spec, dst.num, s1.num, b, extra)
    c.vhigh_zero(dst.num)


def _vex_unary(c: Ctx) -> None:
    """vop dst, src with an SSE form of the same operands (vucomisd ...: no vector written)."""
    _run(c, _sse_spec(c.insn.spec), operands(c))


# the forms that are their SSE form on two or three operands
_BINARY = (
    "vpcmpeqb", "vpcmpeqw", "vpcmpeqd", "vpcmpeqq", "vpcmpgtb", "vpcmpgtw", "vpcmpgtd", "vpminub", "vpmaxub",
    "vpminsw", "vpmaxsw", "vpminsb", "vpminsd", "vpminuw", "vpminud", "vpmaxsb", "vpmaxsd", "vpmaxuw", "vpmaxud",
    "vpand", "vpandn", "vpor", "vpxor", "vpaddb", "vpaddw", "vpaddd", "vpaddq", "vpsubb", "vpsubw", "vpsubd",
    "vpsubq", "vpsubusb", "vpsubusw", "vpaddusb", "vpaddusw", "vpshufb", "vandps", "vandpd", "vandnps", "vandnpd",
    "vorps", "vorpd", "vxorps", "vxorpd", "vaddps", "vaddpd", "vmulps", "vmulpd", "vsubps", "vsubpd", "vdivps",
    "vdivpd", "vaddss", "vaddsd", "vmulss", "vmulsd", "vsubss", "vsubsd", "vdivss", "vdivsd", "vsqrtss", "vsqrtsd",
    "vminss", "vminsd", "vmaxss", "vmaxsd", "vcvtsi2sd", "vcvtsi2ss",
)
rule(*_BINARY)(_vex_binary)
rule("vcmpps", "vcmppd", "vcmpss", "vcmpsd", imms=tuple(range(8)), accepts=imm_below(8))(_vex_binary)
rule("vcvtss2sd", "vcvtsd2ss")(_vex_binary)
rule("vucomisd", "vcomisd", "vucomiss", "vcomiss", "vcvttss2si", "vcvttsd2si", "vcvtss2si", "vcvtsd2si")(_vex_unary)


_BLENDV = {"vblendvps": ("4s", 31), "vblendvpd": ("2d", 63), "vpblendvb": ("16b", 7)}


@rule(*_BLENDV)
def _vblendv(c: Ctx) -> None:
    """dst = src2 in the lanes whose sign bit is set in the mask (the fourth operand), else src1:
    bit-insert under the mask's lanes spread by sshr, per 128-bit half."""
    arr, sh = _BLENDV[c.insn.spec.mnemonic]
    dst, s1, s2, mask = operands(c)
    assert isinstance(dst, Reg) and isinstance(s1, Reg) and isinstance(mask, Reg)

    def blend(a: int, b: int, m: int, into: int | None = None) -> int:
        t = c.vtmp()
        c(A.vshift("sshr", arr, t, m, sh))
        r = a if a == into and into not in (b, m) else c.vtmp()   # in place where a is the destination
        c.vmov(r, a)
        c(A.v3("bit", "16b", r, b, t))
        return r

    if dst.size == 32:
        lo, hi = _halves(c, s2)
        assert isinstance(lo, Reg) and isinstance(hi, Reg)
        c.vhigh_store(dst.num, blend(c.vhigh_load(s1.num), hi.num, c.vhigh_load(mask.num)))
        c.vmov(dst.num, blend(s1.num, lo.num, mask.num, dst.num))
        return
    b = c.vread(s2, 16)
    c.vmov(dst.num, blend(s1.num, b, mask.num, dst.num))
    c.vhigh_zero(dst.num)


# FMA3, scalar: which operands (0: dst and first source, 1: VEX.vvvv, 2: r/m) are the two factors
# and the addend, by the digits of the mnemonic
_FMA_ORDER = {"132": (0, 2, 1), "213": (1, 0, 2), "231": (1, 2, 0)}
_FMA = [f"{op}{order}{t}" for op in ("vfmadd", "vfmsub", "vfnmadd", "vfnmsub") for order in _FMA_ORDER
        for t in ("ss", "sd")]


@rule(*_FMA)
def _fma_scalar(c: Ctx) -> None:
    """a*b + c rounded once: fmla (fmls for the negated product) on a copy of the addend (negated
    for the fmsub forms). A NaN operand gives the first NaN of the first factor, the second, the
    addend (in the digits' order, not the operands'; quieted, never negated) as the CPU does, even
    for inf*0 + NaN; an invalid operation x86's default NaN (fix_invalid). The upper lanes are
    dst's, the upper half 0."""
    m = c.insn.spec.mnemonic
    arr = "4s" if m.endswith("ss") else "2d"
    dst, s2, s3 = operands(c)
    assert isinstance(dst, Reg) and isinstance(s2, Reg)
    regs = (dst.num, s2.num, c.vread(s3, s3.size) if isinstance(s3, Mem) else s3.num)
    fa, fb, addend = (regs[i] for i in _FMA_ORDER[m[-5:-2]])
    r = c.vtmp()
    if m.startswith(("vfmsub", "vfnmsub")):
        c(A.f2("fneg", arr, r, addend))
    else:
        c.vmov(r, addend)
    c(A.f3("fmls" if m.startswith("vfn") else "fmla", arr, r, fa, fb))
    fix_invalid(c, r, arr, (fa, fb, addend))
    scalar_insert(c, dst.num, r, arr)
    c.vhigh_zero(dst.num)


@rule("vmovups", "vmovupd", "vmovdqu")
def _vmov_unaligned(c: Ctx) -> None:
    _vmov(c)


@rule("vmovaps", "vmovapd", "vmovdqa", "vmovntdq", aligned=True)
def _vmov_aligned(c: Ctx) -> None:
    _vmov(c)


def _vmov(c: Ctx) -> None:
    """Loads, stores and register moves of 128 or 256 bits; a VEX.128 load or move zeroes the
    destination's upper half."""
    dst, src = operands(c)
    wide = dst.size == 32 or src.size == 32
    if isinstance(dst, Mem):
        assert isinstance(src, Reg)
        if wide:
            hi = c.vhigh_load(src.num)
            c(A.stp_q(src.num, hi, c.addr(dst)))
        else:
            c.ldst("str", "v", 16, src.num, dst)
        return
    if isinstance(src, Mem):
        if wide:
            hi = c.vtmp()
            c(A.ldp_q(dst.num, hi, c.addr(src)))
            c.vhigh_store(dst.num, hi)
        else:
            c.ldst("ldr", "v", 16, dst.num, src)
            c.vhigh_zero(dst.num)
        return
    assert isinstance(src, Reg)
    if wide and dst.num != src.num:
        c.vhigh_store(dst.num, c.vhigh_load(src.num))
    elif not wide:
        c.vhigh_zero(dst.num)
    c.vmov(dst.num, src.num)


@rule("vmovsd", "vmovss")
def _vmovs(c: Ctx) -> None:
    """vmovsd/vmovss: a register merge (low lane from src2, the rest from src1; either opcode), a
    load (the rest zeroed) or a store."""
    ops = operands(c)
    legacy = _sse_spec(c.insn.spec) if len(ops) == 2 else _sse_spec(dataclasses.replace(
        c.insn.spec, opcode=0x10, operands=("Vx", "Hx", "Wx")))       # a register merge (10 or 11) is movsd V,W
    if len(ops) == 3:
        dst, s1, s2 = ops
        assert isinstance(dst, Reg) and isinstance(s1, Reg)
        _op3(c, legacy, dst.num, s1.num, s2)
        c.vhigh_zero(dst.num)
        return
    _run(c, legacy, ops)
    if isinstance(ops[0], Reg):
        c.vhigh_zero(ops[0].num)


@rule("vmovd", "vmovq")
def _vmovd(c: Ctx) -> None:
    """vmovd/vmovq: the SSE movd/movq, the destination's upper half zeroed."""
    ops = operands(c)
    _run(c, _sse_spec(c.insn.spec), ops)
    dst = ops[0]
    if isinstance(dst, Reg) and dst.kind == "xmm":
        c.vhigh_zero(dst.num)


@rule("vpmovmskb")
def _vpmovmskb(c: Ctx) -> None:
    """The byte sign bits: 16 from the low half, 16 more from the upper half of a ymm."""
    dst, src = operands(c)
    assert isinstance(dst, Reg) and isinstance(src, Reg)
    spec = _sse_spec(c.insn.spec)
    _run(c, spec, (dst, _xmm(src.num)))
    if src.size == 32:
        t = c.tmp()
        _run(c, spec, (Reg("gpr", t, 4), _xmm(c.vhigh_load(src.num))))
        c(A.logic("orr", 32, dst.num, dst.num, t, "lsl", 16))


_BROADCAST = {"vpbroadcastb": (0, "16b"), "vpbroadcastw": (1, "8h"), "vpbroadcastd": (2, "4s"),
              "vpbroadcastq": (3, "2d")}


@rule("vpbroadcastb", "vpbroadcastw", "vpbroadcastd", "vpbroadcastq")
def _vpbroadcast(c: Ctx) -> None:
    """Every lane (of both halves for a ymm) = the source's lowest element."""
    dst, src = operands(c)
    assert isinstance(dst, Reg)
    size, arr = _BROADCAST[c.insn.spec.mnemonic]
    if isinstance(src, Mem):
        t = c.vtmp()
        c.ldst("ldr", "v", 1 << size, t, src)
        s = t
    else:
        assert isinstance(src, Reg)
        s = src.num
    c(A.dup_elem(arr, dst.num, s, 0))
    if dst.size == 32:
        c.vhigh_store(dst.num, dst.num)
    else:
        c.vhigh_zero(dst.num)


@rule("vzeroupper", "vzeroall", kinds="r")
def _vzero(c: Ctx) -> None:
    """The upper halves of every ymm register (vzeroall: the whole registers) = 0."""
    z = c.vzero()
    for k in range(8):
        c(A.stp_q(z, z, ENV_REG, 32 * k))
    if c.insn.spec.mnemonic == "vzeroall":
        for n in range(16):
            c(A.movi("2d", n, 0))


# ---- BMI1 / BMI2 ------------------------------------------------------------------------------------

def _bmi_undefined(insn: Insn, regs: dict[str, int]) -> int:
    return AF | PF


def _nzcv(c: Ctx, value: int, src: int, bits: int, when_zero: int, borrow: bool) -> None:
    """SF ZF from value, OF = 0, and CF from whether src is 0: the compare of src sets Z, then a
    conditional compare of value (C = 1: CF 0; ccmn: C = 0, CF 1) or the flags of a zero source."""
    if not c.nzcv_live():
        return
    wide = 64 if bits == 64 else 32
    c(A.ccmp("ccmn" if borrow else "ccmp", wide, value, 0, when_zero, "ne", imm=True))


@rule("andn", undefined=_bmi_undefined)
def _andn(c: Ctx) -> None:
    """dst = ~src1 & src2; SF ZF from it, CF = OF = 0."""
    dst, s1, s2 = operands(c)
    assert isinstance(dst, Reg) and isinstance(s1, Reg)
    bits = 8 * dst.size
    wide = 64 if bits == 64 else 32
    b = c.src(s2, dst.size)
    c(A.logic("bics" if c.nzcv_live() else "bic", wide, dst.num, b, s1.num))
    if c.live(CF):
        c(A.addsub_imm("subs", wide, A.ZR, dst.num, 0))        # C = 1: CF = 0 (bics clears C)


@rule("blsr", "blsmsk", "blsi", undefined=_bmi_undefined)
def _bls(c: Ctx) -> None:
    """blsr: src & (src - 1), blsmsk: src ^ (src - 1), blsi: src & -src; SF ZF from the result,
    OF = 0, CF = (src == 0), for blsi (src != 0)."""
    dst, src = operands(c)
    assert isinstance(dst, Reg)
    bits = 8 * dst.size
    wide = 64 if bits == 64 else 32
    s = c.src(src, dst.size)
    m = c.insn.spec.mnemonic
    if c.nzcv_live():
        c(A.addsub_imm("subs", wide, A.ZR, s, 0))              # Z = (src == 0), for the ccmp below
    t = c.tmp()
    if m == "blsi":
        c(A.addsub("sub", wide, t, A.ZR, s), A.logic("and", wide, dst.num, s, t))
    else:
        c(A.addsub_imm("sub", wide, t, s, 1), A.logic("and" if m == "blsr" else "eor", wide, dst.num, s, t))
    # src == 0: blsr/blsi give 0 (Z), blsmsk all ones (N); CF is 1 for blsr/blsmsk, 0 for blsi
    when_zero = {"blsr": 0b0100, "blsmsk": 0b1000, "blsi": 0b0110}[m]
    _nzcv(c, dst.num, s, bits, when_zero, borrow=(m == "blsi"))


@rule("bzhi", undefined=_bmi_undefined)
def _bzhi(c: Ctx) -> None:
    """dst = src with the bits from index n = src2[7:0] up cleared (src itself when n >= the
    width); SF ZF from it, CF = (n >= the width), OF = 0."""
    dst, src, idx = operands(c)
    assert isinstance(dst, Reg) and isinstance(idx, Reg)
    bits = 8 * dst.size
    wide = 64 if bits == 64 else 32
    s = c.src(src, dst.size)
    n, mask = c.tmp(), c.tmp()
    c(A.logic_imm("and", 32, n, idx.num, 0xFF), A.movw("movz", 64, mask, 1), A.dp2("lslv", 64, mask, mask, n),
      A.addsub_imm("sub", 64, mask, mask, 1), A.logic("and", wide, mask, s, mask),
      A.addsub_imm("subs", 32, A.ZR, n, bits), A.csel("csel", wide, dst.num, s, mask, "hs"))
    if c.nzcv_live():
        # C = NOT CF = (n < the width), from the compare above; N Z of the result, V = 0
        t = c.tmp()
        c(A.cset(32, n, "lo"), A.addsub_imm("subs", wide, A.ZR, dst.num, 0), A.mrs_nzcv(t), A.bfi(32, t, n, 29, 1),
          A.msr_nzcv(t))


@rule("sarx", "shlx", "shrx")
def _shx(c: Ctx) -> None:
    """Shifts by src2 modulo the width; no flags."""
    dst, src, cnt = operands(c)
    assert isinstance(dst, Reg) and isinstance(cnt, Reg)
    wide = 64 if dst.size == 8 else 32
    s = c.src(src, dst.size)
    op = {"sarx": "asrv", "shlx": "lslv", "shrx": "lsrv"}[c.insn.spec.mnemonic]
    c(A.dp2(op, wide, dst.num, s, cnt.num))


@rule("rorx")
def _rorx(c: Ctx) -> None:
    """Rotate right by an immediate (modulo the width); no flags."""
    dst, src, imm = operands(c)
    assert isinstance(dst, Reg) and isinstance(imm, Imm)
    bits = 8 * dst.size
    wide = 64 if bits == 64 else 32
    s = c.src(src, dst.size)
    c(A.extr(wide, dst.num, s, s, imm.value % bits))

