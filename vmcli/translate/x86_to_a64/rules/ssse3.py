"""SSSE3: absolute values, signs, horizontal integer arithmetic, byte shuffles and alignment."""

from __future__ import annotations

from vmcli.translate.isa.a64 import encoder as A
from vmcli.translate.x86_to_a64.builder import Ctx
from vmcli.translate.x86_to_a64.rules.table import RULES as rule
from vmcli.translate.x86_to_a64.rules.vector import imm8, vops


@rule("pabsb", "pabsw", "pabsd", aligned=True)
def _pabs(c: Ctx) -> None:
    d, s = vops(c)
    arr = {"b": "16b", "w": "8h", "d": "4s"}[c.insn.spec.mnemonic[-1]]
    c(A.v2("abs", arr, d, s))


@rule("psignb", "psignw", "psignd", aligned=True)
def _psign(c: Ctx) -> None:
    d, s = vops(c)
    arr = {"b": "16b", "w": "8h", "d": "4s"}[c.insn.spec.mnemonic[-1]]
    n, lt, z = c.vtmp(), c.vtmp(), c.vtmp()
    c(A.v2("neg", arr, n, d), A.v2("cmlt0", arr, lt, s), A.v2("cmeq0", arr, z, s),
      A.v3("bit", "16b", d, n, lt), A.v3("bic", "16b", d, d, z))


@rule("pmulhrsw", aligned=True)
def _pmulhrsw(c: Ctx) -> None:
    d, s = vops(c)
    lo, hi = c.vtmp(), c.vtmp()
    # ((a * b >> 14) + 1) >> 1 == (a * b + 2^14) >> 15, truncated to 16 bits as x86 does
    c(A.v3diff("smull", "4h", lo, d, s), A.v3diff("smull", "4h", hi, d, s, upper=True),
      A.vshift("rshrn", "4h", d, lo, 15), A.vshift("rshrn", "8h", d, hi, 15))


@rule("pmaddubsw", aligned=True)
def _pmaddubsw(c: Ctx) -> None:
    d, s = vops(c)
    ua, sb, plo, phi, e = (c.vtmp() for _ in range(5))
    c(A.widen(False, "8b", ua, d), A.widen(True, "8b", sb, s), A.v3("mul", "8h", plo, ua, sb),
      A.widen(False, "8b", ua, d, upper=True), A.widen(True, "8b", sb, s, upper=True),
      A.v3("mul", "8h", phi, ua, sb), A.perm("uzp1", "8h", e, plo, phi), A.perm("uzp2", "8h", phi, plo, phi),
      A.v3("sqadd", "8h", d, e, phi))


_HORIZ = {"phaddw": ("add", "8h"), "phaddd": ("add", "4s"), "phaddsw": ("sqadd", "8h"),
          "phsubw": ("sub", "8h"), "phsubd": ("sub", "4s"), "phsubsw": ("sqsub", "8h")}


@rule(*_HORIZ, aligned=True)
def _phadd(c: Ctx) -> None:
    op, arr = _HORIZ[c.insn.spec.mnemonic]
    d, s = vops(c)
    e, o = c.vtmp(), c.vtmp()
    c(A.perm("uzp1", arr, e, d, s), A.perm("uzp2", arr, o, d, s), A.v3(op, arr, d, e, o))



@rule("pshufb", aligned=True)
def _pshufb(c: Ctx) -> None:
    d, s = vops(c)
    t = c.vtmp()
    # x86 zeroes a lane whose index has bit 7 set, else uses index & 15; tbl zeroes indices >= 16
    c(A.movi("16b", t, 0x8F), A.v3("and", "16b", t, s, t), A.tbl(d, d, t))


@rule("palignr", aligned=True)
def _palignr(c: Ctx) -> None:
    d, s = vops(c)
    n = imm8(c)
    if n >= 32:
        c(A.movi("2d", d, 0))
    elif n >= 16:
        if n > 16:
            z = c.vtmp()
            c(A.movi("2d", z, 0), A.ext(d, d, z, n - 16))
    elif n == 0:
        c.vmov(d, s)
    else:
        c(A.ext(d, s, d, n))
