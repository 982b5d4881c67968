"""What a board with an interrupt controller adds to the CPU, per architecture: which interrupt is
pending, how it is taken, how a `wfi` looks, and which traps are the guest's own to handle.

Held per arch in SYSTEMS (the machine never asks `if arch == ...` for these); the run loop calls them
only between `emu_start` slices or from the exception hook, never per instruction.
"""

from __future__ import annotations

import unicorn
from unicorn import riscv_const as rv

from vmcli.machine import arm64_exceptions as arm64
from vmcli.machine import riscv64_exceptions as riscv
from vmcli.machine.devices.clint import Clint
from vmcli.machine.devices.device import Device
from vmcli.machine.devices.gicv2 import GICv2
from vmcli.machine.devices.plic import Plic
from vmcli.machine.engine import fetch_virtual

ARM64_WFI = 0xD503_207F
RISCV_WFI = 0x1050_0073
MIP_SEIP = 1 << riscv.IRQ_S_EXT


class SystemCpu:
    """The per-arch interrupt and exception behaviour of a CPU on a board with interrupts."""

    wfi_word = 0
    wfi_size = 4

    def __init__(self, uc: unicorn.Uc, devices: list[Device]) -> None:
        self.uc = uc

    def reset(self) -> None:
        return None

    def at_wfi(self, pc: int) -> bool:
        """True when the instruction before `pc` is a wfi (Unicorn returns with the PC past it). `pc` is
        virtual: a kernel's idle loop runs with its MMU on."""
        word = fetch_virtual(self.uc, pc - self.wfi_size, 4)
        return word is not None and int.from_bytes(word, "little") == self.wfi_word

    def take_exception(self, intno: int) -> bool:
        """Deliver the synchronous exception Unicorn reports in UC_HOOK_INTR; False when the guest has
        no vectors yet (vm then reports it as a fault, as for bare-metal images)."""
        return False

    def signalled(self) -> bool:
        """An interrupt is pending that would wake a wfi."""
        return False

    def controller_signalled(self) -> bool:
        """The interrupt controller signals an interrupt to the CPU, whatever the CPU masks. Reads
        device state only: safe inside a device callback, where a CPU register access is not."""
        return False

    def deliver(self) -> bool:
        """Take the pending interrupt if the CPU accepts it now; False if none or masked."""
        return False

    def set_line(self, irq: int, level: bool) -> None:
        return None


class Arm64SystemCpu(SystemCpu):
    wfi_word = ARM64_WFI

    def __init__(self, uc: unicorn.Uc, devices: list[Device]) -> None:
        super().__init__(uc, devices)
        self.gic = next(d for d in devices if isinstance(d, GICv2))

    def reset(self) -> None:
        arm64.set_el1_aarch64(self.uc)

    def take_exception(self, intno: int) -> bool:
        if arm64.vbar(self.uc) == 0:
            return False
        arm64.take_sync(self.uc)
        return True

    def signalled(self) -> bool:
        return self.gic.signalled()

    def controller_signalled(self) -> bool:
        return self.gic.signalled()

    def deliver(self) -> bool:
        if not self.gic.signalled() or arm64.irq_masked(self.uc):
            return False
        arm64.take_irq(self.uc)
        return True

    def set_line(self, irq: int, level: bool) -> None:
        self.gic.set_line(irq, level)


class Riscv64SystemCpu(SystemCpu):
    wfi_word = RISCV_WFI

    def __init__(self, uc: unicorn.Uc, devices: list[Device]) -> None:
        super().__init__(uc, devices)
        self.plic = next(d for d in devices if isinstance(d, Plic))
        self.clint = next((d for d in devices if isinstance(d, Clint)), None)
        self._seip = False

    def _pending(self) -> int:
        bits = 0
        if self.plic.signalled(0):
            bits |= 1 << riscv.IRQ_M_EXT
        if self.clint is not None:
            if self.clint.msip:
                bits |= 1 << riscv.IRQ_M_SOFT
            if self.clint.mtip():
                bits |= 1 << riscv.IRQ_M_TIMER
        return bits

    def _sync_seip(self) -> None:
        # S-mode external interrupts: Unicorn takes a set mip.SEIP itself (it can, for S-level bits)
        seip = self.plic.signalled(1)
        if seip != self._seip:
            with riscv.machine_mode(self.uc):
                mip = int(self.uc.reg_read(rv.UC_RISCV_REG_MIP))
                self.uc.reg_write(rv.UC_RISCV_REG_MIP, (mip | MIP_SEIP) if seip else (mip & ~MIP_SEIP))
            self._seip = seip

    def take_exception(self, intno: int) -> bool:
        if riscv.csr(self.uc, rv.UC_RISCV_REG_MTVEC) == 0:
            return False
        riscv.take_exception(self.uc, intno)
        return True

    def signalled(self) -> bool:
        return riscv.interrupts_enabled(self.uc, self._pending()) or self.plic.signalled(1)

    def controller_signalled(self) -> bool:
        return self._pending() != 0 or self.plic.signalled(1)

    def deliver(self) -> bool:
        self._sync_seip()
        cause = riscv.machine_interrupt(self.uc, self._pending())
        if cause is None:
            return False
        riscv.enter_trap(self.uc, cause, int(self.uc.reg_read(rv.UC_RISCV_REG_PC)), 0, interrupt=True)
        return True

    def set_line(self, irq: int, level: bool) -> None:
        self.plic.set_line(irq, level)


SYSTEMS: dict[str, type[SystemCpu]] = {"arm64": Arm64SystemCpu, "riscv64": Riscv64SystemCpu}
