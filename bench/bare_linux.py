"""The least a Linux program needs on bare Unicorn: its PT_LOAD segments in memory, a stack, and the
exit system call. A baseline for bench/linux_bench.py (the engine's share of vm's time).

    python bench/bare_linux.py PROGRAM       (a static, libc-free program such as bench/linux/compute.c)
"""

from __future__ import annotations

import struct
import sys

import unicorn
from unicorn import arm64_const as a64
from unicorn import riscv_const as rv
from unicorn import x86_const as x86

MACHINES = {183: (unicorn.UC_ARCH_ARM64, unicorn.UC_MODE_ARM, a64.UC_ARM64_REG_SP, a64.UC_ARM64_REG_X0),
            243: (unicorn.UC_ARCH_RISCV, unicorn.UC_MODE_RISCV64, rv.UC_RISCV_REG_SP, rv.UC_RISCV_REG_A0),
            62: (unicorn.UC_ARCH_X86, unicorn.UC_MODE_64, x86.UC_X86_REG_RSP, x86.UC_X86_REG_RDI)}
PAGE = 0x1000


def main() -> None:
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    machine = struct.unpack_from("<H", data, 18)[0]
    entry, phoff = struct.unpack_from("<QQ", data, 24)
    phnum = struct.unpack_from("<H", data, 56)[0]
    arch, mode, sp, arg0 = MACHINES[machine]
    uc = unicorn.Uc(arch, mode)
    for i in range(phnum):
        ptype, _flags, offset, vaddr, _p, filesz, memsz, _a = struct.unpack_from("<IIQQQQQQ", data, phoff + 56 * i)
        if ptype != 1 or not memsz:
            continue
        start, end = vaddr & ~(PAGE - 1), (vaddr + memsz + PAGE - 1) & ~(PAGE - 1)
        uc.mem_map(start, end - start)
        uc.mem_write(vaddr, data[offset:offset + filesz])
    uc.mem_map(0x7F000000, 0x100000)
    uc.reg_write(sp, 0x7F0FF000)
    status = []

    def on_exit(*args: object) -> None:
        status.append(uc.reg_read(arg0) & 0xFF)
        uc.emu_stop()

    if machine == 62:
        uc.hook_add(unicorn.UC_HOOK_INSN, on_exit, None, 1, 0, x86.UC_X86_INS_SYSCALL)
    else:
        uc.hook_add(unicorn.UC_HOOK_INTR, on_exit)
    uc.emu_start(entry, 0xFFFF_FFFF_FFFF_FFFE)
    sys.exit(status[0] if status else 70)


if __name__ == "__main__":
    main()
