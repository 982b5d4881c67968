"""SSE: single-precision arithmetic, compares, conversions, moves and shuffles."""

from __future__ import annotations

from vmcli.translate.isa.a64 import encoder as A
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
    imm_below,
    lanewise_rules,
    minmax,
    move128,
    movlh_mem,
    movmsk,
    movss,
    shufps,
    sqrt,
)

rule("addps", "subps", "mulps", "divps", aligned=True)(farith_packed)
rule("addss", "subss", "mulss", "divss")(farith_scalar)
rule("sqrtps", "sqrtss", aligned=True)(sqrt)
rule("minps", "maxps", "minss", "maxss", aligned=True)(minmax)
rule("cmpps", "cmpss", aligned=True, imms=tuple(range(8)), accepts=imm_below(8))(cmpps)
rule("comiss", "ucomiss")(comis)
rule("cvtsi2ss")(cvtsi2s)
rule("cvttss2si", "cvtss2si")(cvt2si)
lanewise_rules({"andps": ("and", "16b"), "orps": ("orr", "16b"), "xorps": ("eor", "16b"),
                "unpcklps": ("zip1", "4s"), "unpckhps": ("zip2", "4s")})
rule("andnps", aligned=True)(andn)
rule("shufps", aligned=True)(shufps)
rule("movups")(move128)
rule("movaps", "movntps", aligned=True)(move128)
rule("movss")(movss)
rule("movlps", "movhps")(movlh_mem)
rule("movmskps")(movmsk)


@rule("movhlps", "movlhps")
def _movhl(c: Ctx) -> None:
    dst, src = operands(c)
    if c.insn.spec.mnemonic == "movhlps":
        c(A.ins_elem(3, dst.num, 0, src.num, 1))
    else:
        c(A.ins_elem(3, dst.num, 1, src.num, 0))
