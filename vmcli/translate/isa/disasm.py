"""capstone, the translator's independent disassembler: the text of source and target
instructions (listings, --json) and the registers an x86 block touches (its `state` map).

Every capstone handle of the translator is made here, once per architecture.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from vmcli.translate.isa.x86.registers import ALIASES

if TYPE_CHECKING:
    import capstone


@cache
def handle(arch: str, detail: bool = False) -> capstone.Cs:
    import capstone  # here: the bulk path (--input-file F --output O) never disassembles

    modes = {"x86_64": (capstone.CS_ARCH_X86, capstone.CS_MODE_64),
             "arm64": (capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)}
    cs = capstone.Cs(*modes[arch])
    cs.detail = detail
    return cs


def text(arch: str, raw: bytes, address: int) -> str:
    """The first instruction of `raw` as `mnemonic operands`, or "(bad)"."""
    for _addr, _size, mnemonic, op_str in handle(arch).disasm_lite(raw, address, 1):
        return f"{mnemonic} {op_str}".strip()
    return "(bad)"


def first_x86(code: bytes, address: int) -> tuple[bytes, str]:
    """(bytes, text) of the first x86-64 instruction, or (b"", "(bad)") when undecodable."""
    for _addr, size, mnemonic, op_str in handle("x86_64").disasm_lite(code[:15], address, 1):
        return bytes(code[:size]), f"{mnemonic} {op_str}".strip()
    return b"", "(bad)"


def x86_length(code: bytes, address: int) -> int:
    """Bytes of the first x86-64 instruction (first_x86 without its text), 0 when undecodable."""
    for _addr, size, _mnemonic, _op_str in handle("x86_64").disasm_lite(code[:15], address, 1):
        return size
    return 0


def span(arch: str, code: bytes, address: int, count: int) -> int:
    """Bytes taken by the first `count` instructions (as far as they decode; 0 when none does)."""
    end = 0
    for addr, size, _mnemonic, _op_str in handle(arch).disasm_lite(code, address, count):
        end = addr - address + size
    return end


def count(arch: str, code: bytes) -> int:
    """Instructions in `code` (decoded from its start, as far as it decodes): a translation's size
    in host instructions."""
    if arch == "arm64":
        return len(code) // 4
    return sum(1 for _ in handle(arch).disasm_lite(code, 0))


def x86_regs_accessed(code: bytes, address: int) -> set[str]:
    """Guest registers (64-bit names, xmm, rflags) that the instructions read or write."""
    names: set[str] = set()
    cs = handle("x86_64", detail=True)
    for insn in cs.disasm(code, address):
        read, written = insn.regs_access()
        for reg in list(read) + list(written):
            name = ALIASES.get(insn.reg_name(reg))
            if name is not None:
                names.add(name)
    return names
