"""The register files gdb sees, one table per arch, and the target description XML made from them.

Each row is one register in gdb's numbering (the order of the `g` packet): its name, width, type and
target-description feature, and the Unicorn register behind it. Feature and register names are the
ones gdb's own descriptions use (gdb/features/aarch64-*.xml, riscv/64bit-*.xml, i386/64bit-*.xml), so
gdb-multiarch recognises the general, SIMD/FP and control registers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from xml.sax.saxutils import quoteattr

import unicorn
from unicorn import arm64_const as a64
from unicorn import riscv_const as rv
from unicorn import x86_const as x86


@dataclass(frozen=True)
class Reg:
    name: str
    bits: int
    uc: int | None          # Unicorn register; None: not modelled, reads as 0, writes are ignored
    feature: str
    type: str = "int"


ARM_CORE, ARM_FPU = "org.gnu.gdb.aarch64.core", "org.gnu.gdb.aarch64.fpu"
RV_CPU, RV_FPU = "org.gnu.gdb.riscv.cpu", "org.gnu.gdb.riscv.fpu"
X86_CORE, X86_SSE, X86_SEG = "org.gnu.gdb.i386.core", "org.gnu.gdb.i386.sse", "org.gnu.gdb.i386.segments"

_ARM64 = (
    [Reg(f"x{i}", 64, getattr(a64, f"UC_ARM64_REG_X{i}"), ARM_CORE) for i in range(31)]
    + [Reg("sp", 64, a64.UC_ARM64_REG_SP, ARM_CORE, "data_ptr"),
       Reg("pc", 64, a64.UC_ARM64_REG_PC, ARM_CORE, "code_ptr"),
       Reg("cpsr", 32, a64.UC_ARM64_REG_PSTATE, ARM_CORE)]
    + [Reg(f"v{i}", 128, getattr(a64, f"UC_ARM64_REG_Q{i}"), ARM_FPU, "aarch64v") for i in range(32)]
    + [Reg("fpsr", 32, a64.UC_ARM64_REG_FPSR, ARM_FPU), Reg("fpcr", 32, a64.UC_ARM64_REG_FPCR, ARM_FPU)]
)

_RV_X = ["zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "fp", "s1"] + [f"a{i}" for i in range(8)] + [
    f"s{i}" for i in range(2, 12)] + [f"t{i}" for i in range(3, 7)]
_RV_F = [f"ft{i}" for i in range(8)] + ["fs0", "fs1"] + [f"fa{i}" for i in range(8)] + [
    f"fs{i}" for i in range(2, 12)] + [f"ft{i}" for i in range(8, 12)]
_RISCV64 = (
    [Reg(name, 64, getattr(rv, f"UC_RISCV_REG_X{i}"), RV_CPU, "code_ptr" if name == "ra" else
         "data_ptr" if name in ("sp", "gp", "tp", "fp") else "int") for i, name in enumerate(_RV_X)]
    + [Reg("pc", 64, rv.UC_RISCV_REG_PC, RV_CPU, "code_ptr")]
    + [Reg(name, 64, getattr(rv, f"UC_RISCV_REG_F{i}"), RV_FPU, "riscv_double") for i, name in enumerate(_RV_F)]
    + [Reg("fflags", 32, rv.UC_RISCV_REG_FFLAGS, RV_FPU), Reg("frm", 32, rv.UC_RISCV_REG_FRM, RV_FPU),
       Reg("fcsr", 32, rv.UC_RISCV_REG_FCSR, RV_FPU)]
)

_X86_GPR = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp"] + [f"r{i}" for i in range(8, 16)]
_X86_64 = (
    [Reg(name, 64, getattr(x86, f"UC_X86_REG_{name.upper()}"), X86_CORE,
         "data_ptr" if name in ("rbp", "rsp") else "int") for name in _X86_GPR]
    + [Reg("rip", 64, x86.UC_X86_REG_RIP, X86_CORE, "code_ptr"),
       Reg("eflags", 32, x86.UC_X86_REG_EFLAGS, X86_CORE)]
    + [Reg(seg, 32, getattr(x86, f"UC_X86_REG_{seg.upper()}"), X86_CORE)
       for seg in ("cs", "ss", "ds", "es", "fs", "gs")]
    + [Reg(f"st{i}", 80, getattr(x86, f"UC_X86_REG_FP{i}"), X86_CORE, "i387_ext") for i in range(8)]
    + [Reg("fctrl", 32, x86.UC_X86_REG_FPCW, X86_CORE), Reg("fstat", 32, x86.UC_X86_REG_FPSW, X86_CORE),
       Reg("ftag", 32, x86.UC_X86_REG_FPTAG, X86_CORE), Reg("fiseg", 32, x86.UC_X86_REG_FCS, X86_CORE),
       Reg("fioff", 32, x86.UC_X86_REG_FIP, X86_CORE), Reg("foseg", 32, x86.UC_X86_REG_FDS, X86_CORE),
       Reg("fooff", 32, x86.UC_X86_REG_FDP, X86_CORE), Reg("fop", 32, x86.UC_X86_REG_FOP, X86_CORE)]
    + [Reg(f"xmm{i}", 128, getattr(x86, f"UC_X86_REG_XMM{i}"), X86_SSE, "vec128") for i in range(16)]
    + [Reg("mxcsr", 32, x86.UC_X86_REG_MXCSR, X86_SSE)]
    + [Reg("fs_base", 64, x86.UC_X86_REG_FS_BASE, X86_SEG), Reg("gs_base", 64, x86.UC_X86_REG_GS_BASE, X86_SEG)]
)

REGISTERS: dict[str, list[Reg]] = {"arm64": _ARM64, "riscv64": _RISCV64, "x86_64": _X86_64}
# lldb's `generic` roles (gdb ignores the attribute): without them lldb 14, which has no riscv64
# support of its own, cannot find the PC.
GENERIC = {"pc": "pc", "rip": "pc", "sp": "sp", "rsp": "sp", "fp": "fp", "rbp": "fp", "x29": "fp",
           "ra": "ra", "x30": "ra", "cpsr": "flags", "eflags": "flags"}
GDB_ARCH = {"arm64": "aarch64", "riscv64": "riscv:rv64", "x86_64": "i386:x86-64"}

# Composite types a feature's registers use, declared at the top of that feature.
_VECTOR_TYPES = """
    <vector id="v2d" type="ieee_double" count="2"/>
    <vector id="v2u" type="uint64" count="2"/>
    <vector id="v2i" type="int64" count="2"/>
    <vector id="v4f" type="ieee_single" count="4"/>
    <vector id="v4u" type="uint32" count="4"/>
    <vector id="v4i" type="int32" count="4"/>
    <vector id="v8u" type="uint16" count="8"/>
    <vector id="v8i" type="int16" count="8"/>
    <vector id="v16u" type="uint8" count="16"/>
    <vector id="v16i" type="int8" count="16"/>"""
TYPES = {
    ARM_FPU: _VECTOR_TYPES + """
    <union id="aarch64v">
      <field name="d" type="v2d"/><field name="ud" type="v2u"/><field name="sd" type="v2i"/>
      <field name="s" type="v4f"/><field name="us" type="v4u"/><field name="ss" type="v4i"/>
      <field name="h" type="v8u"/><field name="sh" type="v8i"/>
      <field name="b" type="v16u"/><field name="sb" type="v16i"/>
      <field name="q" type="uint128"/>
    </union>""",
    RV_FPU: """
    <union id="riscv_double">
      <field name="float" type="ieee_single"/><field name="double" type="ieee_double"/>
    </union>""",
    X86_SSE: _VECTOR_TYPES + """
    <union id="vec128">
      <field name="v2_double" type="v2d"/><field name="v4_float" type="v4f"/>
      <field name="v16_int8" type="v16i"/><field name="v8_int16" type="v8i"/>
      <field name="v4_int32" type="v4i"/><field name="v2_int64" type="v2i"/>
      <field name="uint128" type="uint128"/>
    </union>""",
}


@cache
def target_xml(arch: str) -> str:
    """The whole target description, every feature inline (no xi:include to fetch)."""
    regs = REGISTERS[arch]
    features: dict[str, list[str]] = {}
    for num, reg in enumerate(regs):
        features.setdefault(reg.feature, []).append(
            f'    <reg name={quoteattr(reg.name)} bitsize="{reg.bits}" type={quoteattr(reg.type)} regnum="{num}"'
            + (f' generic="{GENERIC[reg.name]}"' if reg.name in GENERIC else "") + "/>")
    body = "".join(
        f'  <feature name="{name}">{TYPES.get(name, "")}\n' + "\n".join(lines) + "\n  </feature>\n"
        for name, lines in features.items())
    return ('<?xml version="1.0"?>\n<!DOCTYPE target SYSTEM "gdb-target.dtd">\n<target version="1.0">\n'
            f"  <architecture>{GDB_ARCH[arch]}</architecture>\n{body}</target>\n")


def read_reg(uc: unicorn.Uc, reg: Reg) -> int:
    if reg.uc is None:
        return 0
    value = uc.reg_read(reg.uc)
    if isinstance(value, tuple):                   # x87: (mantissa, exponent)
        mantissa, exponent = value
        return (mantissa & (2**64 - 1)) | (exponent & 0xFFFF) << 64
    return int(value) & ((1 << reg.bits) - 1)


def write_reg(uc: unicorn.Uc, reg: Reg, value: int) -> None:
    if reg.uc is None:
        return
    if reg.type == "i387_ext":
        uc.reg_write(reg.uc, (value & (2**64 - 1), value >> 64))
    else:
        uc.reg_write(reg.uc, value)


def encode(reg: Reg, value: int) -> str:
    return value.to_bytes(reg.bits // 8, "little").hex()


def decode(reg: Reg, text: str) -> int:
    return int.from_bytes(bytes.fromhex(text[: reg.bits // 4]), "little")
