"""Differential verification of AArch64 -> x86-64 translations on Unicorn: the source on an AArch64
CPU, the translation on an x86-64 CPU whose env block holds the same guest state; every guest
register (x0..x30, sp, nzcv, v0..v31), the exit address and the written memory must match bit
for bit.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from unicorn import UC_ARCH_ARM64, UC_ARCH_X86, UC_MODE_64, UC_MODE_ARM, Uc, UcError
from unicorn import arm64_const as a64c
from unicorn import x86_const as x86c

from vmcli.translate.decode_a64 import Insn, decode, sext
from vmcli.translate.emit_x86 import ENV_REG, ENV_SIZE, EXIT_REG, NZCV_OFF, SP_OFF, V_BASE, v_off, x_off
from vmcli.translate.forms import DATA, DATA_SIZE
from vmcli.translate.verify import FastRegs, InsnCheck, random_gpr, random_vector

A64_CODE = 0x400000
X86_CODE = 0x110000
CODE_SIZE = 0x40000
ENV = 0x300000
BRANCH_REACH = 0x80000
M64 = (1 << 64) - 1

XREGS = [f"x{i}" for i in range(31)]
VREGS = [f"v{i}" for i in range(32)]
GUEST = XREGS + ["sp", "nzcv"] + VREGS

_X86_SCRATCH = [getattr(x86c, f"UC_X86_REG_{n.upper()}") for n in
                ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
                 "r14"]] + [getattr(x86c, f"UC_X86_REG_XMM{i}") for i in range(16)]


@dataclass
class GuestState:
    regs: dict[str, int]
    memory: bytes


_POOL: list[int] = []


def _vector(rng: random.Random) -> int:
    """A random 128-bit value with edge values (verify.random_vector); most come from a pool of
    8,192 drawn once, which keeps state generation from dominating the run time."""
    if not _POOL:
        prng = random.Random(0x5EED)
        _POOL.extend(random_vector(prng) for _ in range(8192))
    return random_vector(rng) if rng.random() < 0.1 else _POOL[rng.getrandbits(13)]


def random_state(rng: random.Random, fixed: dict[str, int] | None = None) -> GuestState:
    regs = {n: random_gpr(rng) for n in XREGS}
    regs["sp"] = random_gpr(rng)
    regs["nzcv"] = rng.getrandbits(4) << 28
    regs.update({n: _vector(rng) for n in VREGS})
    if fixed:
        regs.update(fixed)
    memory = b"".join(_vector(rng).to_bytes(16, "little") for _ in range(DATA_SIZE // 16))
    return GuestState(regs, memory)


def _a64_id(name: str) -> int:
    if name == "sp":
        return a64c.UC_ARM64_REG_SP
    if name == "nzcv":
        return a64c.UC_ARM64_REG_NZCV
    if name.startswith("v"):
        return a64c.UC_ARM64_REG_Q0 + int(name[1:])
    n = int(name[1:])
    return {29: a64c.UC_ARM64_REG_X29, 30: a64c.UC_ARM64_REG_X30}.get(n, a64c.UC_ARM64_REG_X0 + n)


class A64Source:
    """The oracle: the original AArch64 code on Unicorn."""

    def __init__(self) -> None:
        self.uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
        # branch targets land in mapped code (the run stops there, but Unicorn fetches it)
        self.uc.mem_map(0, 0x1000)
        self.uc.mem_map(A64_CODE - BRANCH_REACH, 2 * BRANCH_REACH)
        self.uc.mem_map(DATA & ~0xFFF, 0x1000)
        self.regs = FastRegs(self.uc, [_a64_id(n) for n in GUEST])
        self.code = b""

    def run(self, code: bytes, st: GuestState, count: int = 0) -> tuple[dict[str, int], bytes, int] | str:
        uc = self.uc
        if code != self.code:
            uc.mem_write(A64_CODE, code)
            uc.ctl_remove_cache(A64_CODE, A64_CODE + max(len(code), len(self.code)))
            self.code = code
        self.regs.write([st.regs[n] for n in GUEST])
        uc.reg_write(a64c.UC_ARM64_REG_FPCR, 0)
        uc.reg_write(a64c.UC_ARM64_REG_FPSR, 0)
        uc.mem_write(DATA, st.memory)
        try:
            uc.emu_start(A64_CODE, A64_CODE + len(code), count=count)
        except UcError as exc:
            return f"source faulted: {exc}"
        out = dict(zip(GUEST, self.regs.read(), strict=True))
        for n in XREGS + ["sp", "nzcv"]:
            out[n] &= M64
        out["nzcv"] &= 0xF0000000
        return out, bytes(uc.mem_read(DATA, DATA_SIZE)), uc.reg_read(a64c.UC_ARM64_REG_PC)


class X86Host:
    """The translation on Unicorn x86-64, guest state in the env block at ENV (r15)."""

    def __init__(self) -> None:
        self.uc = Uc(UC_ARCH_X86, UC_MODE_64)
        self.uc.mem_map(X86_CODE - 0x10000, CODE_SIZE)
        self.uc.mem_map(DATA & ~0xFFF, 0x1000)
        self.uc.mem_map(ENV, 0x1000)
        self.scratch = FastRegs(self.uc, _X86_SCRATCH)
        self.code = b""
        self.runs = 0

    def run(self, code: bytes, st: GuestState, rng: random.Random) -> tuple[dict[str, int], bytes, int] | str:
        uc = self.uc
        if code != self.code:
            uc.mem_write(X86_CODE, code)
            uc.ctl_remove_cache(X86_CODE, X86_CODE + max(len(code), len(self.code), 1))
            self.code = code
        if self.runs % 8 == 0:   # scratch registers hold garbage: the code may not rely on them
            self.scratch.write([rng.getrandbits(64) for _ in range(15)] + [rng.getrandbits(128) for _ in range(16)])
        self.runs += 1
        uc.reg_write(getattr(x86c, f"UC_X86_REG_R{ENV_REG}"), ENV)
        uc.mem_write(ENV, pack_env(st.regs))
        uc.mem_write(DATA, st.memory)
        try:
            uc.emu_start(X86_CODE, X86_CODE + len(code))
        except UcError as exc:
            return f"translation faulted: {exc}"
        regs = unpack_env(bytes(uc.mem_read(ENV, ENV_SIZE)))
        exit_addr = uc.reg_read(getattr(x86c, f"UC_X86_REG_R{EXIT_REG}"))
        return regs, bytes(uc.mem_read(DATA, DATA_SIZE)), exit_addr


_SCALARS = XREGS + ["sp", "nzcv"]
_PAD = V_BASE - 8 * len(_SCALARS)
# the layout pack_env assumes (emit_x86's env block)
assert x_off(30) == 8 * 30 and SP_OFF == 8 * 31 and NZCV_OFF == 8 * 32 and v_off(1) == V_BASE + 16


def pack_env(regs: dict[str, int]) -> bytes:
    """The env block of emit_x86 holding `regs`."""
    scalars = struct.pack("<33Q", *(regs[n] for n in _SCALARS))
    vectors = b"".join(regs[n].to_bytes(16, "little") for n in VREGS)
    return scalars + bytes(_PAD) + vectors


def unpack_env(env: bytes) -> dict[str, int]:
    regs = dict(zip(_SCALARS, struct.unpack_from("<33Q", env), strict=True))
    for i, n in enumerate(VREGS):
        regs[n] = int.from_bytes(env[V_BASE + 16 * i:V_BASE + 16 * i + 16], "little")
    return regs


@dataclass
class Mismatch:
    state: GuestState
    diffs: list[str] = field(default_factory=list)


class Verifier:
    def __init__(self) -> None:
        self.src = A64Source()
        self.host = X86Host()

    def check(self, source: bytes, target: bytes, states: Iterable[GuestState], rng: random.Random,
              branch: bool = False, limit: int = 3, count: int = 1) -> tuple[int, list[Mismatch]]:
        """Returns (runs, mismatches); a state where both sides fault is not counted as a run.
        branch: the code ends in a branch after `count` instructions; the source stops there and
        its pc must equal the translation's exit address."""
        runs = 0
        bad: list[Mismatch] = []
        for st in states:
            want = self.src.run(source, st, count if branch else 0)
            got = self.host.run(target, st, rng)
            diffs: list[str] = []
            if isinstance(want, str) or isinstance(got, str):
                if isinstance(want, str) and isinstance(got, str):
                    continue
                runs += 1
                diffs.append(want if isinstance(want, str) else got)  # type: ignore[arg-type]
            else:
                runs += 1
                wregs, wmem, wpc = want
                gregs, gmem, gexit = got
                for name in GUEST:
                    if wregs[name] != gregs[name]:
                        diffs.append(f"{name}: want {wregs[name]:#x} got {gregs[name]:#x}")
                if branch and wpc != gexit:
                    diffs.append(f"exit: want {wpc:#x} got {gexit:#x}")
                if wmem != gmem:
                    off = next(i for i in range(len(wmem)) if wmem[i] != gmem[i])
                    diffs.append(f"memory at {DATA + off:#x}: want {wmem[off:off + 8].hex()} "
                                 f"got {gmem[off:off + 8].hex()}")
            if diffs:
                bad.append(Mismatch(st, diffs))
                if len(bad) >= limit:
                    break
        return runs, bad


# ---- instances of a form ----------------------------------------------------------------------------

_EXT = {0: (8, False), 1: (16, False), 2: (32, False), 3: (64, False), 4: (8, True), 5: (16, True),
        6: (32, True), 7: (64, True)}


def _extend(value: int, option: int) -> int:
    bits, signed = _EXT[option]
    v = value & ((1 << bits) - 1)
    return sext(v, bits) if signed else v


def memory_regs(insn: Insn, rng: random.Random) -> dict[str, int] | None:
    """Register values that put the instruction's memory access inside the data window ({} when it
    has none), or None when no values can (an index register equal to the base)."""
    name, f = insn.enc.name, insn.fields
    if name in ("br", "blr", "ret"):
        return {} if f["Rn"] == 31 else {f"x{f['Rn']}": A64_CODE + 4 * rng.randrange(-0x1000, 0x1000)}
    if name.startswith("ld1r") or name in ("ldar", "stlr"):
        size = width = 1 << f["size"]
        mode = "post"
    elif "_lane_" in name:
        size = width = {"b": 1, "h": 2, "s": 4, "d": 8}[name.split("_")[2]]
        mode = "post"
    elif name[:3] in ("ld2", "ld3", "ld4", "st2", "st3", "st4"):
        size = 16 if f["Q"] else 8
        width = size * int(name[2])
        mode = "post"
    elif name.startswith(("ld1", "st1")):
        from vmcli.translate.rules_a64_to_x86 import ld1_registers

        size = 16 if f["Q"] else 8
        width = size * ld1_registers(name)
        mode = "post"
    elif name.startswith(("ldst", "vldst")):
        if name.startswith(("vldstp", "vldstnp")):
            size = 4 << f["opc"]
        elif name.startswith("vldst"):
            size = 16 if f["size"] == 0 else 1 << f["size"]
        elif name.startswith(("ldstp", "ldstnp")):
            size = 8 if f["opc"] == 2 else 4
        else:
            size = 1 << f["size"]
        width = 2 * size if name.startswith(("ldstp", "vldstp", "ldstnp", "vldstnp")) else size
        mode = "off" if name.endswith("np") else name.split("_", 1)[1]
    else:
        return {}
    regs: dict[str, int] = {}
    if name.startswith(("ldstp", "vldstp", "ldstnp", "vldstnp")):
        off = 0 if mode == "post" else sext(f["imm7"], 7) * size
    elif mode == "uimm":
        off = f["imm12"] * size
    elif mode in ("unscaled", "pre"):
        off = sext(f["imm9"], 9)
    elif mode == "post":
        off = 0
    else:   # register offset
        if f["Rm"] == f["Rn"] and f["Rm"] != 31:
            return None
        small = rng.randrange(-8, 8)
        option = f["option"]
        raw = small & M64
        if option in (2, 6):      # uxtw/sxtw: the upper half of the index register is ignored
            raw = (rng.getrandbits(32) << 32) | (small & 0xFFFFFFFF if option == 6 else abs(small))
        if f["Rm"] != 31:
            regs[f"x{f['Rm']}"] = raw
        value = _extend(raw if f["Rm"] != 31 else 0, option)
        off = value << ((size.bit_length() - 1) if f["S"] else 0)
    target = DATA + 16 + rng.randrange(0, DATA_SIZE - width - 31)
    base = target - off
    if f["Rn"] == 31:               # sp stays 16-byte aligned
        base -= base % 16
        if not DATA <= base + off <= DATA + DATA_SIZE - width:
            base += 16
    regs["sp" if f["Rn"] == 31 else f"x{f['Rn']}"] = base & M64
    assert DATA <= base + off <= DATA + DATA_SIZE - width, (insn.enc.name, hex(base), off)
    return regs


def instance(form, rng: random.Random, address: int = A64_CODE) -> tuple[int, dict[str, int]]:
    """A random instruction word of `form` (decoding back to it) and the register values it needs."""
    e, v = form.enc, form.variant
    fixed = dict(v.fixed)
    for _ in range(10000):
        f = {n: rng.getrandbits(w) for n, (_lsb, w) in e.fields.items()}
        f.update(fixed)
        _bias(f, e.name, rng)
        word = e.build(f)
        insn = decode(word, address)
        if insn is None or insn.enc is not e or insn.variant != v:
            continue
        regs = memory_regs(insn, rng)
        if regs is None:
            continue
        return word, regs
    raise AssertionError(f"no instance of {form.name}")


def _bias(f: dict[str, int], name: str, rng: random.Random) -> None:
    """Edge values in fields that random bits rarely hit (register 31, shift 0 ...)."""
    for reg in ("Rd", "Rn", "Rm", "Rt", "Ra"):
        if reg in f and rng.random() < 0.1:
            f[reg] = 31
    # aliased operands (Rd = Rn, Rm = Rn, ...): a rule must read every source before it writes
    regs = [r for r in ("Rd", "Rn", "Rm", "Ra", "Rt") if r in f]
    if len(regs) > 1 and rng.random() < 0.2:
        a, b = rng.sample(regs, 2)
        f[a] = f[b]
    if "imm6" in f and rng.random() < 0.2:
        f["imm6"] = rng.choice([0, 1, 31, 63])
    if "sf" in f and "imm6" in f and f["sf"] == 0:
        f["imm6"] &= 31
    if "imm3" in f:
        f["imm3"] = rng.randrange(5)
    if name.startswith(("sbfm", "ubfm", "bfm", "extr")) and f.get("sf") == 0:
        f["immr"] = f.get("immr", 0) & 31
        f["imms"] &= 31
    if name.startswith(("sbfm", "ubfm", "bfm", "extr")):
        f["N"] = f["sf"]
    if name.endswith("ldst_roff"):
        f["option"] = rng.choice([2, 3, 6, 7])
    for imm in ("imm26", "imm19"):
        if imm in f and name in ("b", "bl", "b_cond", "cbz", "cbnz"):
            f[imm] = rng.randrange(-BRANCH_REACH // 8, BRANCH_REACH // 8) & ((1 << int(imm[3:])) - 1)
    if name in ("movz", "movn", "movk") and f["sf"] == 0:
        f["hw"] &= 1


# ---- per form and per instruction ------------------------------------------------------------------

@dataclass
class FormResult:
    name: str
    runs: int
    mismatches: list[Mismatch]
    source: list[str]


def verify_form(form, verifier: Verifier, rng: random.Random, states: int = 200,
                instances: int | None = None) -> FormResult:
    from vmcli.translate.pipeline_a64 import translate_a64

    n_inst = instances or max(4, states // 25)
    per = max(1, states // n_inst)
    runs = 0
    bad: list[Mismatch] = []
    texts: list[str] = []
    for _ in range(n_inst):
        word, fixed = instance(form, rng)
        code = word.to_bytes(4, "little")
        tr = translate_a64(code, A64_CODE)
        if tr.unsupported:
            bad.append(Mismatch(random_state(rng), [f"{tr.unsupported[0].text}: {tr.unsupported[0].reason}"]))
            break
        insn = decode(word, A64_CODE)
        assert insn is not None
        states_iter = (random_state(rng, memory_regs(insn, rng)) for _ in range(per))
        n, mism = verifier.check(code, tr.code, states_iter, rng, branch=tr.exit_reg is not None)
        runs += n
        for m in mism:
            m.diffs.insert(0, tr.insns[0].text)
        bad += mism
        texts.append(tr.insns[0].text)
        if bad:
            break
    return FormResult(form.name, runs, bad, texts)


def verify_translation_a64(tr, states: int = 200, seed: int = 0) -> list[InsnCheck]:
    """--verify: each translated instruction, run alone at the verifier's code address."""
    from vmcli.translate.pipeline_a64 import translate_a64

    rng = random.Random(seed)
    verifier = Verifier()
    out: list[InsnCheck] = []
    for si in tr.insns:
        if not si.supported:
            out.append(InsnCheck(si.address, si.text, "unsupported", detail=si.reason))
            continue
        insn = decode(int.from_bytes(si.raw, "little"), A64_CODE)
        assert insn is not None
        single = translate_a64(si.raw, A64_CODE)
        sts = []
        for _ in range(states):
            regs = memory_regs(insn, rng)
            if regs is None:
                break
            sts.append(random_state(rng, regs))
        if not sts:
            out.append(InsnCheck(si.address, si.text, "skipped", 0, "index register equals the base"))
            continue
        runs, bad = verifier.check(si.raw, single.code, sts, rng, branch=single.exit_reg is not None, limit=1)
        if bad:
            out.append(InsnCheck(si.address, si.text, "fail", runs, "; ".join(bad[0].diffs)))
        else:
            out.append(InsnCheck(si.address, si.text, "pass", runs))
    return out
