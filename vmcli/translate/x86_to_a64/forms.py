"""Forms: an opcode-table line x operand size x operand kind (register / memory).

The supported-forms list (`vm translate --list-supported`, docs/translator.md) and the verifier's
per-form runs are both generated from here, so a form is listed only when a rule covers it.
check.instance() builds random concrete instructions of a form for the verifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vmcli.translate.core.rules import Rule, RuleTable
from vmcli.translate.isa.x86.decoder import Insn, Mem, Reg, operand_size
from vmcli.translate.isa.x86.opcodes import SPECS, OpSpec
from vmcli.translate.x86_to_a64.rules import RULES


@dataclass(frozen=True)
class Form:
    spec: OpSpec
    opsize: int
    kind: str          # "r" register form, "m" memory form, "-" neither
    rule: Rule[Any]

    @property
    def name(self) -> str:
        parts = []
        for code in self.spec.operands:
            parts.append(_describe(code, self.opsize, self.kind))
        return f"{self.spec.mnemonic} {', '.join(parts)}".strip()

    @property
    def extension(self) -> str:
        if self.spec.x87:
            return "x87"
        if self.spec.vex:
            return "AVX/AVX2" if self.spec.is_sse or self.spec.mnemonic.startswith("vzero") else "BMI1/BMI2"
        return sse_level(self.spec) if self.spec.is_sse else "base"

    @property
    def rule_name(self) -> str:
        return self.spec.mnemonic


def _describe(code: str, opsize: int, kind: str) -> str:
    size = operand_size(code, opsize, opsize == 8)
    if code in ("AL", "CL", "1"):
        return code.lower()
    if code == "rAX":
        return {2: "ax", 4: "eax", 8: "rax"}[opsize]
    if code == "X0":
        return "<xmm0>"
    if code in ("AX", "ST", "ST0"):
        return {"AX": "ax", "ST": "st(i)", "ST0": "st(0)"}[code]
    k = code[0]
    if k in "GZB":
        return f"r{8 * size}"
    if k in "VUHL":
        return "ymm" if size == 32 else "xmm"
    if k == "E":
        return f"r{8 * size}" if kind == "r" else f"m{8 * size}"
    if k == "W":
        return ("ymm" if size == 32 else "xmm") if kind == "r" else f"m{8 * size}"
    if k == "M":
        return f"m{8 * size}"
    if k in "IJ":
        return "rel" + code[1:] if k == "J" else "imm" + ("8" if code[1] == "b" else "")
    return code


_SSE3 = {"movsldup", "movshdup", "movddup", "haddps", "haddpd", "hsubps", "hsubpd", "addsubps",
         "addsubpd", "lddqu"}


def sse_level(spec: OpSpec) -> str:
    if spec.map == 2 and spec.opcode < 0x20 and spec.opcode not in (0x10, 0x14, 0x15, 0x17):
        return "SSSE3"
    if spec.map == 3 and spec.opcode == 0x0F:
        return "SSSE3"
    if spec.map in (2, 3):
        return "SSE4.1"
    if spec.mnemonic in _SSE3:
        return "SSE3"
    if spec.prefix in (0x66, 0xF2) or spec.mnemonic.startswith("p") or spec.mnemonic in ("movd", "movq"):
        return "SSE2"
    if spec.mnemonic.endswith(("pd", "sd")) or "dq" in spec.mnemonic:
        return "SSE2"
    return "SSE"


def _sizes(spec: OpSpec) -> tuple[int, ...]:
    codes = spec.operands
    if spec.vex and any(c.endswith("l") for c in codes) or spec.mnemonic in ("vzeroupper", "vzeroall"):
        return {-1: (16, 32), 0: (16,), 1: (32,)}[spec.vex_l]      # the vector length
    if any(c[0] == "J" for c in codes):
        return (4,)
    if spec.stack64:
        return (8,)          # 64-bit without REX.W (16-bit stack operations are outside the subset)
    if any(c.endswith(("v", "z")) or c == "rAX" for c in codes) or spec.mnemonic in ("cbw", "cwd"):
        return (2, 4, 8)
    if any(c.endswith("y") for c in codes):
        return (4, 8)
    return (4,)


def _kinds(spec: OpSpec) -> str:
    codes = spec.operands
    if any(c[0] == "M" for c in codes):
        return "m"
    if any(c[0] == "U" for c in codes):
        return "r"
    if any(c[0] in "EW" for c in codes):
        return "rm"
    return "-"


def all_forms(rules: RuleTable[Any] = RULES) -> list[Form]:
    forms = []
    for spec in SPECS:
        r = rules.get(spec.mnemonic)
        if r is None:
            continue
        for size in _sizes(spec):
            if r.sizes is not None and _first_size(spec, size) not in r.sizes:
                continue
            for kind in _kinds(spec):
                if kind != "-" and kind not in r.kinds:
                    continue
                if kind == "m" and r.mem_with_imm and not any(code[0] == "I" for code in spec.operands):
                    continue
                forms.append(Form(spec, size, kind, r))
    return forms


def _first_size(spec: OpSpec, opsize: int) -> int:
    return operand_size(spec.operands[0], opsize, opsize == 8) if spec.operands else opsize


_FORM_KEYS: set[tuple[int, int, str]] | None = None


def _form_keys() -> set[tuple[int, int, str]]:
    global _FORM_KEYS
    if _FORM_KEYS is None:
        _FORM_KEYS = {(f.spec.id, f.opsize, f.kind) for f in all_forms()}
    return _FORM_KEYS


def form_key(insn: Insn) -> tuple[int, int, str]:
    sizes = _sizes(insn.spec)
    opsize = insn.opsize if len(sizes) > 1 else sizes[0]
    kinds = _kinds(insn.spec)
    kind = "-" if kinds == "-" else ("m" if any(isinstance(o, Mem) for o in insn.operands) else "r")
    return insn.spec.id, opsize, kind


def supported_form(insn: Insn) -> str:
    """'' when the instruction's form is covered (and therefore verified), else the reason."""
    r = RULES.get(insn.spec.mnemonic)
    if r is None:
        return f"no rule for {insn.spec.mnemonic}"
    if r.accepts is not None and not r.accepts(insn):
        return "this immediate is outside the verified range"
    if r.rm_regs is not None and any(isinstance(o, Reg) and o.num not in r.rm_regs
                                     for o, code in zip(insn.operands, insn.spec.operands, strict=True)
                                     if code[0] in "EWUM" or code == "ST"):
        return "this encoding is outside the verified ones"
    if form_key(insn) not in _form_keys():
        return "this operand size/kind of the instruction is not supported"
    return ""


_EXTENSIONS = ("base", "SSE", "SSE2", "SSE3", "SSSE3", "SSE4.1", "AVX/AVX2", "BMI1/BMI2", "x87")


def forms_markdown() -> str:
    """The supported forms for docs/translator.md: per extension, one row per mnemonic."""
    forms = all_forms()
    groups: dict[str, dict[str, list[str]]] = {}
    for f in forms:
        mnemonic, _, operands = f.name.partition(" ")
        groups.setdefault(f.extension, {}).setdefault(mnemonic, []).append(operands or "-")
    lines = [f"{len(forms)} verified forms from x86_64.", ""]
    for ext in sorted(groups, key=lambda e: _EXTENSIONS.index(e) if e in _EXTENSIONS else 9):
        count = sum(len(v) for v in groups[ext].values())
        lines += [f"**{ext}** ({count} forms)", "", "| instruction | forms |", "| --- | --- |"]
        for mnemonic, ops in groups[ext].items():
            lines.append(f"| `{mnemonic}` | {' · '.join(ops)} |")
        lines.append("")
    return "\n".join(lines)
