"""The `cuda` driver: NVIDIA GPUs through the CUDA driver API and NVRTC (cuda-python's cuda-bindings,
the optional extra `vmcli[cuda]`), for machines with no NVIDIA OpenCL platform.

Imported only when a compute path runs. Each Device uses its GPU's primary context (the one the CUDA
runtime, CuPy and PyTorch share) and makes it current before every call, so any thread may drive
it. A Queue is a stream; an Event is a pair of CUDA events around one command, whose elapsed time is
the command's device time. Programs are CUDA C compiled by NVRTC to a CUBIN for the device's exact
architecture (PTX for the newest NVRTC knows when the device is newer than NVRTC), cached on disk.
Every CUDA or NVRTC error becomes a GpuError naming the call and the driver's error string.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from cuda.bindings import driver as cu
from cuda.bindings import nvrtc

from vmcli.gpu.cache import ProgramCache, program_key
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

OK = cu.CUresult.CUDA_SUCCESS
NOT_READY = cu.CUresult.CUDA_ERROR_NOT_READY
ATTR = cu.CUdevice_attribute
MAX_BLOCK = (1024, 1024, 64)                 # blockDim limits per dimension
MAX_GRID = ((1 << 31) - 1, 65535, 65535)     # gridDim limits per dimension
DEFAULT_BLOCK = 256                          # threads a block gets when the caller names no local size
# Kernel argument types a launch accepts, as the kernel's C parameter types.
SCALARS = (np.uint32, np.int32, np.float32, np.uint64, np.int64, np.float64)


def _error_text(err: Any) -> str:
    if isinstance(err, cu.CUresult):
        got, text = cu.cuGetErrorString(err)
        return text.decode() if got == OK and text else err.name
    if isinstance(err, nvrtc.nvrtcResult):
        got, text = nvrtc.nvrtcGetErrorString(err)
        return text.decode() if got == nvrtc.nvrtcResult.NVRTC_SUCCESS and text else err.name
    return str(err)


def _check(what: str, result: tuple[Any, ...]) -> Any:
    """The value(s) after a (status, values...) tuple; a failing status is a GpuError."""
    err, *values = result
    if err not in (OK, nvrtc.nvrtcResult.NVRTC_SUCCESS):
        raise GpuError(f"cuda: {what}: {_error_text(err)}")
    return values[0] if len(values) == 1 else tuple(values) if values else None


class CuEvent(Event):
    """CUDA events recorded before and after one command on its stream."""

    def __init__(self, device: CudaDevice, start: Any, end: Any, keep: Any = None) -> None:
        self._device = device
        self._start, self._end = start, end
        self._keep = keep   # host memory an async copy reads or writes stays alive until done

    def wait(self) -> None:
        self._device.make_current()
        _check("wait", cu.cuEventSynchronize(self._end))
        self._keep = None

    def done(self) -> bool:
        self._device.make_current()
        (err,) = cu.cuEventQuery(self._end)
        if err == NOT_READY:
            return False
        _check("event status", (err,))
        self._keep = None
        return True

    def elapsed_s(self) -> float:
        self.wait()
        return float(_check("elapsed time", cu.cuEventElapsedTime(self._start, self._end))) * 1e-3

    def __del__(self) -> None:
        # Destroying an event whose command is still queued is allowed: CUDA releases it once done.
        with contextlib.suppress(Exception):   # at interpreter exit the bindings may be gone
            for ev in (self._start, self._end):
                cu.cuEventDestroy(ev)


class CuBuffer(Buffer):
    device: CudaDevice

    def __init__(self, device: CudaDevice, nbytes: int) -> None:
        self.device = device
        self.nbytes = nbytes
        device.make_current()
        self._ptr: int | None = int(_check(f"alloc {nbytes} bytes", cu.cuMemAlloc(nbytes)))

    @property
    def ptr(self) -> int:
        if self._ptr is None:
            raise GpuError("cuda: buffer used after free")
        return self._ptr

    def free(self) -> None:
        if self._ptr is not None:
            ptr, self._ptr = self._ptr, None
            self.device.make_current()
            _check("free", cu.cuMemFree(ptr))

    def __del__(self) -> None:
        # Device memory nobody freed goes back with its last reference (pyopencl buffers do the same).
        with contextlib.suppress(Exception):
            self.free()


class CuKernel(Kernel):
    def __init__(self, function: Any, name: str) -> None:
        self.name = name
        self.function = function


class CuProgram(Program):
    def __init__(self, device: CudaDevice, module: Any) -> None:
        self._device = device
        self._module = module
        self._kernels: dict[str, CuKernel] = {}

    def kernel(self, name: str) -> CuKernel:
        if name not in self._kernels:
            self._device.make_current()
            fn = _check(f"kernel {name!r}", cu.cuModuleGetFunction(self._module, name.encode()))
            self._kernels[name] = CuKernel(fn, name)
        return self._kernels[name]


def block_shape(global_size: Sequence[int], budget: int = DEFAULT_BLOCK) -> tuple[int, ...]:
    """A block for a launch whose caller named no local size: per dimension the largest divisor of
    the global size that fits what is left of `budget` threads (the grid must cover it exactly)."""
    shape = []
    for g, limit in zip(global_size, MAX_BLOCK, strict=False):
        b = min(g, limit, budget)
        while b > 1 and g % b:
            b -= 1
        shape.append(max(b, 1))
        budget //= max(b, 1)
    return tuple(shape)


class CuQueue(Queue):
    device: CudaDevice

    def __init__(self, device: CudaDevice) -> None:
        self.device = device
        device.make_current()
        self._stream = _check("stream", cu.cuStreamCreate(cu.CUstream_flags.CU_STREAM_NON_BLOCKING.value))

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            cu.cuStreamDestroy(self._stream)

    def _buffer(self, buf: Buffer, offset: int, nbytes: int) -> int:
        if not isinstance(buf, CuBuffer) or buf.device is not self.device:
            raise GpuError("cuda: buffer belongs to another device or driver")
        check_range(buf, offset, nbytes, "cuda")
        return buf.ptr + offset

    def _command(self, what: str, enqueue: Any, keep: Any = None, blocking: bool = False) -> CuEvent:
        self.device.make_current()
        start = _check("event", cu.cuEventCreate(cu.CUevent_flags.CU_EVENT_DEFAULT.value))
        end = _check("event", cu.cuEventCreate(cu.CUevent_flags.CU_EVENT_DEFAULT.value))
        event = CuEvent(self.device, start, end, keep)
        _check("event record", cu.cuEventRecord(start, self._stream))
        _check(what, enqueue())
        _check("event record", cu.cuEventRecord(end, self._stream))
        if blocking:
            event.wait()
        return event

    def write(self, dst: Buffer, src: HostArray, *, offset: int = 0, blocking: bool = True) -> CuEvent:
        view = host_bytes(src, False, "cuda")
        ptr = self._buffer(dst, offset, view.nbytes)
        return self._command("write", lambda: cu.cuMemcpyHtoDAsync(ptr, view.ctypes.data, view.nbytes,
                                                                   self._stream),
                             keep=view, blocking=blocking)

    def read(self, dst: HostArray, src: Buffer, *, offset: int = 0, blocking: bool = True) -> CuEvent:
        view = host_bytes(dst, True, "cuda")
        ptr = self._buffer(src, offset, view.nbytes)
        return self._command("read", lambda: cu.cuMemcpyDtoHAsync(view.ctypes.data, ptr, view.nbytes,
                                                                  self._stream),
                             keep=view, blocking=blocking)

    def copy(self, dst: Buffer, src: Buffer, nbytes: int | None = None, *, src_offset: int = 0,
             dst_offset: int = 0) -> CuEvent:
        n = src.nbytes - src_offset if nbytes is None else nbytes
        s = self._buffer(src, src_offset, n)
        d = self._buffer(dst, dst_offset, n)
        return self._command("copy", lambda: cu.cuMemcpyDtoDAsync(d, s, n, self._stream))

    def fill_zero(self, dst: Buffer) -> CuEvent:
        ptr = self._buffer(dst, 0, dst.nbytes)
        return self._command("fill", lambda: cu.cuMemsetD8Async(ptr, 0, dst.nbytes, self._stream))

    def launch(self, kernel: Kernel, global_size: Sequence[int], local_size: Sequence[int] | None,
               args: Sequence[Buffer | np.generic]) -> CuEvent:
        if not isinstance(kernel, CuKernel):
            raise GpuError("cuda: kernel belongs to another driver")
        if not 1 <= len(global_size) <= 3 or (local_size is not None and len(local_size) != len(global_size)):
            raise GpuError(f"cuda: launch sizes {tuple(global_size)} / {local_size} must have 1 to 3 "
                           "matching dimensions")
        block = tuple(local_size) if local_size is not None else block_shape(global_size)
        if any(b < 1 or g % b for g, b in zip(global_size, block, strict=True)):
            raise GpuError(f"cuda: global size {tuple(global_size)} is not a multiple of "
                           f"local size {block}")
        threads = int(np.prod(block))
        if threads > self.device.info.max_work_group or any(b > m for b, m in zip(block, MAX_BLOCK, strict=False)):
            raise GpuError(f"cuda: local size {block} is over the device's limit "
                           f"({self.device.info.max_work_group} threads)")
        grid = tuple(g // b for g, b in zip(global_size, block, strict=True))
        if any(n > m for n, m in zip(grid, MAX_GRID, strict=False)):
            raise GpuError(f"cuda: launch of {tuple(global_size)} needs {grid} blocks, over CUDA's grid limit")
        grid3 = (*grid, 1, 1)[:3]
        block3 = (*block, 1, 1)[:3]
        # kernelParams: an array of pointers, each to one argument's bytes (kept alive by `values`).
        values = [np.array([self._buffer(a, 0, 0)], np.uint64) if isinstance(a, Buffer) else _scalar(a)
                  for a in args]
        params = np.array([v.ctypes.data for v in values], np.uint64)
        return self._command(f"launch {kernel.name}", lambda: cu.cuLaunchKernel(
            kernel.function, *grid3, *block3, 0, self._stream, params.ctypes.data, 0), keep=(values, params))

    def finish(self) -> None:
        self.device.make_current()
        _check("finish", cu.cuStreamSynchronize(self._stream))


def _scalar(value: np.generic) -> np.ndarray:
    if not isinstance(value, SCALARS):
        raise GpuError(f"cuda: kernel argument {value!r} is neither a buffer nor a numpy scalar of "
                       f"{', '.join(t.__name__ for t in SCALARS)}")
    return np.array([value])


def _nvrtc_log(prog: Any) -> str:
    size = _check("build log size", nvrtc.nvrtcGetProgramLogSize(prog))
    log = b" " * size
    _check("build log", nvrtc.nvrtcGetProgramLog(prog, log))
    return log.rstrip(b"\0").decode(errors="replace").strip()


class CudaDevice(Device):
    dialect = "cuda"

    def __init__(self, ordinal: int, cache: ProgramCache | None = None) -> None:
        self.ordinal = ordinal
        self._dev = _check("device", cu.cuDeviceGet(ordinal))

        def attr(a: Any) -> int:
            return int(_check("device attribute", cu.cuDeviceGetAttribute(a, self._dev)))

        self.capability = (attr(ATTR.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
                           attr(ATTR.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR))
        name = _check("device name", cu.cuDeviceGetName(256, self._dev)).split(b"\0", 1)[0].decode()
        memory = int(_check("device memory", cu.cuDeviceTotalMem(self._dev)))
        version = int(_check("driver version", cu.cuDriverGetVersion()))
        self.info = DeviceInfo(
            kind="cuda", name=name, vendor="NVIDIA Corporation", platform="CUDA",
            driver=f"cuda {version // 1000}.{version % 1000 // 10}",
            compute_units=attr(ATTR.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT), global_mem=memory,
            max_alloc=memory, max_work_group=attr(ATTR.CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK))
        self._cache = cache
        self._context: Any = None
        self._programs: dict[str, CuProgram] = {}

    def make_current(self) -> None:
        if self._context is None:
            self._context = _check("context", cu.cuDevicePrimaryCtxRetain(self._dev))
        _check("context", cu.cuCtxSetCurrent(self._context))

    @property
    def cache(self) -> ProgramCache:
        if self._cache is None:
            self._cache = ProgramCache()
        return self._cache

    @property
    def cache_identity(self) -> str:
        major, minor = nvrtc_version()
        return f"{super().cache_identity}|sm_{self.capability[0]}{self.capability[1]}|nvrtc {major}.{minor}"

    def alloc(self, nbytes: int) -> CuBuffer:
        if not 0 < nbytes <= self.info.max_alloc:
            raise GpuError(f"cuda: cannot allocate {nbytes} bytes on {self.info.name} "
                           f"(1..{self.info.max_alloc})")
        return CuBuffer(self, nbytes)

    def queue(self) -> CuQueue:
        return CuQueue(self)

    def compile(self, source: str, options: Sequence[str] = ()) -> CuProgram:
        key = program_key(self.cache_identity, source, options)
        if key in self._programs:
            return self._programs[key]
        self.make_current()
        module = None
        binary = self.cache.load(key)
        if binary is not None:
            err, loaded = cu.cuModuleLoadData(binary)
            if err == OK:
                module = loaded
            else:
                self.cache.drop(key)   # a stale or damaged binary: rebuild from source
        if module is None:
            binary = self._build(source, options)
            module = _check(f"load module on {self.info.name}", cu.cuModuleLoadData(binary))
            self.cache.store(key, binary)
        self._programs[key] = CuProgram(self, module)
        return self._programs[key]

    def _target(self) -> tuple[str, bool]:
        """NVRTC's -arch value and whether it gives a CUBIN (else PTX for the driver to finish)."""
        cc = self.capability[0] * 10 + self.capability[1]
        archs = [int(a) for a in _check("supported architectures", nvrtc.nvrtcGetSupportedArchs())]
        if cc in archs:
            return f"sm_{cc}", True
        below = [a for a in archs if a <= cc]
        if not below:
            raise GpuError(f"cuda: NVRTC {nvrtc_version()} cannot build for sm_{cc} ({self.info.name})")
        return f"compute_{max(below)}", False

    def _build(self, source: str, options: Sequence[str]) -> bytes:
        arch, cubin = self._target()
        prog = _check("create program", nvrtc.nvrtcCreateProgram(source.encode(), b"library.cu", 0, [], []))
        try:
            opts = [f"-arch={arch}".encode(), *(o.encode() for o in options)]
            (err,) = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
            if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
                raise GpuError(f"cuda: build failed on {self.info.name}:\n{_nvrtc_log(prog) or _error_text(err)}")
            if cubin:
                size = _check("cubin size", nvrtc.nvrtcGetCUBINSize(prog))
                out = b" " * size
                _check("cubin", nvrtc.nvrtcGetCUBIN(prog, out))
            else:
                size = _check("ptx size", nvrtc.nvrtcGetPTXSize(prog))
                out = b" " * size
                _check("ptx", nvrtc.nvrtcGetPTX(prog, out))
            return out
        finally:
            nvrtc.nvrtcDestroyProgram(prog)


def nvrtc_version() -> tuple[int, int]:
    """NVRTC's version; the first NVRTC call a compile makes, so a missing library is reported here."""
    try:
        major, minor = _check("nvrtc version", nvrtc.nvrtcVersion())
    except RuntimeError as exc:   # cuda-bindings cannot load libnvrtc (raised as a RuntimeError subclass)
        raise GpuError(f"cuda: NVRTC is needed to build kernels (pip install 'vmcli[cuda]'): {exc}") from exc
    return int(major), int(minor)


class CudaDriver(Driver):
    name = "cuda"

    def __init__(self, cache: ProgramCache | None = None) -> None:
        self._cache = cache

    def devices(self) -> list[Device]:
        return [CudaDevice(i, self._cache) for i in range(device_count())]


def device_count() -> int:
    """NVIDIA GPUs the CUDA driver sees; a GpuError says why there is none usable (no libcuda, no
    device, a driver older than the bindings)."""
    try:
        (err,) = cu.cuInit(0)
    except RuntimeError as exc:   # cuda-bindings raises this when libcuda.so.1 will not load
        raise GpuError(f"cuda: {exc}") from exc
    if err == cu.CUresult.CUDA_ERROR_NO_DEVICE:
        return 0
    _check("init", (err,))
    return int(_check("device count", cu.cuDeviceGetCount()))
