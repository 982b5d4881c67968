"""AArch64 -> x86-64 for one block: decode -> rule -> code, with the three cache levels
(core/cache.py). The block's rules are in core/blocks.py; this is the Python path, which every
view, --json and --verify use (fast.py is the numba path for many blocks, with the same bytes).
Guest state lives in the env block (host.py); `state` lists each guest register the block touches
with its env offset.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from vmcli.translate.a64_to_x86.builder import FLAGS_IN, N_CANON, N_CLOBBER, N_READS, N_WRITES, NO_STORE, Code, Ctx
from vmcli.translate.a64_to_x86.host import ENV_REG, EXIT_REG, HOST_REGS, env_offset, guest_order
from vmcli.translate.a64_to_x86.rules import RULES
from vmcli.translate.core import cache
from vmcli.translate.core.blocks import SourceInsn, Stop, Translation
from vmcli.translate.isa import disasm
from vmcli.translate.isa.a64.decoder import Insn, decode
from vmcli.translate.isa.x86.registers import GPR64


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
        return disasm.text("arm64", raw, pc)
    text = _TEXT.get(insn.word)
    if text is None:
        if len(_TEXT) > 1 << 16:
            _TEXT.clear()
        text = _TEXT[insn.word] = disasm.text("arm64", raw, pc)
    return text


# the encodings whose code holds a guest address made from their own (branches, traps, adr, adrp)
_PC_RELATIVE = {"adr", "adrp", "b", "bl", "b_cond", "cbz", "cbnz", "tbz", "tbnz", "blr", "svc", "brk", "hlt", "udf"}


def code_for(insn: Insn, context: int = 0) -> Code:
    """Level 2: the x86 code of one instruction in a flag context (builder.FLAGS_IN, NO_STORE),
    keyed by its word (and its address for the PC-relative ones, whose code holds guest addresses)."""
    key = ("a64", insn.word, insn.address if insn.enc.name in _PC_RELATIVE else None, context)
    hit = cache.TEMPLATES.get(key)
    if hit is None:
        hit = rule_code(insn, context)
        cache.TEMPLATES.put(key, hit)
    assert isinstance(hit, Code)
    return hit


def rule_code(insn: Insn, context: int = 0) -> Code:
    """The x86 code of one instruction in a flag context, from its rule (no cache)."""
    ctx = Ctx(insn, context=context)
    RULES.rules[insn.enc.name].emit(ctx)
    return ctx.code()


def flag_contexts(nzcv: list[int]) -> list[int]:
    """Each instruction's flag context from what the block's instructions do with NZCV (Code.nzcv):
    a reader gets FLAGS_IN where the host flags hold NZCV on its entry (the last instruction to
    touch them left NZCV there); a writer gets NO_STORE where a later writer of the block replaces
    its NZCV before anything reads it from the env slot (NZCV is live at the block's end).
    kernels.contexts is the same pass in numba."""
    out = [0] * len(nzcv)
    canon = False
    for i, p in enumerate(nzcv):
        if p & N_READS and canon:
            out[i] = FLAGS_IN
        if p & N_CANON:
            canon = True
        elif p & N_CLOBBER:
            canon = False
    needed = True
    for i in range(len(nzcv) - 1, -1, -1):
        p = nzcv[i]
        if p & N_WRITES:
            if not needed:
                out[i] |= NO_STORE
            needed = False
        if p & N_READS and not out[i] & FLAGS_IN:
            needed = True
    return out


# the exits that are traps, by encoding (the others are branches)
TRAPS = {"svc": "svc", "brk": "brk", "udf": "udf", "hlt": "hlt"}


def translate(code: bytes, address: int = 0) -> Translation:
    """Translate one block (cache level 3 keyed by bytes, address and direction)."""
    key = (code, address, "arm64")
    hit = cache.BLOCKS.get(key)
    if hit is not None:
        return hit
    insns: list[SourceInsn] = []
    unsupported: list[SourceInsn] = []
    done: list[tuple[Insn, str, Code]] = []
    stopped = False
    for pos in range(0, len(code), 4):
        raw = code[pos:pos + 4]
        pc = address + pos
        insn = decode_cached(int.from_bytes(raw, "little"), pc) if len(raw) == 4 else None
        text = source_text(insn, raw, pc)
        if insn is None or stopped:
            stop = (Stop.AFTER_UNSUPPORTED if stopped else
                    Stop.UNDECODABLE if text == "(bad)" else Stop.UNSUPPORTED)
            si = SourceInsn(pc, raw, text, False, reason=stop.value, stop=stop)
            insns.append(si)
            unsupported.append(si)
            stopped = True
            continue
        c = code_for(insn)
        done.append((insn, text, c))
        if c.exit:
            break
    out = bytearray()
    regs: set[str] = set()
    exit_reg = exit_kind = None
    contexts = flag_contexts([c.nzcv for _, _, c in done])
    for k, ((insn, text, c), context) in enumerate(zip(done, contexts, strict=True)):
        if context:
            c = code_for(insn, context)
        insns.insert(k, SourceInsn(insn.address, code[insn.address - address:insn.address - address + 4], text,
                                   True, target=c.chunks))
        out += c.bytes
        regs |= c.regs
        if c.exit:
            exit_reg = GPR64[EXIT_REG]
            exit_kind = TRAPS.get(insn.enc.name, "branch")
    for rest in range(pos + 4, len(code), 4) if exit_reg else ():
        # the branch ended the block: what follows is listed, not translated
        raw = code[rest:rest + 4]
        si = SourceInsn(address + rest, raw, disasm.text("arm64", raw, address + rest), False,
                        reason=Stop.AFTER_EXIT.value, stop=Stop.AFTER_EXIT)
        insns.append(si)
        unsupported.append(si)
    result = Translation("arm64", "x86_64", address, insns, bytes(out), dict(state_of(frozenset(regs))), exit_reg,
                         unsupported, env_reg=GPR64[ENV_REG], exit_kind=exit_kind)
    cache.BLOCKS.put(key, result)
    return result


@lru_cache(maxsize=4096)
def state_of(regs: frozenset[str]) -> dict[str, dict[str, Any]]:
    """The `state` map (cached: blocks touching the same registers share it; callers copy it)."""
    out: dict[str, dict[str, Any]] = {}
    for g in sorted(regs, key=guest_order):
        if g in HOST_REGS:
            out[g] = {"reg": GPR64[HOST_REGS[g]]}
        else:
            out[g] = {"env": env_offset(g), "layout": "x86"} if g == "nzcv" else {"env": env_offset(g)}
    return out


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
