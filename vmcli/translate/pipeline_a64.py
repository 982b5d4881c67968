"""AArch64 -> x86-64: decode -> rule -> code for one straight-line block, with the three cache levels.

The block semantics are those of pipeline.py: it ends at the first branch (whose target guest
address is left in r14, EXIT_REG) or at the end of the input; an instruction outside the supported
subset is reported in `unsupported` and nothing from it on is translated. Guest state lives in the
env block of emit_x86 (address in r15); `state` lists each guest register the block touches with
its env offset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import capstone

from vmcli.translate import cache
from vmcli.translate.decode_a64 import Enc, Insn, Variant, active, decode
from vmcli.translate.emit_x86 import ENV_REG, EXIT_REG, GPR_NAMES, NZCV_OFF, SP_OFF, Code, Ctx, v_off, x_off
from vmcli.translate.pipeline import SourceInsn, Translation
from vmcli.translate.rules_a64_to_x86 import rule as A64_RULES


@dataclass
class A64SourceInsn(SourceInsn):
    chunks: list[bytes] = field(default_factory=list)   # the x86 instructions it became


@dataclass
class A64Translation(Translation):
    def to_json(self) -> dict[str, Any]:
        target = []
        offset = 0
        for index, si in enumerate(self.insns):
            for chunk in getattr(si, "chunks", []):
                target.append({"offset": offset, "bytes": chunk.hex(), "text": x86_text(chunk, offset),
                               "source": index})
                offset += len(chunk)
        return {
            "source_arch": self.source_arch,
            "target_arch": self.target_arch,
            "address": self.address,
            "code": self.code.hex(),
            "state": self.state,
            "env_reg": GPR_NAMES[ENV_REG],
            "guest_base": 0,
            "exit_reg": self.exit_reg,
            "source": [{"index": i, "address": si.address, "bytes": si.raw.hex(), "text": si.text,
                        "supported": si.supported} for i, si in enumerate(self.insns)],
            "target": target,
            "unsupported": [{"address": si.address, "bytes": si.raw.hex(), "text": si.text,
                             "reason": si.reason} for si in self.unsupported],
        }


@lru_cache(maxsize=1)
def _cs(arch: str) -> capstone.Cs:
    if arch == "x86_64":
        return capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    return capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)


def x86_text(raw: bytes, address: int) -> str:
    for _a, _s, mnemonic, op_str in _cs("x86_64").disasm_lite(raw, address, 1):
        return f"{mnemonic} {op_str}".strip()
    return "(bad)"


def disasm_a64(raw: bytes, address: int) -> str:
    for _a, _s, mnemonic, op_str in _cs("arm64").disasm_lite(raw, address, 1):
        return f"{mnemonic} {op_str}".strip()
    return "(bad)"


def decode_cached(word: int, address: int) -> Insn | None:
    """Level 1: decoded encodings, keyed by the instruction word."""
    key = ("a64", word)
    hit = cache.DECODED.get(key)
    if hit is None:
        insn = decode(word, 0)
        cache.DECODED.put(key, insn if insn is not None else False)
        hit = insn if insn is not None else False
    if hit is False:
        return None
    assert isinstance(hit, Insn)
    return Insn(address, hit.word, hit.enc, hit.variant, hit.f) if address else hit


_TEXT: dict[int, str] = {}


def source_text(insn: Insn | None, raw: bytes, pc: int) -> str:
    """capstone's text of the instruction, kept per word unless it holds a PC-relative address."""
    if insn is None or insn.enc.name in _PC_RELATIVE:
        return disasm_a64(raw, pc)
    text = _TEXT.get(insn.word)
    if text is None:
        if len(_TEXT) > 1 << 16:
            _TEXT.clear()
        text = _TEXT[insn.word] = disasm_a64(raw, pc)
    return text


_PC_RELATIVE = {"adr", "adrp", "b", "bl", "b_cond", "cbz", "cbnz", "tbz", "tbnz", "blr"}


def code_for(insn: Insn) -> Code:
    """Level 2: the x86 code of one instruction, keyed by its word (and its address for the
    PC-relative ones, whose code holds guest addresses)."""
    key = ("a64", insn.word, insn.address if insn.enc.name in _PC_RELATIVE else None)
    hit = cache.TEMPLATES.get(key)
    if hit is None:
        r = A64_RULES.get(insn.enc.name)
        assert r is not None
        ctx = Ctx(insn)
        r.emit(ctx)
        hit = ctx.code()
        cache.TEMPLATES.put(key, hit)
    assert isinstance(hit, Code)
    return hit


def translate_a64(code: bytes, address: int = 0) -> A64Translation:
    key = (code, address, "arm64")
    hit = cache.BLOCKS.get(key)
    if hit is not None:
        return hit
    insns: list[SourceInsn] = []
    unsupported: list[SourceInsn] = []
    out = bytearray()
    regs: set[str] = set()
    exit_reg = None
    stopped = False
    for pos in range(0, len(code), 4):
        raw = code[pos:pos + 4]
        pc = address + pos
        insn = decode_cached(int.from_bytes(raw, "little"), pc) if len(raw) == 4 else None
        text = source_text(insn, raw, pc)
        if insn is None or stopped:
            reason = ("follows an unsupported instruction" if stopped else
                      "undecodable bytes" if text == "(bad)" else "not in the supported subset")
            si = A64SourceInsn(pc, raw, text, False, reason=reason)
            insns.append(si)
            unsupported.append(si)
            stopped = True
            continue
        c = code_for(insn)
        insns.append(A64SourceInsn(pc, raw, text, True, chunks=c.chunks))
        out += c.bytes
        regs |= c.regs
        if c.exit:
            exit_reg = GPR_NAMES[EXIT_REG]
            break
    for rest in range(pos + 4, len(code), 4) if exit_reg else ():
        # the branch ended the block: what follows is listed, not translated
        raw = code[rest:rest + 4]
        si = A64SourceInsn(address + rest, raw, disasm_a64(raw, address + rest), False,
                           reason="follows the block's exit branch (translate it as its own block)")
        insns.append(si)
        unsupported.append(si)
    state = state_of(frozenset(regs))
    result = A64Translation("arm64", "x86_64", address, insns, bytes(out), dict(state), exit_reg, unsupported)
    cache.BLOCKS.put(key, result)
    return result


def env_offset(guest: str) -> int:
    if guest == "sp":
        return SP_OFF
    if guest == "nzcv":
        return NZCV_OFF
    if guest.startswith("v"):
        return v_off(int(guest[1:]))
    return x_off(int(guest[1:]))


def _order(name: str) -> tuple[int, int]:
    if name.startswith("x"):
        return (0, int(name[1:]))
    if name.startswith("v"):
        return (2, int(name[1:]))
    return (1, 0 if name == "sp" else 1)


@lru_cache(maxsize=4096)
def state_of(regs: frozenset[str]) -> dict[str, dict[str, Any]]:
    """The `state` map (cached: blocks touching the same registers share it; callers copy it)."""
    return {g: {"env": env_offset(g)} for g in sorted(regs, key=_order)}


# ---- forms ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class A64Form:
    enc: Enc
    variant: Variant

    @property
    def name(self) -> str:
        return self.enc.form_name(self.variant)

    @property
    def extension(self) -> str:
        return self.enc.group


def a64_forms() -> list[A64Form]:
    return [A64Form(e, v) for e in active() for v in e.variants]


def render_x86(tr: A64Translation) -> None:
    """The side-by-side view for this direction (display.render hands over here)."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from vmcli.translate.display import _console

    table = Table(title=f"{tr.source_arch} -> {tr.target_arch} at {tr.address:#x}", show_lines=True,
                  title_justify="left")
    for col in ("address", "source bytes", "source", "target bytes", "target"):
        table.add_column(col, overflow="fold")
    offset = 0
    for si in tr.insns:
        if not si.supported:
            table.add_row(f"{si.address:#x}", si.raw.hex(), escape(si.text), "",
                          Text(f"unsupported: {si.reason}", style="bold red"))
            continue
        tb, tt = [], []
        for chunk in getattr(si, "chunks", []):
            tb.append(chunk.hex())
            tt.append(escape(x86_text(chunk, offset)))
            offset += len(chunk)
        table.add_row(f"{si.address:#x}", si.raw.hex(), escape(si.text), "\n".join(tb), "\n".join(tt))
    console = _console()
    console.print(table)
    state = ", ".join(f"{g}=env+{loc['env']:#x}" for g, loc in tr.state.items())
    console.print(f"state: {state or '-'}; env_reg {GPR_NAMES[ENV_REG]}; guest_base 0"
                  + (f"; exit address in {tr.exit_reg}" if tr.exit_reg else ""))
    n = sum(len(getattr(si, "chunks", [])) for si in tr.insns)
    console.print(f"{sum(s.supported for s in tr.insns)}/{len(tr.insns)} instructions -> "
                  f"{n} x86-64 instructions ({len(tr.code)} bytes)")


def forms_markdown() -> str:
    """The supported AArch64 forms as a markdown table, one row per encoding (docs/translator-arm64.md)."""
    rows = ["| group | encoding | variants (each one a verified form) |", "|---|---|---|"]
    for e in active():
        variants = " ".join(v.label for v in e.variants) or "-"
        syntax = e.syntax.replace("|", "\\|")
        rows.append(f"| {e.group} | `{syntax}` | {variants} |")
    rows.append(f"\n{len(a64_forms())} forms in {len(active())} encodings.")
    return "\n".join(rows)


def split_blocks(code: bytes, address: int) -> list[tuple[bytes, int]]:
    """Cut AArch64 code into blocks after each branch (b, bl, b.cond, cbz, tbz, br, blr, ret);
    used for images."""
    out: list[tuple[bytes, int]] = []
    start = 0
    for pos in range(0, len(code) - 3, 4):
        insn = decode_cached(int.from_bytes(code[pos:pos + 4], "little"), address + pos)
        if insn is not None and insn.enc.group == "branch":
            out.append((code[start:pos + 4], address + start))
            start = pos + 4
    if start < len(code):
        out.append((code[start:], address + start))
    return out
