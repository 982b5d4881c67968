"""The Unicorn CPU: one table row per architecture, and the register file as names.

Everything architecture-specific that is not a device lives here: Unicorn and capstone modes, ELF
machine numbers, the program counter and the registers a fault report shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import capstone
import unicorn
from unicorn import arm64_const as a64
from unicorn import riscv_const as rv
from unicorn import x86_const as x86

from vmcli.arches import ARCH_ALIASES


@dataclass(frozen=True)
class ArchSpec:
    name: str
    uc_arch: int
    uc_mode: int
    cs_arch: int
    cs_mode: int
    elf_machine: str             # pyelftools' e_machine name
    pc: int
    sp: int
    regs: tuple[tuple[str, int], ...]   # shown in fault reports, in this order
    insn_align: int              # a PC must be a multiple of this
    max_insn: int                # longest instruction in bytes, for disassembly at a fault


def _seq(prefix: str, names: list[str], module: object) -> tuple[tuple[str, int], ...]:
    return tuple((n, getattr(module, f"{prefix}{n.upper()}")) for n in names)


_RV_ABI = ["ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1"] + [f"a{i}" for i in range(8)] + [
    f"s{i}" for i in range(2, 12)] + [f"t{i}" for i in range(3, 7)]
_X86_REGS = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp"] + [f"r{i}" for i in range(8, 16)]

ARCHES: dict[str, ArchSpec] = {
    "arm64": ArchSpec(
        name="arm64",
        uc_arch=unicorn.UC_ARCH_ARM64,
        uc_mode=unicorn.UC_MODE_ARM,
        cs_arch=capstone.CS_ARCH_ARM64,
        cs_mode=capstone.CS_MODE_ARM,
        elf_machine="EM_AARCH64",
        pc=a64.UC_ARM64_REG_PC,
        sp=a64.UC_ARM64_REG_SP,
        regs=_seq("UC_ARM64_REG_", [f"x{i}" for i in range(29)] + ["fp", "lr", "sp", "pc", "nzcv"], a64),
        insn_align=4,
        max_insn=4,
    ),
    "riscv64": ArchSpec(
        name="riscv64",
        uc_arch=unicorn.UC_ARCH_RISCV,
        uc_mode=unicorn.UC_MODE_RISCV64,
        cs_arch=capstone.CS_ARCH_RISCV,
        cs_mode=capstone.CS_MODE_RISCV64 | capstone.CS_MODE_RISCVC,
        elf_machine="EM_RISCV",
        pc=rv.UC_RISCV_REG_PC,
        sp=rv.UC_RISCV_REG_SP,
        regs=_seq("UC_RISCV_REG_", _RV_ABI + ["pc"], rv),
        insn_align=2,
        max_insn=4,
    ),
    "x86_64": ArchSpec(
        name="x86_64",
        uc_arch=unicorn.UC_ARCH_X86,
        uc_mode=unicorn.UC_MODE_64,
        cs_arch=capstone.CS_ARCH_X86,
        cs_mode=capstone.CS_MODE_64,
        elf_machine="EM_X86_64",
        pc=x86.UC_X86_REG_RIP,
        sp=x86.UC_X86_REG_RSP,
        regs=_seq("UC_X86_REG_", _X86_REGS + ["rip", "rflags"], x86),
        insn_align=1,
        max_insn=15,
    ),
}


def canonical_arch(name: str) -> str | None:
    """`name` as one of ARCHES' keys, or None if it names no supported architecture."""
    name = name.lower()
    name = ARCH_ALIASES.get(name, name)
    return name if name in ARCHES else None


class Cpu:
    """A Unicorn engine for one architecture, with named registers and disassembly."""

    def __init__(self, arch: str) -> None:
        self.spec = ARCHES[arch]
        self.uc = unicorn.Uc(self.spec.uc_arch, self.spec.uc_mode)

    @property
    def pc(self) -> int:
        return int(self.uc.reg_read(self.spec.pc))

    @pc.setter
    def pc(self, value: int) -> None:
        self.uc.reg_write(self.spec.pc, value)

    def registers(self) -> dict[str, int]:
        return {name: int(self.uc.reg_read(reg)) for name, reg in self.spec.regs}

    @cached_property
    def disassembler(self) -> capstone.Cs:
        return capstone.Cs(self.spec.cs_arch, self.spec.cs_mode)

    def disassemble_at(self, address: int) -> tuple[bytes, str] | None:
        """The instruction at `address` as (bytes, text), or None if memory there cannot be read."""
        code = b""
        for size in range(self.spec.max_insn, 0, -1):   # the tail of the page may be unmapped
            try:
                code = bytes(self.uc.mem_read(address, size))
                break
            except unicorn.UcError:
                continue
        if not code:
            return None
        for insn in self.disassembler.disasm(code, address, 1):
            return bytes(insn.bytes), f"{insn.mnemonic} {insn.op_str}".strip()
        return code[: self.spec.insn_align or 1], "(undecodable)"
