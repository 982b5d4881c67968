"""Hand-made ELF64 files for loader tests: exactly the header fields a test wants, nothing else."""

from __future__ import annotations

import struct

EM = {"arm64": 183, "riscv64": 243, "x86_64": 62, "arm": 40}


def make_elf(arch: str, segments: list[tuple[int, bytes, int]], entry: int, *, etype: int = 2, flags: int = 5,
             interp: bytes | None = None) -> bytes:
    """ELF64 little-endian with one PT_LOAD per (paddr, data, memsz), all with p_flags `flags`
    (5 = R+X, 6 = R+W), and a PT_INTERP naming `interp` when given."""
    phoff, phnum = 64, len(segments) + (interp is not None)
    data_off = phoff + 56 * phnum
    header = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header += struct.pack("<HHIQQQIHHHHHH", etype, EM[arch], 1, entry, phoff, 0, 0, 64, 56, phnum, 64, 0, 0)
    phdrs, blob = b"", b""
    if interp is not None:
        phdrs += struct.pack("<IIQQQQQQ", 3, 4, data_off, 0, 0, len(interp) + 1, len(interp) + 1, 1)
        blob += interp + b"\0"
    for paddr, data, memsz in segments:
        offset = data_off + len(blob)
        phdrs += struct.pack("<IIQQQQQQ", 1, flags, offset, paddr, paddr, len(data), memsz, 0x1000)
        blob += data
    return header + phdrs + blob


def make_elf32(arch: str, segments: list[tuple[int, bytes, int]], entry: int) -> bytes:
    """ELF32 little-endian with one PT_LOAD per (paddr, data, memsz)."""
    phoff, phnum = 52, len(segments)
    data_off = phoff + 32 * phnum
    header = b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8)
    header += struct.pack("<HHIIIIIHHHHHH", 2, EM[arch], 1, entry, phoff, 0, 0, 52, 32, phnum, 40, 0, 0)
    phdrs, blob = b"", b""
    for paddr, data, memsz in segments:
        offset = data_off + len(blob)
        phdrs += struct.pack("<IIIIIIII", 1, offset, paddr, paddr, len(data), memsz, 5, 0x1000)
        blob += data
    return header + phdrs + blob
