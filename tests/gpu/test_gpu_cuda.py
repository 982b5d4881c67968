"""What only the native cuda driver does, on a real NVIDIA GPU: device attributes, grid and block
shapes, NVRTC's CUBIN in the cache. These skip where the cuda driver finds no GPU (CI has none); the
operations every driver has (test_gpu_driver.py) and the kernel library (test_gpu_kernels.py) run on
the same GPU through the `device` and `runner` fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gpu_helpers import TWICE, cuda_device

from vmcli.gpu.cache import ProgramCache, program_key
from vmcli.gpu.driver import Device, GpuError


def test_device_info(cuda: Device) -> None:
    info = cuda.info
    assert info.kind == "cuda" and info.platform == "CUDA" and cuda.dialect == "cuda"
    assert info.compute_units > 0 and info.global_mem > 1 << 30 and info.max_work_group >= 1024
    assert info.driver.startswith("cuda ")


@pytest.mark.parametrize("n", [1, 97, 1000, 4096])
def test_launch_without_local_size_covers_exactly(cuda: Device, n: int) -> None:
    kern = cuda.compile(TWICE["cuda"]).kernel("twice")
    q, b = cuda.queue(), cuda.alloc(4 * n)
    q.write(b, np.ones(n, np.float32))
    q.launch(kern, (n,), None, [b, b, np.uint32(n)])
    out = np.empty(n, np.float32)
    q.read(out, b)
    assert out.tolist() == [2.0] * n


@pytest.mark.parametrize("global_size,local_size,match", [
    ((100,), (64,), "not a multiple"),
    ((4096,), (2048,), "over the device's limit"),
    ((64, 64), (64,), "matching dimensions"),
    ((1 << 20, 1 << 20), (1, 1), "grid limit"),
])
def test_bad_launch_sizes(cuda: Device, global_size: tuple[int, ...], local_size: tuple[int, ...],
                          match: str) -> None:
    kern = cuda.compile(TWICE["cuda"]).kernel("twice")
    b = cuda.alloc(16)
    with pytest.raises(GpuError, match=match):
        cuda.queue().launch(kern, global_size, local_size, [b, b, np.uint32(4)])


def test_bad_kernel_argument(cuda: Device) -> None:
    kern = cuda.compile(TWICE["cuda"]).kernel("twice")
    b = cuda.alloc(16)
    with pytest.raises(GpuError, match="numpy scalar"):
        cuda.queue().launch(kern, (4,), None, [b, b, 4])   # type: ignore[list-item]


def test_cache_holds_a_cubin_for_the_exact_architecture(tmp_path: Path) -> None:
    cache = ProgramCache(tmp_path)
    dev = cuda_device(cache)
    dev.compile(TWICE["cuda"])
    cubin = cache.path(program_key(dev.cache_identity, TWICE["cuda"], ())).read_bytes()
    assert cubin[:4] == b"\x7fELF"
    assert "sm_" in dev.cache_identity and "nvrtc" in dev.cache_identity




@pytest.mark.parametrize("global_size,block", [
    ((1,), (1,)), ((97,), (97,)), ((1000,), (250,)), ((4096,), (256,)), ((1 << 20,), (256,)),
    ((640, 480), (160, 1)), ((512, 480), (256, 1)), ((100, 480), (100, 2)), ((7, 11, 13), (7, 11, 1)), ((257,), (1,)),
])
def test_block_shape_divides_the_global_size(global_size: tuple[int, ...], block: tuple[int, ...]) -> None:
    """Without a local size the grid must still cover the global size exactly (kernels read
    GLOBAL_SIZE): each dimension takes the largest divisor that fits the 256 threads left."""
    pytest.importorskip("cuda.bindings")
    from vmcli.gpu.cuda import block_shape

    assert block_shape(global_size) == block


def test_missing_nvrtc_is_a_clear_error() -> None:
    """Where libnvrtc cannot be loaded (CI has cuda-bindings without it), compiling says so in one
    GpuError instead of the bindings' own exception."""
    pytest.importorskip("cuda.bindings")
    from vmcli.gpu.cuda import nvrtc_version

    try:
        nvrtc_version()
    except GpuError as exc:
        assert "NVRTC is needed" in str(exc)
    else:
        pytest.skip("NVRTC loads here")
