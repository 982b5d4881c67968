"""Tiny Linux programs made here, without a compiler: one PT_LOAD segment with a few hand-encoded
instructions that write a message and exit. They let the user-mode tests run anywhere."""

from __future__ import annotations

import struct

BASE = 0x400000
MACHINE = {"arm64": 183, "riscv64": 243, "x86_64": 62}


def _code(arch: str, status: int, msg_addr: int, msg_len: int) -> bytes:
    if arch == "x86_64":
        return (b"\xb8\x01\x00\x00\x00" + b"\xbf\x01\x00\x00\x00"            # mov eax, 1; mov edi, 1
                + b"\x48\xbe" + struct.pack("<Q", msg_addr)                   # movabs rsi, msg
                + b"\xba" + struct.pack("<I", msg_len) + b"\x0f\x05"          # mov edx, len; syscall
                + b"\xb8\x3c\x00\x00\x00" + b"\xbf" + struct.pack("<I", status) + b"\x0f\x05")  # exit
    if arch == "arm64":
        def movz(reg: int, value: int, shift: int = 0) -> bytes:
            return struct.pack("<I", 0xD2800000 | (shift // 16) << 21 | (value & 0xFFFF) << 5 | reg)

        def movk(reg: int, value: int, shift: int) -> bytes:
            return struct.pack("<I", 0xF2800000 | (shift // 16) << 21 | (value & 0xFFFF) << 5 | reg)
        svc = struct.pack("<I", 0xD4000001)
        return (movz(0, 1) + movz(1, msg_addr & 0xFFFF) + movk(1, msg_addr >> 16, 16) + movz(2, msg_len)
                + movz(8, 64) + svc + movz(0, status) + movz(8, 93) + svc)

    def addi(rd: int, rs: int, imm: int) -> bytes:
        return struct.pack("<I", (imm & 0xFFF) << 20 | rs << 15 | rd << 7 | 0x13)

    def lui(rd: int, imm: int) -> bytes:
        return struct.pack("<I", (imm & 0xFFFFF) << 12 | rd << 7 | 0x37)
    ecall = struct.pack("<I", 0x73)
    hi, lo = (msg_addr + 0x800) >> 12, msg_addr & 0xFFF
    lo = lo - 0x1000 if lo >= 0x800 else lo
    return (addi(10, 0, 1) + lui(11, hi) + addi(11, 11, lo) + addi(12, 0, msg_len) + addi(17, 0, 64) + ecall
            + addi(10, 0, status) + addi(17, 0, 93) + ecall)


def tiny_program(arch: str, status: int = 0, message: bytes = b"hi\n", *, elf_class: int = 2,
                 machine: int | None = None) -> bytes:
    """An ELF executable that writes `message` to stdout and exits with `status`."""
    header, phdr = 64, 56
    msg_addr = BASE + header + phdr
    code_addr = msg_addr + 64
    code = _code(arch, status, msg_addr, len(message))
    body = message.ljust(64, b"\0") + code
    size = header + phdr + len(body)
    ident = b"\x7fELF" + bytes([elf_class, 1, 1, 3]) + bytes(8)     # ELFOSABI_LINUX
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 2, machine or MACHINE[arch], 1, code_addr, header, 0, 0,
                               header, phdr, 1, 64, 0, 0)
    ph = struct.pack("<IIQQQQQQ", 1, 5, 0, BASE, BASE, size, size, 0x1000)
    return ehdr + ph + body
