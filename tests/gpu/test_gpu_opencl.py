"""Every driver operation on PoCL's real OpenCL device: memory, copies, events, programs, cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gpu_helpers import pocl_device

from vmcli.gpu.cache import ProgramCache, program_key
from vmcli.gpu.driver import GpuError
from vmcli.gpu.opencl import ClDevice

TWICE = """
__kernel void twice(__global const float *x, __global float *y, uint n)
{
    uint i = get_global_id(0);
    if (i < n) y[i] = 2.0f * x[i];
}
"""


def test_alloc_free_and_use_after_free(pocl: ClDevice) -> None:
    buf = pocl.alloc(4096)
    assert buf.nbytes == 4096
    buf.free()
    buf.free()   # a second free is harmless
    with pytest.raises(GpuError, match="after free"):
        pocl.queue().write(buf, np.zeros(4, np.float32))


@pytest.mark.parametrize("nbytes", [0, -1, 1 << 62])
def test_alloc_out_of_range(pocl: ClDevice, nbytes: int) -> None:
    with pytest.raises(GpuError, match="cannot allocate"):
        pocl.alloc(nbytes)


def test_blocking_round_trip_with_offset(pocl: ClDevice) -> None:
    q = pocl.queue()
    buf = pocl.alloc(64)
    q.fill_zero(buf).wait()
    q.write(buf, np.arange(4, dtype=np.uint32), offset=16)
    back = np.full(16, 99, np.uint32)
    q.read(back, buf)
    assert back.tolist() == [0, 0, 0, 0, 0, 1, 2, 3] + [0] * 8
    part = np.empty(2, np.uint32)
    q.read(part, buf, offset=20)
    assert part.tolist() == [1, 2]
    buf.free()


def test_async_copies_complete_through_events(pocl: ClDevice) -> None:
    q = pocl.queue()
    n = 1 << 20
    src = np.arange(n, dtype=np.float32)
    a, b = pocl.alloc(4 * n), pocl.alloc(4 * n)
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


def test_device_copy_with_offsets(pocl: ClDevice) -> None:
    q = pocl.queue()
    a, b = pocl.alloc(32), pocl.alloc(32)
    q.write(a, np.arange(8, dtype=np.uint32))
    q.fill_zero(b)
    q.copy(b, a, 8, src_offset=4, dst_offset=24).wait()
    back = np.empty(8, np.uint32)
    q.read(back, b)
    assert back.tolist() == [0, 0, 0, 0, 0, 0, 1, 2]


@pytest.mark.parametrize("offset", [-4, 60, 64])
def test_copy_outside_buffer_is_refused(pocl: ClDevice, offset: int) -> None:
    q, buf = pocl.queue(), pocl.alloc(64)
    with pytest.raises(GpuError, match="outside"):
        q.write(buf, np.zeros(2, np.uint32), offset=offset)
    with pytest.raises(GpuError, match="outside"):
        q.read(np.zeros(2, np.uint32), buf, offset=offset)
    with pytest.raises(GpuError, match="outside"):
        q.copy(buf, buf, 8, src_offset=offset)


def test_read_into_read_only_memory_is_refused(pocl: ClDevice) -> None:
    buf = pocl.alloc(16)
    with pytest.raises(GpuError, match="read-only"):
        pocl.queue().read(memoryview(bytes(16)), buf)


def test_buffer_of_another_device_is_refused(pocl: ClDevice, tmp_path: Path) -> None:
    other = pocl_device(ProgramCache(tmp_path))   # same hardware, its own context
    with pytest.raises(GpuError, match="another device"):
        pocl.queue().write(other.alloc(16), np.zeros(4, np.float32))


def test_compile_launch_and_kernel_timing(pocl: ClDevice) -> None:
    prg = pocl.compile(TWICE)
    kern = prg.kernel("twice")
    assert prg.kernel("twice") is kern
    q = pocl.queue()
    n = 1000
    x = np.linspace(-1, 1, n, dtype=np.float32)
    bx, by = pocl.alloc(4 * n), pocl.alloc(4 * n)
    q.write(bx, x)
    ev = q.launch(kern, (1024,), (64,), [bx, by, np.uint32(n)])
    y = np.empty(n, np.float32)
    q.read(y, by)
    assert np.array_equal(y, 2 * x)
    assert ev.done() and ev.elapsed_s() > 0


def test_launch_size_not_multiple_of_local(pocl: ClDevice) -> None:
    kern = pocl.compile(TWICE).kernel("twice")
    b = pocl.alloc(16)
    with pytest.raises(GpuError, match="not a multiple"):
        pocl.queue().launch(kern, (100,), (64,), [b, b, np.uint32(4)])


def test_unknown_kernel_name(pocl: ClDevice) -> None:
    with pytest.raises(GpuError, match="thrice"):
        pocl.compile(TWICE).kernel("thrice")


def test_build_error_carries_the_log(pocl: ClDevice) -> None:
    bad = "__kernel void k(__global float *x) { x[0] = undefined_name + 1; }"
    with pytest.raises(GpuError) as err:
        pocl.compile(bad)
    assert "build failed" in str(err.value)
    assert "undefined_name" in str(err.value)   # the compiler's own message, from the build log


def test_cache_stores_binary_and_a_new_context_loads_it(tmp_path: Path) -> None:
    cache = ProgramCache(tmp_path / "gpu")
    first = pocl_device(cache)
    first.compile(TWICE, ("-DFLAVOUR=1",))
    key = program_key(first.cache_identity, TWICE, ("-DFLAVOUR=1",))
    assert cache.path(key).stat().st_size > 0
    assert (cache.hits, cache.misses) == (0, 1)

    second = pocl_device(cache)   # a fresh context: only the disk cache can help
    kern = second.compile(TWICE, ("-DFLAVOUR=1",)).kernel("twice")
    assert (cache.hits, cache.misses) == (1, 1)
    q = second.queue()
    b = second.alloc(16)
    q.write(b, np.ones(4, np.float32))
    q.launch(kern, (4,), None, [b, b, np.uint32(4)])
    out = np.empty(4, np.float32)
    q.read(out, b)
    assert out.tolist() == [2.0] * 4

    # Other options or another source are other keys.
    assert program_key(first.cache_identity, TWICE, ()) != key
    assert program_key(first.cache_identity, TWICE + " ", ("-DFLAVOUR=1",)) != key


def test_damaged_cache_entry_is_rebuilt(tmp_path: Path) -> None:
    cache = ProgramCache(tmp_path)
    dev = pocl_device(cache)
    key = program_key(dev.cache_identity, TWICE, ())
    cache.store(key, b"not a program binary")
    dev.compile(TWICE).kernel("twice")
    assert cache.path(key).read_bytes() != b"not a program binary"


def test_cache_root_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from vmcli.gpu.cache import cache_root

    monkeypatch.delenv("VM_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_root() == tmp_path / "vm"
    monkeypatch.setenv("VM_CACHE_DIR", str(tmp_path / "x"))
    assert cache_root() == tmp_path / "x"


def test_pocl_without_a_linker_is_an_error_not_an_abort(monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil as _shutil

    from vmcli.gpu import opencl
    from vmcli.gpu.devices import select_device

    device = select_device("cpu")
    assert device is not None
    if "portable computing language" not in device.info.platform.lower():
        pytest.skip("the CPU device here is not PoCL")
    real_which = _shutil.which
    monkeypatch.setattr(opencl.shutil, "which", lambda name: None if name == "ld" else real_which(name))
    with pytest.raises(GpuError, match="needs the system linker"):
        device.compile("__kernel void k(__global float *a) { a[0] = 1; }")
