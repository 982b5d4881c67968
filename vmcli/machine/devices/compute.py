"""The guest compute device: a window of registers through which a guest runs kernels on a host
compute device (vmcli.gpu). docs/compute-device.md is the ABI; guest-images/include/vmcompute.h the C
side of it.

A guest writes a command descriptor into its RAM, its address into DESC, and 1 into DOORBELL. The
command runs before the doorbell write returns (the guest's CPU waits), then STATUS and ERROR say how
it went. Everything the guest supplies is checked the way GPU remoting must (virglrenderer Venus,
i915 GVT-g): the descriptor is copied out of guest RAM first and only the copy is read; every buffer
range is overflow-checked and must lie wholly inside guest RAM (never a device window); sizes, work
and argument counts are capped; anything unknown or malformed sets an error code and runs nothing.
Guest-written OpenCL C runs only with --allow-guest-kernels, and then in a worker process.

Nothing here imports a vendor library: the host device is chosen on the guest's first command or
device query (`--gpu`), so a guest that never touches the device costs nothing.
"""

from __future__ import annotations

import re
import struct
import time
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Literal

import numpy as np

from vmcli.gpu import kernels
from vmcli.gpu.driver import KINDS, GpuError
from vmcli.machine.devices.device import Device, Host
from vmcli.machine.memory import GuestMemory

if TYPE_CHECKING:
    from vmcli.gpu import driver
    from vmcli.gpu.isolated import BufferArg, ScalarArg
    from vmcli.gpu.runtime import Runner

MAGIC = 0x4443_4D56            # "VMCD" in little-endian bytes
VERSION = 1
DESC_MAGIC = 0x5145_4D56       # "VMEQ": first word of every descriptor
DOORBELL_RUN = 1

# Registers: 32-bit words; a 64-bit value is a LO/HI pair that one 8-byte access also reads.
REG_MAGIC, REG_VERSION, REG_FEATURES, REG_DEVICE_COUNT = 0x00, 0x04, 0x08, 0x0C
REG_DEVICE_INDEX, REG_DEVICE_KIND, REG_DEVICE_UNITS, REG_MAX_ARGS = 0x10, 0x14, 0x18, 0x1C
REG_DEVICE_MEM = 0x20          # LO/HI: the selected device's global memory in bytes
REG_MAX_BUFFER = 0x28          # LO/HI: largest buffer a command may name, bytes
REG_DESC = 0x30                # LO/HI, read-write: guest physical address of the descriptor
REG_DOORBELL = 0x38            # write DOORBELL_RUN: run the descriptor at DESC
REG_STATUS, REG_ERROR, REG_ERROR_ARG, REG_COMMANDS = 0x3C, 0x40, 0x44, 0x48
REG_TIME_NS = 0x50             # LO/HI: host monotonic clock; reading LO latches HI
REG_KERNEL_NS = 0x58           # LO/HI: device time of the last command's kernel
REG_TOTAL_NS = 0x60            # LO/HI: host time of the last command, doorbell to done
REG_MAX_FLOPS = 0x68           # LO/HI: most flops one built-in launch may take
REG_DEVICE_NAME = 0x100        # 64 bytes: the selected device's name, NUL-padded ASCII
NAME_BYTES = 64
WINDOW = 0x1000

FEATURE_BUILTIN, FEATURE_SOURCE, FEATURE_DEVICE = 1 << 0, 1 << 1, 1 << 2
KIND_CODES = {kind: i + 1 for i, kind in enumerate(KINDS)}   # 0: no device
NO_INDEX = 0xFFFF_FFFF


class Status(IntEnum):
    IDLE = 0                   # no command yet
    DONE = 1
    ERROR = 2


class Error(IntEnum):
    NONE = 0
    BAD_ACCESS = 1             # a register write that is not a 4/8-byte write to DESC or DOORBELL
    BAD_DOORBELL = 2           # a doorbell value other than DOORBELL_RUN
    BAD_DESCRIPTOR = 3         # DESC misaligned or not in RAM, wrong magic, reserved fields not 0
    BAD_OPCODE = 4
    UNKNOWN_KERNEL = 5
    BAD_ARG_COUNT = 6
    BAD_ARG = 7                # wrong argument type/direction for the parameter, scalar out of range
    BAD_BUFFER = 8             # a range that wraps around or leaves guest RAM
    TOO_LARGE = 9              # over a size cap: buffer, all buffers, source, work items, flops
    BUFFER_TOO_SMALL = 10      # smaller than the kernel touches for the given sizes
    BAD_LAUNCH = 11            # launch size malformed (source kernels) or given for a built-in
    NO_DEVICE = 12             # --gpu none, or no host device
    DENIED = 13                # kernel source without --allow-guest-kernels
    KERNEL_FAILED = 14         # the host driver refused or failed it (build log on stderr)


class Opcode(IntEnum):
    RUN_BUILTIN = 1
    RUN_SOURCE = 2


class ArgType(IntEnum):
    BUF_IN = 1
    BUF_OUT = 2
    BUF_INOUT = 3
    U32 = 4
    I32 = 5
    F32 = 6


BUFFER_TYPES: dict[int, Literal["in", "out", "inout"]] = {
    ArgType.BUF_IN: "in", ArgType.BUF_OUT: "out", ArgType.BUF_INOUT: "inout"}
SCALAR_TYPES: dict[int, Literal["u32", "i32", "f32"]] = {ArgType.U32: "u32", ArgType.I32: "i32", ArgType.F32: "f32"}

# Descriptor: header, then MAX_ARGS argument slots (see docs/compute-device.md for the C struct).
HEADER = struct.Struct("<IIII QQ QII 3Q 3Q")   # magic opcode kernel nargs src len name namelen dim global local
ARG = struct.Struct("<IIQQ")                  # type reserved value_or_addr len
MAX_ARGS = 16
DESC_SIZE = HEADER.size + MAX_ARGS * ARG.size
DESC_ALIGN = 8

# Caps: what one command may ask of the host.
MAX_BUFFER = 256 << 20
MAX_TOTAL = 512 << 20          # all buffers of one command together
MAX_FLOPS = 1 << 34            # a built-in launch cannot be interrupted once queued: ~1-2 s on PoCL here
MAX_WORK_ITEMS = 1 << 26       # source kernels
MAX_GROUP = 1024
MAX_NAME = 64
GUEST_KERNEL_TIMEOUT_S = 10.0
KERNEL_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class ComputeOptions:
    """`vm run --gpu SPEC --allow-guest-kernels`: which host device backs the guest's device."""

    gpu: str = "auto"
    allow_guest_kernels: bool = False


class CommandError(Exception):
    def __init__(self, code: Error, message: str, arg: int = NO_INDEX) -> None:
        super().__init__(message)
        self.code, self.arg = code, arg


@dataclass(frozen=True)
class Descriptor:
    """The validated copy of a guest's descriptor."""

    opcode: int
    kernel: int
    source: tuple[int, int]
    name: tuple[int, int]
    work_dim: int
    global_size: tuple[int, int, int]
    local_size: tuple[int, int, int]
    args: tuple[tuple[int, int, int, int], ...]       # (type, reserved, value_or_addr, len)


def parse_descriptor(raw: bytes) -> Descriptor:
    """The fields of a DESC_SIZE-byte copy; header-level checks only."""
    magic, opcode, kernel, nargs, src, src_len, name, name_len, dim, *sizes = HEADER.unpack_from(raw)
    if magic != DESC_MAGIC:
        raise CommandError(Error.BAD_DESCRIPTOR, f"descriptor magic {magic:#x}, expected {DESC_MAGIC:#x}")
    if opcode not in Opcode.__members__.values():
        raise CommandError(Error.BAD_OPCODE, f"unknown opcode {opcode}")
    if nargs > MAX_ARGS:
        raise CommandError(Error.BAD_ARG_COUNT, f"{nargs} arguments, at most {MAX_ARGS}")
    args = tuple(ARG.unpack_from(raw, HEADER.size + i * ARG.size) for i in range(nargs))
    return Descriptor(opcode, kernel, (src, src_len), (name, name_len), dim,
                      (sizes[0], sizes[1], sizes[2]), (sizes[3], sizes[4], sizes[5]), args)


class ComputeDevice(Device):
    kind = "compute"

    def __init__(self, name: str, host: Host, memory: GuestMemory, options: ComputeOptions | None = None) -> None:
        super().__init__(name, host)
        self.memory = memory
        self.options = options or ComputeOptions()
        self.desc = 0
        self.status = Status.IDLE
        self.error = Error.NONE
        self.error_arg = NO_INDEX
        self.error_message = ""
        self.commands = 0
        self.kernel_ns = 0
        self.total_ns = 0
        self._time_latch = 0
        self._doorbell_low = False        # the last access was a 4-byte DOORBELL write
        self._resolved = False
        self._gpu: driver.Device | None = None
        self._device_count = 0
        self._runner: Runner | None = None

    # -- the host device, chosen on first use -------------------------------------------------------
    def gpu(self) -> driver.Device | None:
        if not self._resolved:
            self._resolved = True
            from vmcli.gpu.devices import list_devices, select_device

            if self.options.gpu.strip().lower() != "none":
                try:
                    self._device_count = len(list_devices())
                    self._gpu = select_device(self.options.gpu)
                    if self._gpu is not None:
                        # Build (or load) the kernel library now, on discovery, not in the first command.
                        _ = self.runner(self._gpu).program
                except GpuError as exc:
                    self.host.console.write(f"vm: compute device: {exc}\n".encode(), err=True)
        return self._gpu

    def runner(self, gpu: driver.Device) -> Runner:
        if self._runner is None:
            from vmcli.gpu.runtime import Runner

            self._runner = Runner(gpu, max_flops=MAX_FLOPS)
        return self._runner

    # -- registers ----------------------------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        self.accesses += 1
        self._doorbell_low = False
        value = 0
        words: dict[int, int] = {}                  # each word read once per access (TIME_NS latches)
        for i in range(size):                       # any width, any alignment: byte by byte
            at = (offset + i) & ~3
            if at not in words:
                words[at] = self._word(at)
            value |= ((words[at] >> (8 * ((offset + i) & 3))) & 0xFF) << (8 * i)
        return value

    def _word(self, offset: int) -> int:
        if offset >= REG_DEVICE_NAME:
            return self._name_word(offset)
        if offset == REG_TIME_NS:
            self._time_latch = time.monotonic_ns()
            return self._time_latch & 0xFFFF_FFFF
        if offset == REG_TIME_NS + 4:
            return self._time_latch >> 32
        pairs = {REG_DEVICE_MEM: self._device_mem, REG_MAX_BUFFER: lambda: MAX_BUFFER,
                 REG_DESC: lambda: self.desc, REG_KERNEL_NS: lambda: self.kernel_ns,
                 REG_TOTAL_NS: lambda: self.total_ns, REG_MAX_FLOPS: lambda: MAX_FLOPS}
        if offset & ~4 in pairs:
            wide = pairs[offset & ~4]()
            return (wide >> 32 if offset & 4 else wide) & 0xFFFF_FFFF
        if offset == REG_MAGIC:
            return MAGIC
        if offset == REG_VERSION:
            return VERSION
        if offset == REG_MAX_ARGS:
            return MAX_ARGS
        if offset == REG_STATUS:
            return int(self.status)
        if offset == REG_ERROR:
            return int(self.error)
        if offset == REG_ERROR_ARG:
            return self.error_arg
        if offset == REG_COMMANDS:
            return self.commands & 0xFFFF_FFFF
        if offset in (REG_FEATURES, REG_DEVICE_COUNT, REG_DEVICE_INDEX, REG_DEVICE_KIND, REG_DEVICE_UNITS):
            return self._device_word(offset)
        return 0

    def _device_word(self, offset: int) -> int:
        gpu = self.gpu()
        if offset == REG_FEATURES:
            return (FEATURE_BUILTIN | (FEATURE_SOURCE if self.options.allow_guest_kernels else 0)
                    | (FEATURE_DEVICE if gpu is not None else 0))
        if offset == REG_DEVICE_COUNT:
            return self._device_count
        if gpu is None:
            return NO_INDEX if offset == REG_DEVICE_INDEX else 0
        if offset == REG_DEVICE_INDEX:
            return gpu.index & 0xFFFF_FFFF
        if offset == REG_DEVICE_KIND:
            return KIND_CODES[gpu.info.kind]
        return min(gpu.info.compute_units, 0xFFFF_FFFF)

    def _device_mem(self) -> int:
        gpu = self.gpu()
        return 0 if gpu is None else gpu.info.global_mem

    def _name_word(self, offset: int) -> int:
        start = offset - REG_DEVICE_NAME
        if start >= NAME_BYTES:
            return 0
        gpu = self.gpu()
        name = b"" if gpu is None else gpu.info.name.encode("ascii", "replace")[:NAME_BYTES - 1]
        return int.from_bytes(name.ljust(NAME_BYTES, b"\0")[start:start + 4], "little")

    def write(self, offset: int, size: int, value: int) -> None:
        self.accesses += 1
        if offset == REG_DESC and size == 8:
            self.desc = value
        elif offset in (REG_DESC, REG_DESC + 4) and size == 4:
            shift = 8 * (offset - REG_DESC)
            self.desc = (self.desc & ~(0xFFFF_FFFF << shift)) | ((value & 0xFFFF_FFFF) << shift)
        elif offset == REG_DOORBELL and size in (4, 8):
            if value != DOORBELL_RUN:
                self._finish(CommandError(Error.BAD_DOORBELL, f"doorbell value {value:#x}"))
            else:
                self.ring()
            self._doorbell_low = size == 4
            return
        elif offset == REG_DOORBELL + 4 and size == 4 and self._doorbell_low:
            # The high half of an 8-byte doorbell store, which the CPU splits into two 4-byte ones.
            if value:
                self._finish(CommandError(Error.BAD_DOORBELL, f"doorbell value {value:#x}_{DOORBELL_RUN:08x}"))
        else:
            self._finish(CommandError(Error.BAD_ACCESS, f"{size}-byte write at register offset {offset:#x}"))
        self._doorbell_low = False

    def _finish(self, error: CommandError | None) -> None:
        self.commands += 1
        if error is None:
            self.status, self.error, self.error_arg, self.error_message = Status.DONE, Error.NONE, NO_INDEX, ""
            return
        self.status, self.error, self.error_arg = Status.ERROR, error.code, error.arg
        self.error_message = str(error)
        self.host.console.write(f"vm: compute device: {error.code.name}: {error}\n".encode(), err=True)

    # -- commands -----------------------------------------------------------------------------------
    def ring(self) -> None:
        """Run the command at DESC; STATUS/ERROR tell the guest how it went."""
        started = time.perf_counter_ns()
        self.kernel_ns = 0
        try:
            self.kernel_ns = self._run(self.desc)
            error = None
        except CommandError as exc:
            error = exc
        self.total_ns = time.perf_counter_ns() - started
        self._finish(error)

    def _run(self, addr: int) -> int:
        if addr % DESC_ALIGN or not self.memory.contains(addr, DESC_SIZE):
            raise CommandError(Error.BAD_DESCRIPTOR, f"descriptor at {addr:#x}: not {DESC_SIZE} bytes of RAM "
                               f"at an {DESC_ALIGN}-byte aligned address")
        # The copy is all that is read from here on: the guest cannot change it between check and use.
        desc = parse_descriptor(self.memory.read(addr, DESC_SIZE))
        if desc.opcode == Opcode.RUN_BUILTIN:
            return self._run_builtin(desc)
        return self._run_source(desc)

    def _buffer(self, i: int, addr: int, length: int) -> np.ndarray:
        if length > MAX_BUFFER:
            raise CommandError(Error.TOO_LARGE, f"argument {i}: {length} bytes, at most {MAX_BUFFER}", i)
        if addr + length > 1 << 64:
            raise CommandError(Error.BAD_BUFFER, f"argument {i}: [{addr:#x} + {length:#x}) wraps around", i)
        if not self.memory.contains(addr, length):
            raise CommandError(Error.BAD_BUFFER, f"argument {i}: [{addr:#x}, {addr + length:#x}) is not "
                               f"inside guest RAM [{self.memory.base:#x}, {self.memory.end:#x})", i)
        return self.memory.view(addr, length)

    def _check_total(self, desc: Descriptor) -> None:
        total = sum(length for kind, _, _, length in desc.args if kind in BUFFER_TYPES)
        if total > MAX_TOTAL:
            raise CommandError(Error.TOO_LARGE, f"buffers total {total} bytes, at most {MAX_TOTAL}")

    @staticmethod
    def _check_reserved(i: int, reserved: int, kind: int, length: int) -> None:
        if reserved or (kind in SCALAR_TYPES and length):
            raise CommandError(Error.BAD_ARG, f"argument {i}: reserved fields must be 0", i)

    def _device_or_fail(self) -> driver.Device:
        gpu = self.gpu()
        if gpu is None:
            raise CommandError(Error.NO_DEVICE, f"no host compute device (--gpu {self.options.gpu})")
        return gpu

    def _run_builtin(self, desc: Descriptor) -> int:
        if desc.source != (0, 0) or desc.name != (0, 0) or desc.work_dim:
            raise CommandError(Error.BAD_DESCRIPTOR, "source, name and work_dim must be 0 for a built-in kernel")
        if any(desc.global_size) or any(desc.local_size):
            raise CommandError(Error.BAD_LAUNCH, "a built-in kernel's launch size comes from its size "
                               "arguments; global and local must be 0")
        spec = kernels.BY_ID.get(desc.kernel)
        if spec is None:
            raise CommandError(Error.UNKNOWN_KERNEL, f"unknown built-in kernel {desc.kernel}")
        if len(desc.args) != len(spec.params):
            raise CommandError(Error.BAD_ARG_COUNT, f"{spec.name} takes {len(spec.params)} arguments, "
                               f"got {len(desc.args)}")
        self._check_total(desc)
        values: list[np.ndarray | int | float] = []
        scalars: dict[str, int | float] = {}
        for i, (param, (kind, reserved, value, length)) in enumerate(zip(spec.params, desc.args, strict=True)):
            self._check_reserved(i, reserved, kind, length)
            if param.is_buffer:
                if BUFFER_TYPES.get(kind) != param.direction:
                    raise CommandError(Error.BAD_ARG, f"{spec.name} argument {i} ({param.name}) must be an "
                                       f"{param.direction} buffer", i)
                values.append(self._buffer(i, value, length))
                continue
            if SCALAR_TYPES.get(kind) != param.dtype:
                raise CommandError(Error.BAD_ARG, f"{spec.name} argument {i} ({param.name}) must be a "
                                   f"{param.dtype} scalar", i)
            if value >> 32:
                raise CommandError(Error.BAD_ARG, f"argument {i}: a 32-bit scalar has bits above bit 31", i)
            scalar: int | float = value if param.dtype == "u32" else float(np.uint32(value).view(np.float32))
            scalars[param.name] = scalar
            values.append(scalar)
        reason = spec.limits(scalars)
        if reason:
            raise CommandError(Error.TOO_LARGE, f"{spec.name}: {reason}")
        if spec.flops(scalars) > MAX_FLOPS:
            raise CommandError(Error.TOO_LARGE, f"{spec.name}: {spec.flops(scalars)} flops, at most {MAX_FLOPS}")
        itemsize = 4                                    # every built-in buffer holds f32 or u32
        needs = spec.needs(scalars)
        for i, param in enumerate(spec.params):
            if param.is_buffer:
                need = needs[param.name] * itemsize
                have = values[i]
                assert isinstance(have, np.ndarray)
                if have.nbytes < need:
                    raise CommandError(Error.BUFFER_TOO_SMALL, f"{spec.name} argument {i} ({param.name}): "
                                       f"{have.nbytes} bytes, the kernel touches {need}", i)
        gpu = self._device_or_fail()
        try:
            timings = self.runner(gpu).run(spec.id, values)
        except GpuError as exc:
            raise CommandError(Error.KERNEL_FAILED, f"{spec.name}: {exc}") from exc
        return int(timings.kernel_s * 1e9)

    def _run_source(self, desc: Descriptor) -> int:
        from vmcli.gpu.isolated import MAX_SOURCE, BufferArg, ScalarArg, run_source

        if not self.options.allow_guest_kernels:
            raise CommandError(Error.DENIED, "kernel source from the guest needs vm run --allow-guest-kernels")
        if desc.kernel:
            raise CommandError(Error.BAD_DESCRIPTOR, "kernel must be 0 for a source kernel")
        (src, src_len), (name, name_len) = desc.source, desc.name
        if src_len > MAX_SOURCE or name_len > MAX_NAME:
            raise CommandError(Error.TOO_LARGE, f"source {src_len} bytes (at most {MAX_SOURCE}), kernel name "
                               f"{name_len} bytes (at most {MAX_NAME})")
        source = bytes(self._buffer(NO_INDEX, src, src_len))
        kernel = bytes(self._buffer(NO_INDEX, name, name_len))
        if not KERNEL_NAME.match(kernel):
            raise CommandError(Error.BAD_DESCRIPTOR, f"kernel name {kernel[:MAX_NAME]!r} is not a C identifier")
        try:
            text = source.decode("utf-8")
        except UnicodeDecodeError:
            raise CommandError(Error.BAD_DESCRIPTOR, "kernel source is not UTF-8 text") from None
        if "\0" in text:
            raise CommandError(Error.BAD_DESCRIPTOR, "kernel source contains a NUL byte")
        global_size, local_size = self._launch(desc)
        self._check_total(desc)
        args: list[BufferArg | ScalarArg] = []
        views: list[np.ndarray | None] = []
        for i, (kind, reserved, value, length) in enumerate(desc.args):
            self._check_reserved(i, reserved, kind, length)
            if kind in BUFFER_TYPES:
                view = self._buffer(i, value, length)
                args.append(BufferArg(view.data, BUFFER_TYPES[kind]))
                views.append(view)
            elif kind in SCALAR_TYPES:
                if value >> 32:
                    raise CommandError(Error.BAD_ARG, f"argument {i}: a 32-bit scalar has bits above bit 31", i)
                number: int | float = value
                if kind == ArgType.I32:
                    number = value - (1 << 32) if value >> 31 else value
                elif kind == ArgType.F32:
                    number = float(np.uint32(value).view(np.float32))
                    if number != number:        # JSON has no NaN: refuse rather than change the bits
                        raise CommandError(Error.BAD_ARG, f"argument {i}: NaN scalar", i)
                args.append(ScalarArg(number, SCALAR_TYPES[kind]))
                views.append(None)
            else:
                raise CommandError(Error.BAD_ARG, f"argument {i}: unknown argument type {kind}", i)
        from vmcli.gpu.devices import for_opencl_c

        try:
            # Guest source is OpenCL C: a device on the native cuda driver hands it to an OpenCL one.
            gpu = for_opencl_c(self._device_or_fail())
            result = run_source(text, kernel.decode(), args, global_size, local_size, device=str(gpu.index),
                                timeout_s=GUEST_KERNEL_TIMEOUT_S, cancelled=self.host.console.stopped)
        except GpuError as exc:
            raise CommandError(Error.KERNEL_FAILED, str(exc)) from exc
        for target, out in zip(views, result.outputs, strict=True):
            if target is not None and out is not None:
                target[:] = np.frombuffer(out, np.uint8)
        return int(result.kernel_s * 1e9)

    @staticmethod
    def _launch(desc: Descriptor) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
        dim = desc.work_dim
        if not 1 <= dim <= 3:
            raise CommandError(Error.BAD_LAUNCH, f"work_dim {dim}, must be 1..3")
        glob, loc = desc.global_size[:dim], desc.local_size[:dim]
        if any(desc.global_size[dim:]) or any(desc.local_size[dim:]):
            raise CommandError(Error.BAD_LAUNCH, "sizes beyond work_dim must be 0")
        if not all(glob):
            raise CommandError(Error.BAD_LAUNCH, "a global size of 0")
        if np.prod([float(g) for g in glob]) > MAX_WORK_ITEMS:
            raise CommandError(Error.TOO_LARGE, f"global size {glob}: more than {MAX_WORK_ITEMS} work items")
        if not any(loc):
            return glob, None
        if not all(loc) or any(g % v for g, v in zip(glob, loc, strict=True)):
            raise CommandError(Error.BAD_LAUNCH, f"local size {loc} must divide global size {glob}")
        if np.prod([float(v) for v in loc]) > MAX_GROUP:
            raise CommandError(Error.TOO_LARGE, f"local size {loc}: more than {MAX_GROUP} work items")
        return glob, loc


def compute_options(gpu: str | None, allow_guest_kernels: bool) -> ComputeOptions:
    """`vm run`'s --gpu/--allow-guest-kernels. A device named explicitly is looked up now, so an absent
    one is a clear error before the guest starts; the default (auto) waits for the guest's first use."""
    if gpu is not None and gpu.strip().lower() != "none":
        from vmcli.gpu.devices import select_device

        select_device(gpu)
    return ComputeOptions(gpu if gpu is not None else "auto", allow_guest_kernels)
