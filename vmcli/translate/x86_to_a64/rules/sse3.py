"""SSE3: horizontal and alternating float arithmetic, duplicating moves, lddqu."""

from __future__ import annotations

from vmcli.translate.isa.a64 import encoder as A
from vmcli.translate.x86_to_a64.builder import Ctx
from vmcli.translate.x86_to_a64.rules.table import RULES as rule
from vmcli.translate.x86_to_a64.rules.vector import fop, move128, vops

rule("lddqu")(move128)


@rule("haddps", "haddpd", "hsubps", "hsubpd", aligned=True)
def _hadd(c: Ctx) -> None:
    m = c.insn.spec.mnemonic
    arr = "4s" if m.endswith("ps") else "2d"
    d, s = vops(c)
    e, o = c.vtmp(), c.vtmp()
    c(A.perm("uzp1", arr, e, d, s), A.perm("uzp2", arr, o, d, s))
    r = fop(c, "fadd" if m.startswith("hadd") else "fsub", arr, e, o)
    c.vmov(d, r)


@rule("addsubps", "addsubpd", aligned=True)
def _addsub(c: Ctx) -> None:
    arr = "4s" if c.insn.spec.mnemonic.endswith("ps") else "2d"
    d, s = vops(c)
    sub = fop(c, "fsub", arr, d, s)
    add = fop(c, "fadd", arr, d, s)
    if arr == "2d":
        c(A.ins_elem(3, sub, 1, add, 1))
    else:
        mask = c.vtmp()
        c(A.movi("2d", mask, 0xF0), A.v3("bit", "16b", sub, add, mask))
    c.vmov(d, sub)



@rule("movsldup", "movshdup", aligned=True)
def _movdup(c: Ctx) -> None:
    d, s = vops(c)
    c(A.perm("trn1" if c.insn.spec.mnemonic == "movsldup" else "trn2", "4s", d, s, s))


@rule("movddup")
def _movddup(c: Ctx) -> None:
    d, s = vops(c)
    c(A.dup_elem("2d", d, s, 0))
