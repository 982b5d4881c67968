"""What the SSE .. SSE4.1 rules share: vector operands, x86's float results on AArch64, and the rules
more than one extension registers (addps is SSE, addpd SSE2: one rule, registered by each).

x86 float results differ from AArch64's in three places, all fixed up here bit for bit:
  - an invalid operation (inf - inf, 0 * inf, sqrt(-1) ...) gives x86's default NaN 0xFFC00000
    (negative); AArch64 gives 0x7FC00000,
  - with a NaN operand x86 returns the *first* source's NaN (quieted) if it is a NaN, else the
    second's; AArch64 prefers a signalling NaN wherever it is,
  - min/max return the second operand when either is NaN or both are zero (a plain select).
"""

from __future__ import annotations

from vmcli.translate.isa.a64 import encoder as A
from vmcli.translate.isa.x86.decoder import Imm, Mem
from vmcli.translate.isa.x86.flags import AF, PF
from vmcli.translate.x86_to_a64.builder import Ctx
from vmcli.translate.x86_to_a64.host import AF_SRC, PF_RES
from vmcli.translate.x86_to_a64.rules.common import operands
from vmcli.translate.x86_to_a64.rules.table import RULES as rule


def vops(c: Ctx) -> tuple[int, int]:
    """(dst vector register, source vector register) for `op xmm, xmm/mem`."""
    dst, src = operands(c)[0], operands(c)[1]
    size = src.size if isinstance(src, Mem) else 16
    return dst.num, c.vread(src, size)


def splat(c: Ctx, value: int, arr: str) -> int:
    """A scratch vector with `value` in every lane of `arr` (4s or 2d), made once per instruction."""
    if (value, arr) in c.vconsts:
        return c.vconsts[(value, arr)]
    v = c.vtmp()
    c.vconsts[(value, arr)] = v
    if arr == "4s" and value & 0xFFFFFF == 0:
        c(A.movi("4s", v, value >> 24, 24))
    elif arr == "4s" and value & 0xFF00FFFF == 0:
        c(A.movi("4s", v, value >> 16, 16))
    else:
        t = c.tmp()
        c.const(t, value, 64 if arr == "2d" else 32)
        c(A.dup_gen(arr, v, t))
    return v



SIGN = {"4s": 0x80000000, "2d": 1 << 63}
QUIET = {"4s": 0x00400000, "2d": 1 << 51}


def fix_invalid(c: Ctx, r: int, arr: str, inputs: tuple[int, ...]) -> None:
    """NaN results from non-NaN inputs become x86's default NaN (sign bit set); NaN inputs are
    propagated x86's way: the first source's NaN (quieted) wins, then the second's."""
    t = c.vtmp()
    sign = splat(c, SIGN[arr], arr)
    c(A.f3("fcmeq", arr, t, r, r), A.v3("bic", "16b", t, sign, t), A.v3("orr", "16b", r, r, t))
    quiet = splat(c, QUIET[arr], arr)
    for src in reversed(inputs):
        m, q = c.vtmp(), c.vtmp()
        c(A.f3("fcmeq", arr, m, src, src), A.v3("orr", "16b", q, src, quiet), A.v3("bif", "16b", r, q, m))


def fop(c: Ctx, op: str, arr: str, a: int, b: int) -> int:
    r = c.vtmp()
    c(A.f3(op, arr, r, a, b))
    fix_invalid(c, r, arr, (a, b))
    return r


def scalar_insert(c: Ctx, d: int, r: int, arr: str) -> None:
    c(A.ins_elem(2 if arr == "4s" else 3, d, 0, r, 0))


FARITH = {"add": "fadd", "sub": "fsub", "mul": "fmul", "div": "fdiv"}


def farith_packed(c: Ctx) -> None:
    m = c.insn.spec.mnemonic
    arr = "4s" if m.endswith("ps") else "2d"
    d, s = vops(c)
    r = fop(c, FARITH[m[:-2]], arr, d, s)
    c.vmov(d, r)


def farith_scalar(c: Ctx) -> None:
    m = c.insn.spec.mnemonic
    arr = "4s" if m.endswith("ss") else "2d"
    d, s = vops(c)
    r = fop(c, FARITH[m[:-2]], arr, d, s)
    scalar_insert(c, d, r, arr)


def arr_of(m: str) -> str:
    return "4s" if m.endswith(("ps", "ss")) else "2d"

def sqrt(c: Ctx) -> None:
    m = c.insn.spec.mnemonic
    arr = arr_of(m)
    d, s = vops(c)
    r = c.vtmp()
    c(A.f2("fsqrt", arr, r, s))
    t, nan_in = c.vtmp(), c.vtmp()
    sign = splat(c, SIGN[arr], arr)
    c(A.f3("fcmeq", arr, t, r, r), A.v3("bic", "16b", t, sign, t), A.f3("fcmeq", arr, nan_in, s, s),
      A.v3("and", "16b", t, t, nan_in), A.v3("orr", "16b", r, r, t))
    if m[-2] == "p":
        c.vmov(d, r)
    else:
        scalar_insert(c, d, r, arr)


def minmax(c: Ctx) -> None:
    m = c.insn.spec.mnemonic
    arr = arr_of(m)
    d, s = vops(c)
    t, r = c.vtmp(), c.vtmp()
    # min: d < s ? d : s      max: d > s ? d : s      (false for NaN -> the second operand)
    if m.startswith("min"):
        c(A.f3("fcmgt", arr, t, s, d))
    else:
        c(A.f3("fcmgt", arr, t, d, s))
    c(A.vmov(r, d), A.v3("bif", "16b", r, s, t))
    if m[-2] == "p":
        c.vmov(d, r)
    else:
        scalar_insert(c, d, r, arr)


def cmp_pred(c: Ctx, arr: str, a: int, b: int, pred: int) -> int:
    r = c.vtmp()
    base = pred & 3
    if base == 0:
        c(A.f3("fcmeq", arr, r, a, b))
    elif base == 1:
        c(A.f3("fcmgt", arr, r, b, a))
    elif base == 2:
        c(A.f3("fcmge", arr, r, b, a))
    else:
        t = c.vtmp()
        c(A.f3("fcmeq", arr, r, a, a), A.f3("fcmeq", arr, t, b, b), A.v3("and", "16b", r, r, t))
        pred ^= 4  # computed "ordered"; UNORD (3) is its negation
    if pred & 4:
        c(A.v2("not", "16b", r, r))
    return r


def imm8(c: Ctx) -> int:
    return next(o.value for o in c.insn.operands if isinstance(o, Imm)) & 0xFF


def imm_below(limit: int):
    def accepts(insn) -> bool:
        return next(o.value for o in insn.operands if isinstance(o, Imm)) & 0xFF < limit
    return accepts


def cmpps(c: Ctx) -> None:
    m = c.insn.spec.mnemonic
    arr = arr_of(m)
    d, s = vops(c)
    r = cmp_pred(c, arr, d, s, imm8(c))
    if m[-2] == "p":
        c.vmov(d, r)
    else:
        scalar_insert(c, d, r, arr)


def comis(c: Ctx) -> None:
    """unordered: ZF PF CF = 111, less: CF, equal: ZF, greater: none; OF SF AF cleared. With
    NZCV = SF ZF NOT-CF OF the targets are 0100, 0000, 0110 and 0010: fcmp gives the last two; a
    compare of (gt, mi ? 2**63 + 1 : 0) gives all three ordered ones, and a conditional compare the
    unordered one."""
    d, s = vops(c)
    prec = "s" if c.insn.spec.mnemonic.endswith("ss") else "d"
    c(A.fcmp(prec, d, s))
    if c.live(PF | AF):
        c(A.cset(32, PF_RES, "vc"))            # ordered: 1 (odd: PF 0); unordered: 0 (PF 1)
    if c.live(AF):
        c(A.mov(64, AF_SRC, PF_RES))
    if c.nzcv_live():
        gt, big = c.tmp(), c.tmp()
        c(A.cset(32, gt, "gt"), A.logic_imm("orr", 64, big, A.ZR, (1 << 63) | 1),
          A.csel("csel", 64, big, big, A.ZR, "mi"), A.ccmp("ccmp", 64, gt, big, 0b0100, "vc"))


def cvtsi2s(c: Ctx) -> None:
    dst, src = operands(c)
    bits = 8 * src.size
    v = c.read(src, src.size)
    r = c.vtmp()
    prec = "s" if c.insn.spec.mnemonic == "cvtsi2ss" else "d"
    c(A.fpint("scvtf", bits, prec, r, v))
    scalar_insert(c, dst.num, r, "4s" if prec == "s" else "2d")


def cvt2si(c: Ctx) -> None:
    dst, src = operands(c)
    m = c.insn.spec.mnemonic
    prec = "s" if m.endswith("ss2si") else "d"
    s = c.vread(src, src.size) if isinstance(src, Mem) else src.num
    bits = 8 * dst.size
    saved = c.flags_save()                    # the compares below use NZCV
    r, t, lim = c.tmp(), c.tmp(), c.tmp()
    c(A.fpint("fcvtzs" if m.startswith("cvtt") else "fcvtns", 64, prec, r, s))
    if bits == 32:
        c(A.bfm("sbfm", 64, t, r, 0, 31), A.addsub("subs", 64, A.ZR, t, r))   # fits in 32 bits?
    else:
        c.const(t, (1 << 63) - 1)
        c(A.addsub("subs", 64, A.ZR, r, t))                                    # saturated?
    c.const(lim, 1 << (bits - 1), bits)
    c(A.csel("csel", bits, r, r, lim, "eq" if bits == 32 else "ne"))
    c(A.fcmp(prec, s, s), A.csel("csel", bits, r, r, lim, "vc"))
    c.flags_restore(saved)
    c.write(dst, dst.size, r)


# lane-wise operations: x86 mnemonic -> (AArch64 three-register op, arrangement), one table per
# extension module (lanewise_rules)
LANEWISE: dict[str, tuple[str, str]] = {}


def lanewise(c: Ctx) -> None:
    op, arr = LANEWISE[c.insn.spec.mnemonic]
    d, s = vops(c)
    if op.startswith(("zip", "uzp", "trn")):
        c(A.perm(op, arr, d, d, s))
    else:
        c(A.v3(op, arr, d, d, s))


def lanewise_rules(table: dict[str, tuple[str, str]]) -> None:
    LANEWISE.update(table)
    rule(*table, aligned=True)(lanewise)


def andn(c: Ctx) -> None:
    d, s = vops(c)
    c(A.v3("bic", "16b", d, s, d))


def pmuludq(c: Ctx) -> None:
    d, s = vops(c)
    a, b = c.vtmp(), c.vtmp()
    op = "umull" if c.insn.spec.mnemonic == "pmuludq" else "smull"
    c(A.narrow2("xtn", "2s", a, d, False), A.narrow2("xtn", "2s", b, s, False), A.v3diff(op, "2s", d, a, b))


# packs with saturation: x86 mnemonic -> (narrowing op, low half, high half), per extension
PACK: dict[str, tuple[str, str, str]] = {}


def pack(c: Ctx) -> None:
    op, lo, hi = PACK[c.insn.spec.mnemonic]
    d, s = vops(c)
    t = c.vtmp()
    c(A.narrow2(op, lo, t, d, False), A.narrow2(op, hi, t, s, True))
    c.vmov(d, t)


def pack_rules(table: dict[str, tuple[str, str, str]]) -> None:
    PACK.update(table)
    rule(*table, aligned=True)(pack)


def shufps(c: Ctx) -> None:
    d, s = vops(c)
    imm = imm8(c)
    t = c.vtmp()
    if c.insn.spec.mnemonic == "shufps":
        for i in range(4):
            c(A.ins_elem(2, t, i, d if i < 2 else s, (imm >> 2 * i) & 3))
    else:
        c(A.ins_elem(3, t, 0, d, imm & 1), A.ins_elem(3, t, 1, s, (imm >> 1) & 1))
    c.vmov(d, t)


def move128(c: Ctx) -> None:
    dst, src = operands(c)
    if isinstance(dst, Mem):
        c.ldst("str", "v", 16, src.num, dst)
    elif isinstance(src, Mem):
        c.ldst("ldr", "v", 16, dst.num, src)
    else:
        c.vmov(dst.num, src.num)


def movss(c: Ctx) -> None:
    dst, src = operands(c)
    size = 4 if c.insn.spec.mnemonic == "movss" else 8
    lane = 2 if size == 4 else 3
    if isinstance(dst, Mem):
        c.ldst("str", "v", size, src.num, dst)
    elif isinstance(src, Mem):
        c.ldst("ldr", "v", size, dst.num, src)        # the load zeroes the upper lanes
    else:
        c(A.ins_elem(lane, dst.num, 0, src.num, 0))


def movlh_mem(c: Ctx) -> None:
    dst, src = operands(c)
    high = c.insn.spec.mnemonic[3] == "h"
    t = c.tmp()
    if isinstance(src, Mem):
        c.ldst("ldr", "r", 8, t, src)
        c(A.ins_gen(3, dst.num, 1 if high else 0, t))
    else:
        c(A.umov(3, t, src.num, 1 if high else 0))
        c.ldst("str", "r", 8, t, dst)


def movmsk(c: Ctx) -> None:
    dst, src = operands(c)
    lanes = 4 if c.insn.spec.mnemonic == "movmskps" else 2
    size = 2 if lanes == 4 else 3
    r, t = c.tmp(), c.tmp()
    c(A.movw("movz", 64, r, 0))
    for i in range(lanes):
        c(A.umov(size, t, src.num, i), A.lsr_imm(64 if size == 3 else 32, t, t, 8 * (1 << size) - 1),
          A.logic("orr", 32, r, r, t, "lsl", i))
    c(A.mov(32, dst.num, r))


def pinsr(c: Ctx) -> None:
    dst, src, _ = operands(c)
    m = c.insn.spec.mnemonic
    size = {"b": 0, "w": 1, "d": 2, "q": 3}[m[-1]]
    if m == "pinsrd" and src.size == 8:
        size = 3
    lanes = 16 >> size
    v = c.load(src, 1 << size) if isinstance(src, Mem) else src.num
    c(A.ins_gen(size, dst.num, imm8(c) % lanes, v))


def pextr(c: Ctx) -> None:
    dst, src, _ = operands(c)
    m = c.insn.spec.mnemonic
    size = {"b": 0, "w": 1, "d": 2, "s": 2}[m[-1]]
    if m == "pextrd" and dst.size == 8:
        size = 3
    lanes = 16 >> size
    idx = imm8(c) % lanes
    if isinstance(dst, Mem):
        t = c.tmp()
        c(A.umov(size, t, src.num, idx))
        c.ldst("str", "r", 1 << size, t, dst)
    else:
        c(A.umov(size, dst.num, src.num, idx))
