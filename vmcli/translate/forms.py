"""Forms: an opcode-table line x operand size x operand kind (register / memory).

The supported-forms list (`vm translate --list-supported`, docs/translator.md) and the verifier's
per-form runs are both generated from here, so a form is listed only when a rule covers it.
`instance()` builds random concrete instructions of a form for the verifier.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from vmcli.translate.decode_x86 import RIP, Imm, Insn, Mem, Operand, Reg, operand_size
from vmcli.translate.encode_x86 import encode
from vmcli.translate.rules import Rule
from vmcli.translate.rules_x86_to_a64 import rule as X86_RULES
from vmcli.translate.x86_ops import SPECS, OpSpec

_GPR = {8: ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"] + [f"r{i}" for i in range(8, 16)]}


@dataclass(frozen=True)
class Form:
    spec: OpSpec
    opsize: int
    kind: str          # "r" register form, "m" memory form, "-" neither
    rule: Rule

    @property
    def name(self) -> str:
        parts = []
        for code in self.spec.operands:
            parts.append(_describe(code, self.opsize, self.kind))
        return f"{self.spec.mnemonic} {', '.join(parts)}".strip()

    @property
    def extension(self) -> str:
        return sse_level(self.spec) if self.spec.is_sse else "base"


def _describe(code: str, opsize: int, kind: str) -> str:
    size = operand_size(code, opsize, opsize == 8)
    if code in ("AL", "CL", "1"):
        return code.lower()
    if code == "rAX":
        return {2: "ax", 4: "eax", 8: "rax"}[opsize]
    if code == "X0":
        return "<xmm0>"
    k = code[0]
    if k in "GZ":
        return f"r{8 * size}"
    if k in "VU":
        return "xmm"
    if k == "E":
        return f"r{8 * size}" if kind == "r" else f"m{8 * size}"
    if k == "W":
        return "xmm" if kind == "r" else f"m{8 * size}"
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
    if any(c[0] == "J" for c in codes):
        return (4,)
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


def all_forms(rules=X86_RULES) -> list[Form]:
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
                forms.append(Form(spec, size, kind, r))
    return forms


def _first_size(spec: OpSpec, opsize: int) -> int:
    return operand_size(spec.operands[0], opsize, opsize == 8) if spec.operands else opsize


# ---- random instances ------------------------------------------------------------------------------

DATA = 0x200000       # the data region the verifier maps (identity-mapped on both sides)
DATA_SIZE = 0x200

_EDGE_IMM = [0, 1, -1, 0x7F, -0x80, 0x7FFF, -0x8000, 0x7FFFFFFF, -0x80000000]


def instance(form: Form, rng: random.Random, address: int) -> tuple[bytes, dict[str, int]]:
    """A random instruction of `form` at `address`, and register values its memory operand needs
    (base/index chosen so the access lands inside the verifier's data region)."""
    spec = form.spec
    used: set[int] = set()
    operands: list[Operand] = []
    mem_index = -1
    for i, code in enumerate(spec.operands):
        size = operand_size(code, form.opsize, form.opsize == 8)
        k = code[0]
        if code in ("AL", "rAX", "CL"):
            operands.append(Reg("gpr", 1 if code == "CL" else 0, size))
        elif code == "1":
            operands.append(Imm(1, 0))
        elif code == "X0":
            operands.append(Reg("xmm", 0, 16))
        elif k in "GZ" or (k == "E" and form.kind == "r"):
            operands.append(Reg("gpr", rng.randrange(16), size))
        elif k in "VU" or (k == "W" and form.kind == "r"):
            operands.append(Reg("xmm", rng.randrange(16), 16))
        elif k in "EWM":
            operands.append(Mem(0, -1, 1, 0, size))  # placeholder, filled below
            mem_index = i
        elif k in "IJ":
            operands.append(Imm(_random_imm(code, form, rng), 0))
        used.update(o.num for o in operands if isinstance(o, Reg) and o.kind == "gpr")
    regs: dict[str, int] = {}
    if form.rule.stack:
        regs["rsp"] = DATA + 0x100 + 8 * rng.randrange(0, 16)
    if mem_index >= 0:
        mem = operands[mem_index]
        assert isinstance(mem, Mem)
        align = 16 if form.rule.aligned else 1
        target = DATA + rng.randrange(0, DATA_SIZE - 32) // align * align
        shape = rng.random()
        if shape < 0.1:
            # RIP-relative: displacement fixed after the length is known
            probe = Mem(RIP, -1, 1, 0, mem.size)
            operands[mem_index] = probe
            length = len(encode(spec, form.opsize, tuple(operands)))
            operands[mem_index] = Mem(RIP, -1, 1, target - (address + length), mem.size)
        else:
            free = [r for r in range(16) if r not in used]
            base = rng.choice(free)
            index = -1
            scale = 1
            if shape > 0.45:
                index = rng.choice([r for r in free if r != base])
                scale = rng.choice([1, 2, 4, 8])
            disp = rng.choice([0, rng.randrange(-128, 128), rng.randrange(-0x10000, 0x10000),
                               rng.randrange(-0x7FFFFFFF, 0x7FFFFFFF)])
            idx_val = rng.randrange(0, 64) if index >= 0 else 0
            if index >= 0:
                regs[_GPR[8][index]] = idx_val
            regs[_GPR[8][base]] = (target - disp - idx_val * scale) & (2**64 - 1)
            operands[mem_index] = Mem(base, index, scale, disp, mem.size)
    return encode(spec, form.opsize, tuple(operands)), regs


def _random_imm(code: str, form: Form, rng: random.Random) -> int:
    allowed = form.rule.imms
    if allowed is not None:
        return rng.choice(allowed)
    letters = code[1:]
    if code[0] == "J":
        return rng.randrange(-128, 128) if letters == "b" else rng.randrange(-0x4000, 0x4000)
    if letters in ("b",):
        return rng.randrange(256)
    if letters == "bs":
        return rng.choice(_EDGE_IMM[:5] + [rng.randrange(-128, 128)])
    if letters == "w":
        return rng.randrange(1 << 16)
    nbytes = {"z": 2 if form.opsize == 2 else 4, "v": form.opsize}[letters]
    if rng.random() < 0.4:
        v = rng.choice(_EDGE_IMM + [rng.randrange(-4096, 4096)])
    else:
        v = rng.randrange(-(1 << (8 * nbytes - 1)), 1 << (8 * nbytes - 1))
    lo, hi = -(1 << (8 * nbytes - 1)), (1 << (8 * nbytes - 1))
    v = max(lo, min(hi - 1, v))
    if letters == "v" and v < 0:
        v &= (1 << (8 * nbytes)) - 1
    return v


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
    r = X86_RULES.get(insn.spec.mnemonic)
    if r is None:
        return f"no rule for {insn.spec.mnemonic}"
    if r.accepts is not None and not r.accepts(insn):
        return "this immediate is outside the verified range"
    if form_key(insn) not in _form_keys():
        return "this operand size/kind of the instruction is not supported"
    return ""


def forms_for(arch: str) -> list:
    """Supported forms by source architecture (AArch64 -> x86-64 rules plug in here)."""
    if arch == "arm64":
        from vmcli.translate.pipeline_a64 import a64_forms

        return a64_forms()
    return all_forms() if arch == "x86_64" else []
