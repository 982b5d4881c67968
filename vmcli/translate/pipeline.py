"""decode -> rule -> template -> code, for one straight-line block, with the three cache levels.

A block runs from its first instruction to the end of the input or to the first branch (which
ends it: the branch's taken/not-taken guest address is left in the exit register). An
instruction outside the supported subset is reported in `unsupported`, and the block's code
stops before it: nothing after an untranslatable instruction is emitted, so the code never
computes a wrong state.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from vmcli.errors import BadInput
from vmcli.translate import cache
from vmcli.translate.decode_x86 import Insn, decode
from vmcli.translate.emit_a64 import (
    EXIT_REG,
    FLAGS,
    STATUS,
    Ctx,
    Template,
    apply,
    parametrize,
    register_params,
    renamed,
    shape,
    slot_values,
)
from vmcli.translate.rules_x86_to_a64 import flag_effect
from vmcli.translate.rules_x86_to_a64 import rule as X86_RULES

DIRECTIONS = {"x86_64": "arm64", "arm64": "x86_64"}
ARCH_ALIASES = {"x86_64": "x86_64", "x86-64": "x86_64", "amd64": "x86_64", "x64": "x86_64",
                "arm64": "arm64", "aarch64": "arm64"}


@dataclass
class SourceInsn:
    address: int
    raw: bytes
    text: str
    supported: bool
    target: list[int] = field(default_factory=list)   # AArch64 words this instruction became
    reason: str = ""


@dataclass
class Translation:
    source_arch: str
    target_arch: str
    address: int
    insns: list[SourceInsn]
    code: bytes
    state: dict[str, dict[str, Any]]
    exit_reg: str | None
    unsupported: list[SourceInsn]

    def to_json(self) -> dict[str, Any]:
        from vmcli.translate.display import disasm_target

        target = []
        offset = 0
        for index, si in enumerate(self.insns):
            for word in si.target:
                raw = word.to_bytes(4, "little")
                target.append({"offset": offset, "bytes": raw.hex(), "text": disasm_target(raw, offset),
                               "source": index})
                offset += 4
        return {
            "source_arch": self.source_arch,
            "target_arch": self.target_arch,
            "address": self.address,
            "code": self.code.hex(),
            "state": self.state,
            "env_reg": None,
            "guest_base": 0,
            "exit_reg": self.exit_reg,
            "source": [{"index": i, "address": si.address, "bytes": si.raw.hex(), "text": si.text,
                        "supported": si.supported} for i, si in enumerate(self.insns)],
            "target": target,
            "unsupported": [{"address": si.address, "bytes": si.raw.hex(), "text": si.text,
                             "reason": si.reason} for si in self.unsupported],
        }


def normalize_arch(name: str) -> str:
    arch = ARCH_ALIASES.get(name.lower())
    if arch is None:
        raise BadInput(f"unknown architecture {name!r} (use x86_64 or arm64)")
    return arch


def check_direction(source: str) -> str:
    source = normalize_arch(source)
    if source not in DIRECTIONS:
        raise BadInput(f"translating from {source} is not supported yet (supported: "
                       f"{', '.join(f'{s} -> {t}' for s, t in DIRECTIONS.items())})")
    return DIRECTIONS[source]


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
    rule = X86_RULES.rules[insn.spec.mnemonic]
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
    """Per instruction of a block, the status flags it need not produce: a later instruction of
    the block always writes them, and nothing reads them in between. Every flag is live at the
    block's end, so the block leaves exactly the flags it would leave without this."""
    live = STATUS
    dead = [0] * len(insns)
    for i in range(len(insns) - 1, -1, -1):
        reads, writes = flag_effect(insns[i].spec.mnemonic)
        dead[i] = writes & ~live
        live = (live & ~writes) | reads
    return dead


def supported(insn: Insn) -> str:
    """'' when a rule covers this instruction's form, else why not."""
    from vmcli.translate.forms import supported_form

    return supported_form(insn)


def translate(code: bytes, address: int = 0, source_arch: str = "x86_64") -> Translation:
    """Translate one block (cache level 3 keyed by bytes, address and direction)."""
    source_arch = normalize_arch(source_arch)
    target_arch = check_direction(source_arch)
    if source_arch == "arm64":
        from vmcli.translate.pipeline_a64 import translate_a64

        return translate_a64(code, address)
    key = (code, address, source_arch)
    hit = cache.BLOCKS.get(key)
    if hit is not None:
        return hit
    from vmcli.translate.display import disasm_source

    insns: list[SourceInsn] = []
    unsupported: list[SourceInsn] = []
    words: list[int] = []
    translated: list[tuple[SourceInsn, Insn, Template]] = []
    done = bytearray()
    exit_reg = None
    pos = 0
    stopped = False
    while pos < len(code):
        insn = decode_cached(code, pos, address + pos)
        if insn is None:
            raw, text = disasm_source(code[pos:], address + pos)
            si = SourceInsn(address + pos, raw, text, False,
                            reason="not in the supported subset" if raw else "undecodable bytes")
            if not raw:
                si.raw = code[pos:pos + 1]
            insns.append(si)
            unsupported.append(si)
            pos += len(si.raw)
            stopped = True
            continue
        raw = insn.raw
        text = disasm_source(raw, insn.address)[1]
        why = supported(insn)
        if why or stopped:
            si = SourceInsn(insn.address, raw, text, False,
                            reason=why or "follows an unsupported instruction")
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
            break
    for (si, insn, tpl), dead in zip(translated, dead_flags([t[1] for t in translated]), strict=True):
        if dead:
            tpl = template_for(insn, dead=dead)
        si.target = apply(tpl, slot_values(insn), register_params(insn, X86_RULES.rules[insn.spec.mnemonic]))
        words += si.target
    while pos < len(code):
        # the branch ended the block: what follows is listed, not translated
        raw, text = disasm_source(code[pos:], address + pos)
        si = SourceInsn(address + pos, raw or code[pos:pos + 1], text, False,
                        reason="follows the block's exit branch (translate it as its own block)")
        insns.append(si)
        unsupported.append(si)
        pos += len(si.raw)
    state = _state_of(bytes(done), address, exit_reg)
    result = Translation(source_arch, target_arch, address, insns,
                         b"".join(w.to_bytes(4, "little") for w in words), state, exit_reg, unsupported)
    cache.BLOCKS.put(key, result)
    return result


def _state_of(code: bytes, address: int, exit_reg: str | None) -> dict[str, dict[str, Any]]:
    """Guest registers the block reads or writes -> their host location."""
    from vmcli.translate.display import x86_regs_accessed

    names = x86_regs_accessed(code, address)
    state: dict[str, dict[str, Any]] = {}
    for name in sorted(names, key=_guest_order):
        state[name] = {"reg": host_reg(name)}
    return state


_GPR = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"] + [f"r{i}" for i in range(8, 16)]


def host_reg(guest: str) -> str:
    if guest == "rflags":
        return f"x{FLAGS}"
    if guest.startswith("xmm"):
        return f"v{guest[3:]}"
    return f"x{_GPR.index(guest)}"


def _guest_order(name: str) -> tuple[int, int]:
    if name in _GPR:
        return (0, _GPR.index(name))
    if name.startswith("xmm"):
        return (1, int(name[3:]))
    return (2, 0)


def split_blocks(code: bytes, address: int) -> list[tuple[bytes, int]]:
    """Cut x86-64 code into blocks after each branch (jcc, jmp, call, ret); used for images."""
    from vmcli.translate.display import disasm_source

    out: list[tuple[bytes, int]] = []
    start = pos = 0
    while pos < len(code):
        insn = decode(code[pos:pos + 15], address + pos)
        if insn is None:
            raw, _ = disasm_source(code[pos:], address + pos)
            pos += len(raw) or 1
            continue
        pos += insn.length
        if insn.spec.mnemonic == "ret" or any(o[0] == "J" for o in insn.spec.operands):
            out.append((code[start:pos], address + start))
            start = pos
    if start < len(code):
        out.append((code[start:], address + start))
    return out


def _translate_chunk(args: tuple[list[tuple[bytes, int]], str]) -> tuple[list[Translation], list[int]]:
    blocks, arch = args
    out = [translate(code, address, arch) for code, address in blocks]
    return out, [v for level in cache.LEVELS for v in (level.hits, level.misses)]


def translate_blocks(blocks: list[tuple[bytes, int]], arch: str = "x86_64",
                     jobs: int = 1) -> list[Translation]:
    """Translate many blocks, in `jobs` worker processes when there are enough of them."""
    if jobs <= 1 or len(blocks) < 2 * jobs:
        return [translate(code, address, arch) for code, address in blocks]
    import multiprocessing

    size = (len(blocks) + jobs - 1) // jobs
    chunks = [(blocks[i:i + size], arch) for i in range(0, len(blocks), size)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(jobs) as pool:
        parts = pool.map(_translate_chunk, chunks)
    out: list[Translation] = []
    for results, counters in parts:
        out += results
        for i, level in enumerate(cache.LEVELS):
            level.count(counters[2 * i], counters[2 * i + 1])
    return out


@dataclass
class Stats:
    instructions: int = 0
    seconds: float = 0.0

    def rate(self) -> float:
        return self.instructions / self.seconds if self.seconds else 0.0


def translate_many(blocks: list[bytes], address: int = 0, source_arch: str = "x86_64",
                   stats: Stats | None = None) -> list[Translation]:
    t0 = time.perf_counter()
    out = [translate(b, address, source_arch) for b in blocks]
    if stats is not None:
        stats.instructions += sum(len(t.insns) for t in out)
        stats.seconds += time.perf_counter() - t0
    return out
