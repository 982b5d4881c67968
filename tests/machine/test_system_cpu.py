"""The per-arch CPU side of a board with interrupts (vmcli.machine.system), on a bare Unicorn CPU with
its MMU on: a kernel idles at virtual addresses, and the run loop must still see its `wfi` there (a
missed one left a masked timer interrupt undelivered and Linux's power-off hanging in its idle loop)."""

from __future__ import annotations

import unicorn
from unicorn import arm64_const as a64

from vmcli.machine.devices import gicv2 as g
from vmcli.machine.devices.device import Console, Host
from vmcli.machine.system import ARM64_WFI, Arm64SystemCpu

RAM = 0x4000_0000
KERNEL_VA = 0x8000_0000                      # mapped by one 1 GiB block to RAM
SCTLR_EL1, TCR_EL1, TTBR0_EL1, MAIR_EL1 = (3, 0, 1, 0, 0), (3, 0, 2, 0, 2), (3, 0, 2, 0, 0), (3, 0, 10, 2, 0)
T0SZ_39_BITS, EPD1 = 25, 1 << 23             # TTBR0 walks start at level 1; no TTBR1 walks
BLOCK, AF, INNER_SHAREABLE = 0b01, 1 << 10, 3 << 8


def arm64_cpu_with_mmu() -> tuple[unicorn.Uc, Arm64SystemCpu]:
    uc = unicorn.Uc(unicorn.UC_ARCH_ARM64, unicorn.UC_MODE_ARM)
    uc.mem_map(RAM, 0x20_0000)
    level1 = RAM                             # VA bits 38:30 index it; entry 2 covers KERNEL_VA
    uc.mem_write(level1 + 8 * (KERNEL_VA >> 30), (RAM | AF | INNER_SHAREABLE | BLOCK).to_bytes(8, "little"))
    uc.cpr_write(*MAIR_EL1, 0xFF)            # attribute 0: normal memory
    uc.cpr_write(*TCR_EL1, T0SZ_39_BITS | EPD1)
    uc.cpr_write(*TTBR0_EL1, level1)
    uc.cpr_write(*SCTLR_EL1, uc.cpr_read(*SCTLR_EL1) | 1)
    uc.mem_write(RAM + 0x1000, ARM64_WFI.to_bytes(4, "little"))
    cpu = Arm64SystemCpu(uc, [g.GICv2("gic", Host(Console(out_fd=-1, in_fd=None), lambda stop: None))])
    cpu.reset()
    return uc, cpu


def test_arm64_wfi_is_recognised_at_its_virtual_address() -> None:
    uc, cpu = arm64_cpu_with_mmu()
    assert uc.reg_read(a64.UC_ARM64_REG_PSTATE) & 0xC == 0x4      # EL1, where the kernel idles
    assert cpu.at_wfi(KERNEL_VA + 0x1004)                        # the PC Unicorn returns with after it
    assert not cpu.at_wfi(RAM + 0x1004)                          # the physical address is not mapped
    assert not cpu.at_wfi(KERNEL_VA + 0x1008)
    assert not cpu.at_wfi(0)                                     # no address below 0 to look at


def test_arm64_wfi_with_the_mmu_off_is_at_its_physical_address() -> None:
    uc, cpu = arm64_cpu_with_mmu()
    uc.cpr_write(*SCTLR_EL1, uc.cpr_read(*SCTLR_EL1) & ~1)
    assert cpu.at_wfi(RAM + 0x1004)
    assert not cpu.at_wfi(KERNEL_VA + 0x1004)
