"""The x86-64 -> AArch64 direction's plug-in to the verification harness (verify/harness.py).

The source runs on the host CPU where the host is x86-64 (verify.native.NativeX86: the oracle is
the hardware itself), else on Unicorn x86-64 (verify.runners.X86Source), whose answer is corrected
where it departs from the hardware (oracle.py); VM_TRANSLATE_ORACLE=unicorn picks Unicorn on an
x86-64 host too. The translation runs on Unicorn AArch64 with the guest registers in their host
registers (host.py); flags the source architecture leaves undefined are masked.
"""

from __future__ import annotations

import functools
import operator
import os
import random
from collections.abc import Callable, Iterable
from typing import Any

from unicorn import UC_ARCH_ARM64, UC_MODE_ARM, Uc, UcError
from unicorn import arm64_const as a64c
from unicorn.arm64_const import UC_CPU_ARM64_MAX

from vmcli.translate.core.blocks import Translation
from vmcli.translate.isa.x86.decoder import (
    FS,
    GS,
    HIGH_BYTE_FORMS,
    RIP,
    Imm,
    Insn,
    Mem,
    Operand,
    Reg,
    decode,
    operand_size,
)
from vmcli.translate.isa.x86.encoder import encode
from vmcli.translate.isa.x86.flags import AF, STATUS
from vmcli.translate.isa.x86.registers import GPR64, XMM
from vmcli.translate.verify import native
from vmcli.translate.verify.compare import Mismatch, compare, exit_diffs, memory_diffs, register_diffs
from vmcli.translate.verify.runners import A64_CODE, CODE_SIZE, X86_CODE, FastRegs, X86Source, a64_reg_id
from vmcli.translate.verify.state import (
    DATA,
    DATA_SIZE,
    M64,
    WINDOW,
    WINDOW_SIZE,
    GuestState,
    random_float,
    real_memory,
    real_register,
    x86_state,
    x87_state,
)
from vmcli.translate.x86_to_a64 import oracle
from vmcli.translate.x86_to_a64.forms import Form
from vmcli.translate.x86_to_a64.frontend import translate
from vmcli.translate.x86_to_a64.host import (
    AF_SRC,
    FPR,
    HOST,
    PF_RES,
    X87,
    X87_STATE,
    YMMH,
    pack_flags,
    unpack_flags,
    x87_offset,
)
from vmcli.translate.x86_to_a64.rules import FLAG_WRITES, RULES
from vmcli.translate.x86_to_a64.rules.base import AF_SET
from vmcli.translate.x86_to_a64.rules.x87 import stack_needs

random_state = x86_state
ENV = 0x300000             # where the translation's env block (ENV_REG) is mapped
FCW_DEFAULT = 0x037F
FSW_KEPT = 0xFF00          # the status word's exception flags (bits 7:0) are not kept (rules/x87.py)


def x87_env(regs: dict[str, int]) -> bytes:
    """The x87 part of the env block (host.py), from the state's fcw, fsw, ftw and fpr0..fpr7."""
    area = bytearray(0x90)
    for name in X87_STATE:
        value = regs.get(name, FCW_DEFAULT if name == "fcw" else 0)
        size = 10 if name in FPR else 1 if name == "ftw" else 2
        at = x87_offset(name) - X87
        area[at:at + size] = value.to_bytes(size, "little")
    return bytes(area)


def x87_regs(area: bytes) -> dict[str, int]:
    out = {}
    for name in X87_STATE:
        size = 10 if name in FPR else 1 if name == "ftw" else 2
        at = x87_offset(name) - X87
        out[name] = int.from_bytes(area[at:at + size], "little")
    return out


def with_x87(st: GuestState, insns: list[Insn], rng: random.Random) -> GuestState | None:
    """The state with an x87 state for the block's x87 instructions (none when it has none), or
    None when no x87 state avoids a stack fault."""
    if not any(i.spec.x87 for i in insns):
        return st
    needs = stack_needs(insns)
    if needs is None:
        return None
    regs = {**st.regs, **x87_state(rng, *needs)}
    memory = bytearray(st.memory)
    for insn in insns:
        for op in insn.operands:
            if isinstance(op, Mem) and insn.spec.x87 and rng.random() < 0.7:
                # an edge value of the operand's format where it points
                ea = effective_address(insn, op, regs) - DATA
                if 0 <= ea <= DATA_SIZE - op.size:
                    memory[ea:ea + op.size] = random_float(rng, op.size).to_bytes(op.size, "little")
    return GuestState(regs, bytes(memory))


def block_insns(code: bytes, address: int) -> list[Insn]:
    """The decoded instructions of a block the translator took whole."""
    insns = []
    pos = 0
    while pos < len(code):
        insn = decode(code[pos:pos + 15], address + pos)
        assert insn is not None
        insns.append(insn)
        pos += insn.length
    return insns


def block_states(code: bytes, rng: random.Random, count: int) -> list[GuestState]:
    """`count` random states for a block at X86_CODE, with an x87 state its x87 instructions run
    from without a stack fault; none when no x87 state does."""
    insns = block_insns(code, X86_CODE)
    drawn = [with_x87(random_state(rng), insns, rng) for _ in range(count)]
    return [st for st in drawn if st is not None]


def effective_address(insn: Insn, mem: Mem, regs: dict[str, int]) -> int:
    if mem.base == RIP:
        return insn.next_ip + mem.disp
    ea = mem.disp + (regs[GPR64[mem.base]] if mem.base >= 0 else 0)
    ea += regs[GPR64[mem.index]] * mem.scale if mem.index >= 0 else 0
    ea += regs["fs_base" if mem.seg == FS else "gs_base"] if mem.seg else 0
    return ea & M64


class A64Target:
    """The translation on Unicorn AArch64, guest registers in host registers (`state_map`)."""

    def __init__(self) -> None:
        self.uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
        self.uc.ctl_set_cpu_model(UC_CPU_ARM64_MAX)       # LSE atomics (ARMv8.1) and later
        self.uc.mem_map(A64_CODE, CODE_SIZE)
        self.uc.mem_map(ENV, 0x1000)                      # the env block: the upper ymm halves
        self.uc.mem_map(DATA & ~0xFFF, 0x1000)
        self.code = b""
        self.layout: tuple[tuple[str, str], ...] = ()
        self.scratch = FastRegs(self.uc, [a64c.UC_ARM64_REG_X0 + i for i in range(29)]
                                + [a64c.UC_ARM64_REG_Q0 + i for i in range(32)])
        self.runs = 0
        self.mapped_pages = {page for start, size in ((A64_CODE, CODE_SIZE), (ENV, 0x1000), (DATA & ~0xFFF, 0x1000))
                             for page in range(start, start + size, 0x1000)}

    def windows(self, memory: dict[int, bytes]) -> None:
        """Map (once) and fill memory windows (address -> bytes) besides the data window."""
        for address, data in memory.items():
            for page in range(address & ~0xFFF, address + len(data), 0x1000):
                if page not in self.mapped_pages:
                    self.uc.mem_map(page, 0x1000)
                    self.mapped_pages.add(page)
            self.uc.mem_write(address, data)

    def read_windows(self, memory: dict[int, bytes]) -> dict[int, bytes]:
        return {a: bytes(self.uc.mem_read(a, len(m))) for a, m in memory.items()}

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
            # rflags lives in three host registers (host.py): NZCV, PF_RES and AF_SRC
            hosts = [h for g, h in layout if g != "rflags"] + (["nzcv", f"x{PF_RES}", f"x{AF_SRC}"]
                                                                 if "rflags" in state_map else [])
            self.mapped = FastRegs(uc, [a64_reg_id(host) for host in hosts])
            self.guests = [g for g, _ in layout if g != "rflags"]
            self.flags = "rflags" in state_map
        values = [regs[g] for g in self.guests]
        if self.flags:
            values += list(pack_flags(regs["rflags"]))
        self.mapped.write(values)
        uc.mem_write(DATA, memory)
        uc.mem_write(ENV, b"".join(regs.get(h, 0).to_bytes(16, "little") for h in YMMH) + x87_env(regs))
        uc.reg_write(a64c.UC_ARM64_REG_X28, ENV)
        try:
            uc.emu_start(A64_CODE, A64_CODE + len(code), count=0)
        except UcError as exc:
            return f"translation faulted: {exc}"
        values = self.mapped.read()
        out = dict(zip(self.guests, values, strict=False))
        for g in self.guests:
            if not g.startswith(("xmm", "v")):
                out[g] &= M64
        if self.flags:
            out["rflags"] = unpack_flags(*values[-3:])
        env = bytes(uc.mem_read(ENV, 16 * len(YMMH)))
        out.update({h: int.from_bytes(env[16 * i:16 * i + 16], "little") for i, h in enumerate(YMMH)})
        out.update(x87_regs(bytes(uc.mem_read(ENV + X87, 0x90))))
        return out, bytes(uc.mem_read(DATA, DATA_SIZE))

    def read(self, host: str) -> int:
        return int(self.uc.reg_read(a64_reg_id(host)))


# ---- random instances of a form --------------------------------------------------------------------

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
        elif code in ("ST", "ST0", "AX"):
            pool = form.rule.rm_regs or range(8)
            operands.append(Reg("gpr", 0, 2) if code == "AX"
                            else Reg("st", rng.choice(pool) if code == "ST" else 0, 10))
        elif k in "GZB" or (k == "E" and form.kind == "r"):
            low = 1 if spec.mnemonic == "xchg" and k == "Z" else 0      # 90 is nop, not xchg eax, eax
            pool = form.rule.rm_regs if k == "E" and form.rule.rm_regs else range(low, 16)
            if k == "E" and spec.syntax() in HIGH_BYTE_FORMS and rng.random() < 0.4:
                operands.append(Reg("gpr", rng.randrange(4), 1, high=True))      # ah, ch, dh, bh
            else:
                operands.append(Reg("gpr", rng.choice(pool), size))
        elif k in "VUHL" or (k == "W" and form.kind == "r"):
            operands.append(Reg("xmm", rng.randrange(16), 32 if size == 32 else 16))
        elif k in "EWM":
            operands.append(Mem(0, -1, 1, 0, size))  # placeholder, filled below
            mem_index = i
        elif k in "IJ":
            operands.append(Imm(_random_imm(code, form, rng), 0))
        used.update(o.num for o in operands if isinstance(o, Reg) and o.kind == "gpr")
    regs: dict[str, int] = {}
    lock = spec.lockable and mem_index == 0 and spec.mnemonic != "xchg" and rng.random() < 0.4
    if form.rule.stack:
        regs["rsp"] = DATA + 0x100 + 8 * rng.randrange(0, 16)
    if mem_index >= 0:
        mem = operands[mem_index]
        assert isinstance(mem, Mem)
        # atomics (LOCK, xchg and cmpxchg with memory) take naturally aligned operands
        atomic = spec.mnemonic in ("xchg", "cmpxchg") or lock
        align = max(16, mem.size) if form.rule.aligned else mem.size if atomic else 1
        target = DATA + rng.randrange(0, DATA_SIZE - 32) // align * align
        shape = rng.random()
        if shape < 0.1:
            # RIP-relative: displacement fixed after the length is known
            probe = Mem(RIP, -1, 1, 0, mem.size)
            operands[mem_index] = probe
            length = len(encode(spec, form.opsize, tuple(operands), lock))
            operands[mem_index] = Mem(RIP, -1, 1, target - (address + length), mem.size)
        else:
            free = [r for r in range(16) if r not in used]
            seg = 0 if spec.mnemonic == "lea" or rng.random() < 0.7 else rng.choice([FS, FS, GS])
            if seg:
                # the segment base is part of the address: the registers make up the rest
                segbase = rng.choice([target & ~0xFFF, rng.getrandbits(47)])
                regs["fs_base" if seg == FS else "gs_base"] = segbase
                target -= segbase
            base = rng.choice(free)
            index = -1
            scale = 1
            if shape > 0.45:
                index = rng.choice([r for r in free if r not in (base, 4)])   # rsp is no index
                scale = rng.choice([1, 2, 4, 8])
            disp = rng.choice([0, rng.randrange(-128, 128), rng.randrange(-0x10000, 0x10000),
                               rng.randrange(-0x7FFFFFFF, 0x7FFFFFFF)])
            idx_val = rng.randrange(0, 64) if index >= 0 else 0
            if index >= 0:
                regs[GPR64[index]] = idx_val
            regs[GPR64[base]] = (target - disp - idx_val * scale) & (2**64 - 1)
            operands[mem_index] = Mem(base, index, scale, disp, mem.size, seg)
    return encode(spec, form.opsize, tuple(operands), lock), regs


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


def memory_regs(insn: Insn, rng: random.Random, align: int = 1) -> dict[str, int] | None:
    """Register values that put the instruction's memory operand inside the data window, or None
    when no values can (RIP-relative operands are fixed by the code's address)."""
    mems = [o for o in insn.operands if isinstance(o, Mem)]
    if insn.spec.mnemonic == "lea":
        return {}
    if not mems:
        return {}
    mem = mems[0]
    target = DATA + rng.randrange(0, DATA_SIZE - 32) // align * align
    seg: dict[str, int] = {}
    if mem.seg:
        seg = {"fs_base" if mem.seg == FS else "gs_base": target & ~0xFFF}
        target -= target & ~0xFFF
    if mem.base == RIP:
        if mem.seg:
            return None
        ea = insn.next_ip + mem.disp
        return {} if DATA <= ea <= DATA + DATA_SIZE - mem.size else None
    regs: dict[str, int] = {}
    if mem.base < 0 and mem.index < 0:               # [disp32]: only a segment base can move it
        if not mem.seg:
            return {} if DATA <= mem.disp & M64 <= DATA + DATA_SIZE - mem.size else None
        return {next(iter(seg)): (next(iter(seg.values())) + target - mem.disp) & M64}
    if mem.base >= 0 and mem.index == mem.base:
        k = 1 + mem.scale
        v = target - mem.disp
        target -= v % k
        regs[GPR64[mem.base]] = ((target - mem.disp) // k) & M64
        return {**regs, **seg}
    idx = 0
    if mem.index >= 0:
        idx = rng.randrange(0, 64)
        if mem.base < 0:
            v = target - mem.disp
            target -= v % mem.scale
            regs[GPR64[mem.index]] = ((target - mem.disp) // mem.scale) & M64
            return {**regs, **seg}
        regs[GPR64[mem.index]] = idx
    regs[GPR64[mem.base]] = (target - mem.disp - idx * mem.scale) & M64
    return {**regs, **seg}


Fix = Callable[[GuestState, dict[str, int]], None]
Oracle = Callable[[GuestState], tuple[bytes, GuestState]]


def oracle_hooks(insn: Insn, rng: random.Random) -> tuple[Fix, Oracle | None]:
    """The corrections of oracle.py that apply to this instruction."""
    ops = insn.operands
    unalias = insn.spec.mnemonic in oracle.UNALIAS and isinstance(ops[1], Reg) and ops[1] == ops[0]
    dst = ops[0] if unalias else None
    spare = next(i for i in range(16) if isinstance(dst, Reg) and i != dst.num) if unalias else -1

    def fix(st: GuestState, want: dict[str, int]) -> None:
        oracle.hardware_nan_fix(insn, st.regs, st.memory, want, DATA)
        if unalias:  # the spare register held a copy only the oracle needed
            want[f"xmm{spare}"] = st.regs[f"xmm{spare}"]

    if not isinstance(dst, Reg):
        return fix, None
    code = encode(insn.spec, insn.opsize, (dst, Reg("xmm", spare, 16)) + tuple(ops[2:]))

    def run_unaliased(st: GuestState) -> tuple[bytes, GuestState]:
        regs = dict(st.regs)
        regs[f"xmm{spare}"] = regs[f"xmm{dst.num}"]
        return code, GuestState(regs, st.memory)
    return fix, run_unaliased


def x87_diffs(source: dict[str, int], want: dict[str, int], got: dict[str, int]) -> list[str]:
    """The x87 state's differences, where the source state had one (the status word's exception
    flags are not compared)."""
    if "fcw" not in source:
        return []
    diffs = [f"fsw: want {want['fsw']:#06x} got {got['fsw']:#06x}"] if (want["fsw"] ^ got["fsw"]) & FSW_KEPT else []
    return diffs + register_diffs(["fcw", "ftw", *FPR], want, got)


def undefined_flags(insn: Insn) -> Callable[[dict[str, int]], int]:
    """The flags the rule leaves undefined, given the source state: the SDM's, but for AF after a
    shift (AF_SET) where the oracle is an AMD CPU, whose AF the translation follows."""
    und = RULES.rules[insn.spec.mnemonic].undefined
    keep = ~AF if insn.spec.mnemonic in AF_SET and native_is_amd() else ~0
    return (lambda regs: und(insn, regs) & keep) if callable(und) else (lambda regs: und & keep)


def native_is_amd() -> bool:
    """Whether the oracle is the host CPU and an AMD one."""
    return use_native() and native.vendor() == "AuthenticAMD"


def use_native() -> bool:
    """Whether the source runs on the host CPU (see the module's docstring)."""
    return native.available() and os.environ.get("VM_TRANSLATE_ORACLE", "") != "unicorn"


class Verifier:
    """Runs source and translation side by side over random states (a verify.harness.Checker)."""

    source_arch = "x86_64"
    code_address = X86_CODE

    def __init__(self) -> None:
        self.native = native.NativeX86() if use_native() else None
        self.x86 = X86Source()
        self.a64 = A64Target()

    def _source_runs(self, source: bytes, states: list[GuestState], count: int, fix: Fix | None,
                     oracle: Oracle | None) -> list[tuple[dict[str, int], bytes] | str]:
        """The source's outcome in each state: on the host CPU, or on Unicorn with its corrections."""
        if self.native is not None:
            runs = [native.Run(st.regs, {DATA: st.memory}) for st in states]
            return [o if isinstance(o, str) else (o[0], o[1][DATA])
                    for o in self.native.run(source, X86_CODE, runs)]
        out: list[tuple[dict[str, int], bytes] | str] = []
        for st in states:
            if oracle is not None:
                src_code, src_state = oracle(st)
                want = self.x86.run(src_code, src_state, count)
            else:
                want = self.x86.run(source, st, count)
            if fix is not None and not isinstance(want, str):
                fix(st, want[0])
            out.append(want)
        return out

    def check(self, source: bytes, target: bytes, state_map: dict[str, str],
              states: Iterable[GuestState], undefined: Callable[[dict[str, int]], int],
              rng: random.Random, exit_reg: str | None = None, count: int = 0,
              limit: int = 3, fix: Fix | None = None, oracle: Oracle | None = None,
              ) -> tuple[int, list[Mismatch]]:
        """Returns (runs, mismatches). `undefined(regs)` gives flags not to compare; `fix` corrects
        the oracle's answer where Unicorn departs from the hardware (oracle.py); `oracle` gives the
        code and state the oracle runs instead (same semantics, no aliasing). A state where both
        sides fault counts as a run."""
        full_map = dict(state_map)
        for name in GPR64 + XMM + ["rflags", "fs_base", "gs_base"]:
            full_map.setdefault(name, HOST[name])

        states = list(states)
        wants = dict(zip(map(id, states), self._source_runs(source, states, count, fix, oracle), strict=True))

        def run(st: GuestState) -> tuple[Any, Any]:
            want = wants[id(st)]
            got = self.a64.run(target, full_map, st.regs, st.memory, rng)
            if exit_reg is not None and not isinstance(got, str):
                got[0]["rip"] = self.a64.read(exit_reg)
            return want, got

        def diff(st: GuestState, want: Any, got: Any) -> list[str]:
            wregs, wmem = want
            gregs, gmem = got
            mask = STATUS & ~undefined(st.regs)
            diffs = register_diffs(GPR64 + XMM + ["fs_base", "gs_base"] + [h for h in YMMH if h in wregs], wregs,
                                   gregs) + x87_diffs(st.regs, wregs, gregs)
            if (wregs["rflags"] ^ gregs["rflags"]) & mask:
                diffs.append(f"rflags: want {wregs['rflags'] & mask:#x} got {gregs['rflags'] & mask:#x}"
                             f" (mask {mask:#x})")
            if exit_reg is not None:
                diffs += exit_diffs(wregs["rip"], gregs["rip"])
            return diffs + memory_diffs(wmem, gmem)

        return compare(states, run, diff, limit, double_fault_is_a_run=True)

    # ---- the harness's Checker -----------------------------------------------------------------

    def sample(self, form: Form, rng: random.Random) -> tuple[bytes, dict[str, int]]:
        return instance(form, rng, X86_CODE)

    def random_state(self, rng: random.Random, fixed: dict[str, int] | None = None) -> GuestState:
        return random_state(rng, fixed)

    def check_instance(self, form: Form, code: bytes, tr: Translation, fixed: dict[str, int], states: int,
                       rng: random.Random) -> tuple[int, list[Mismatch]]:
        insn = decode(code, X86_CODE)
        assert insn is not None and insn.raw == code, form.name
        fix, run_instead = oracle_hooks(insn, rng)
        drawn = [with_x87(random_state(rng, fixed), [insn], rng) for _ in range(states)]
        return self.check(code, tr.code, {}, [st for st in drawn if st is not None],
                          undefined_flags(insn), rng, exit_reg=tr.exit_reg, count=1 if tr.exit_reg else 0,
                          fix=fix, oracle=run_instead)

    def check_alone(self, raw: bytes, states: int, rng: random.Random) -> tuple[int, list[Mismatch], str]:
        insn = decode(raw, X86_CODE)
        assert insn is not None
        rule = RULES.rules[insn.spec.mnemonic]
        single = translate(raw, X86_CODE)
        runs = 0
        mismatches: list[Mismatch] = []
        for _ in range(states):
            atomic = insn.lock or insn.spec.mnemonic in ("xchg", "cmpxchg")
            mems = [o.size for o in insn.operands if isinstance(o, Mem)]
            fixed = memory_regs(insn, rng, max(16, mems[0]) if rule.aligned and mems else mems[0] if atomic and mems
                                else 1)
            if fixed is not None and rule.stack:
                fixed = {**fixed, "rsp": DATA + 0x100}
            if fixed is None:
                return 0, [], "RIP-relative operand outside the verifier's data window"
            fix, run_instead = oracle_hooks(insn, rng)
            st = with_x87(random_state(rng, fixed), [insn], rng)
            if st is None:
                return 0, [], "no x87 stack state runs it without a stack fault"
            n, bad = self.check(raw, single.code, {}, [st], undefined_flags(insn), rng,
                                exit_reg=single.exit_reg, count=1 if single.exit_reg else 0,
                                fix=fix, oracle=run_instead)
            runs += n
            mismatches += bad
            if mismatches:
                break
        return runs, mismatches, ""


# ---- real code: a block of a real binary at its own address ----------------------------------------

RESERVED = [(WINDOW, WINDOW_SIZE), (DATA & ~0xFFF, 0x1000), (ENV, 0x1000), (A64_CODE, CODE_SIZE),
            (X86_CODE - 0x10000, CODE_SIZE)]


def real_state(rng: random.Random, pages: list[int]) -> tuple[dict[str, int], dict[int, bytes]]:
    """Registers mostly pointing into the window (the others small counts or random), the window
    holding pointers into itself and random bytes, the RIP-relative pages random: memory every
    side maps the same."""
    regs: dict[str, int] = x86_state(rng).regs
    for name in GPR64:
        regs[name] = real_register(rng)
    regs["rsp"] = WINDOW + WINDOW_SIZE // 2
    regs["fs_base"] = regs["gs_base"] = WINDOW + 0x1000
    return regs, real_memory(rng, pages)


def rip_pages(insns: list[Insn]) -> list[int] | None:
    """The pages a block's RIP-relative operands reach (16 bytes on), or None when one of them
    falls where the code or the verifier's own memory is."""
    pages: set[int] = set()
    code = {page for i in insns for page in range(i.address & ~0xFFF, i.next_ip, 0x1000)}
    for insn in insns:
        for op in insn.operands:
            if isinstance(op, Mem) and op.base == RIP:
                ea = (insn.next_ip + op.disp) & M64
                pages |= {ea & ~0xFFF, (ea + 31) & ~0xFFF}
    if pages & code or any(start <= page < start + size for page in pages for start, size in RESERVED):
        return None
    return sorted(pages)


def block_undefined(insns: list[Insn]) -> int:
    """The flags left undefined at the end of a block (an instruction's undefined flags that no
    later one writes)."""
    und = 0
    for insn in insns:
        m = insn.spec.mnemonic
        u = RULES.rules[m].undefined
        # a state-dependent set (a shift's count ...): every flag it can leave undefined
        mine = u if not callable(u) else functools.reduce(
            operator.or_, (u(insn, {"rcx": k}) for k in (0, 1, 2, 31, 63, 64)), 0)
        if m in AF_SET and native_is_amd():
            mine &= ~AF
        und = (und & ~FLAG_WRITES.get(m, 0)) | mine
    return und


class RealCode:
    """Real blocks (a binary's, at their own addresses) on the host CPU and, translated, on Unicorn
    AArch64, from states whose memory is mapped the same on both sides: registers, flags (but
    those left undefined), every byte of memory and the exit address must match. A state where only
    the source faults (the translation does not model faults: alignment ...) is skipped."""

    def __init__(self) -> None:
        self.native = native.NativeX86()
        self.a64 = A64Target()

    def check(self, code: bytes, address: int, states: int, rng: random.Random) -> tuple[int, int, list[str]] | None:
        """(runs, skipped, the first mismatch's differences) of one fully translated block, or None
        when its memory cannot be laid out (see rip_pages)."""
        tr = translate(code, address)
        if tr.unsupported:
            return None
        insns = block_insns(code, address)
        pages = rip_pages(insns)
        if pages is None:
            return None
        mask = STATUS & ~block_undefined(insns)
        drawn = [real_state(rng, pages) for _ in range(states)]
        flags_in_ax = False
        if any(i.spec.x87 for i in insns):
            needs = stack_needs(insns)
            if needs is None:
                return None
            # the status word's exception flags (not kept) seen through fnstsw: in al they are not
            # compared; a block that stores them to memory is not run
            stored = [k for k, i in enumerate(insns) if i.spec.mnemonic == "fnstsw"]
            if any(isinstance(insns[k].operands[0], Mem) for k in stored):
                return None
            flags_in_ax = bool(stored)
            drawn = [({**regs, **x87_state(rng, *needs)}, memory) for regs, memory in drawn]
        wants = self.native.run(code, address, [native.Run(regs, mem) for regs, mem in drawn])
        full_map = {name: HOST[name] for name in GPR64 + XMM + ["rflags", "fs_base", "gs_base"]}
        runs = skipped = 0
        for (regs, memory), want in zip(drawn, wants, strict=True):
            if isinstance(want, str):
                skipped += 1
                continue
            self.a64.windows(memory)
            got = self.a64.run(tr.code, full_map, regs, bytes(DATA_SIZE), rng)
            runs += 1
            if isinstance(got, str):
                return runs, skipped, [got]
            gregs = got[0]
            gregs["rip"] = self.a64.read("x18") if tr.exit_reg else address + len(code)
            names = GPR64 + XMM + ["fs_base", "gs_base"] + [h for h in YMMH if h in want[0]]
            if flags_in_ax:                  # the x87 exception flags fnstsw put in al are not kept
                want[0]["rax"] &= ~0xFF
                gregs["rax"] &= ~0xFF
            diffs = (register_diffs(names, want[0], gregs) + exit_diffs(want[0]["rip"], gregs["rip"])
                     + x87_diffs(regs, want[0], gregs))
            if (want[0]["rflags"] ^ gregs["rflags"]) & mask:
                diffs.append(f"rflags: want {want[0]['rflags'] & mask:#x} got {gregs['rflags'] & mask:#x}")
            after = self.a64.read_windows(memory)
            for a in memory:
                if want[1][a] != after[a]:
                    off = next(i for i in range(len(after[a])) if want[1][a][i] != after[a][i])
                    diffs.append(f"memory at {a + off:#x}: want {want[1][a][off:off + 8].hex()} "
                                 f"got {after[a][off:off + 8].hex()}")
            if diffs:
                return runs, skipped, diffs
        return runs, skipped, []
