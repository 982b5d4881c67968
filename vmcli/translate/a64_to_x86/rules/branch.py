"""Branches: each ends the block and leaves the guest address to continue at in EXIT_REG."""

from __future__ import annotations

from vmcli.translate.a64_to_x86.builder import COND_CC, REL_TARGET, Ctx
from vmcli.translate.a64_to_x86.host import EXIT_REG
from vmcli.translate.a64_to_x86.rules.table import RULES as rule
from vmcli.translate.isa.a64.conditions import COND
from vmcli.translate.isa.a64.encodings import sext


def _exit_select(c: Ctx, cc: str, target: int) -> None:
    """EXIT = target if the x86 condition cc holds, else the next instruction."""
    t = c.tmp()
    c.mov_addr(EXIT_REG, c.pc + 4)
    c.mov_addr(t, target, REL_TARGET)
    c.cmov(cc, True, EXIT_REG, t)
    c.exit = True


@rule("b", "bl")
def _b(c: Ctx) -> None:
    target = c.pc + 4 * sext(c.fields["imm26"], 26)
    if c.name == "bl":
        c.put_addr(30, c.pc + 4)
    c.mov_addr(EXIT_REG, target, REL_TARGET)
    c.exit = True


@rule("b_cond")
def _b_cond(c: Ctx) -> None:
    f = c.fields
    target = c.pc + 4 * sext(f["imm19"], 19)
    cond = COND[f["cond"]]
    if cond in ("al", "nv"):
        c.mov_addr(EXIT_REG, target, REL_TARGET)
        c.exit = True
        return
    c.flags()
    _exit_select(c, COND_CC[cond], target)


@rule("cbz", "cbnz")
def _cbz(c: Ctx) -> None:
    f, sf = c.fields, c.sf
    x = c.operand(f["Rt"], sf)
    if isinstance(x, int):
        c.test(sf, x, x)
    elif x is None:
        c.alu_imm("cmp", False, c.get(31, False), 0)
    else:
        c.alu_mem_imm("cmp", sf, x, 0)
    _exit_select(c, "e" if c.name == "cbz" else "ne", c.pc + 4 * sext(f["imm19"], 19))


@rule("tbz", "tbnz")
def _tbz(c: Ctx) -> None:
    f = c.fields
    x = c.operand(f["Rt"], True)
    c.bt(True, c.get(31, True) if x is None else x, (f["b5"] << 5) | f["b40"])
    _exit_select(c, "ae" if c.name == "tbz" else "b", c.pc + 4 * sext(f["imm14"], 14))


@rule("br", "blr", "ret")
def _br(c: Ctx) -> None:
    f = c.fields
    c.get(f["Rn"], True, into=EXIT_REG)
    if c.name == "blr":
        c.put_addr(30, c.pc + 4)
    c.exit = True


@rule("svc", "brk", "hlt", "udf")
def _trap(c: Ctx) -> None:
    """A trap ends the block (the translation names it, exit_kind): the runtime takes the exception.
    EXIT = where the exception returns to: the next instruction after svc, the trapping instruction
    itself after brk, hlt and udf (its preferred return address)."""
    c.mov_addr(EXIT_REG, c.pc + 4 if c.name == "svc" else c.pc)
    c.exit = True
