"""Differential verification on Unicorn: the source on a source-arch CPU, the translation on a
target-arch CPU started from the mapped state; every guest register and the written memory must
match bit for bit (flags the source architecture leaves undefined are masked).

Speed: one Uc per architecture is reused for every run; code is written once per instruction and
register state moves through reg_write_batch/reg_read_batch (tens of thousands of runs/s).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from unicorn import UC_ARCH_ARM64, UC_ARCH_X86, UC_ERR_FETCH_UNMAPPED, UC_MODE_64, UC_MODE_ARM, Uc, UcError
from unicorn import arm64_const as a64c
from unicorn import x86_const as x86c

from vmcli.translate.emit_a64 import STATUS
from vmcli.translate.forms import DATA, DATA_SIZE

X86_CODE = 0x110000
A64_CODE = 0x400000
CODE_SIZE = 0x40000

GPR64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"] + [f"r{i}" for i in range(8, 16)]
XMM = [f"xmm{i}" for i in range(16)]
_X86_IDS = {n: getattr(x86c, f"UC_X86_REG_{n.upper()}") for n in GPR64 + XMM}
_X86_IDS["rflags"] = x86c.UC_X86_REG_RFLAGS


def a64_reg_id(name: str) -> int:
    if name.startswith("v"):
        return a64c.UC_ARM64_REG_Q0 + int(name[1:])
    if name == "sp":
        return a64c.UC_ARM64_REG_SP
    return a64c.UC_ARM64_REG_X0 + int(name[1:]) if name != "x29" and name != "x30" else (
        a64c.UC_ARM64_REG_X29 if name == "x29" else a64c.UC_ARM64_REG_X30)


class FastRegs:
    """Batch register access through the C API with preallocated buffers.

    unicorn's Python reg_write_batch spends ~5 us per register choosing a ctypes class; here each
    register is a 16-byte slot of one buffer (the C side reads 8 or 16 bytes of it)."""

    def __init__(self, uc: Uc, ids: list[int]) -> None:
        import ctypes

        from unicorn.unicorn_py3.unicorn import uclib

        self.uc = uc
        self.n = len(ids)
        self.buf = ctypes.create_string_buffer(16 * self.n)
        base = ctypes.addressof(self.buf)
        self.ids = (ctypes.c_int * self.n)(*ids)
        self.ptrs = (ctypes.c_void_p * self.n)(*[base + 16 * i for i in range(self.n)])
        self.lib = uclib
        self.memmove = ctypes.memmove

    def write(self, values: list[int]) -> None:
        data = b"".join(v.to_bytes(16, "little") for v in values)
        self.memmove(self.buf, data, len(data))
        if self.lib.uc_reg_write_batch(self.uc._uch, self.ids, self.ptrs, self.n):
            raise UcError(1)

    def read(self) -> list[int]:
        if self.lib.uc_reg_read_batch(self.uc._uch, self.ids, self.ptrs, self.n):
            raise UcError(1)
        raw = self.buf.raw
        return [int.from_bytes(raw[16 * i:16 * i + 16], "little") for i in range(self.n)]


# ---- random states with edge values -------------------------------------------------------------

M64 = (1 << 64) - 1
GPR_EDGES = [0, 1, M64, 1 << 63, (1 << 63) - 1, 0x80000000, 0x7FFFFFFF, 0xFFFFFFFF, 0x80, 0x7F, 0xFF,
             0x8000, 0x7FFF, 0xFFFF, 1 << 32, 0xFFFFFFFF80000000]
F32_EDGES = [0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x3F800000,
             0xBF800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x00800000, 0x4F000000, 0xCF000000, 0x3F000000,
             0x4EFFFFFF, 0x5F000000, 0xDF000000, 0x3FC00000, 0x40200000]
F64_EDGES = [0, 1 << 63, 0x7FF0000000000000, 0xFFF0000000000000, 0x7FF8000000000000,
             0xFFF8000000000000, 0x3FF0000000000000, 0xBFF0000000000000, 0x7FEFFFFFFFFFFFFF,
             0x0010000000000000, 0x41E0000000000000, 0xC1E0000000000000, 0x41DFFFFFFFC00000,
             0x43E0000000000000, 0xC3E0000000000000, 0x3FE0000000000000, 0x3FF8000000000000]


def _f32(rng: random.Random) -> int:
    r = rng.random()
    sign = rng.getrandbits(1) << 31
    if r < 0.3:
        return rng.choice(F32_EDGES)
    if r < 0.38:
        return sign | 0x7FC00000 | rng.getrandbits(22)             # QNaN with payload
    if r < 0.44:
        return sign | 0x7F800000 | (rng.getrandbits(21) + 1)        # SNaN
    if r < 0.5:
        return sign | rng.getrandbits(23)                           # denormal
    if r < 0.8:
        return struct.unpack("<I", struct.pack("<f", rng.uniform(-1000, 1000)))[0]
    return rng.getrandbits(32)


def _f64(rng: random.Random) -> int:
    r = rng.random()
    sign = rng.getrandbits(1) << 63
    if r < 0.3:
        return rng.choice(F64_EDGES)
    if r < 0.38:
        return sign | 0x7FF8000000000000 | rng.getrandbits(51)
    if r < 0.44:
        return sign | 0x7FF0000000000000 | (rng.getrandbits(50) + 1)
    if r < 0.5:
        return sign | rng.getrandbits(52)
    if r < 0.8:
        return struct.unpack("<Q", struct.pack("<d", rng.uniform(-1e6, 1e6)))[0]
    return rng.getrandbits(64)


def _int_lanes(rng: random.Random, bits: int, n: int) -> int:
    edges = [0, 1, (1 << bits) - 1, 1 << (bits - 1), (1 << (bits - 1)) - 1, 2, (1 << bits) - 2]
    v = 0
    for i in range(n):
        lane = rng.choice(edges) if rng.random() < 0.4 else rng.getrandbits(bits)
        v |= lane << (i * bits)
    return v


def random_vector(rng: random.Random) -> int:
    """128 bits: float32 lanes, float64 lanes or integer lanes of some width, with edge values."""
    r = rng.random()
    if r < 0.35:
        return sum(_f32(rng) << (32 * i) for i in range(4))
    if r < 0.6:
        return _f64(rng) | (_f64(rng) << 64)
    if r < 0.9:
        bits = rng.choice([8, 16, 32, 64])
        return _int_lanes(rng, bits, 128 // bits)
    return rng.getrandbits(128)


def random_gpr(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.35:
        return rng.choice(GPR_EDGES)
    if r < 0.5:
        return rng.getrandbits(8) | (rng.getrandbits(56) << 8 if rng.random() < 0.5 else 0)
    if r < 0.6:
        return rng.randrange(0, 70)  # shift counts and small values
    return rng.getrandbits(64)


@dataclass
class GuestState:
    regs: dict[str, int]
    memory: bytes


def random_state(rng: random.Random, fixed: dict[str, int] | None = None) -> GuestState:
    regs = {n: random_gpr(rng) for n in GPR64}
    regs.update({n: random_vector(rng) for n in XMM})
    regs["rflags"] = 0x2 | (rng.getrandbits(12) & STATUS)
    if fixed:
        regs.update(fixed)
    memory = b"".join(random_vector(rng).to_bytes(16, "little") for _ in range(DATA_SIZE // 16))
    return GuestState(regs, memory)


# ---- the two CPUs ------------------------------------------------------------------------------------

class X86Cpu:
    def __init__(self) -> None:
        self.uc = Uc(UC_ARCH_X86, UC_MODE_64)
        self.uc.mem_map(X86_CODE - 0x10000, CODE_SIZE)
        self.uc.mem_map(DATA & ~0xFFF, 0x1000)
        self.names = GPR64 + XMM + ["rflags"]
        self.ids = [_X86_IDS[n] for n in self.names]
        self.fast = FastRegs(self.uc, self.ids)
        self.code = b""

    def run(self, code: bytes, state: GuestState, count: int = 0) -> tuple[dict[str, int], bytes] | str:
        """Run `code` (or its first `count` instructions: a block ending in a taken branch)."""
        uc = self.uc
        if code != self.code:
            # Unicorn keeps translated blocks across mem_write: drop them when the code changes
            uc.mem_write(X86_CODE, code)
            uc.ctl_remove_cache(X86_CODE, X86_CODE + max(len(code), len(self.code)))
            self.code = code
        regs = state.regs
        self.fast.write([regs[n] for n in self.names])
        uc.mem_write(DATA, state.memory)
        try:
            uc.emu_start(X86_CODE, X86_CODE + len(code), count=count)
        except UcError as exc:
            # a block's exit branch may go anywhere: fetching there is not the block's fault
            if not (count and exc.errno == UC_ERR_FETCH_UNMAPPED):
                return f"source faulted: {exc}"
        values = self.fast.read()
        regs = dict(zip(self.names, values, strict=True))
        regs["rflags"] &= M64
        regs["rip"] = uc.reg_read(x86c.UC_X86_REG_RIP)
        return regs, bytes(uc.mem_read(DATA, DATA_SIZE))


class A64Cpu:
    def __init__(self) -> None:
        self.uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
        self.uc.mem_map(A64_CODE, CODE_SIZE)
        self.uc.mem_map(DATA & ~0xFFF, 0x1000)
        self.code = b""
        self.layout: tuple[tuple[str, str], ...] = ()
        self.scratch = FastRegs(self.uc, [a64c.UC_ARM64_REG_X0 + i for i in range(29)]
                                + [a64c.UC_ARM64_REG_Q0 + i for i in range(32)])
        self.runs = 0

    def run(self, code: bytes, state_map: dict[str, str], regs: dict[str, int], memory: bytes,
            rng: random.Random) -> tuple[dict[str, int], bytes] | str:
        uc = self.uc
        if code != self.code:
            uc.mem_write(A64_CODE, code)
            uc.ctl_remove_cache(A64_CODE, A64_CODE + max(len(code), len(self.code)))
            self.code = code
        # scratch registers start with garbage (fresh every 8th run, else the last run's leftovers):
        # the code may not rely on them
        if self.runs % 8 == 0:
            self.scratch.write([rng.getrandbits(64) for _ in range(29)] + [rng.getrandbits(128) for _ in range(32)])
            uc.reg_write(a64c.UC_ARM64_REG_NZCV, rng.getrandbits(4) << 28)
        self.runs += 1
        layout = tuple(state_map.items())
        if layout != self.layout:
            self.layout = layout
            self.mapped = FastRegs(uc, [a64_reg_id(host) for _, host in layout])
            self.guests = [g for g, _ in layout]
        self.mapped.write([regs[g] for g in self.guests])
        uc.mem_write(DATA, memory)
        try:
            uc.emu_start(A64_CODE, A64_CODE + len(code), count=0)
        except UcError as exc:
            return f"translation faulted: {exc}"
        values = self.mapped.read()
        out = dict(zip(self.guests, values, strict=True))
        for g in self.guests:
            if not g.startswith(("xmm", "v")):
                out[g] &= M64
        return out, bytes(uc.mem_read(DATA, DATA_SIZE))

    def read(self, host: str) -> int:
        return int(self.uc.reg_read(a64_reg_id(host)))


@dataclass
class Mismatch:
    state: GuestState
    diffs: list[str] = field(default_factory=list)


class Verifier:
    """Runs source and translation side by side over random states."""

    def __init__(self) -> None:
        self.x86 = X86Cpu()
        self.a64 = A64Cpu()

    def check(self, source: bytes, target: bytes, state_map: dict[str, str],
              states: Iterable[GuestState], undefined: Callable[[dict[str, int]], int],
              rng: random.Random, exit_reg: str | None = None, count: int = 0,
              limit: int = 3, fix: Callable[[GuestState, dict[str, int]], None] | None = None,
              oracle: Callable[[GuestState], tuple[bytes, GuestState]] | None = None,
              ) -> tuple[int, list[Mismatch]]:
        """`fix` corrects the oracle's answer where Unicorn departs from the hardware (reference.py);
        `oracle` gives the code and state the oracle runs instead (same semantics, no aliasing)."""
        """Returns (runs, mismatches). `undefined(regs)` gives flags not to compare."""
        runs = 0
        bad: list[Mismatch] = []
        full_map = dict(state_map)
        for name in GPR64 + XMM + ["rflags"]:
            full_map.setdefault(name, _DEFAULT_MAP[name])
        for st in states:
            runs += 1
            if oracle is not None:
                src_code, src_state = oracle(st)
                want = self.x86.run(src_code, src_state, count)
            else:
                want = self.x86.run(source, st, count)
            if fix is not None and not isinstance(want, str):
                fix(st, want[0])
            got = self.a64.run(target, full_map, st.regs, st.memory, rng)
            if exit_reg is not None and not isinstance(got, str):
                got[0]["rip"] = self.a64.read(exit_reg)
            diffs: list[str] = []
            if isinstance(want, str) or isinstance(got, str):
                if isinstance(want, str) and isinstance(got, str):
                    continue
                diffs.append(want if isinstance(want, str) else got)  # type: ignore[arg-type]
            else:
                wregs, wmem = want
                gregs, gmem = got
                mask = STATUS & ~undefined(st.regs)
                for name in GPR64 + XMM:
                    if wregs[name] != gregs[name]:
                        diffs.append(f"{name}: want {wregs[name]:#x} got {gregs[name]:#x}")
                if (wregs["rflags"] ^ gregs["rflags"]) & mask:
                    diffs.append(f"rflags: want {wregs['rflags'] & mask:#x} got {gregs['rflags'] & mask:#x}"
                                 f" (mask {mask:#x})")
                if exit_reg is not None and wregs["rip"] != gregs["rip"]:
                    diffs.append(f"exit: want {wregs['rip']:#x} got {gregs['rip']:#x}")
                if wmem != gmem:
                    off = next(i for i in range(len(wmem)) if wmem[i] != gmem[i])
                    diffs.append(f"memory at {DATA + off:#x}: want {wmem[off:off + 8].hex()} "
                                 f"got {gmem[off:off + 8].hex()}")
            if diffs:
                bad.append(Mismatch(st, diffs))
                if len(bad) >= limit:
                    break
        return runs, bad


_DEFAULT_MAP = {**{n: f"x{i}" for i, n in enumerate(GPR64)}, **{n: f"v{i}" for i, n in enumerate(XMM)},
                "rflags": "x20"}


@dataclass
class FormResult:
    name: str
    runs: int
    mismatches: list[Mismatch]
    source: list[str]


def verify_form(form, verifier: Verifier, rng: random.Random, states: int = 200,
                instances: int | None = None) -> FormResult:
    """Random instructions of one form, each run over random states against its translation."""
    from vmcli.translate.decode_x86 import decode
    from vmcli.translate.forms import instance
    from vmcli.translate.pipeline import translate

    n_inst = instances or max(4, states // 25)
    per = max(1, states // n_inst)
    runs = 0
    bad: list[Mismatch] = []
    texts: list[str] = []
    for _ in range(n_inst):
        code, fixed = instance(form, rng, X86_CODE)
        insn = decode(code, X86_CODE)
        assert insn is not None and insn.raw == code, form.name
        tr = translate(code, X86_CODE)
        if tr.unsupported:
            bad.append(Mismatch(random_state(rng), [f"{tr.unsupported[0].text}: {tr.unsupported[0].reason}"]))
            break
        und = form.rule.undefined

        def undefined(regs: dict[str, int], und=und, insn=insn) -> int:
            return und(insn, regs) if callable(und) else und

        fix, oracle = oracle_hooks(insn, rng)
        n, mism = verifier.check(code, tr.code, {}, (random_state(rng, fixed) for _ in range(per)),
                                 undefined, rng, exit_reg=tr.exit_reg, count=1 if tr.exit_reg else 0,
                                 fix=fix, oracle=oracle)
        runs += n
        for m in mism:
            m.diffs.insert(0, tr.insns[0].text)
        bad += mism
        texts.append(tr.insns[0].text)
        if bad:
            break
    return FormResult(form.name, runs, bad, texts)


@dataclass
class InsnCheck:
    address: int
    text: str
    status: str          # "pass", "fail", "unsupported" or "skipped"
    runs: int = 0
    detail: str = ""


def memory_regs(insn, rng: random.Random, align: int = 1) -> dict[str, int] | None:
    """Register values that put the instruction's memory operand inside the data window, or None
    when no values can (RIP-relative operands are fixed by the code's address)."""
    from vmcli.translate.decode_x86 import RIP, Mem

    mems = [o for o in insn.operands if isinstance(o, Mem)]
    if insn.spec.mnemonic == "lea":
        return {}
    if not mems:
        return {}
    mem = mems[0]
    target = DATA + rng.randrange(0, DATA_SIZE - 32) // align * align
    if mem.base == RIP:
        ea = insn.next_ip + mem.disp
        return {} if DATA <= ea <= DATA + DATA_SIZE - mem.size else None
    regs: dict[str, int] = {}
    if mem.base >= 0 and mem.index == mem.base:
        k = 1 + mem.scale
        v = target - mem.disp
        target -= v % k
        regs[GPR64[mem.base]] = ((target - mem.disp) // k) & M64
        return regs
    idx = 0
    if mem.index >= 0:
        idx = rng.randrange(0, 64)
        if mem.base < 0:
            v = target - mem.disp
            target -= v % mem.scale
            regs[GPR64[mem.index]] = ((target - mem.disp) // mem.scale) & M64
            return regs
        regs[GPR64[mem.index]] = idx
    regs[GPR64[mem.base]] = (target - mem.disp - idx * mem.scale) & M64
    return regs


def verify_translation(tr, states: int = 200, seed: int = 0) -> list[InsnCheck]:
    """--verify: each translated instruction, run alone at the verifier's code address."""
    if tr.source_arch == "arm64":
        from vmcli.translate.verify_a64 import verify_translation_a64

        return verify_translation_a64(tr, states, seed)
    from vmcli.translate.decode_x86 import decode
    from vmcli.translate.forms import X86_RULES
    from vmcli.translate.pipeline import translate

    rng = random.Random(seed)
    verifier = Verifier()
    out: list[InsnCheck] = []
    for si in tr.insns:
        if not si.supported:
            out.append(InsnCheck(si.address, si.text, "unsupported", detail=si.reason))
            continue
        insn = decode(si.raw, X86_CODE)
        assert insn is not None
        rule = X86_RULES.get(insn.spec.mnemonic)
        assert rule is not None
        single = translate(si.raw, X86_CODE)
        runs = 0
        mismatches: list[Mismatch] = []
        skipped = False
        for _ in range(states):
            fixed = memory_regs(insn, rng, 16 if rule.aligned else 1)
            if fixed is not None and rule.stack:
                fixed = {**fixed, "rsp": DATA + 0x100}
            if fixed is None:
                skipped = True
                break
            und = rule.undefined

            def undefined(regs: dict[str, int], und=und, insn=insn) -> int:
                return und(insn, regs) if callable(und) else und

            fix, oracle = oracle_hooks(insn, rng)
            n, bad = verifier.check(si.raw, single.code, {}, [random_state(rng, fixed)], undefined, rng,
                                    exit_reg=single.exit_reg, count=1 if single.exit_reg else 0,
                                    fix=fix, oracle=oracle)
            runs += n
            mismatches += bad
            if mismatches:
                break
        if skipped:
            out.append(InsnCheck(si.address, si.text, "skipped", 0,
                                 "RIP-relative operand outside the verifier's data window"))
        elif mismatches:
            out.append(InsnCheck(si.address, si.text, "fail", runs, "; ".join(mismatches[0].diffs)))
        else:
            out.append(InsnCheck(si.address, si.text, "pass", runs))
    return out


def oracle_hooks(insn, rng: random.Random):
    """The reference.py corrections that apply to this instruction."""
    from vmcli.translate import reference
    from vmcli.translate.decode_x86 import Reg
    from vmcli.translate.encode_x86 import encode

    ops = insn.operands
    unalias = insn.spec.mnemonic in reference.UNALIAS and isinstance(ops[1], Reg) and ops[1] == ops[0]
    spare = next(i for i in range(16) if i != ops[0].num) if unalias else -1

    def fix(st: GuestState, want: dict[str, int]) -> None:
        reference.hardware_nan_fix(insn, st.regs, st.memory, want, DATA)
        if unalias:  # the spare register held a copy only the oracle needed
            want[f"xmm{spare}"] = st.regs[f"xmm{spare}"]

    oracle = None
    if unalias:
        code = encode(insn.spec, insn.opsize, (ops[0], Reg("xmm", spare, 16)) + tuple(ops[2:]))

        def oracle(st: GuestState) -> tuple[bytes, GuestState]:
            regs = dict(st.regs)
            regs[f"xmm{spare}"] = regs[f"xmm{ops[0].num}"]
            return code, GuestState(regs, st.memory)
    return fix, oracle
