"""The AArch64 -> x86-64 direction's plug-in to the verification harness (verify/harness.py).

The source runs on Unicorn AArch64 (verify.runners.A64Source), the translation on Unicorn x86-64
with the guest state in its host registers and env block (host.py; the env slots of the registers
that live on the host hold garbage); x0..x30, sp, nzcv, v0..v31, the exit address and the written
memory must match bit for bit.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from unicorn import UC_ARCH_ARM64, UC_ARCH_X86, UC_MODE_64, UC_MODE_ARM, Uc, UcError
from unicorn import arm64_const as a64c
from unicorn import x86_const as x86c
from unicorn.arm64_const import UC_CPU_ARM64_MAX

from vmcli.translate.a64_to_x86.forms import Form
from vmcli.translate.a64_to_x86.frontend import TRAPS, translate
from vmcli.translate.a64_to_x86.host import (
    ENV_REG,
    ENV_SIZE,
    EXIT_REG,
    HOST_REGS,
    env_offset,
    pack_env,
    unpack_env,
)
from vmcli.translate.a64_to_x86.rules.neon_mem import ld1_registers
from vmcli.translate.core.blocks import Translation
from vmcli.translate.isa.a64.decoder import Insn, decode
from vmcli.translate.isa.a64.encodings import sext
from vmcli.translate.isa.x86.registers import GPR64
from vmcli.translate.verify.compare import Mismatch, compare, exit_diffs, memory_diffs, register_diffs
from vmcli.translate.verify.runners import (
    A64_CODE,
    A64_GUEST,
    BRANCH_REACH,
    CODE_SIZE,
    X86_CODE,
    A64Source,
    FastRegs,
    a64_reg_id,
)
from vmcli.translate.verify.state import (
    DATA,
    DATA_SIZE,
    M64,
    WINDOW,
    WINDOW_SIZE,
    GuestState,
    a64_state,
    real_memory,
    real_register,
)

ENV = 0x300000           # where the translation's CPU keeps the env block

random_state = a64_state
LSE = {"cas", "ldadd", "ldclr", "ldeor", "ldset", "swp"}
COMPARED = [n for n in A64_GUEST if n != "fpsr"]

_X86_SCRATCH = ([getattr(x86c, f"UC_X86_REG_{n.upper()}") for n in GPR64[:15]]
                + [getattr(x86c, f"UC_X86_REG_XMM{i}") for i in range(16)])
_HOST_IDS = {r: getattr(x86c, f"UC_X86_REG_{GPR64[r].upper()}") for r in HOST_REGS.values()}


class X86Target:
    """The translation on Unicorn x86-64, guest state in the env block at ENV (r15)."""

    def __init__(self) -> None:
        self.uc = Uc(UC_ARCH_X86, UC_MODE_64)
        self.uc.mem_map(X86_CODE - 0x10000, CODE_SIZE)
        self.uc.mem_map(DATA & ~0xFFF, 0x1000)
        self.uc.mem_map(ENV, 0x1000)
        self.scratch = FastRegs(self.uc, _X86_SCRATCH)
        self.code = b""
        self.runs = 0
        self.mapped_pages: set[int] = set()

    def windows(self, memory: dict[int, bytes]) -> None:
        """Map (once) and fill memory windows (address -> bytes) besides the data window."""
        _fill(self.uc, self.mapped_pages, memory)

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
        env = bytearray(pack_env(st.regs))
        for name, r in HOST_REGS.items():      # the registers that live on the host: there, and
            uc.reg_write(_HOST_IDS[r], st.regs[name])       # garbage in their unused env slots
            off = env_offset(name)
            env[off:off + 8] = rng.getrandbits(64).to_bytes(8, "little")
        uc.mem_write(ENV, bytes(env))
        uc.mem_write(DATA, st.memory)
        try:
            uc.emu_start(X86_CODE, X86_CODE + len(code))
        except UcError as exc:
            return f"translation faulted: {exc}"
        regs = unpack_env(bytes(uc.mem_read(ENV, ENV_SIZE)))
        regs.update((name, uc.reg_read(_HOST_IDS[r])) for name, r in HOST_REGS.items())
        exit_addr = uc.reg_read(getattr(x86c, f"UC_X86_REG_R{EXIT_REG}"))
        return regs, bytes(uc.mem_read(DATA, DATA_SIZE)), exit_addr


class Verifier:
    """Runs source and translation side by side over random states (a verify.harness.Checker)."""

    source_arch = "arm64"
    code_address = A64_CODE

    def __init__(self) -> None:
        self.src = A64Source()                       # a Cortex-A72 (ARMv8.0: its hint space is no-ops)
        self.src_v8x = A64Source(UC_CPU_ARM64_MAX)   # for the LSE atomics (ARMv8.1)
        self.host = X86Target()

    def _source(self, source: bytes) -> tuple[A64Source, int | None]:
        """The CPU that runs `source`, and where its last instruction traps to, when it is a trap
        (svc: the next instruction; brk, hlt, udf: itself), which the source is not run into."""
        words = [int.from_bytes(source[i:i + 4], "little") for i in range(0, len(source) - 3, 4)]
        insns = [decode(w, A64_CODE + 4 * i) for i, w in enumerate(words)]
        cpu = self.src_v8x if any(i is not None and i.enc.name in LSE for i in insns) else self.src
        last = insns[-1] if insns else None
        if last is not None and last.enc.name in TRAPS:
            return cpu, last.address + (4 if last.enc.name == "svc" else 0)
        return cpu, None

    def check(self, source: bytes, target: bytes, states: Iterable[GuestState], rng: random.Random,
              branch: bool = False, limit: int = 3, count: int = 1) -> tuple[int, list[Mismatch]]:
        """Returns (runs, mismatches); a state where both sides fault is not counted as a run.
        branch: the code ends in a branch after `count` instructions; the source stops there and
        its pc must equal the translation's exit address. A trap ending the block is not run: the
        source stops before it, and the exit is where the trap returns to."""
        cpu, trap = self._source(source)
        # FPSR's cumulative flags are not kept (docs: exceptions): compared where msr writes it
        names = A64_GUEST if (0xD51B4420 >> 5) in {int.from_bytes(source[i:i + 4], "little") >> 5
                                                    for i in range(0, len(source) - 3, 4)} else COMPARED

        def run_source(st: GuestState) -> Any:
            if trap is None:
                return cpu.run(source, st, count if branch else 0)
            if count > 1:
                out = cpu.run(source, st, count - 1)
                return out if isinstance(out, str) else (out[0], out[1], trap)
            return ({n: st.regs.get(n, 0) for n in A64_GUEST}, st.memory, trap)

        def run(st: GuestState) -> tuple[Any, Any]:
            return run_source(st), self.host.run(target, st, rng)

        def diff(st: GuestState, want: Any, got: Any) -> list[str]:
            wregs, wmem, wpc = want
            gregs, gmem, gexit = got
            diffs = register_diffs(names, wregs, gregs)
            if branch:
                diffs += exit_diffs(wpc, gexit)
            return diffs + memory_diffs(wmem, gmem)

        return compare(states, run, diff, limit)

    # ---- the harness's Checker -----------------------------------------------------------------

    def sample(self, form: Form, rng: random.Random) -> tuple[bytes, dict[str, int]]:
        word, regs = instance(form, rng)
        return word.to_bytes(4, "little"), regs

    def random_state(self, rng: random.Random, fixed: dict[str, int] | None = None) -> GuestState:
        return random_state(rng, fixed)

    def check_instance(self, form: Form, code: bytes, tr: Translation, fixed: dict[str, int], states: int,
                       rng: random.Random) -> tuple[int, list[Mismatch]]:
        insn = decode(int.from_bytes(code, "little"), A64_CODE)
        assert insn is not None
        # each state gets its own addresses for the memory operand (the instance's are not reused)
        states_iter = (random_state(rng, memory_regs(insn, rng)) for _ in range(states))
        return self.check(code, tr.code, states_iter, rng, branch=tr.exit_reg is not None)

    def check_alone(self, raw: bytes, states: int, rng: random.Random) -> tuple[int, list[Mismatch], str]:
        insn = decode(int.from_bytes(raw, "little"), A64_CODE)
        assert insn is not None
        single = translate(raw, A64_CODE)
        sts = []
        for _ in range(states):
            regs = memory_regs(insn, rng)
            if regs is None:
                break
            sts.append(random_state(rng, regs))
        if not sts:
            return 0, [], "index register equals the base"
        runs, bad = self.check(raw, single.code, sts, rng, branch=single.exit_reg is not None, limit=1)
        return runs, bad, ""


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
    if name == "dc_zva":                # anywhere in a 64-byte block of the window (zeroed whole)
        if f["Rt"] == 31:
            return None
        return {f"x{f['Rt']}": DATA + 64 * rng.randrange(DATA_SIZE // 64) + rng.randrange(64)}
    if name in LSE or name in ("ldxr", "stxr"):
        size = 1 << f["size"]           # naturally aligned: an unaligned atomic faults
        if name in ("stxr", "cas") and f["Rs"] == f["Rn"] and f["Rn"] != 31 or f["Rt"] == f["Rn"] != 31:
            return None
        base = DATA + 16 + rng.randrange(0, DATA_SIZE - 32) // 16 * 16 + rng.randrange(0, 16 // size) * size
        return {"sp" if f["Rn"] == 31 else f"x{f['Rn']}": base}
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


def instance(form: Form, rng: random.Random, address: int = A64_CODE) -> tuple[int, dict[str, int]]:
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


def _fill(uc: Uc, mapped: set[int], memory: dict[int, bytes]) -> None:
    for address, data in memory.items():
        for page in range(address & ~0xFFF, address + len(data), 0x1000):
            if page not in mapped:
                uc.mem_map(page, 0x1000)
                mapped.add(page)
        uc.mem_write(address, data)


# ---- real code: a block of a real binary at its own address ----------------------------------------

RESERVED = [(WINDOW, WINDOW_SIZE), (DATA & ~0xFFF, 0x1000), (ENV, 0x1000), (A64_CODE - BRANCH_REACH, 2 * BRANCH_REACH),
            (X86_CODE - 0x10000, CODE_SIZE), (0, 0x1000)]


def real_state(rng: random.Random, pages: list[int]) -> tuple[dict[str, int], dict[int, bytes]]:
    """Registers mostly pointing into the window, the window holding pointers into itself and random
    bytes, the pages adrp/adr reach random: memory both sides map the same."""
    regs = a64_state(rng).regs
    for n in range(31):
        regs[f"x{n}"] = real_register(rng)
    regs["sp"] = WINDOW + WINDOW_SIZE // 2
    regs["tpidr_el0"] = WINDOW + 0x800
    return regs, real_memory(rng, pages)


def _pages(insns: list[Insn], code_pages: set[int]) -> list[int] | None:
    """The pages adr/adrp point at (and the next: an offset on top reaches it), or None when one of
    them falls where the code or the verifier's own memory is."""
    pages: set[int] = set()
    for insn in insns:
        f = insn.fields
        if insn.enc.name in ("adr", "adrp"):
            imm = sext((f["immhi"] << 2) | f["immlo"], 21)
            base = (insn.address & ~0xFFF) + (imm << 12) if insn.enc.name == "adrp" else insn.address + imm
            pages |= {base & ~0xFFF & M64, (base + 0x1000) & ~0xFFF & M64}
    if any(start <= p < start + size for p in pages for start, size in RESERVED):
        return None
    return sorted(pages - code_pages)       # the code's own pages hold the code (and zeros) on both sides


class RealCode:
    """Real blocks (a binary's, at their own addresses) on Unicorn AArch64 and, translated, on
    Unicorn x86-64, from states whose memory is mapped the same on both sides: registers, NZCV,
    every byte of memory and the exit address must match. A branch's target is not run: the source
    stops after the branch and its pc is compared with the exit address."""

    def __init__(self) -> None:
        self.host = X86Target()
        self.sources: dict[int | None, Any] = {}

    def _source(self, model: int | None) -> tuple[Any, set[int]]:
        if model not in self.sources:
            uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
            if model is not None:
                uc.ctl_set_cpu_model(model)
            self.sources[model] = (uc, set())
        return self.sources[model]

    def check(self, code: bytes, address: int, states: int, rng: random.Random) -> tuple[int, int, list[str]] | None:
        """(runs, skipped, the first mismatch's differences) of one fully translated block, or None
        when its memory cannot be laid out."""
        tr = translate(code, address)
        if tr.unsupported:
            return None
        insns = [decode(int.from_bytes(code[i:i + 4], "little"), address + i) for i in range(0, len(code), 4)]
        assert all(insns)
        code_pages = {p for p in range(address & ~0xFFF, address + len(code) + 4, 0x1000)}
        pages = _pages(insns, code_pages)  # type: ignore[arg-type]
        if pages is None or any(start <= p < start + size for p in code_pages for start, size in RESERVED):
            return None
        last = insns[-1]
        assert last is not None
        model = UC_CPU_ARM64_MAX if any(i is not None and i.enc.name in LSE for i in insns) else None
        uc, mapped = self._source(model)
        page0 = address & ~0xFFF
        image = bytearray(0x1000 * len(code_pages))
        image[address - page0:address - page0 + len(code)] = code
        code_window = {page0: bytes(image)}
        _fill(uc, mapped, code_window)
        uc.ctl_remove_cache(address & ~0xFFF, (address & ~0xFFF) + 0x1000 * len(code_pages))
        if tr.exit_reg and last.enc.name not in TRAPS:
            target = tr_target(last)
            if target is not None and not any(start <= target < start + size for start, size in RESERVED):
                _fill(uc, mapped, {target & ~0xFFF: bytes(0x1000)})   # fetched once the branch is taken
        ids = [a64_reg_id(n) for n in A64_GUEST]
        names = A64_GUEST if any(i is not None and i.enc.name == "msr_fpsr" for i in insns) else COMPARED
        runs = skipped = 0
        for _ in range(states):
            regs, memory = real_state(rng, pages)
            memory.update(code_window)          # the target maps the code's pages too: adrp may reach them
            _fill(uc, mapped, memory)
            uc.reg_write(a64c.UC_ARM64_REG_PC, address)
            for n, i in zip(A64_GUEST, ids, strict=True):
                uc.reg_write(i, regs[n])
            trap = last.enc.name in TRAPS
            count = len(insns) - (1 if trap else 0)
            try:
                if count:
                    uc.emu_start(address, address + len(code), count=count if tr.exit_reg else 0)
            except UcError:
                skipped += 1
                continue
            want = {n: uc.reg_read(i) for n, i in zip(A64_GUEST, ids, strict=True)}
            for n in ("nzcv", "fpcr", "fpsr"):
                want[n] &= 0xF0000000 if n == "nzcv" else 0xFFFFFFFF
            pc = uc.reg_read(a64c.UC_ARM64_REG_PC)
            if trap:
                pc = last.address + (4 if last.enc.name == "svc" else 0)
            wmem = {a: bytes(uc.mem_read(a, len(m))) for a, m in memory.items()}
            self.host.windows(memory)
            got = self.host.run(tr.code, GuestState(regs, bytes(DATA_SIZE)), rng)
            runs += 1
            if isinstance(got, str):
                return runs, skipped, [got]
            gregs, _, gexit = got
            diffs = register_diffs(names, want, gregs)
            if tr.exit_reg:
                diffs += exit_diffs(pc, gexit)
            for a, m in memory.items():
                got_m = bytes(self.host.uc.mem_read(a, len(m)))
                if got_m != wmem[a]:
                    off = next(i for i in range(len(m)) if got_m[i] != wmem[a][i])
                    diffs.append(f"memory at {a + off:#x}: want {wmem[a][off:off + 8].hex()} "
                                 f"got {got_m[off:off + 8].hex()}")
            if diffs:
                return runs, skipped, diffs
        return runs, skipped, []


def tr_target(insn: Insn) -> int | None:
    """A direct branch's target (None for br/blr/ret)."""
    f = insn.fields
    name = insn.enc.name
    if name in ("b", "bl"):
        return insn.address + 4 * sext(f["imm26"], 26)
    if name in ("b_cond", "cbz", "cbnz"):
        return insn.address + 4 * sext(f["imm19"], 19)
    if name in ("tbz", "tbnz"):
        return insn.address + 4 * sext(f["imm14"], 14)
    return None
