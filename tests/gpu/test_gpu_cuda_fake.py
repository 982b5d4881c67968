"""The native cuda driver on any machine: vmcli/gpu/cuda.py over a stand-in for cuda-bindings
(fake_cuda.py), so everything short of the hardware runs in CI: device discovery, argument packing,
grid and block shapes, copies, NVRTC's target and options, the program cache and the mapping of every
driver error to a GpuError. The same operations run on a real GPU in test_gpu_cuda.py."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fake_cuda import CUresult, FakeGpu, modules
from gpu_helpers import BAD, TWICE

from vmcli.gpu.cache import ProgramCache
from vmcli.gpu.driver import GpuError

STUBBED = ("cuda", "cuda.bindings", "cuda.bindings.driver", "cuda.bindings.nvrtc", "vmcli.gpu.cuda")


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[tuple[Any, FakeGpu, ProgramCache]]:
    """(the cuda driver module imported over the fake bindings, the fake GPU, a fresh cache)."""
    gpu = FakeGpu()
    driver, nvrtc = modules(gpu)
    package = types.ModuleType("cuda")
    bindings = types.ModuleType("cuda.bindings")
    bindings.driver, bindings.nvrtc = driver, nvrtc  # type: ignore[attr-defined]
    package.bindings = bindings  # type: ignore[attr-defined]
    saved = {name: sys.modules.get(name) for name in STUBBED}
    sys.modules.update({"cuda": package, "cuda.bindings": bindings, "cuda.bindings.driver": driver,
                        "cuda.bindings.nvrtc": nvrtc})
    sys.modules.pop("vmcli.gpu.cuda", None)
    try:
        yield importlib.import_module("vmcli.gpu.cuda"), gpu, ProgramCache(tmp_path)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def test_discovery_and_device_info(fake: tuple[Any, FakeGpu, ProgramCache]) -> None:
    cuda, gpu, cache = fake
    devices = cuda.CudaDriver(cache).devices()
    assert len(devices) == 1
    info = devices[0].info
    assert (info.kind, info.name, info.platform, info.driver) == ("cuda", "Fake GPU", "CUDA", "cuda 12.8")
    assert (info.compute_units, info.global_mem, info.max_work_group) == (132, 8 << 30, 1024)
    gpu.count = 0
    assert cuda.CudaDriver(cache).devices() == []                 # CUDA_ERROR_NO_DEVICE: none, not an error


@pytest.mark.parametrize("n", [1, 97, 1000, 4096])
def test_launch_packs_arguments_and_covers_the_grid(fake: tuple[Any, FakeGpu, ProgramCache], n: int) -> None:
    cuda, gpu, cache = fake
    dev = cuda.CudaDriver(cache).devices()[0]
    kern = dev.compile(TWICE["cuda"]).kernel("twice")
    q, x, y = dev.queue(), dev.alloc(4 * n), dev.alloc(4 * n)
    q.write(x, np.arange(n, dtype=np.float32))
    q.fill_zero(y)
    q.launch(kern, (n,), None, [x, y, np.uint32(n)])
    out = np.empty(n, np.float32)
    q.read(out, y)
    assert np.array_equal(out, 2 * np.arange(n, dtype=np.float32))
    launch = gpu.launches[-1]
    assert launch.kernel == "twice" and launch.grid[0] * launch.block[0] == n      # exactly covered
    assert launch.block[0] <= cuda.DEFAULT_BLOCK and launch.grid[1:] == launch.block[1:] == (1, 1)


@pytest.mark.parametrize(("global_size", "local_size", "block", "grid"), [
    ((1000,), (8,), (8, 1, 1), (125, 1, 1)), ((64, 64), (16, 16), (16, 16, 1), (4, 4, 1)),
    ((1 << 20,), None, (256, 1, 1), (4096, 1, 1)), ((6, 4, 2), None, (6, 4, 2), (1, 1, 1)),
])
def test_grid_and_block_shapes(fake: tuple[Any, FakeGpu, ProgramCache], global_size: tuple[int, ...],
                               local_size: tuple[int, ...] | None, block: tuple[int, ...],
                               grid: tuple[int, ...]) -> None:
    cuda, gpu, cache = fake
    dev = cuda.CudaDriver(cache).devices()[0]
    kern = dev.compile(TWICE["cuda"]).kernel("twice")
    b = dev.alloc(16)
    dev.queue().launch(kern, global_size, local_size, [b, b, np.uint32(0)])
    assert (gpu.launches[-1].block, gpu.launches[-1].grid) == (block, grid)


@pytest.mark.parametrize(("global_size", "local_size", "match"), [
    ((100,), (64,), "not a multiple"),
    ((4096,), (2048,), "over the device's limit"),
    ((64, 64), (64,), "matching dimensions"),
    ((1 << 20, 1 << 20), (1, 1), "grid limit"),
    ((), None, "1 to 3"),
])
def test_bad_launch_sizes_never_reach_the_driver(fake: tuple[Any, FakeGpu, ProgramCache],
                                                 global_size: tuple[int, ...], local_size: tuple[int, ...] | None,
                                                 match: str) -> None:
    cuda, gpu, cache = fake
    dev = cuda.CudaDriver(cache).devices()[0]
    kern = dev.compile(TWICE["cuda"]).kernel("twice")
    b = dev.alloc(16)
    with pytest.raises(GpuError, match=match):
        dev.queue().launch(kern, global_size, local_size, [b, b, np.uint32(4)])
    assert gpu.launches == []


def test_a_python_int_is_not_a_kernel_argument(fake: tuple[Any, FakeGpu, ProgramCache]) -> None:
    cuda, gpu, cache = fake
    dev = cuda.CudaDriver(cache).devices()[0]
    kern = dev.compile(TWICE["cuda"]).kernel("twice")
    b = dev.alloc(16)
    with pytest.raises(GpuError, match="numpy scalar"):
        dev.queue().launch(kern, (4,), None, [b, b, 4])
    assert gpu.launches == []


@pytest.mark.parametrize(("call", "error", "words"), [
    ("cuMemAlloc", CUresult.CUDA_ERROR_OUT_OF_MEMORY, "cuda: alloc 64 bytes: out of memory"),
    ("cuLaunchKernel", CUresult.CUDA_ERROR_LAUNCH_FAILED, "cuda: launch twice: unspecified launch failure"),
    ("cuStreamCreate", CUresult.CUDA_ERROR_INVALID_VALUE, "cuda: stream: invalid argument"),
    ("cuInit", CUresult.CUDA_ERROR_INVALID_VALUE, "cuda: init: invalid argument"),
])
def test_driver_errors_become_gpu_errors(fake: tuple[Any, FakeGpu, ProgramCache], call: str, error: CUresult,
                                         words: str) -> None:
    cuda, gpu, cache = fake
    gpu.fail[call] = error
    with pytest.raises(GpuError, match=words):
        dev = cuda.CudaDriver(cache).devices()[0]
        kern = dev.compile(TWICE["cuda"]).kernel("twice")
        b = dev.alloc(64)
        dev.queue().launch(kern, (16,), None, [b, b, np.uint32(16)])


def test_build_error_carries_the_log(fake: tuple[Any, FakeGpu, ProgramCache]) -> None:
    cuda, gpu, cache = fake
    dev = cuda.CudaDriver(cache).devices()[0]
    log = 'build failed on Fake GPU:\nlibrary.cu\\(1\\): error: identifier "undefined_name"'
    with pytest.raises(GpuError, match=log):
        dev.compile(BAD["cuda"])
    with pytest.raises(GpuError, match="named symbol not found"):
        dev.compile(TWICE["cuda"]).kernel("thrice")


@pytest.mark.parametrize(("capability", "arch", "image"), [((8, 9), b"-arch=sm_89", b"CUBIN "),
                                                           ((9, 0), b"-arch=sm_90", b"CUBIN "),
                                                           ((12, 0), b"-arch=compute_90", b"PTX ")])
def test_nvrtc_builds_for_the_exact_architecture(fake: tuple[Any, FakeGpu, ProgramCache], capability: tuple[int, int],
                                                 arch: bytes, image: bytes) -> None:
    cuda, gpu, cache = fake
    gpu.capability = capability
    dev = cuda.CudaDriver(cache).devices()[0]
    dev.compile(TWICE["cuda"])
    assert gpu.compiles == [[arch]] and gpu.loaded[-1].startswith(image)


def test_an_architecture_older_than_nvrtc_is_refused(fake: tuple[Any, FakeGpu, ProgramCache]) -> None:
    cuda, gpu, cache = fake
    gpu.capability = (3, 0)
    with pytest.raises(GpuError, match="cannot build for sm_30"):
        cuda.CudaDriver(cache).devices()[0].compile(TWICE["cuda"])


def test_the_cache_serves_a_new_process_and_drops_a_damaged_binary(fake: tuple[Any, FakeGpu, ProgramCache]) -> None:
    cuda, gpu, cache = fake
    cuda.CudaDriver(cache).devices()[0].compile(TWICE["cuda"])
    assert len(gpu.compiles) == 1
    cuda.CudaDriver(cache).devices()[0].compile(TWICE["cuda"])      # a new device object: from disk
    assert len(gpu.compiles) == 1 and gpu.loaded[-1] == gpu.loaded[0]
    for path in cache.root.glob("*"):
        path.write_bytes(b"damaged")
    cuda.CudaDriver(cache).devices()[0].compile(TWICE["cuda"])      # refused by the driver: rebuilt
    assert len(gpu.compiles) == 2 and gpu.loaded[-2] == b"damaged"
