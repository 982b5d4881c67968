"""A board wired up: CPU, RAM, devices and semihosting on Unicorn, and the run loop that owns the
exit status.

The default run path puts no Python on any guest instruction or block: RAM is a host buffer mapped
with `mem_map_ptr`, devices are `mmio_map` windows (or x86 IN/OUT hooks), and semihosting enters
through the exception hooks. Python runs only when the guest touches a device or traps.
"""

from __future__ import annotations

import mmap
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import unicorn
from unicorn import arm64_const as a64
from unicorn import riscv_const as rv
from unicorn import x86_const as x86

from vmcli.errors import BadInput, ExitStatus, OutputError
from vmcli.machine.arm64_exceptions import read_insn
from vmcli.machine.boards import Board
from vmcli.machine.cpu import Cpu
from vmcli.machine.devices.arm_timer import TIMER_CRN, GenericTimer
from vmcli.machine.devices.cfi_flash import BANK_SIZE, CfiFlash
from vmcli.machine.devices.clint import Clint
from vmcli.machine.devices.compute import ComputeDevice, ComputeOptions
from vmcli.machine.devices.device import Console, Device, Host, Stop
from vmcli.machine.devices.exit_port import ExitPort
from vmcli.machine.devices.gicv2 import GICv2
from vmcli.machine.devices.ns16550 import NS16550
from vmcli.machine.devices.pl011 import PL011
from vmcli.machine.devices.pl031 import PL031
from vmcli.machine.devices.plic import Plic
from vmcli.machine.devices.semihosting import Semihosting
from vmcli.machine.devices.sifive_test import SiFiveTest
from vmcli.machine.devices.virtio_mmio import VirtioMmio
from vmcli.machine.engine import CpReg, FaultHooks, SysWriteHook, fault_ranges, flush_translations
from vmcli.machine.events import POLL_MASKED_S, Events, ReplayGuard
from vmcli.machine.faults import (
    ARM64_EXCEPTIONS,
    MEM_ACCESS,
    RISCV_EXCEPTIONS,
    UC_ERRORS,
    X86_EXCEPTIONS,
    X86_FAULTS,
    Fault,
    describe,
)
from vmcli.machine.firmware.psci import Psci
from vmcli.machine.loader import Image, Layout, place_segments
from vmcli.machine.memory import GuestMemory
from vmcli.machine.stops import ExactStop, check_free_stop
from vmcli.machine.system import SYSTEMS, SystemCpu

PAGE = 0x1000
TCG_BUFFER = 1 << 30                  # Unicorn's translated-code buffer (its default size), mapped at first use
INTERRUPT_REPEAT_S = 0.05             # after Ctrl-C, emu_stop is repeated this often until the run ends
UNREACHABLE = 0xFFFF_FFFF_FFFF_FFFE     # `until` address for emu_start: no guest can execute there
INTERRUPTED = Stop(ExitStatus.INTERRUPTED, "interrupted", "interrupted (Ctrl-C)")
HLT_F000 = 0xD45E0000                 # AArch64 HLT #0xF000, the semihosting trap
HVC_SMC = (0xD400_0002, 0xD400_0003)  # hvc #imm, smc #imm (masked with 0xFFE0001F)
RV_SEMI_PRE, RV_EBREAK, RV_SEMI_POST = 0x01F01013, 0x00100073, 0x40705013

DEVICE_CLASSES: dict[str, Callable[[str, Host], Device]] = {
    "pl011": PL011,
    "ns16550": NS16550,
    "sifive_test": SiFiveTest,
    "exit_port": ExitPort,
    "gicv2": GICv2,
    "pl031": PL031,
    "virtio_mmio": VirtioMmio,
    "clint": Clint,
    "plic": Plic,
}
INTERRUPT_CONTROLLERS = ("gicv2", "plic")
GIC_SPI_BASE = 32
UNMASK_STEPS = 64                     # instructions stepped while a pending interrupt is masked


@dataclass
class RunResult:
    status: int
    reason: str                       # exit, fault, reset, timeout, insn-limit, halted, interrupted
    detail: str
    fault: Fault | None
    wall_s: float
    insns: int | None = None          # guest instructions executed, when counted
    device_accesses: dict[str, int] = field(default_factory=dict)
    semihosting_calls: dict[str, int] = field(default_factory=dict)


def address_space_left() -> int | None:
    """Bytes of address space this process may still map under RLIMIT_AS (`ulimit -v`); None: no limit."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/statm") as statm:
            used = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        used = 0
    return max(0, soft - used)


def host_memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 1 << 40


class Machine:
    def __init__(
        self,
        board: Board,
        image: Image,
        *,
        mem: int | None = None,
        console: Console | None = None,
        semihosting_root: str | None = None,
        cmdline: str = "",
        compute: ComputeOptions | None = None,
    ) -> None:
        self.board = board
        self.image = image
        self.mem_size = board.ram_default if mem is None else mem
        self._check_mem()
        ram_range = (board.ram_base, board.ram_base + self.mem_size)
        windows = [(d.name, d.base, d.size) for d in board.devices if d.space == "mmio"]
        self.layout: Layout = place_segments(image, ram_range, [(r.name, r.base, r.size) for r in board.rom],
                                             windows)

        self.cpu = Cpu(board.arch)
        self.uc = self.cpu.uc
        self.stop_request: Stop | None = None
        self.fault: Fault | None = None
        self._mem_fault: tuple[str, int, int] | None = None
        self._semihost_pc: int | None = None
        # Debug probes (vmcli.debug: --trace, --stats) that may stop the guest to drain a buffer;
        # each returns True when it did, and the run loop resumes the guest.
        self.pause_handlers: list[Callable[[], bool]] = []
        self.hooked = False                  # hooks added from outside stop the guest at instructions
        self.host = Host(console or Console(), self.request_stop)
        self.host.console.on_output_error = self._output_failed

        # RAM: an anonymous page-aligned mapping (pages are committed only when touched) that devices
        # see directly through a numpy view.
        try:
            self._ram_map = mmap.mmap(-1, self.mem_size)
        except (OSError, OverflowError, MemoryError) as exc:
            raise BadInput(f"--mem {self.mem_size}: this host cannot give the guest that much RAM ({exc})") from None
        self.ram = np.frombuffer(self._ram_map, dtype=np.uint8)
        self.uc.mem_map_ptr(board.ram_base, self.mem_size, unicorn.UC_PROT_ALL, self.ram.ctypes.data)
        self.memory = GuestMemory(board.ram_base, self.ram)
        self.devices: list[Device] = []
        self.stopper: ExactStop | None = None   # exact stops from the events thread (chosen by the run)
        self.replay = ReplayGuard()          # without one: Unicorn's re-run of an access cut by a stop
        self.flash: CfiFlash | None = None
        self._flash_base = 0
        self._flash_mmio: set[int] = set()   # banks now mapped as MMIO (a command in progress)
        for rom in board.rom:
            if rom.kind == "cfi_flash":
                self._map_flash(rom.base, rom.size, rom.name)
            else:                            # plain ROM: reads as on QEMU; a guest store to it is a fault
                self.uc.mem_map(rom.base, rom.size, unicorn.UC_PROT_READ | unicorn.UC_PROT_EXEC)
        self.load_segments()

        self._io: list[tuple[int, int, Device]] = []
        self.intc: Device | None = None
        wired: list[tuple[Device, int]] = []
        for spec in board.devices:
            if spec.kind == "compute":       # the one device that reads guest RAM besides semihosting
                device: Device = ComputeDevice(spec.name, self.host, self.memory, compute)
            else:
                device = DEVICE_CLASSES[spec.kind](spec.name, self.host)
            self.devices.append(device)
            if spec.kind in INTERRUPT_CONTROLLERS:
                self.intc = device
            if spec.irq is not None:
                wired.append((device, spec.irq))
            if spec.space == "mmio":
                self._map_mmio(device, spec.base, spec.size * spec.count)
            else:
                self._io.append((spec.base, spec.size, device))

        # Interrupts: devices drive lines into the controller; the CPU takes what it signals between
        # slices (vmcli.machine.system). Boards without a controller run exactly as before.
        self.system: SystemCpu | None = None
        self.events: Events | None = None
        self.timer: GenericTimer | None = None
        self.psci: Psci | None = None
        if self.intc is not None:
            self.system = SYSTEMS[board.arch](self.uc, self.devices)
            self.events = Events(self._end_slice)
            for device, irq in wired:
                if hasattr(device, "irq"):
                    device.irq = self._line(irq + (GIC_SPI_BASE if isinstance(self.intc, GICv2) else 0))
            if isinstance(self.intc, GICv2):
                self.timer = GenericTimer(self._write_cpreg, self._set_line)
                self._msr_hook = SysWriteHook(self.uc, TIMER_CRN, self._on_timer_msr)
                self.psci = Psci(self.host)
        if board.arch == "x86_64":
            self.uc.hook_add(unicorn.UC_HOOK_INSN, self._on_syscall, None, 1, 0, x86.UC_X86_INS_SYSCALL)
        if self._io:
            self.uc.hook_add(unicorn.UC_HOOK_INSN, self._port_in, None, 1, 0, x86.UC_X86_INS_IN)
            self.uc.hook_add(unicorn.UC_HOOK_INSN, self._port_out, None, 1, 0, x86.UC_X86_INS_OUT)

        self.semihosting: Semihosting | None = None
        if board.semihosting:
            program = [s for s in self.layout.ram if s not in image.boot_segments]   # not the device tree
            heap_base = (max((s.end for s in program), default=ram_range[0]) + 15) & ~15
            self.semihosting = Semihosting("semihosting", self.host, self.memory, root=semihosting_root,
                                           cmdline=cmdline, heap=(heap_base, ram_range[1]))
            self.devices.append(self.semihosting)
        elif semihosting_root is not None:
            raise BadInput(f"board {board.arch}/{board.name} has no semihosting; --semihosting-root does not apply")

        self._fault_ranges = fault_ranges(board.ram_base, self.mem_size)
        for begin, end in self._fault_ranges:
            self.uc.hook_add(unicorn.UC_HOOK_MEM_UNMAPPED | unicorn.UC_HOOK_MEM_PROT, self._on_bad_access, None,
                             begin, end)
        self.uc.hook_add(unicorn.UC_HOOK_INTR, self._on_interrupt)
        if board.arch == "riscv64":
            self.uc.hook_add(unicorn.UC_HOOK_INSN_INVALID, self._on_invalid_rv)
        self._reset_cpu()

    # -- set-up -------------------------------------------------------------------------------------
    def _check_mem(self) -> None:
        size, board = self.mem_size, self.board
        if size <= 0:
            raise BadInput("--mem must be larger than 0")
        if size % PAGE:
            raise BadInput(f"--mem must be a multiple of 4 KiB, not {size}")
        if size > board.ram_max:
            raise BadInput(f"--mem {size} is more than the {board.arch}/{board.name} board's RAM window "
                           f"({board.ram_max} bytes)")
        if size > host_memory_bytes():
            raise BadInput(f"--mem {size} is more than this host's memory ({host_memory_bytes()} bytes)")
        room = address_space_left()
        if room is not None and size + TCG_BUFFER > room:
            # Unicorn ends the process itself when it cannot get its translation buffer: say it first.
            raise BadInput(f"--mem {size}: this process may map only {room} more bytes (ulimit -v), and the "
                           f"guest needs its RAM plus {TCG_BUFFER} bytes for translated code")

    def load_segments(self) -> None:
        """Copy the image into RAM and flash, as at power-on (RAM must be zero already)."""
        for seg in self.layout.ram:
            self.memory.write(seg.address, seg.data)
        for seg in self.layout.rom:
            self.uc.mem_write(seg.address, seg.data)
            self.uc.mem_write(seg.address + len(seg.data), bytes(seg.memsize - len(seg.data)))

    def _map_flash(self, base: int, size: int, name: str) -> None:
        """Flash is host memory shared by two mappings per bank: read-only memory in read-array mode,
        MMIO while a command runs (see devices/cfi_flash.py); it starts as memory."""
        try:
            self._flash_map = mmap.mmap(-1, size)
        except (OSError, MemoryError) as exc:
            raise BadInput(f"cannot allocate the board's {size}-byte flash ({exc})") from None
        storage = np.frombuffer(self._flash_map, dtype=np.uint8)
        self.flash = CfiFlash(name, self.host, storage)
        self._flash_base = base
        self.devices.append(self.flash)
        for bank in range(len(self.flash.banks)):
            self._flash_as_memory(bank)
        self.uc.hook_add(unicorn.UC_HOOK_MEM_WRITE_PROT, self._on_flash_write, None, base, base + size - 1)

    def _flash_as_memory(self, bank: int) -> None:
        assert self.flash is not None
        base = self._flash_base + bank * BANK_SIZE
        if bank in self._flash_mmio:
            self.uc.mem_unmap(base, BANK_SIZE)
            self._flash_mmio.discard(bank)
        self.uc.mem_map_ptr(base, BANK_SIZE, unicorn.UC_PROT_READ | unicorn.UC_PROT_EXEC,
                            self.flash.storage.ctypes.data + bank * BANK_SIZE)

    def _flash_as_mmio(self, bank: int) -> None:
        assert self.flash is not None
        base = self._flash_base + bank * BANK_SIZE
        self.uc.mem_unmap(base, BANK_SIZE)
        flash, offset = self.flash, bank * BANK_SIZE

        guard = self.replay

        def read(uc: Any, at: int, width: int, user: Any) -> int:
            if self.stop_request is not None:
                return 0
            return guard.read(base, at, width, lambda: flash.read(offset + at, width))

        def write(uc: Any, at: int, width: int, value: int, user: Any) -> None:
            if self.stop_request is None:     # back to memory after the slice, or at a fetch
                guard.write(base, at, width, value, lambda: flash.write(offset + at, width, value))

        self.uc.mmio_map(base, BANK_SIZE, read, None, write, None)
        self._flash_mmio.add(bank)

    def _on_flash_write(self, uc: Any, access: int, address: int, size: int, value: int, user: Any) -> bool:
        # A command to a bank in read-array mode: end the slice here (the store has not happened);
        # the run loop maps the bank as MMIO and runs the store again, which then reaches the device.
        self._flash_pending = (address - self._flash_base) // BANK_SIZE
        return False

    _flash_pending: int | None = None

    def _flash_service(self) -> bool:
        """After a slice: switch flash banks between memory and MMIO as their mode asks. True when a
        stopped store or fetch must run again (the loop resumes at the same PC)."""
        if self.flash is None:
            return False
        retry, just = False, self._flash_pending
        if just is not None:
            self._flash_as_mmio(just)
            self._flash_pending, self._mem_fault, retry = None, None, True
        for bank in list(self._flash_mmio):
            if bank != just and self.flash.array_mode(bank):    # (the stopped store has yet to run)
                self._flash_as_memory(bank)
        if self._mem_fault is not None and self._mem_fault[0].startswith("instruction fetch"):
            bank = (self._mem_fault[1] - self._flash_base) // BANK_SIZE
            if 0 <= self._mem_fault[1] - self._flash_base < len(self.flash.banks) * BANK_SIZE:
                if bank in self._flash_mmio:
                    self.flash.banks[bank].cmd = 0      # running code from flash reads the array
                    self._flash_as_memory(bank)
                self._mem_fault, retry = None, True
        return retry

    def _map_mmio(self, device: Device, base: int, size: int) -> None:
        # emu_stop takes effect at the end of the translated block: once the guest has asked to
        # stop, the rest of that block must not reach the devices (no output after an exit).
        # A timer: a write may move its deadline, or raise its interrupt at once. The interrupt
        # controller: an end of interrupt may let one that waited (a line still high) through.
        timed = type(device).deadline is not Device.deadline or device is self.intc

        guard, window = self.replay, base

        def read(uc: Any, offset: int, width: int, user: Any) -> int:
            if self.stop_request is not None:
                return 0
            value = guard.read(window, offset, width, lambda: device.read(offset, width))
            self._host_ended()
            return value

        def write(uc: Any, offset: int, width: int, value: int, user: Any) -> None:
            if self.stop_request is None:
                guard.write(window, offset, width, value, lambda: device.write(offset, width, value))
                self._host_ended()
                if timed:
                    self._rearm()

        self.uc.mmio_map(base, (size + PAGE - 1) & ~(PAGE - 1), read, None, write, None)

    def _end_slice(self) -> None:
        """For the events thread: end the running slice at the next block start. Not while the
        loop steps (Unicorn's checks are on then, and a stop could land inside an instruction);
        the thread repeats its stop until the loop has seen it."""
        if self._stepping_now:
            return
        if self.stopper is not None:
            self.stopper.request()
        else:
            self.uc.emu_stop()

    def _rearm(self) -> None:
        """A timer was programmed inside a slice: the events thread must know its new deadline now,
        not when the slice ends (a compute-bound guest may not end one for a long time). Only where
        stops are exact: a stop that lands inside a block would run part of it twice."""
        if self.events is not None and self.stopper is not None and self.stopper.exact:
            self.events.arm(self._deadline(), self._input_watch())
            if self.system is not None and self.system.controller_signalled():
                self.events.kick()

    def _line(self, irq: int) -> Callable[[bool], None]:
        return lambda level: self._set_line(irq, level)

    def _set_line(self, irq: int, level: bool) -> None:
        assert self.system is not None
        was = self.system.signalled()
        self.system.set_line(irq, level)
        if level and not was and self.events is not None and self.system.signalled():
            self.events.kick()              # end the slice at the next block so the loop takes it

    def _write_cpreg(self, key: tuple[int, ...], value: int) -> None:
        uc: Any = self.uc
        uc.cpr_write(*key, value)

    def _on_timer_msr(self, cp_reg: CpReg) -> bool:
        key = (cp_reg.op0, cp_reg.op1, cp_reg.crn, cp_reg.crm, cp_reg.op2)
        if self.timer is None or not self.timer.handles(key):
            return False                      # any other system register: Unicorn writes it
        self.timer.write(key, cp_reg.val)
        self._rearm()
        return True                           # done here: skip the instruction

    def _reset_cpu(self) -> None:
        if self.system is not None:
            self.system.reset()
        self.cpu.pc = self.image.entry
        if self.board.arch == "x86_64":
            self.uc.reg_write(x86.UC_X86_REG_RSP, self.board.ram_base + self.mem_size)
        names = dict(self.cpu.spec.regs)
        for name, value in self.image.regs:       # the boot protocol's (x0 = device tree, a1 = ...)
            self.uc.reg_write(names[name], value)

    # -- hooks (Python runs only here, on device access or trap) ------------------------------------
    def request_stop(self, stop: Stop) -> None:
        if self.stop_request is None:
            self.stop_request = stop
        self.uc.emu_stop()

    def _output_failed(self, exc: OSError) -> None:
        self.request_stop(Stop(ExitStatus.OUTPUT_ERROR, "output-error", str(OutputError(exc, "the guest's output"))))

    def _port_device(self, port: int) -> tuple[Device, int] | None:
        for base, size, device in self._io:
            if base <= port < base + size:
                return device, port - base
        return None

    def _port_in(self, uc: Any, port: int, size: int, user: Any) -> int:
        hit = self._port_device(port)
        if hit is None or self.stop_request is not None:
            return (1 << (8 * size)) - 1      # an open bus reads all ones
        return hit[0].read(hit[1], size)

    def _port_out(self, uc: Any, port: int, size: int, value: int, user: Any) -> None:
        hit = self._port_device(port)
        if hit is not None and self.stop_request is None:
            hit[0].write(hit[1], size, value)

    def _on_bad_access(self, uc: Any, access: int, address: int, size: int, value: int, user: Any) -> bool:
        self._mem_fault = (MEM_ACCESS.get(access, "bad memory access"), address, size)
        return False

    def _on_interrupt(self, uc: Any, intno: int, user: Any) -> None:
        if self.stop_request is not None:
            return                            # the rest of a block after an exit request: not run
        self._handle_interrupt(uc, intno)
        if self.stopper is not None and self.stop_request is None:
            # The handlers above write the PC, and Unicorn then leaves a later stop at a block start
            # without restoring the PC from the block (skip_sync_pc_on_exit stays set for the rest
            # of emu_start): a stop from the events thread would resume at a stale PC. End the
            # slice here; the next emu_start clears the flag.
            uc.emu_stop()
            self._resumed = True

    def _handle_interrupt(self, uc: Any, intno: int) -> None:
        arch = self.board.arch
        if arch == "arm64" and intno == 1 and self.semihosting is not None:
            pc = self.cpu.pc
            if read_insn(uc, pc) == HLT_F000:
                op, param = uc.reg_read(a64.UC_ARM64_REG_X0) & 0xFFFFFFFF, uc.reg_read(a64.UC_ARM64_REG_X1)
                result = self.semihosting.call(op, param)
                uc.reg_write(a64.UC_ARM64_REG_X0, result & (2**64 - 1))
                uc.reg_write(a64.UC_ARM64_REG_PC, pc + 4)
                self._host_ended()
                return
        if self.psci is not None and intno in (1, 11, 13):
            # hvc/smc: with no EL2/EL3 to take them Unicorn reports an undefined instruction at the
            # hvc (intno 1), or the call itself (11, 13) with the PC past it
            if intno == 1:
                pc = self.cpu.pc
                if (read_insn(uc, pc) or 0) & 0xFFE0_001F not in HVC_SMC:
                    self._not_psci(intno)
                    return
                uc.reg_write(a64.UC_ARM64_REG_PC, pc + 4)
            function = int(uc.reg_read(a64.UC_ARM64_REG_X0)) & 0xFFFF_FFFF
            args = [int(uc.reg_read(r)) for r in (a64.UC_ARM64_REG_X1, a64.UC_ARM64_REG_X2, a64.UC_ARM64_REG_X3)]
            answer = self.psci.call(function, *args)
            uc.reg_write(a64.UC_ARM64_REG_X0, answer.value & (2**64 - 1))
            if answer.halt:
                self._cpu_off = True
                uc.emu_stop()
            return
        self._not_psci(intno)

    def _not_psci(self, intno: int) -> None:
        uc, arch = self.uc, self.board.arch
        if self.system is not None and self.system.take_exception(intno):
            return
        # Point the report at the trapping instruction: Unicorn passes RISC-V exceptions, AArch64
        # calls (svc/hvc/smc) and x86 int3/int n with the PC already past it.
        if arch == "riscv64" or (arch == "arm64" and intno in (2, 11, 13)):
            self.cpu.pc = self.cpu.pc - 4
        elif arch == "x86_64" and intno not in X86_FAULTS:
            pc = self.cpu.pc
            if uc.mem_read(pc - 1, 1) == b"\xcc":
                self.cpu.pc = pc - 1
            elif uc.mem_read(pc - 2, 1) == b"\xcd":
                self.cpu.pc = pc - 2
        names = {"arm64": ARM64_EXCEPTIONS, "x86_64": X86_EXCEPTIONS, "riscv64": RISCV_EXCEPTIONS}[arch]
        self._trap(names.get(intno, f"interrupt {intno:#x} with no handler"))

    def _on_syscall(self, uc: Any, user: Any) -> None:
        self._trap("system call (syscall) with no handler")

    def _on_invalid_rv(self, uc: Any, user: Any) -> bool:
        pc = self.cpu.pc
        try:
            words = [int.from_bytes(uc.mem_read(pc + d, 4), "little") for d in (-4, 0, 4)]
        except unicorn.UcError:
            words = []
        if self.semihosting is not None and words == [RV_SEMI_PRE, RV_EBREAK, RV_SEMI_POST]:
            # Done by the run loop: the hook cannot resume the guest itself (emu_start would spin on
            # the exception until its timeout), so stop and let the loop resume after the ebreak.
            self._semihost_pc = pc
            uc.emu_stop()
            return True
        return False

    def _trap(self, reason: str) -> None:
        if self.fault is None:
            self.fault = describe(self.cpu, reason)
        self.request_stop(Stop(ExitStatus.GUEST_FAULT, "fault", reason))

    # -- interrupts between slices -------------------------------------------------------------------
    _cpu_off = False
    _resumed = False
    _stepping_now = False
    interrupts_taken = 0                      # delivered to the guest (for the bench)

    def _service(self, *, woke: bool = False) -> None:
        """Bring devices up to date, take a signalled interrupt the guest does not mask, and arm the
        events thread for the next deadline or input. `woke`: the guest's wfi ended; a masked
        interrupt is then stepped towards, as guests unmask right after the wfi. Elsewhere (a
        timer due inside a masked section) it is looked at again every POLL_MASKED_S: stepping
        costs a flush of the translated code each time."""
        assert self.system is not None and self.events is not None and self.intc is not None
        self._refresh()
        taken = self.system.deliver()
        self.interrupts_taken += taken
        pending = not taken and self.system.signalled()
        if pending and woke:
            pending = not self._step_until_unmasked()
        deadline = self._deadline()
        if pending:                            # masked for now: look again soon
            soon = time.monotonic() + POLL_MASKED_S
            deadline = soon if deadline is None else min(deadline, soon)
        watch = self._input_watch()
        if deadline is not None or watch is not None or self.events.started:
            self.events.arm(deadline, watch)

    def _step_until_unmasked(self) -> bool:
        """An interrupt waits while the guest masks it. Guests unmask within a few instructions (the
        idle idiom `mask; check; wfi; unmask; mask` among them), and nothing stops a slice at that
        moment, so step up to UNMASK_STEPS instructions one by one and take the interrupt as soon as
        the guest accepts it. True if it was taken."""
        assert self.system is not None
        self._stepping(True)
        try:
            for _ in range(UNMASK_STEPS):
                if self._slice(count=1) is not None:
                    return False              # the main loop runs it again and reports the fault
                if self._semihost_pc is not None:
                    self._riscv_semihost()
                if self.stop_request is not None or self._flash_pending is not None or self._mem_fault is not None:
                    return False
                if self.system.deliver():
                    self.interrupts_taken += 1
                    return True
            return False
        finally:
            self._stepping(False)

    def _stepping(self, on: bool) -> None:
        self._stepping_now = on
        if self.stopper is not None:
            self.stopper.stepping(on)
        elif on:
            flush_translations(self.uc)       # Unicorn's counting hook must see every block

    def _slice(self, *, count: int = 0, timeout_us: int = 0) -> unicorn.UcError | None:
        """One emu_start from the current PC; the error it ended with, if any."""
        try:
            self.uc.emu_start(self.cpu.pc, UNREACHABLE, count=count, timeout=timeout_us)
        except unicorn.UcError as exc:
            return exc
        return self.stopper.write_fault() if self.stopper is not None else None

    def _choose_stopper(self, *, plain: bool) -> None:
        """Exact stops for this run: without Unicorn's per-access checks where no hook must stop
        the guest at an instruction (`plain`: no debugger, tracing or counting), else a block hook
        where an events thread will stop slices, else none (only Ctrl-C and --timeout stop the
        guest, and they end the run)."""
        if self.stopper is None and plain:
            self.stopper = check_free_stop(self.uc, self.board.arch, FaultHooks(self.uc, self._fault_ranges))
            if self.stopper is None and self.events is not None:
                from vmcli.debug.exact_stop import BlockStop
                self.stopper = BlockStop(self.uc)

    def _refresh(self) -> None:
        if self.timer is not None:
            self.timer.poll()
        for device in self.devices:
            device.poll()

    def _signalled(self) -> bool:
        assert self.system is not None
        return self.system.signalled()

    def _deadline(self) -> float | None:
        times = [t for t in [self.timer.deadline() if self.timer else None] + [d.deadline() for d in self.devices]
                 if t is not None]
        return min(times) if times else None

    def _input_watch(self) -> int | None:
        console = self.host.console
        if console.in_fd is None or console.input_ready() or console.at_eof():
            return None
        return console.in_fd if any(d.wants_input() for d in self.devices) else None

    def _sleep(self) -> bool:
        """The guest executed wfi: sleep until something can wake it. False if nothing ever can."""
        assert self.events is not None
        self._refresh()
        deadline, watch = self._deadline(), self._input_watch()
        if deadline is None and watch is None and not self._signalled():
            return False
        if not self._signalled():
            console = self.host.console
            self.events.sleep(deadline, watch, console.stopped)
        return True

    # -- the run loop -------------------------------------------------------------------------------
    def run(self, *, timeout: float | None = None, max_insns: int | None = None) -> RunResult:
        counter = None
        if max_insns is not None:
            from vmcli.debug.counter import InsnCounter  # numba: imported only when counting
            counter = InsnCounter(self.uc, limit=max_insns)
        self._choose_stopper(plain=counter is None and not self.pause_handlers and not self.hooked)
        self._timeout = timeout or 0.0
        start = time.monotonic()
        deadline = None if timeout is None else start + timeout
        self.host.console.deadline = deadline     # devices that wait (stdin, a guest's kernel) give up then
        with self._interruptible(deadline) as watched:
            while self.stop_request is None:
                timeout_us = 0
                if deadline is not None and not watched:     # Unicorn's own timer: a thread per slice
                    timeout_us = max(1, int((deadline - time.monotonic()) * 1e6))
                error = self._slice(timeout_us=timeout_us)
                kicked = self.events.acknowledge() if self.events is not None else False
                self.replay.armed = kicked and self.stopper is None
                if self.stop_request is not None:
                    break
                if self._semihost_pc is not None:
                    self._riscv_semihost()
                    continue
                if self._resumed and not kicked and error is None:
                    self._resumed = False         # a trap handled in its hook: the guest goes on
                    continue
                self._resumed = False
                if self._flash_service():
                    continue
                if any([handler() for handler in self.pause_handlers]):
                    continue
                if counter is not None and counter.reached:
                    self.stop_request = Stop(ExitStatus.INSN_LIMIT, "insn-limit",
                                             f"--max-insns {max_insns} reached")
                elif error is not None:
                    self._fault_from(error)
                elif self.interrupted:
                    self.stop_request = INTERRUPTED
                elif deadline is not None and time.monotonic() >= deadline - 0.001:
                    self.stop_request = self._timed_out()
                elif self.system is not None and not self._cpu_off:
                    woke = not kicked and self.system.at_wfi(self.cpu.pc)
                    if woke and not self._sleep():
                        self._halted()
                    else:
                        self._service(woke=woke)
                else:
                    self._halted()
        if self.events is not None:
            self.events.close()
        wall = time.monotonic() - start
        if self.semihosting is not None:
            self.semihosting.close_all()
        stop = self.stop_request
        assert stop is not None
        return RunResult(
            status=int(stop.status), reason=stop.reason, detail=stop.detail,
            fault=self.fault if stop.reason in ("fault", "halted") else None, wall_s=wall,
            insns=counter.count if counter is not None else None,
            device_accesses={d.name: d.accesses for d in self.devices},
            semihosting_calls=dict(self.semihosting.calls) if self.semihosting else {},
        )

    def _timed_out(self) -> Stop:
        return Stop(ExitStatus.TIMEOUT, "timeout", f"--timeout {self._timeout:g} s reached")

    def _host_ended(self) -> None:
        """After a device access: if the device gave up waiting because the run is being ended
        (Ctrl-C, --timeout), end it now, before the guest acts on the device's answer (a stop
        requested here lands at the end of the guest's block)."""
        console = self.host.console
        if self.stop_request is None and console.stopped():
            self.request_stop(INTERRUPTED if console.cancelled or self.interrupted else self._timed_out())

    def _halted(self) -> None:
        self.stop_request = Stop(ExitStatus.GUEST_HALTED, "halted",
                                 "the guest is waiting for an interrupt (wfi/hlt) and none can come")
        self.fault = describe(self.cpu, "waiting for an interrupt that no device can raise")

    def resume(self, *, count: int = 0) -> str:
        """For a debugger: run from the current PC once, up to `count` instructions (0: no limit).
        Returns "stopped" when the guest ended or faulted (stop_request says why; resuming after a
        fault runs the faulting instruction again), "semihosting" when a RISC-V semihosting call was
        done here (the guest may go on), or "paused" (count reached, emu_stop from a hook or another
        thread, or the guest waits for an interrupt)."""
        if self.stop_request is not None and self.stop_request.reason == "fault":
            self.stop_request = self.fault = None
        self._mem_fault = None
        error = self._slice(count=count)
        if self.stop_request is None and self._semihost_pc is not None:
            self._riscv_semihost()
            return "stopped" if self.stop_request is not None else "semihosting"
        if self.stop_request is None and error is not None:
            self._fault_from(error)
        return "stopped" if self.stop_request is not None else "paused"

    def _riscv_semihost(self) -> None:
        pc, self._semihost_pc = self._semihost_pc, None
        assert pc is not None and self.semihosting is not None
        op, param = self.uc.reg_read(rv.UC_RISCV_REG_A0), self.uc.reg_read(rv.UC_RISCV_REG_A1)
        result = self.semihosting.call(op & 0xFFFFFFFF, param)
        self._host_ended()
        self.uc.reg_write(rv.UC_RISCV_REG_A0, result & (2**64 - 1))
        self.cpu.pc = pc + 4              # the srai after ebreak is a no-op marker

    def _fault_from(self, error: unicorn.UcError) -> None:
        if self._mem_fault is not None:
            reason, address, size = self._mem_fault
            self.fault = describe(self.cpu, reason, address=address, size=size)
        elif self.fault is None:
            self.fault = describe(self.cpu, UC_ERRORS.get(error.errno, f"CPU error: {error}"))
        self.stop_request = Stop(ExitStatus.GUEST_FAULT, "fault", self.fault.reason)

    # -- Ctrl-C: emu_start runs in C, so a signal must reach Unicorn from another thread ------------
    interrupted = False
    _timeout = 0.0

    @contextmanager
    def _interruptible(self, deadline: float | None = None) -> Iterator[bool]:
        """Ctrl-C, and the --timeout `deadline`, stop the run from a watcher thread (yields True);
        off the main thread there is none (False): Unicorn's emu_start timeout then stands in for
        it, at the cost of a thread it starts and joins per slice."""
        if threading.current_thread() is not threading.main_thread():
            try:
                yield False
            finally:
                self.host.console.close()
            return
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        done = False

        def on_signal(signum: int, frame: Any) -> None:
            self.interrupted = True

        def watch() -> None:
            # The C-level handler writes the signal number here at once; the Python handler above
            # would run only after emu_start returned. Unicorn forgets an emu_stop made while no
            # emu_start runs (between two slices of the run loop), so after Ctrl-C it is repeated
            # until the run ends.
            wait: float | None = None
            timed_out = False
            while True:
                left = None if deadline is None or timed_out else max(0.0, deadline - time.monotonic())
                ready, _, _ = select.select([read_fd], [], [], left if wait is None else
                                            wait if left is None else min(wait, left))
                if ready:
                    try:
                        byte = os.read(read_fd, 1)
                    except OSError:
                        return
                    if done or not byte:
                        return
                    if byte[0] == signal.SIGINT:
                        self.interrupted = True
                        self.host.console.cancelled = True    # a guest waiting for input stops waiting
                        wait = INTERRUPT_REPEAT_S
                if deadline is not None and not timed_out and time.monotonic() >= deadline:
                    timed_out, wait = True, INTERRUPT_REPEAT_S
                if self.interrupted or timed_out:
                    self.uc.emu_stop()

        old_handler = signal.signal(signal.SIGINT, on_signal)
        old_wakeup = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        watcher = threading.Thread(target=watch, name="vm-sigint", daemon=True)
        watcher.start()
        try:
            yield True
        finally:
            done = True
            self.host.console.close()             # the terminal goes back as it was, whatever happened
            signal.set_wakeup_fd(old_wakeup)
            signal.signal(signal.SIGINT, old_handler)
            os.write(write_fd, b"\0")
            watcher.join(timeout=1)
            os.close(read_fd)
            os.close(write_fd)
