"""Disassembly for display (capstone) and the register-access facts the JSON `state` needs."""

from __future__ import annotations

from functools import lru_cache

import capstone

_GPR = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"] + [f"r{i}" for i in range(8, 16)]
_ALIASES: dict[str, str] = {}
for _i, _n in enumerate(["a", "c", "d", "b"]):
    for _form in (f"{_n}l", f"{_n}h", f"{_n}x", f"e{_n}x", f"r{_n}x"):
        _ALIASES[_form] = _GPR[_i]
for _i, _n in enumerate(["sp", "bp", "si", "di"]):
    for _form in (_n, f"{_n}l", f"e{_n}", f"r{_n}"):
        _ALIASES[_form] = _GPR[4 + _i]
for _i in range(8, 16):
    for _suffix in ("", "d", "w", "b"):
        _ALIASES[f"r{_i}{_suffix}"] = f"r{_i}"
_ALIASES["rflags"] = "rflags"
for _i in range(16):
    _ALIASES[f"xmm{_i}"] = f"xmm{_i}"


@lru_cache(maxsize=1)
def _x86() -> capstone.Cs:
    return capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)


@lru_cache(maxsize=1)
def _x86_detail() -> capstone.Cs:
    cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    cs.detail = True
    return cs


@lru_cache(maxsize=1)
def _a64() -> capstone.Cs:
    return capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)


def disasm_source(code: bytes, address: int) -> tuple[bytes, str]:
    """(bytes, text) of the first x86-64 instruction, or (b"", "(bad)") when undecodable."""
    for _addr, size, mnemonic, op_str in _x86().disasm_lite(code[:15], address, 1):
        return bytes(code[:size]), f"{mnemonic} {op_str}".strip()
    return b"", "(bad)"


def disasm_target(raw: bytes, address: int) -> str:
    for _addr, _size, mnemonic, op_str in _a64().disasm_lite(raw, address, 1):
        return f"{mnemonic} {op_str}".strip()
    return "(bad)"


def x86_regs_accessed(code: bytes, address: int) -> set[str]:
    """Guest registers (64-bit names, xmm, rflags) that the instructions read or write."""
    names: set[str] = set()
    cs = _x86_detail()
    for insn in cs.disasm(code, address):
        read, written = insn.regs_access()
        for reg in list(read) + list(written):
            name = _ALIASES.get(insn.reg_name(reg))
            if name is not None:
                names.add(name)
    return names
