"""x86-64 -> AArch64 for one block: decode -> rule -> template -> code, with the three cache levels
(core/cache.py). The block's rules are in core/blocks.py; this is the Python path, which every
view, --json and --verify use (fast.py is the numba path for many blocks, with the same bytes).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from vmcli.translate.core import cache
from vmcli.translate.core.blocks import SourceInsn, Stop, Translation
from vmcli.translate.isa import disasm
from vmcli.translate.isa.x86.decoder import Insn, Reg, decode
from vmcli.translate.isa.x86.flags import STATUS
from vmcli.translate.x86_to_a64.builder import (
    Ctx,
    Template,
    apply,
    parametrize,
    register_params,
    renamed,
    shape,
    slot_values,
)
from vmcli.translate.x86_to_a64.forms import supported_form
from vmcli.translate.x86_to_a64.host import (
    ENV_REG,
    EXIT_REG,
    HOST,
    RFLAGS_STATE,
    X87_STATE,
    YMMH,
    guest_order,
    x87_offset,
    ymmh_offset,
)
from vmcli.translate.x86_to_a64.rules import RULES, flag_effect, liveness_shaped


def decode_cached(code: bytes, pos: int, address: int) -> Insn | None:
    """Level 1: decoded encodings, keyed by the 15-byte window (an instruction never exceeds it)."""
    window = code[pos:pos + 15]
    hit = cache.DECODED.get(window)
    if hit is None:
        insn = decode(window, 0)
        cache.DECODED.put(window, insn if insn is not None else False)
        if insn is None:
            return None
        hit = insn
    if hit is False:
        return None
    assert isinstance(hit, Insn)
    return dataclasses.replace(hit, address=address) if address else hit


def template_for(insn: Insn, count: bool = True, dead: int = 0) -> Template:
    """Level 2: instruction shape -> template (registers and data values are patched in).
    dead: status flags the instruction need not produce (dead_flags); part of the shape."""
    rule = RULES.rules[insn.spec.mnemonic]
    key, params = shape(insn, rule)
    if dead:
        key += (("dead", dead),)
    tpl = cache.TEMPLATES.get(key) if count else cache.TEMPLATES.data.get(key)
    if tpl is None:
        variants = []
        for name in ("A", "B"):
            ctx = Ctx(renamed(insn, name, rule, params), data_imm=rule.data_imm, dead=dead)
            rule.emit(ctx)
            variants.append(ctx.template())
        tpl = parametrize(variants[0], variants[1], register_params(ctx.insn, rule))   # ctx: B's
        cache.TEMPLATES.put(key, tpl)
    return tpl


def dead_flags(insns: list[Insn]) -> list[int]:
    """Per instruction of a block, the status flags dead after it (a later instruction of the block
    always writes them, and nothing reads them in between), for the rules whose code depends on it
    (0 for the others). Every flag is live at the block's end, so the block leaves exactly the
    flags it would leave without this."""
    live = STATUS
    dead = [0] * len(insns)
    for i in range(len(insns) - 1, -1, -1):
        m = insns[i].spec.mnemonic
        reads, writes = flag_effect(m)
        if liveness_shaped(m):
            dead[i] = STATUS & ~live
        live = (live & ~writes) | reads
    return dead


def translate(code: bytes, address: int = 0) -> Translation:
    """Translate one block (cache level 3 keyed by bytes, address and direction)."""
    key = (code, address, "x86_64")
    hit = cache.BLOCKS.get(key)
    if hit is not None:
        return hit
    insns: list[SourceInsn] = []
    unsupported: list[SourceInsn] = []
    translated: list[tuple[SourceInsn, Insn, Template]] = []
    done = bytearray()
    exit_reg = None
    exit_kind = None
    pos = 0
    stopped = False
    while pos < len(code):
        insn = decode_cached(code, pos, address + pos)
        if insn is None:
            raw, text = disasm.first_x86(code[pos:], address + pos)
            stop = Stop.UNSUPPORTED if raw else Stop.UNDECODABLE
            si = SourceInsn(address + pos, raw or code[pos:pos + 1], text, False, reason=stop.value, stop=stop)
            insns.append(si)
            unsupported.append(si)
            pos += len(si.raw)
            stopped = True
            continue
        raw = insn.raw
        text = disasm.first_x86(raw, insn.address)[1]
        why = supported_form(insn)
        if why or stopped:
            stop = Stop.UNSUPPORTED if why else Stop.AFTER_UNSUPPORTED
            si = SourceInsn(insn.address, raw, text, False, reason=why or stop.value, stop=stop)
            insns.append(si)
            unsupported.append(si)
            stopped = True
            pos += len(raw)
            continue
        tpl = template_for(insn)
        si = SourceInsn(insn.address, raw, text, True)
        insns.append(si)
        translated.append((si, insn, tpl))
        done += raw
        pos += len(raw)
        if tpl.exit:
            exit_reg = f"x{EXIT_REG}"
            exit_kind = "syscall" if insn.spec.mnemonic == "syscall" else "branch"
            break
    for (si, insn, tpl), dead in zip(translated, dead_flags([t[1] for t in translated]), strict=True):
        if dead:
            tpl = template_for(insn, dead=dead)
        words = apply(tpl, slot_values(insn), register_params(insn, RULES.rules[insn.spec.mnemonic]))
        si.target = [w.to_bytes(4, "little") for w in words]
    while pos < len(code):
        # the branch ended the block: what follows is listed, not translated
        raw, text = disasm.first_x86(code[pos:], address + pos)
        si = SourceInsn(address + pos, raw or code[pos:pos + 1], text, False, reason=Stop.AFTER_EXIT.value,
                        stop=Stop.AFTER_EXIT)
        insns.append(si)
        unsupported.append(si)
        pos += len(si.raw)
    state = state_of(bytes(done), address, [t[1] for t in translated])
    result = Translation("x86_64", "arm64", address, insns, b"".join(b"".join(si.target) for si in insns),
                         state, exit_reg, unsupported, exit_kind=exit_kind,
                         env_reg=f"x{ENV_REG}" if any("env" in loc for loc in state.values()) else None)
    cache.BLOCKS.put(key, result)
    return result


def code_and_counts(code: bytes, address: int) -> tuple[bytes, int, int]:
    """translate(code, address)'s code, instructions and untranslated instructions, without its
    listing (no text, no state): the bulk path's way through the blocks its kernel leaves."""
    translated: list[tuple[Insn, Template]] = []
    pos = 0
    while pos < len(code):
        insn = decode_cached(code, pos, address + pos)
        if insn is None or supported_form(insn):
            break
        tpl = template_for(insn)
        translated.append((insn, tpl))
        pos += len(insn.raw)
        if tpl.exit:
            break
    out = []
    for (insn, tpl), dead in zip(translated, dead_flags([t[0] for t in translated]), strict=True):
        if dead:
            tpl = template_for(insn, dead=dead)
        words = apply(tpl, slot_values(insn), register_params(insn, RULES.rules[insn.spec.mnemonic]))
        out.append(b"".join(w.to_bytes(4, "little") for w in words))
    rest = listed_after(code, pos, address, bool(translated) and translated[-1][1].exit)
    return b"".join(out), len(translated) + rest, rest


def listed_after(code: bytes, pos: int, address: int, after_exit: bool) -> int:
    """The instructions translate lists, untranslated, from `pos` on: delimited by our decoder,
    else by capstone (one byte where it cannot), after an unsupported one; by capstone after an exit."""
    n = 0
    while pos < len(code):
        insn = None if after_exit else decode_cached(code, pos, address + pos)
        pos += len(insn.raw) if insn is not None else disasm.x86_length(code[pos:], address + pos) or 1
        n += 1
    return n


def state_of(code: bytes, address: int, insns: list[Insn]) -> dict[str, dict[str, Any]]:
    """Guest registers the block reads or writes -> where the code keeps them (the upper ymm
    halves the AVX forms touch and the x87 state: at their offset in the env block)."""
    names = disasm.x86_regs_accessed(code, address)
    for insn in insns:
        if insn.spec.mnemonic in ("vzeroupper", "vzeroall"):
            names |= set(YMMH)
        elif insn.spec.vex:
            names |= {f"ymmh{op.num}" for op in insn.operands if isinstance(op, Reg) and op.kind == "xmm"}
        elif insn.spec.x87:
            names |= set(X87_STATE)
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(names, key=guest_order):
        if name == "rflags":
            out[name] = dict(RFLAGS_STATE)
        elif name.startswith("ymmh"):
            out[name] = {"env": ymmh_offset(name)}
        elif name in X87_STATE:
            out[name] = {"env": x87_offset(name)}
        else:
            out[name] = {"reg": HOST[name]}
    return out


def split_blocks(code: bytes, address: int) -> list[tuple[bytes, int]]:
    """Cut x86-64 code into blocks after each branch (jcc, jmp, call, ret) and system call; used for
    images."""
    out: list[tuple[bytes, int]] = []
    start = pos = 0
    while pos < len(code):
        insn = decode(code[pos:pos + 15], address + pos)
        if insn is None:
            raw, _ = disasm.first_x86(code[pos:], address + pos)
            pos += len(raw) or 1
            continue
        pos += insn.length
        if insn.spec.ends_block:
            out.append((code[start:pos], address + start))
            start = pos
    if start < len(code):
        out.append((code[start:], address + start))
    return out
