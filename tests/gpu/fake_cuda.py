"""A stand-in for cuda-bindings' `driver` and `nvrtc` modules, written from the CUDA driver API and
NVRTC documentation, so that vmcli/gpu/cuda.py runs without a GPU: every call it makes up to the
driver (argument packing, grid and block shapes, copies, NVRTC's options and outputs, the cache,
error mapping) is exercised; only the hardware is missing.

Device memory is host memory (its address is the "device pointer"), so copies are memmoves. A launch
runs the one kernel it knows, `twice` (y[i] = 2 x[i] for i < n), over the grid and block it was given,
reading its arguments through the kernelParams array exactly as the hardware would: a wrong pointer,
a wrong scalar width or a grid that misses elements shows in the result.
"""

from __future__ import annotations

import ctypes
import re
import types
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any


class CUresult(IntEnum):
    CUDA_SUCCESS = 0
    CUDA_ERROR_INVALID_VALUE = 1
    CUDA_ERROR_OUT_OF_MEMORY = 2
    CUDA_ERROR_NO_DEVICE = 100
    CUDA_ERROR_INVALID_IMAGE = 200
    CUDA_ERROR_NOT_FOUND = 500
    CUDA_ERROR_NOT_READY = 600
    CUDA_ERROR_LAUNCH_FAILED = 719


ERROR_STRINGS = {CUresult.CUDA_ERROR_INVALID_VALUE: b"invalid argument",
                 CUresult.CUDA_ERROR_OUT_OF_MEMORY: b"out of memory",
                 CUresult.CUDA_ERROR_NO_DEVICE: b"no CUDA-capable device is detected",
                 CUresult.CUDA_ERROR_INVALID_IMAGE: b"device kernel image is invalid",
                 CUresult.CUDA_ERROR_NOT_FOUND: b"named symbol not found",
                 CUresult.CUDA_ERROR_LAUNCH_FAILED: b"unspecified launch failure"}


class CUdevice_attribute(IntEnum):  # noqa: N801 (the binding's own name)
    CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1
    CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76


class CUstream_flags(Enum):  # noqa: N801
    CU_STREAM_DEFAULT = 0
    CU_STREAM_NON_BLOCKING = 1


class CUevent_flags(Enum):  # noqa: N801
    CU_EVENT_DEFAULT = 0


class nvrtcResult(IntEnum):  # noqa: N801
    NVRTC_SUCCESS = 0
    NVRTC_ERROR_COMPILATION = 6


@dataclass
class Launch:
    kernel: str
    grid: tuple[int, int, int]
    block: tuple[int, int, int]


@dataclass
class FakeGpu:
    """What the fake driver reports and what it saw."""

    count: int = 1
    capability: tuple[int, int] = (8, 9)
    memory: int = 8 << 30
    archs: tuple[int, ...] = (50, 60, 70, 75, 80, 86, 89, 90)
    launches: list[Launch] = field(default_factory=list)
    compiles: list[list[bytes]] = field(default_factory=list)      # NVRTC options of each compile
    loaded: list[bytes] = field(default_factory=list)              # images given to cuModuleLoadData
    allocations: dict[int, ctypes.Array[ctypes.c_char]] = field(default_factory=dict)
    fail: dict[str, CUresult] = field(default_factory=dict)        # call name -> error it returns


def modules(gpu: FakeGpu) -> tuple[types.ModuleType, types.ModuleType]:
    """(driver, nvrtc) module objects over `gpu`."""
    ok = CUresult.CUDA_SUCCESS
    driver = types.ModuleType("cuda.bindings.driver")
    nvrtc = types.ModuleType("cuda.bindings.nvrtc")
    for enum in (CUresult, CUdevice_attribute, CUstream_flags, CUevent_flags):
        setattr(driver, enum.__name__, enum)
    nvrtc.nvrtcResult = nvrtcResult  # type: ignore[attr-defined]

    def call(name: str, *values: Any) -> tuple[Any, ...]:
        # On failure the binding still returns a slot per output value, holding None.
        if name in gpu.fail:
            return (gpu.fail[name], *[None] * len(values))
        return (ok, *values)

    def attribute(attr: CUdevice_attribute, dev: int) -> tuple[Any, ...]:
        values = {CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: 1024,
                  CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: 132,
                  CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: gpu.capability[0],
                  CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: gpu.capability[1]}
        return call("cuDeviceGetAttribute", values[attr])

    def alloc(nbytes: int) -> tuple[Any, ...]:
        if nbytes > gpu.memory:
            return (CUresult.CUDA_ERROR_OUT_OF_MEMORY, None)
        block = ctypes.create_string_buffer(nbytes)
        gpu.allocations[ctypes.addressof(block)] = block
        return call("cuMemAlloc", ctypes.addressof(block))

    def free(ptr: int) -> tuple[Any, ...]:
        if gpu.allocations.pop(ptr, None) is None:
            return (CUresult.CUDA_ERROR_INVALID_VALUE,)
        return (ok,)

    def memmove(dst: int, src: int, nbytes: int, stream: Any) -> tuple[Any, ...]:
        ctypes.memmove(dst, src, nbytes)
        return (ok,)

    def memset(ptr: int, value: int, nbytes: int, stream: Any) -> tuple[Any, ...]:
        ctypes.memset(ptr, value, nbytes)
        return (ok,)

    def load(image: bytes) -> tuple[Any, ...]:
        gpu.loaded.append(bytes(image))
        if not image.startswith((b"CUBIN ", b"PTX ")):
            return (CUresult.CUDA_ERROR_INVALID_IMAGE, None)
        return (ok, set(image.split(b" ", 1)[1].decode().split()))

    def function(module: set[str], name: bytes) -> tuple[Any, ...]:
        return (ok, name.decode()) if name.decode() in module else (CUresult.CUDA_ERROR_NOT_FOUND, None)

    def launch(fn: str, gx: int, gy: int, gz: int, bx: int, by: int, bz: int, shared: int, stream: Any,
               params: int, extra: int) -> tuple[Any, ...]:
        gpu.launches.append(Launch(fn, (gx, gy, gz), (bx, by, bz)))
        if "cuLaunchKernel" in gpu.fail:
            return (gpu.fail["cuLaunchKernel"],)
        pointers = (ctypes.c_uint64 * 3).from_address(params)
        x = ctypes.c_uint64.from_address(pointers[0]).value
        y = ctypes.c_uint64.from_address(pointers[1]).value
        n = ctypes.c_uint32.from_address(pointers[2]).value
        xs, ys = (ctypes.c_float * n).from_address(x), (ctypes.c_float * n).from_address(y)
        for i in range(gx * bx):                            # every thread of a 1-D launch
            if i < n:
                ys[i] = 2.0 * xs[i]
        return (ok,)

    driver.cuInit = lambda flags: (call("cuInit") if gpu.count else (CUresult.CUDA_ERROR_NO_DEVICE,))  # type: ignore[attr-defined]
    driver.cuDeviceGetCount = lambda: call("cuDeviceGetCount", gpu.count)  # type: ignore[attr-defined]
    driver.cuDeviceGet = lambda ordinal: call("cuDeviceGet", ordinal)  # type: ignore[attr-defined]
    driver.cuDeviceGetAttribute = attribute  # type: ignore[attr-defined]
    driver.cuDeviceGetName = lambda size, dev: call("cuDeviceGetName", b"Fake GPU".ljust(size, b"\0"))  # type: ignore[attr-defined]
    driver.cuDeviceTotalMem = lambda dev: call("cuDeviceTotalMem", gpu.memory)  # type: ignore[attr-defined]
    driver.cuDriverGetVersion = lambda: call("cuDriverGetVersion", 12080)  # type: ignore[attr-defined]
    driver.cuDevicePrimaryCtxRetain = lambda dev: call("cuDevicePrimaryCtxRetain", f"ctx{dev}")  # type: ignore[attr-defined]
    driver.cuCtxSetCurrent = lambda ctx: call("cuCtxSetCurrent")  # type: ignore[attr-defined]
    driver.cuGetErrorString = lambda err: (ok, ERROR_STRINGS.get(err, b"unknown error"))  # type: ignore[attr-defined]
    driver.cuMemAlloc = alloc  # type: ignore[attr-defined]
    driver.cuMemFree = free  # type: ignore[attr-defined]
    driver.cuMemcpyHtoDAsync = memmove  # type: ignore[attr-defined]
    driver.cuMemcpyDtoHAsync = memmove  # type: ignore[attr-defined]
    driver.cuMemcpyDtoDAsync = memmove  # type: ignore[attr-defined]
    driver.cuMemsetD8Async = memset  # type: ignore[attr-defined]
    driver.cuStreamCreate = lambda flags: call("cuStreamCreate", "stream")  # type: ignore[attr-defined]
    driver.cuStreamDestroy = lambda stream: (ok,)  # type: ignore[attr-defined]
    driver.cuStreamSynchronize = lambda stream: (ok,)  # type: ignore[attr-defined]
    driver.cuEventCreate = lambda flags: call("cuEventCreate", object())  # type: ignore[attr-defined]
    driver.cuEventRecord = lambda ev, stream: (ok,)  # type: ignore[attr-defined]
    driver.cuEventSynchronize = lambda ev: (ok,)  # type: ignore[attr-defined]
    driver.cuEventQuery = lambda ev: (ok,)  # type: ignore[attr-defined]
    driver.cuEventElapsedTime = lambda start, end: (ok, 0.25)  # type: ignore[attr-defined]
    driver.cuEventDestroy = lambda ev: (ok,)  # type: ignore[attr-defined]
    driver.cuModuleLoadData = load  # type: ignore[attr-defined]
    driver.cuModuleGetFunction = function  # type: ignore[attr-defined]
    driver.cuLaunchKernel = launch  # type: ignore[attr-defined]

    programs: dict[int, dict[str, Any]] = {}
    nok = nvrtcResult.NVRTC_SUCCESS

    def write_into(buffer: bytes, data: bytes) -> None:
        # NVRTC fills the caller's buffer in place, as the binding's C call does
        ctypes.memmove(ctypes.c_char_p(buffer), data, len(data))

    def create(source: bytes, name: bytes, headers: int, includes: list[Any], names: list[Any]) -> tuple[Any, ...]:
        handle = len(programs) + 1
        programs[handle] = {"source": source, "log": b"", "out": b""}
        return (nok, handle)

    def compile_(handle: int, count: int, options: list[bytes]) -> tuple[Any, ...]:
        program = programs[handle]
        gpu.compiles.append(list(options))
        if b"undefined_name" in program["source"]:
            program["log"] = b'library.cu(1): error: identifier "undefined_name" is undefined\n\0'
            return (nvrtcResult.NVRTC_ERROR_COMPILATION,)
        kernels = " ".join(re.findall(r"__global__\s+void\s+(\w+)", program["source"].decode()))
        arch = next(o for o in options if o.startswith(b"-arch="))
        program["out"] = (b"CUBIN " if arch.startswith(b"-arch=sm_") else b"PTX ") + kernels.encode()
        return (nok,)

    nvrtc.nvrtcVersion = lambda: (nok, 12, 8)  # type: ignore[attr-defined]
    nvrtc.nvrtcGetSupportedArchs = lambda: (nok, list(gpu.archs))  # type: ignore[attr-defined]
    nvrtc.nvrtcGetErrorString = lambda err: (nok, nvrtcResult(err).name.encode())  # type: ignore[attr-defined]
    nvrtc.nvrtcCreateProgram = create  # type: ignore[attr-defined]
    nvrtc.nvrtcCompileProgram = compile_  # type: ignore[attr-defined]
    nvrtc.nvrtcDestroyProgram = lambda handle: (nok,)  # type: ignore[attr-defined]
    nvrtc.nvrtcGetProgramLogSize = lambda h: (nok, len(programs[h]["log"]))  # type: ignore[attr-defined]
    nvrtc.nvrtcGetProgramLog = lambda h, buf: (write_into(buf, programs[h]["log"]), nok)[1:]  # type: ignore[attr-defined]
    nvrtc.nvrtcGetCUBINSize = lambda h: (nok, len(programs[h]["out"]))  # type: ignore[attr-defined]
    nvrtc.nvrtcGetCUBIN = lambda h, buf: (write_into(buf, programs[h]["out"]), nok)[1:]  # type: ignore[attr-defined]
    nvrtc.nvrtcGetPTXSize = lambda h: (nok, len(programs[h]["out"]))  # type: ignore[attr-defined]
    nvrtc.nvrtcGetPTX = lambda h, buf: (write_into(buf, programs[h]["out"]), nok)[1:]  # type: ignore[attr-defined]
    return driver, nvrtc
