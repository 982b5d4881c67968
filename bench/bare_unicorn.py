"""The baseline for bench/run_bench.py: the least code that runs a bundled image on Unicorn.

PT_LOAD segments into one RAM mapping, the board's UART as an MMIO callback, and the image's way
out (arm64 semihosting SYS_EXIT, riscv64 test finisher, x86_64 exit port). No checks, no devices
beyond these, no options: what `vm run` costs on top of this is vm's own overhead.

    python bench/bare_unicorn.py IMAGE.elf
"""

from __future__ import annotations

import os
import sys

import unicorn
from elftools.elf.elffile import ELFFile
from unicorn import arm64_const, x86_const

SETUP = {  # arch: (uc arch, uc mode, RAM base, UART base)
    "EM_AARCH64": (unicorn.UC_ARCH_ARM64, unicorn.UC_MODE_ARM, 0x4000_0000, 0x0900_0000),
    "EM_RISCV": (unicorn.UC_ARCH_RISCV, unicorn.UC_MODE_RISCV64, 0x8000_0000, 0x1000_0000),
    "EM_X86_64": (unicorn.UC_ARCH_X86, unicorn.UC_MODE_64, 0x0, None),
}
status = 0


def main(path: str) -> int:
    with open(path, "rb") as f:
        elf = ELFFile(f)
        machine = elf["e_machine"]
        uc_arch, uc_mode, ram, uart = SETUP[machine]
        uc = unicorn.Uc(uc_arch, uc_mode)
        uc.mem_map(ram, 128 << 20)
        for seg in elf.iter_segments("PT_LOAD"):
            uc.mem_write(seg["p_paddr"], seg.data())
        entry = elf["e_entry"]

    def stop(code: int) -> None:
        global status
        status = code
        uc.emu_stop()

    if uart is not None:
        uc.mmio_map(uart, 0x1000, lambda u, off, size, d: 0x60 if off == 5 else 0, None,
                    lambda u, off, size, value, d: os.write(1, bytes((value & 0xFF,))) if off == 0 else None, None)
    if machine == "EM_RISCV":
        uc.mmio_map(0x100000, 0x1000, lambda *a: 0, None,
                    lambda u, off, size, v, d: stop(0 if v & 0xFFFF == 0x5555 else v >> 16), None)
    elif machine == "EM_AARCH64":
        def semihost(u: unicorn.Uc, intno: int, d: object) -> None:
            block = u.reg_read(arm64_const.UC_ARM64_REG_X1)
            stop(int.from_bytes(u.mem_read(block + 8, 8), "little"))
        uc.hook_add(unicorn.UC_HOOK_INTR, semihost)
    else:
        uc.hook_add(unicorn.UC_HOOK_INSN, lambda u, port, size, v, d: os.write(1, bytes((v & 0xFF,)))
                    if port == 0x3F8 else stop(v) if port == 0xF4 else None, None, 1, 0, x86_const.UC_X86_INS_OUT)
        uc.hook_add(unicorn.UC_HOOK_INSN, lambda u, port, size, d: 0x60, None, 1, 0, x86_const.UC_X86_INS_IN)
    uc.emu_start(entry, 0xFFFF_FFFF_FFFF_FFFE)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
