"""Test helpers: PoCL's device with a given cache, and fake devices that only describe themselves."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import pytest
from toolcheck import IN_CI

from vmcli.gpu.cache import ProgramCache
from vmcli.gpu.driver import Buffer, Device, DeviceInfo, Kind, Program, Queue
from vmcli.gpu.opencl import ClDevice, OpenClDriver

# A kernel y = 2x in each dialect, and one that fails to build.
TWICE = {
    "opencl": """
__kernel void twice(__global const float *x, __global float *y, uint n)
{
    uint i = get_global_id(0);
    if (i < n) y[i] = 2.0f * x[i];
}
""",
    "cuda": """
extern "C" __global__ void twice(const float *x, float *y, unsigned int n)
{
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = 2.0f * x[i];
}
""",
}
BAD = {"opencl": "__kernel void k(__global float *x) { x[0] = undefined_name + 1; }",
       "cuda": 'extern "C" __global__ void k(float *x) { x[0] = undefined_name + 1; }'}


def pocl_device(cache: ProgramCache) -> ClDevice:
    for d in OpenClDriver(cache).devices():
        if d.info.platform == "Portable Computing Language":
            assert isinstance(d, ClDevice)
            return d
    raise AssertionError("PoCL (pocl-binary-distribution) is not installed: it is a test dependency")


def nvidia_gpu_present() -> bool:
    """Whether the kernel shows an NVIDIA GPU (its driver's /proc entries or device nodes)."""
    return Path("/proc/driver/nvidia/gpus").is_dir() or any(Path("/dev").glob("nvidia[0-9]*"))


def cuda_unavailable(reason: str) -> NoReturn:
    """Skip where the machine has no NVIDIA GPU (CI machines); where it has one, a test that cannot
    reach it is a failure under CI=true, like a skipped integration test (tests/conftest.py)."""
    if nvidia_gpu_present() and IN_CI:
        pytest.fail(f"this machine has an NVIDIA GPU, but {reason}")
    pytest.skip(reason)


def cuda_device(cache: ProgramCache) -> Device:
    """The first GPU of the native cuda driver. Machines without an NVIDIA GPU skip the test (the
    cuda driver's logic runs there on fake bindings, test_gpu_cuda_fake.py)."""
    if importlib.util.find_spec("cuda") is None or importlib.util.find_spec("cuda.bindings") is None:
        cuda_unavailable("the cuda driver needs cuda-bindings (pip install 'vmcli[cuda]')")
    from vmcli.gpu.cuda import CudaDriver
    from vmcli.gpu.driver import GpuError

    try:
        devices = CudaDriver(cache).devices()
    except GpuError as exc:
        cuda_unavailable(f"no CUDA device: {exc}")
    if not devices:
        cuda_unavailable("no CUDA device: the CUDA driver reports none")
    return devices[0]


class FakeDevice(Device):
    def __init__(self, kind: Kind, name: str, index: int, compute_units: int = 4) -> None:
        self.info = DeviceInfo(kind=kind, name=name, vendor="fake", platform="fake", driver="fake",
                               compute_units=compute_units, global_mem=1 << 30, max_alloc=1 << 28,
                               max_work_group=256)
        self.index = index

    def alloc(self, nbytes: int) -> Buffer:
        raise AssertionError("a fake device holds no memory")

    def queue(self) -> Queue:
        raise AssertionError("a fake device has no queue")

    def compile(self, source: str, options: Sequence[str] = ()) -> Program:
        raise AssertionError("a fake device compiles nothing")


def fakes(*kinds: Kind) -> tuple[Device, ...]:
    return tuple(FakeDevice(k, f"{k} device {i}", i) for i, k in enumerate(kinds))
