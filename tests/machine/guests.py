"""Tiny guests for machine tests: assemble a snippet, run it in-process, capture the console."""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keystone

from vmcli.machine.boards import board_for
from vmcli.machine.devices.device import Console
from vmcli.machine.launch import boot
from vmcli.machine.machine import Machine, RunResult

KS = {
    "arm64": (keystone.KS_ARCH_ARM64, keystone.KS_MODE_LITTLE_ENDIAN),
    "x86_64": (keystone.KS_ARCH_X86, keystone.KS_MODE_64),
}


def asm(arch: str, text: str, address: int) -> bytes:
    ks = keystone.Ks(*KS[arch])
    encoding, _ = ks.asm(text, address)
    return bytes(encoding or b"")


# RISC-V: keystone has no RISC-V, so the few instructions tests need are encoded here (RV64I).
def _i(op: int, rd: int, f3: int, rs1: int, imm: int) -> int:
    return ((imm & 0xFFF) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op


def rv_li(rd: int, value: int) -> list[int]:
    """lui + addiw for a 32-bit signed value."""
    lo = value & 0xFFF
    if lo >= 0x800:
        lo -= 0x1000
    hi = ((value - lo) >> 12) & 0xFFFFF
    return [(hi << 12) | (rd << 7) | 0x37, _i(0x1B, rd, 0, rd, lo)]


def rv_la(rd: int, delta: int) -> list[int]:
    """auipc + addi: rd = (address of the auipc) + delta, for |delta| < 2 KiB; RAM addresses above
    2 GiB do not fit the sign-extended lui."""
    return [(rd << 7) | 0x17, _i(0x13, rd, 0, rd, delta)]


def rv_sw(rs2: int, rs1: int, imm: int = 0) -> int:
    return ((imm >> 5 & 0x7F) << 25) | (rs2 << 20) | (rs1 << 15) | (2 << 12) | ((imm & 0x1F) << 7) | 0x23


def rv_lw(rd: int, rs1: int, imm: int = 0) -> int:
    return _i(0x03, rd, 2, rs1, imm)


RV_SEMIHOST = [0x01F01013, 0x00100073, 0x40705013]     # slli x0,x0,31; ebreak; srai x0,x0,7
RV_WFI, RV_LOOP = 0x10500073, 0x0000006F               # wfi; j .
A0, A1, T0, T1 = 10, 11, 5, 6


def rv(words: Sequence[int]) -> bytes:
    return struct.pack(f"<{len(words)}I", *words)


@dataclass
class Outcome:
    result: RunResult
    stdout: bytes
    stderr: bytes
    machine: Machine


def run_code(arch: str, code: bytes, *, data: bytes = b"", data_offset: int = 0x1000, stdin: bytes = b"",
             timeout: float | None = 10, max_insns: int | None = None, **boot_args: object) -> Outcome:
    """Run raw `code` at the board's raw load address, with `data` placed `data_offset` after it."""
    image = bytearray(code)
    if data:
        image += bytes(max(0, data_offset - len(image)))
        image[data_offset:data_offset + len(data)] = data
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "guest.bin"
        path.write_bytes(bytes(image))
        (Path(tmp) / "in").write_bytes(stdin)
        with open(Path(tmp) / "out", "w+b") as out, open(Path(tmp) / "err", "w+b") as err, \
                open(Path(tmp) / "in", "rb") as inp:
            console = Console(out.fileno(), inp.fileno(), err.fileno())
            machine = boot(str(path), arch=arch, console=console, **boot_args)  # type: ignore[arg-type]
            result = machine.run(timeout=timeout, max_insns=max_insns)
            out.seek(0)
            err.seek(0)
            return Outcome(result, out.read(), err.read(), machine)


def load_addr(arch: str) -> int:
    return board_for(arch).raw_load_addr


def env_without_debug() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VM_DEBUG", None)
    return env
