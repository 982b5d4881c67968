"""Every operation of the native cuda driver on a real NVIDIA GPU: memory, copies, events, streams,
NVRTC programs and their cache. These skip where the cuda driver finds no GPU (CI has none); the
kernel library's tests run on the same GPU through the `runner` fixture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gpu_helpers import cuda_device

from vmcli.gpu.cache import ProgramCache, program_key
from vmcli.gpu.driver import Device, GpuError

TWICE = """
extern "C" __global__ void twice(const float *x, float *y, unsigned int n)
{
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = 2.0f * x[i];
}
"""


def test_device_info(cuda: Device) -> None:
    info = cuda.info
    assert info.kind == "cuda" and info.platform == "CUDA" and cuda.dialect == "cuda"
    assert info.compute_units > 0 and info.global_mem > 1 << 30 and info.max_work_group >= 1024
    assert info.driver.startswith("cuda ")


def test_alloc_free_and_use_after_free(cuda: Device) -> None:
    buf = cuda.alloc(4096)
    buf.free()
    buf.free()   # twice is harmless
    with pytest.raises(GpuError, match="after free"):
        cuda.queue().write(buf, np.zeros(4, np.float32))


@pytest.mark.parametrize("nbytes", [0, -1, 1 << 62])
def test_alloc_out_of_range(cuda: Device, nbytes: int) -> None:
    with pytest.raises(GpuError, match="cannot allocate"):
        cuda.alloc(nbytes)


def test_blocking_round_trip_with_offset(cuda: Device) -> None:
    q, buf = cuda.queue(), cuda.alloc(64)
    q.fill_zero(buf).wait()
    q.write(buf, np.arange(4, dtype=np.float32), offset=16)
    out = np.full(16, -1, np.float32)
    q.read(out, buf)
    assert out.tolist() == [0, 0, 0, 0, 0, 1, 2, 3] + [0] * 8


def test_async_copies_complete_through_events(cuda: Device) -> None:
    q, n = cuda.queue(), 1 << 20
    src = np.random.default_rng(1).random(n, dtype=np.float32)
    a, b = cuda.alloc(4 * n), cuda.alloc(4 * n)
    up = q.write(a, src, blocking=False)
    cp = q.copy(b, a)
    out = np.empty(n, np.float32)
    down = q.read(out, b, blocking=False)
    down.wait()
    assert up.done() and cp.done() and down.done()
    assert np.array_equal(out, src)
    assert all(e.elapsed_s() > 0 for e in (up, cp, down))


def test_device_copy_with_offsets(cuda: Device) -> None:
    q, a, b = cuda.queue(), cuda.alloc(32), cuda.alloc(32)
    q.write(a, np.arange(32, dtype=np.uint8))
    q.fill_zero(b)
    q.copy(b, a, 8, src_offset=4, dst_offset=20)
    out = np.empty(32, np.uint8)
    q.read(out, b)
    assert out.tolist() == [0] * 20 + list(range(4, 12)) + [0] * 4


@pytest.mark.parametrize("offset", [-1, 60, 1 << 40])
def test_copy_outside_buffer_is_refused(cuda: Device, offset: int) -> None:
    q, buf = cuda.queue(), cuda.alloc(64)
    with pytest.raises(GpuError, match="outside"):
        q.write(buf, np.zeros(8, np.uint8), offset=offset)
    with pytest.raises(GpuError, match="outside"):
        q.copy(buf, buf, 8, src_offset=offset)


def test_read_into_read_only_memory_is_refused(cuda: Device) -> None:
    with pytest.raises(GpuError, match="read-only"):
        cuda.queue().read(memoryview(bytes(16)), cuda.alloc(16))


def test_buffer_of_another_device_is_refused(cuda: Device, pocl: Device) -> None:
    with pytest.raises(GpuError, match="another device"):
        cuda.queue().write(pocl.alloc(16), np.zeros(4, np.float32))


def test_compile_launch_and_kernel_timing(cuda: Device) -> None:
    prg = cuda.compile(TWICE)
    kern = prg.kernel("twice")
    assert prg.kernel("twice") is kern
    q, n = cuda.queue(), 1000
    x = np.linspace(-1, 1, n, dtype=np.float32)
    bx, by = cuda.alloc(4 * n), cuda.alloc(4 * n)
    q.write(bx, x)
    ev = q.launch(kern, (1024,), (64,), [bx, by, np.uint32(n)])
    y = np.empty(n, np.float32)
    q.read(y, by)
    assert np.array_equal(y, 2 * x)
    assert ev.done() and ev.elapsed_s() > 0


@pytest.mark.parametrize("n", [1, 97, 1000, 4096])
def test_launch_without_local_size_covers_exactly(cuda: Device, n: int) -> None:
    kern = cuda.compile(TWICE).kernel("twice")
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
    kern = cuda.compile(TWICE).kernel("twice")
    b = cuda.alloc(16)
    with pytest.raises(GpuError, match=match):
        cuda.queue().launch(kern, global_size, local_size, [b, b, np.uint32(4)])


def test_bad_kernel_argument(cuda: Device) -> None:
    kern = cuda.compile(TWICE).kernel("twice")
    b = cuda.alloc(16)
    with pytest.raises(GpuError, match="numpy scalar"):
        cuda.queue().launch(kern, (4,), None, [b, b, 4])   # type: ignore[list-item]


def test_unknown_kernel_name(cuda: Device) -> None:
    with pytest.raises(GpuError, match="thrice"):
        cuda.compile(TWICE).kernel("thrice")


def test_build_error_carries_the_log(cuda: Device) -> None:
    bad = 'extern "C" __global__ void k(float *x) { x[0] = undefined_name + 1; }'
    with pytest.raises(GpuError) as err:
        cuda.compile(bad)
    assert "build failed" in str(err.value)
    assert "undefined_name" in str(err.value)   # NVRTC's own message, from the program log


def test_cache_stores_cubin_and_a_new_device_loads_it(tmp_path: Path) -> None:
    cache = ProgramCache(tmp_path / "gpu")
    first = cuda_device(cache)
    first.compile(TWICE, ("-DFLAVOUR=1",))
    key = program_key(first.cache_identity, TWICE, ("-DFLAVOUR=1",))
    assert cache.path(key).read_bytes()[:4] == b"\x7fELF"   # a CUBIN for the exact architecture
    assert (cache.hits, cache.misses) == (0, 1)
    second = cuda_device(cache)
    kern = second.compile(TWICE, ("-DFLAVOUR=1",)).kernel("twice")
    assert (cache.hits, cache.misses) == (1, 1)
    q, b = second.queue(), second.alloc(16)
    q.write(b, np.ones(4, np.float32))
    q.launch(kern, (4,), None, [b, b, np.uint32(4)])
    out = np.empty(4, np.float32)
    q.read(out, b)
    assert out.tolist() == [2.0] * 4


def test_damaged_cache_entry_is_rebuilt(tmp_path: Path) -> None:
    cache = ProgramCache(tmp_path)
    dev = cuda_device(cache)
    key = program_key(dev.cache_identity, TWICE, ())
    cache.store(key, b"not a cubin")
    dev.compile(TWICE).kernel("twice")
    assert cache.path(key).read_bytes()[:4] == b"\x7fELF"
