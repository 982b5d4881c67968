"""Every driver operation, on every driver: PoCL's OpenCL device, and an NVIDIA GPU on the cuda driver
where one is found (the `device` fixture): memory, copies, events, programs, the program cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gpu_helpers import BAD, TWICE, cuda_device, pocl_device

from vmcli.gpu.cache import ProgramCache, program_key
from vmcli.gpu.driver import Device, GpuError


def fresh(device: Device, cache: ProgramCache) -> Device:
    """Another handle on the same hardware with its own program cache."""
    return pocl_device(cache) if device.dialect == "opencl" else cuda_device(cache)


def test_alloc_free_and_use_after_free(device: Device) -> None:
    buf = device.alloc(4096)
    assert buf.nbytes == 4096
    buf.free()
    buf.free()   # a second free is harmless
    with pytest.raises(GpuError, match="after free"):
        device.queue().write(buf, np.zeros(4, np.float32))


@pytest.mark.parametrize("nbytes", [0, -1, 1 << 62])
def test_alloc_out_of_range(device: Device, nbytes: int) -> None:
    with pytest.raises(GpuError, match="cannot allocate"):
        device.alloc(nbytes)


def test_blocking_round_trip_with_offset(device: Device) -> None:
    q = device.queue()
    buf = device.alloc(64)
    q.fill_zero(buf).wait()
    q.write(buf, np.arange(4, dtype=np.uint32), offset=16)
    back = np.full(16, 99, np.uint32)
    q.read(back, buf)
    assert back.tolist() == [0, 0, 0, 0, 0, 1, 2, 3] + [0] * 8
    part = np.empty(2, np.uint32)
    q.read(part, buf, offset=20)
    assert part.tolist() == [1, 2]
    buf.free()


def test_async_copies_complete_through_events(device: Device) -> None:
    q = device.queue()
    n = 1 << 20
    src = np.arange(n, dtype=np.float32)
    a, b = device.alloc(4 * n), device.alloc(4 * n)
    up = q.write(a, src, blocking=False)
    cp = q.copy(b, a)
    out = np.zeros(n, np.float32)
    down = q.read(out.data, b, blocking=False)   # a memoryview
    down.wait()
    assert up.done() and cp.done() and down.done()
    assert np.array_equal(out, src)
    assert all(e.elapsed_s() > 0 for e in (up, cp, down))
    a.free()
    b.free()


def test_device_copy_with_offsets(device: Device) -> None:
    q = device.queue()
    a, b = device.alloc(32), device.alloc(32)
    q.write(a, np.arange(8, dtype=np.uint32))
    q.fill_zero(b)
    q.copy(b, a, 8, src_offset=4, dst_offset=24).wait()
    back = np.empty(8, np.uint32)
    q.read(back, b)
    assert back.tolist() == [0, 0, 0, 0, 0, 0, 1, 2]


@pytest.mark.parametrize("offset", [-4, 60, 64])
def test_copy_outside_buffer_is_refused(device: Device, offset: int) -> None:
    q, buf = device.queue(), device.alloc(64)
    with pytest.raises(GpuError, match="outside"):
        q.write(buf, np.zeros(2, np.uint32), offset=offset)
    with pytest.raises(GpuError, match="outside"):
        q.read(np.zeros(2, np.uint32), buf, offset=offset)
    with pytest.raises(GpuError, match="outside"):
        q.copy(buf, buf, 8, src_offset=offset)


def test_read_into_read_only_memory_is_refused(device: Device) -> None:
    buf = device.alloc(16)
    with pytest.raises(GpuError, match="read-only"):
        device.queue().read(memoryview(bytes(16)), buf)


def test_buffer_of_another_device_is_refused(device: Device, tmp_path: Path) -> None:
    other = fresh(device, ProgramCache(tmp_path))   # same hardware, another handle
    with pytest.raises(GpuError, match="another device"):
        device.queue().write(other.alloc(16), np.zeros(4, np.float32))


def test_compile_launch_and_kernel_timing(device: Device) -> None:
    prg = device.compile(TWICE[device.dialect])
    kern = prg.kernel("twice")
    assert prg.kernel("twice") is kern
    q = device.queue()
    n = 1000
    x = np.linspace(-1, 1, n, dtype=np.float32)
    bx, by = device.alloc(4 * n), device.alloc(4 * n)
    q.write(bx, x)
    ev = q.launch(kern, (1024,), (64,), [bx, by, np.uint32(n)])
    y = np.empty(n, np.float32)
    q.read(y, by)
    assert np.array_equal(y, 2 * x)
    assert ev.done() and ev.elapsed_s() > 0


def test_launch_size_not_multiple_of_local(device: Device) -> None:
    kern = device.compile(TWICE[device.dialect]).kernel("twice")
    b = device.alloc(16)
    with pytest.raises(GpuError, match="not a multiple"):
        device.queue().launch(kern, (100,), (64,), [b, b, np.uint32(4)])


def test_unknown_kernel_name(device: Device) -> None:
    with pytest.raises(GpuError, match="thrice"):
        device.compile(TWICE[device.dialect]).kernel("thrice")


def test_build_error_carries_the_log(device: Device) -> None:
    with pytest.raises(GpuError) as err:
        device.compile(BAD[device.dialect])
    assert "build failed" in str(err.value)
    assert "undefined_name" in str(err.value)   # the compiler's own message, from the build log


def test_cache_stores_binary_and_a_new_context_loads_it(device: Device, tmp_path: Path) -> None:
    cache = ProgramCache(tmp_path / "gpu")
    first = fresh(device, cache)
    first.compile(TWICE[device.dialect], ("-DFLAVOUR=1",))
    key = program_key(first.cache_identity, TWICE[device.dialect], ("-DFLAVOUR=1",))
    assert cache.path(key).stat().st_size > 0
    assert (cache.hits, cache.misses) == (0, 1)

    second = fresh(device, cache)   # a fresh context or module: only the disk cache can help
    kern = second.compile(TWICE[device.dialect], ("-DFLAVOUR=1",)).kernel("twice")
    assert (cache.hits, cache.misses) == (1, 1)
    q = second.queue()
    b = second.alloc(16)
    q.write(b, np.ones(4, np.float32))
    q.launch(kern, (4,), None, [b, b, np.uint32(4)])
    out = np.empty(4, np.float32)
    q.read(out, b)
    assert out.tolist() == [2.0] * 4

    # Other options or another source are other keys.
    assert program_key(first.cache_identity, TWICE[device.dialect], ()) != key
    assert program_key(first.cache_identity, TWICE[device.dialect] + " ", ("-DFLAVOUR=1",)) != key


def test_damaged_cache_entry_is_rebuilt(device: Device, tmp_path: Path) -> None:
    cache = ProgramCache(tmp_path)
    dev = fresh(device, cache)
    key = program_key(dev.cache_identity, TWICE[device.dialect], ())
    cache.store(key, b"not a program binary")
    dev.compile(TWICE[device.dialect]).kernel("twice")
    assert cache.path(key).read_bytes() != b"not a program binary"
