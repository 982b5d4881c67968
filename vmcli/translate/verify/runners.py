"""Unicorn CPUs for the verifier: the memory map both sides share, fast batch register access, and
the source architectures' CPUs (the oracle: the original code on Unicorn). The translations' CPUs
hold a direction's host-state layout and live with the direction (its check.py).

Speed: one Uc per architecture is reused for every run; code is written once per instruction and
register state moves through uc_reg_write_batch/uc_reg_read_batch (tens of thousands of runs/s).
"""

from __future__ import annotations

import ctypes

from unicorn import UC_ARCH_ARM64, UC_ARCH_X86, UC_ERR_FETCH_UNMAPPED, UC_MODE_64, UC_MODE_ARM, Uc, UcError
from unicorn import arm64_const as a64c
from unicorn import x86_const as x86c
from unicorn.unicorn_py3.unicorn import uclib

from vmcli.translate.isa.a64.registers import VREGS, XREGS
from vmcli.translate.isa.x86.registers import GPR64, XMM
from vmcli.translate.verify.state import DATA, DATA_SIZE, M64, GuestState

X86_CODE = 0x110000        # where x86-64 code runs (the source's, or a translation's)
A64_CODE = 0x400000        # where AArch64 code runs
CODE_SIZE = 0x40000
BRANCH_REACH = 0x80000     # AArch64 branch targets the source CPU maps around its code

X86_IDS = {n: getattr(x86c, f"UC_X86_REG_{n.upper()}") for n in GPR64 + XMM}
X86_IDS["rflags"] = x86c.UC_X86_REG_RFLAGS
X86_IDS["fs_base"] = x86c.UC_X86_REG_FS_BASE
X86_IDS["gs_base"] = x86c.UC_X86_REG_GS_BASE


def a64_reg_id(name: str) -> int:
    """Unicorn's id of an AArch64 register: x0..x30, sp, nzcv, v0..v31 (as Q registers)."""
    if name == "sp":
        return a64c.UC_ARM64_REG_SP
    if name == "nzcv":
        return a64c.UC_ARM64_REG_NZCV
    if name in ("tpidr_el0", "fpcr", "fpsr"):
        return getattr(a64c, f"UC_ARM64_REG_{name.upper()}")
    if name.startswith("v"):
        return a64c.UC_ARM64_REG_Q0 + int(name[1:])
    n = int(name[1:])
    return {29: a64c.UC_ARM64_REG_X29, 30: a64c.UC_ARM64_REG_X30}.get(n, a64c.UC_ARM64_REG_X0 + n)


class FastRegs:
    """Batch register access through the C API with preallocated buffers.

    unicorn's Python reg_write_batch spends ~5 us per register choosing a ctypes class; here each
    register is a 16-byte slot of one buffer (the C side reads 8 or 16 bytes of it)."""

    def __init__(self, uc: Uc, ids: list[int]) -> None:
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


class X86Source:
    """x86-64 code on Unicorn from a guest state (rax..r15, xmm0..15, rflags, fs and gs bases)."""

    def __init__(self) -> None:
        self.uc = Uc(UC_ARCH_X86, UC_MODE_64)
        self.uc.mem_map(X86_CODE - 0x10000, CODE_SIZE)
        self.uc.mem_map(DATA & ~0xFFF, 0x1000)
        self.names = GPR64 + XMM + ["rflags", "fs_base", "gs_base"]
        self.ids = [X86_IDS[n] for n in self.names]
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


A64_GUEST = XREGS + ["sp", "nzcv"] + VREGS + ["tpidr_el0", "fpcr", "fpsr"]
CLREX = (0xD503305F).to_bytes(4, "little")


def _exclusive(code: bytes) -> bool:
    """Whether AArch64 code holds a load or store exclusive (whose monitor a run must find clear)."""
    words = (int.from_bytes(code[i:i + 4], "little") for i in range(0, len(code) - 3, 4))
    return any((w >> 23) & 0x7F == 0b0010000 for w in words)      # size 001000 0 ...: ldxr/stxr


class A64Source:
    """AArch64 code on Unicorn from a guest state (x0..x30, sp, nzcv, v0..v31, tpidr_el0, fpcr,
    fpsr). `model` is Unicorn's CPU model: its default, a Cortex-A72 (ARMv8.0, whose hint space is
    no-ops), or UC_CPU_ARM64_MAX for the forms of later architecture versions (LSE atomics)."""

    def __init__(self, model: int | None = None) -> None:
        self.uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
        if model is not None:
            self.uc.ctl_set_cpu_model(model)
        # branch targets land in mapped code (the run stops there, but Unicorn fetches it)
        self.uc.mem_map(0, 0x1000)
        self.uc.mem_map(A64_CODE - BRANCH_REACH, 2 * BRANCH_REACH)
        self.uc.mem_map(DATA & ~0xFFF, 0x1000)
        self.uc.mem_write(A64_CODE - 4, CLREX)       # run first: no exclusive monitor left from before
        self.regs = FastRegs(self.uc, [a64_reg_id(n) for n in A64_GUEST])
        self.code = b""

    def run(self, code: bytes, st: GuestState, count: int = 0) -> tuple[dict[str, int], bytes, int] | str:
        """Run `code` (or its first `count` instructions); the registers, the data window and the pc."""
        uc = self.uc
        if code != self.code:
            uc.mem_write(A64_CODE, code)
            uc.ctl_remove_cache(A64_CODE, A64_CODE + max(len(code), len(self.code)))
            self.code = code
        self.regs.write([st.regs.get(n, 0) for n in A64_GUEST])
        uc.mem_write(DATA, st.memory)
        start = A64_CODE - 4 if _exclusive(code) else A64_CODE      # clrex first: a clear monitor
        try:
            uc.emu_start(start, A64_CODE + len(code), count=count + (A64_CODE - start) // 4 if count else 0)
        except UcError as exc:
            return f"source faulted: {exc}"
        out = dict(zip(A64_GUEST, self.regs.read(), strict=True))
        for n in XREGS + ["sp", "nzcv", "tpidr_el0"]:
            out[n] &= M64
        out["nzcv"] &= 0xF0000000
        out["fpcr"] &= 0xFFFFFFFF
        out["fpsr"] &= 0xFFFFFFFF
        return out, bytes(uc.mem_read(DATA, DATA_SIZE)), uc.reg_read(a64c.UC_ARM64_REG_PC)
