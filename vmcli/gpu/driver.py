"""The compute abstraction every driver implements: Driver -> Device -> Buffer / Program / Kernel /
Queue / Event, and the one exception type (`GpuError`) that every driver failure becomes.

The shape follows OpenCL and the CUDA driver API at once (grunnur/reikna do the same), so that one
driver maps each call to one native call: a Queue is an OpenCL command queue or a CUDA stream, an
Event an OpenCL event or a CUDA event pair, a Program an OpenCL program or an NVRTC module. Nothing
here imports a vendor library; drivers import theirs lazily.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from vmcli.errors import VmError

# What a device is, for `--gpu KIND` and for `auto`'s preference (first present wins).
Kind = Literal["cuda", "rocm", "npu", "gpu", "cpu"]
KINDS: tuple[Kind, ...] = ("cuda", "rocm", "npu", "gpu", "cpu")

# Host memory a copy reads or writes: a numpy array or a buffer-protocol object (writable for reads).
HostArray = np.ndarray | memoryview | bytearray | bytes


class GpuError(VmError):
    """Every driver failure (no device, out of memory, build error with its log, bad launch)."""


def host_bytes(host: HostArray, writable: bool, driver: str) -> np.ndarray:
    """A flat byte view of a numpy array or buffer-protocol object (no copy), for a copy to read or
    (`writable`) write."""
    if isinstance(host, np.ndarray):
        if not host.flags.c_contiguous:
            raise GpuError(f"{driver}: host array must be C-contiguous")
        view = host.reshape(-1).view(np.uint8)
    else:
        view = np.frombuffer(host, dtype=np.uint8)
    if writable and not view.flags.writeable:
        raise GpuError(f"{driver}: destination host memory is read-only")
    return view


def check_range(buf: Buffer, offset: int, nbytes: int, driver: str) -> None:
    """Refuse a copy that would reach outside `buf`."""
    if offset < 0 or nbytes < 0 or offset + nbytes > buf.nbytes:
        raise GpuError(f"{driver}: range {offset}+{nbytes} outside a {buf.nbytes}-byte buffer")


@dataclass(frozen=True)
class DeviceInfo:
    """What `vm gpu list` shows and what selection matches on."""

    kind: Kind
    name: str
    vendor: str
    platform: str          # OpenCL platform name, or "CUDA" for a native driver
    driver: str            # driver name in vmcli ("opencl") and the vendor's driver version
    compute_units: int
    global_mem: int        # bytes
    max_alloc: int         # largest single buffer, bytes
    max_work_group: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Event(ABC):
    """A command's completion; profiling times come from the device's own clock."""

    @abstractmethod
    def wait(self) -> None: ...

    @abstractmethod
    def done(self) -> bool:
        """True once the command finished; never blocks (the scheduler polls it)."""

    @abstractmethod
    def elapsed_s(self) -> float:
        """Device time from the command's start to its end, in seconds (waits for it first)."""


class Buffer(ABC):
    """Device memory of `nbytes` bytes; `free()` releases it early, later use is a GpuError."""

    nbytes: int
    device: Device

    @abstractmethod
    def free(self) -> None: ...


class Kernel(ABC):
    name: str


class Program(ABC):
    @abstractmethod
    def kernel(self, name: str) -> Kernel: ...


class Queue(ABC):
    """An in-order command queue (CUDA: a stream) on one device."""

    device: Device

    @abstractmethod
    def write(self, dst: Buffer, src: HostArray, *, offset: int = 0, blocking: bool = True) -> Event:
        """Host -> device; with blocking=False `src` must stay unchanged until the event is done."""

    @abstractmethod
    def read(self, dst: HostArray, src: Buffer, *, offset: int = 0, blocking: bool = True) -> Event:
        """Device -> host into the writable `dst`."""

    @abstractmethod
    def copy(self, dst: Buffer, src: Buffer, nbytes: int | None = None, *, src_offset: int = 0,
             dst_offset: int = 0) -> Event:
        """Device -> device on this queue's device."""

    @abstractmethod
    def fill_zero(self, dst: Buffer) -> Event: ...

    @abstractmethod
    def launch(self, kernel: Kernel, global_size: Sequence[int], local_size: Sequence[int] | None,
               args: Sequence[Buffer | np.generic]) -> Event:
        """Run `kernel` over `global_size` work items (a multiple of `local_size` when given). Sizes
        count work items in every driver; a CUDA driver launches global/local blocks of local."""

    @abstractmethod
    def finish(self) -> None: ...


class Device(ABC):
    """One compute device; `index` is its place in vmcli.gpu.devices.list_devices()."""

    info: DeviceInfo
    index: int = -1
    dialect: Literal["opencl", "cuda"] = "opencl"   # the C dialect compile() takes

    @abstractmethod
    def alloc(self, nbytes: int) -> Buffer: ...

    @abstractmethod
    def queue(self) -> Queue:
        """A new queue with profiling on."""

    @abstractmethod
    def compile(self, source: str, options: Sequence[str] = ()) -> Program:
        """Build `source` (through the on-disk program cache); a failed build raises GpuError with
        the compiler's log."""

    @property
    def cache_identity(self) -> str:
        """What makes a compiled binary valid for this device (driver, platform, device, version)."""
        i = self.info
        return f"{i.driver}|{i.platform}|{i.vendor}|{i.name}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} #{self.index} {self.info.kind} {self.info.name!r}>"


class Driver(ABC):
    """A backend (opencl, cuda): says whether it can run here and enumerates its devices."""

    name: str

    @abstractmethod
    def devices(self) -> list[Device]: ...
