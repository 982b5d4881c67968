"""The `opencl` driver: every OpenCL platform through pyopencl (PoCL from pip is always there).

Imported only when a compute path runs; importing it loads pyopencl and the ICD loader. Each Device
owns one context for its one cl.Device, so two Device objects over the same hardware are two
independent contexts (the scheduler tests use that). Every pyopencl error becomes a GpuError.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np
import pyopencl as cl

from vmcli.gpu import pocl_env
from vmcli.gpu.cache import ProgramCache, program_key
from vmcli.gpu.classify import ClDescription, classify
from vmcli.gpu.driver import (
    Buffer,
    Device,
    DeviceInfo,
    Driver,
    Event,
    GpuError,
    HostArray,
    Kernel,
    Program,
    Queue,
    check_range,
    host_bytes,
)

T = TypeVar("T")

# PoCL reads its environment when the ICD loader starts it, at the first platform query.
pocl_env.pin_threads()


@contextlib.contextmanager
def _cl_errors(what: str) -> Iterator[None]:
    """Turn pyopencl's exceptions into GpuError with the operation named."""
    try:
        yield
    except cl.Error as exc:
        raise GpuError(f"opencl: {what}: {exc}") from exc


def _call(what: str, fn: Callable[[], T]) -> T:
    with _cl_errors(what):
        return fn()


class ClEvent(Event):
    def __init__(self, event: cl.Event, keep: Any = None) -> None:
        self._event = event
        self._keep = keep  # host memory an async copy reads or writes stays alive until done

    def wait(self) -> None:
        _call("wait", self._event.wait)
        self._keep = None

    def done(self) -> bool:
        status = _call("event status", lambda: self._event.command_execution_status)
        if status < 0:
            raise GpuError(f"opencl: command failed with status {status}")
        return bool(status == cl.command_execution_status.COMPLETE)

    def elapsed_s(self) -> float:
        self.wait()
        profile = self._event.profile
        return float(_call("profiling", lambda: profile.end - profile.start)) * 1e-9


class ClBuffer(Buffer):
    def __init__(self, device: ClDevice, nbytes: int) -> None:
        self.device = device
        self.context = device.context
        self.nbytes = nbytes
        self._mem: cl.Buffer | None = _call(
            f"alloc {nbytes} bytes", lambda: cl.Buffer(device.context, cl.mem_flags.READ_WRITE, nbytes))

    @property
    def mem(self) -> cl.Buffer:
        if self._mem is None:
            raise GpuError("opencl: buffer used after free")
        return self._mem

    def free(self) -> None:
        if self._mem is not None:
            mem, self._mem = self._mem, None
            _call("free", mem.release)


class ClKernel(Kernel):
    def __init__(self, program: cl.Program, name: str) -> None:
        self.name = name
        # One cl.Kernel per name: `prg.name` would build a new kernel object on every access.
        self.kernel = _call(f"kernel {name!r}", lambda: cl.Kernel(program, name))


class ClProgram(Program):
    def __init__(self, program: cl.Program) -> None:
        self._program = program
        self._kernels: dict[str, ClKernel] = {}

    def kernel(self, name: str) -> ClKernel:
        if name not in self._kernels:
            self._kernels[name] = ClKernel(self._program, name)
        return self._kernels[name]


class ClQueue(Queue):
    def __init__(self, device: ClDevice) -> None:
        self.device = device
        self.context = device.context
        props = cl.command_queue_properties.PROFILING_ENABLE
        self._queue = _call("queue", lambda: cl.CommandQueue(device.context, device.cl_device, props))

    def _range(self, buf: Buffer, offset: int, nbytes: int) -> ClBuffer:
        if not isinstance(buf, ClBuffer) or buf.context is not self.context:
            raise GpuError("opencl: buffer belongs to another device or driver")
        check_range(buf, offset, nbytes, "opencl")
        return buf

    def write(self, dst: Buffer, src: HostArray, *, offset: int = 0, blocking: bool = True) -> ClEvent:
        view = host_bytes(src, False, "opencl")
        mem = self._range(dst, offset, view.nbytes).mem
        ev = _call("write", lambda: cl.enqueue_copy(self._queue, mem, view, dst_offset=offset,
                                                    is_blocking=blocking))
        return ClEvent(ev, keep=None if blocking else view)

    def read(self, dst: HostArray, src: Buffer, *, offset: int = 0, blocking: bool = True) -> ClEvent:
        view = host_bytes(dst, True, "opencl")
        mem = self._range(src, offset, view.nbytes).mem
        ev = _call("read", lambda: cl.enqueue_copy(self._queue, view, mem, src_offset=offset,
                                                   is_blocking=blocking))
        return ClEvent(ev, keep=None if blocking else view)

    def copy(self, dst: Buffer, src: Buffer, nbytes: int | None = None, *, src_offset: int = 0,
             dst_offset: int = 0) -> ClEvent:
        n = src.nbytes - src_offset if nbytes is None else nbytes
        s = self._range(src, src_offset, n).mem
        d = self._range(dst, dst_offset, n).mem
        return ClEvent(_call("copy", lambda: cl.enqueue_copy(
            self._queue, d, s, byte_count=n, src_offset=src_offset, dst_offset=dst_offset)))

    def fill_zero(self, dst: Buffer) -> ClEvent:
        mem = self._range(dst, 0, dst.nbytes).mem
        return ClEvent(_call("fill", lambda: cl.enqueue_fill_buffer(
            self._queue, mem, np.zeros(1, np.uint8), 0, dst.nbytes)))

    def launch(self, kernel: Kernel, global_size: Sequence[int], local_size: Sequence[int] | None,
               args: Sequence[Buffer | np.generic]) -> ClEvent:
        assert isinstance(kernel, ClKernel)
        cl_args = [self._range(a, 0, 0).mem if isinstance(a, Buffer) else a for a in args]
        if local_size is not None and any(g % lo for g, lo in zip(global_size, local_size, strict=True)):
            raise GpuError(f"opencl: global size {tuple(global_size)} is not a multiple of "
                           f"local size {tuple(local_size)}")

        def enqueue() -> cl.Event:
            kernel.kernel.set_args(*cl_args)
            return cl.enqueue_nd_range_kernel(self._queue, kernel.kernel, tuple(global_size),
                                              None if local_size is None else tuple(local_size))

        return ClEvent(_call(f"launch {kernel.name}", enqueue))

    def finish(self) -> None:
        _call("finish", self._queue.finish)


class ClDevice(Device):
    def __init__(self, cl_device: cl.Device, cache: ProgramCache | None = None) -> None:
        self.cl_device = cl_device
        platform = cl_device.platform
        desc = ClDescription(platform.name, platform.vendor, cl_device.name, cl_device.vendor,
                             int(cl_device.type))
        self.info = DeviceInfo(
            kind=classify(desc), name=cl_device.name.strip(), vendor=cl_device.vendor.strip(),
            platform=platform.name.strip(), driver=f"opencl {cl_device.driver_version.strip()}",
            compute_units=int(cl_device.max_compute_units), global_mem=int(cl_device.global_mem_size),
            max_alloc=int(cl_device.max_mem_alloc_size), max_work_group=int(cl_device.max_work_group_size))
        self._cache = cache
        self._context: cl.Context | None = None
        self._programs: dict[str, ClProgram] = {}

    @property
    def context(self) -> cl.Context:
        if self._context is None:
            self._context = _call("context", lambda: cl.Context([self.cl_device]))
        return self._context

    @property
    def cache(self) -> ProgramCache:
        if self._cache is None:
            self._cache = ProgramCache()
        return self._cache

    def alloc(self, nbytes: int) -> ClBuffer:
        if not 0 < nbytes <= self.info.max_alloc:
            raise GpuError(f"opencl: cannot allocate {nbytes} bytes on {self.info.name} "
                           f"(1..{self.info.max_alloc})")
        return ClBuffer(self, nbytes)

    def queue(self) -> ClQueue:
        return ClQueue(self)

    @property
    def cache_identity(self) -> str:
        return f"{super().cache_identity}|{self.cl_device.version}"

    def compile(self, source: str, options: Sequence[str] = ()) -> ClProgram:
        if "portable computing language" in self.info.platform.lower() and shutil.which("ld") is None:
            # PoCL links each kernel with the system linker when it first runs, and aborts the
            # whole process if there is none: refuse here with a message instead.
            raise GpuError("opencl: PoCL needs the system linker `ld` to run kernels (Debian package binutils)")
        key = program_key(self.cache_identity, source, options)
        if key in self._programs:
            return self._programs[key]
        opts = " ".join(options)
        binary = self.cache.load(key)
        program = None
        if binary is not None:
            try:
                program = cl.Program(self.context, [self.cl_device], [binary]).build(opts)
            except cl.Error:
                self.cache.drop(key)   # a stale or damaged binary: rebuild from source
        if program is None:
            program = self._build_source(source, opts)
            binaries = _call("program binary", lambda: program.get_info(cl.program_info.BINARIES))
            if isinstance(binaries, list) and binaries and binaries[0]:
                self.cache.store(key, bytes(binaries[0]))
        self._programs[key] = ClProgram(program)
        return self._programs[key]

    def _build_source(self, source: str, opts: str) -> cl.Program:
        # The raw program, not cl.Program(ctx, src): that one adds pyopencl's own cache and saves
        # failing sources to temporary files.
        raw = _call("create program", lambda: cl._cl._Program(self.context, source))
        try:
            raw.build(opts.encode(), [self.cl_device])
        except cl.Error as exc:
            log = str(raw.get_build_info(self.cl_device, cl.program_build_info.LOG)).strip()
            raise GpuError(f"opencl: build failed on {self.info.name}:\n{log or exc}") from exc
        return cl.Program(raw)


class OpenClDriver(Driver):
    name = "opencl"

    def __init__(self, cache: ProgramCache | None = None) -> None:
        self._cache = cache

    def devices(self) -> list[Device]:
        try:
            platforms = cl.get_platforms()
        except cl.Error:
            # CL_PLATFORM_NOT_FOUND_KHR: an ICD loader with no vendor files.
            return []
        found: list[Device] = []
        for platform in platforms:
            try:
                cl_devices = platform.get_devices()
            except cl.Error:
                continue   # a platform with no devices raises CL_DEVICE_NOT_FOUND
            found.extend(ClDevice(d, self._cache) for d in cl_devices)
        return found
