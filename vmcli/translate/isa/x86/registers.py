"""x86-64 register names and numbers (the encodings' register fields)."""

from __future__ import annotations

RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI = range(8)
R8, R9, R10, R11, R12, R13, R14, R15 = range(8, 16)

GPR64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"] + [f"r{i}" for i in range(8, 16)]
XMM = [f"xmm{i}" for i in range(16)]


def _aliases() -> dict[str, str]:
    """Every name of a register or of its low part (capstone's spelling) -> the 64-bit name (fs and
    gs: their bases)."""
    out: dict[str, str] = {}
    for i, n in enumerate(["a", "c", "d", "b"]):
        for form in (f"{n}l", f"{n}h", f"{n}x", f"e{n}x", f"r{n}x"):
            out[form] = GPR64[i]
    for i, n in enumerate(["sp", "bp", "si", "di"]):
        for form in (n, f"{n}l", f"e{n}", f"r{n}"):
            out[form] = GPR64[4 + i]
    for i in range(8, 16):
        for suffix in ("", "d", "w", "b"):
            out[f"r{i}{suffix}"] = f"r{i}"
    out["rflags"] = "rflags"
    out["fs"] = "fs_base"            # a segment override reads the segment's base
    out["gs"] = "gs_base"
    for name in XMM:
        out[name] = name
        out["y" + name[1:]] = name          # a ymm register's low half (its upper half: the rules')
    return out


ALIASES = _aliases()
