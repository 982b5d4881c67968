"""The guest compute device: its registers, built-in kernels against numpy, and every validation rule
with a hostile descriptor (the command is refused with its error code and guest RAM is untouched)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from compute_helpers import (
    DESC_AT,
    RAM_BASE,
    RAM_SIZE,
    Rig,
    buf,
    descriptor,
    f32,
    make_rig,
    mandelbrot,
    u32,
    vm_cache,  # noqa: F401 (session fixture: a cache of the tests' own)
)
from compute_helpers import arg as raw_arg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmcli.machine.devices import compute as c
from vmcli.machine.devices.compute import ArgType as T
from vmcli.machine.devices.compute import Error as E

X_AT, Y_AT, Z_AT = RAM_BASE + 0x10000, RAM_BASE + 0x20000, RAM_BASE + 0x30000
RAM_END = RAM_BASE + RAM_SIZE
WINDOW = 0x0B00_0000               # arm64's compute window: MMIO, never RAM


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return make_rig(tmp_path)


def saxpy(n: int = 256, x: int = X_AT, y: int = Y_AT, xlen: int | None = None, ylen: int | None = None) -> bytes:
    return descriptor(2, [f32(2.0), buf(T.BUF_IN, x, 4 * n if xlen is None else xlen),
                          buf(T.BUF_INOUT, y, 4 * n if ylen is None else ylen), u32(n)])


# -- registers --------------------------------------------------------------------------------------
def test_identification_and_device_registers(rig: Rig) -> None:
    d = rig.device
    assert d.read(c.REG_MAGIC, 4) == 0x4443_4D56 and d.read(c.REG_MAGIC, 4).to_bytes(4, "little") == b"VMCD"
    assert d.read(c.REG_VERSION, 4) == 1 and d.read(c.REG_MAX_ARGS, 4) == 16
    assert d.read(c.REG_STATUS, 4) == c.Status.IDLE and d.read(c.REG_ERROR, 4) == 0
    assert d.read(c.REG_FEATURES, 4) == c.FEATURE_BUILTIN | c.FEATURE_DEVICE      # no source kernels
    from vmcli.gpu.devices import list_devices, select_device

    gpu = select_device("auto")
    assert gpu is not None
    assert d.read(c.REG_DEVICE_COUNT, 4) == len(list_devices())
    assert d.read(c.REG_DEVICE_INDEX, 4) == gpu.index
    assert d.read(c.REG_DEVICE_KIND, 4) == ("cuda", "rocm", "npu", "gpu", "cpu").index(gpu.info.kind) + 1
    assert d.read(c.REG_DEVICE_UNITS, 4) == gpu.info.compute_units
    mem = d.read(c.REG_DEVICE_MEM, 8)
    assert mem == gpu.info.global_mem == d.read(c.REG_DEVICE_MEM, 4) | d.read(c.REG_DEVICE_MEM + 4, 4) << 32
    name = b"".join(d.read(c.REG_DEVICE_NAME + i, 4).to_bytes(4, "little") for i in range(0, 64, 4))
    assert name.rstrip(b"\0").decode() == gpu.info.name[:63]
    assert d.read(c.REG_MAX_BUFFER, 8) == c.MAX_BUFFER and d.read(c.REG_MAX_FLOPS, 8) == c.MAX_FLOPS
    assert d.read(0x800, 4) == 0 and d.read(c.REG_MAGIC + 1, 2) == 0x434D     # unaligned: the bytes


def test_time_register_is_a_monotonic_nanosecond_clock(rig: Rig) -> None:
    import time

    d = rig.device
    before = time.monotonic_ns()
    lo = d.read(c.REG_TIME_NS, 4)
    t1 = lo | d.read(c.REG_TIME_NS + 4, 4) << 32       # HI latched by the LO read
    t2 = d.read(c.REG_TIME_NS, 8)
    assert before <= t1 <= t2 <= time.monotonic_ns()
    assert d.read(c.REG_TIME_NS + 4, 4) == t2 >> 32 and t2 & 0xFFFF_FFFF == d._time_latch & 0xFFFF_FFFF


def test_desc_register_halves_and_width(rig: Rig) -> None:
    d = rig.device
    d.write(c.REG_DESC, 4, 0x89AB_CDEF)
    d.write(c.REG_DESC + 4, 4, 0x0123_4567)
    assert d.read(c.REG_DESC, 8) == 0x0123_4567_89AB_CDEF
    d.write(c.REG_DESC, 8, 0x4000_1000)
    assert d.read(c.REG_DESC, 4) == 0x4000_1000 and d.read(c.REG_DESC + 4, 4) == 0


# -- built-in kernels against numpy -------------------------------------------------------------------
def test_saxpy_runs_in_place_in_guest_ram(rig: Rig) -> None:
    rng = np.random.default_rng(1)
    x, y = rng.random(1000, dtype=np.float32), rng.random(1000, dtype=np.float32)
    rig.put(X_AT, x)
    rig.put(Y_AT, y)
    rig.put(Y_AT + 4000, np.full(4, 7, np.float32))              # bytes after y stay as they are
    assert rig.run(saxpy(1000)) == (c.Status.DONE, 0, c.NO_INDEX)
    assert np.array_equal(rig.get(Y_AT, 1000), np.float32(2.0) * x + y)
    assert np.array_equal(rig.get(Y_AT + 4000, 4), np.full(4, 7, np.float32))
    d = rig.device
    assert d.read(c.REG_COMMANDS, 4) == 1 and d.read(c.REG_KERNEL_NS, 8) > 0
    assert d.read(c.REG_TOTAL_NS, 8) >= d.read(c.REG_KERNEL_NS, 8)


def test_sgemm_dot_and_mandelbrot(rig: Rig) -> None:
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((48, 40), dtype=np.float32), rng.standard_normal((40, 24), dtype=np.float32)
    rig.put(X_AT, a)
    rig.put(Y_AT, b)
    desc = descriptor(5, [u32(48), u32(24), u32(40), f32(1.0), buf(T.BUF_IN, X_AT, a.nbytes),
                          buf(T.BUF_IN, Y_AT, b.nbytes), f32(0.0), buf(T.BUF_INOUT, Z_AT, 48 * 24 * 4)])
    assert rig.run(desc)[:2] == (c.Status.DONE, 0)
    np.testing.assert_allclose(rig.get(Z_AT, 48 * 24).reshape(48, 24), a.astype(np.float64) @ b, rtol=1e-4,
                               atol=1e-5)

    desc = descriptor(3, [buf(T.BUF_IN, X_AT, 4 * 960), buf(T.BUF_IN, Y_AT, 4 * 960), buf(T.BUF_OUT, Z_AT, 4),
                          u32(960)])
    assert rig.run(desc)[:2] == (c.Status.DONE, 0)
    want = np.dot(a.reshape(-1)[:960].astype(np.float64), b.reshape(-1).astype(np.float64))
    assert rig.get(Z_AT, 1)[0] == pytest.approx(want, rel=1e-4)

    w, h, it = 64, 48, 100
    desc = descriptor(7, [buf(T.BUF_OUT, Z_AT, 4 * w * h), u32(w), u32(h), f32(-2.0), f32(-1.2), f32(3.0 / w),
                          f32(2.4 / h), u32(it)])
    assert rig.run(desc)[:2] == (c.Status.DONE, 0)
    counts = rig.get(Z_AT, w * h, np.uint32).reshape(h, w)
    assert np.array_equal(counts, mandelbrot(w, h, -2.0, -1.2, 3.0 / w, 2.4 / h, it))


def test_descriptor_and_buffers_at_the_very_end_of_ram(rig: Rig) -> None:
    n = 64
    y_at = RAM_END - 4 * n
    rig.put(X_AT, np.ones(n, np.float32))
    rig.put(y_at, np.ones(n, np.float32))
    desc_at = RAM_END - 4 * n - c.DESC_SIZE
    assert rig.run(saxpy(n, y=y_at), at=desc_at)[:2] == (c.Status.DONE, 0)
    assert np.array_equal(rig.get(y_at, n), np.full(n, 3, np.float32))


# -- hostile descriptors: each rule ------------------------------------------------------------------

HOSTILE: dict[str, tuple[bytes, int, int]] = {     # name: (descriptor, ERROR, ERROR_ARG)
    "wrong magic": (descriptor(2, [], magic=0x1234), E.BAD_DESCRIPTOR, c.NO_INDEX),
    "opcode 0": (descriptor(2, [], opcode=0), E.BAD_OPCODE, c.NO_INDEX),
    "opcode 3": (descriptor(2, [], opcode=3), E.BAD_OPCODE, c.NO_INDEX),
    "opcode all ones": (descriptor(2, [], opcode=0xFFFF_FFFF), E.BAD_OPCODE, c.NO_INDEX),
    "kernel 0": (descriptor(0, []), E.UNKNOWN_KERNEL, c.NO_INDEX),
    "kernel 8": (descriptor(8, []), E.UNKNOWN_KERNEL, c.NO_INDEX),
    "kernel all ones": (descriptor(0xFFFF_FFFF, []), E.UNKNOWN_KERNEL, c.NO_INDEX),
    "17 arguments": (descriptor(2, [u32(0)] * 16, nargs=17), E.BAD_ARG_COUNT, c.NO_INDEX),
    "nargs all ones": (descriptor(2, [], nargs=0xFFFF_FFFF), E.BAD_ARG_COUNT, c.NO_INDEX),
    "too few arguments": (descriptor(2, [f32(1), buf(T.BUF_IN, X_AT, 16), buf(T.BUF_INOUT, Y_AT, 16)]),
                          E.BAD_ARG_COUNT, c.NO_INDEX),
    "buffer for a scalar": (descriptor(2, [buf(T.BUF_IN, X_AT, 4), buf(T.BUF_IN, X_AT, 16),
                                           buf(T.BUF_INOUT, Y_AT, 16), u32(4)]), E.BAD_ARG, 0),
    "scalar for a buffer": (descriptor(2, [f32(1), u32(5), buf(T.BUF_INOUT, Y_AT, 16), u32(4)]), E.BAD_ARG, 1),
    "inout declared in": (descriptor(2, [f32(1), buf(T.BUF_IN, X_AT, 16), buf(T.BUF_IN, Y_AT, 16), u32(4)]),
                          E.BAD_ARG, 2),
    "u32 declared f32": (descriptor(2, [f32(1), buf(T.BUF_IN, X_AT, 16), buf(T.BUF_INOUT, Y_AT, 16), f32(4)]),
                         E.BAD_ARG, 3),
    "unknown argument type": (descriptor(2, [raw_arg(99), buf(T.BUF_IN, X_AT, 16), buf(T.BUF_INOUT, Y_AT, 16),
                                             u32(4)]), E.BAD_ARG, 0),
    "scalar above 32 bits": (descriptor(2, [f32(1), buf(T.BUF_IN, X_AT, 16), buf(T.BUF_INOUT, Y_AT, 16),
                                            raw_arg(T.U32, 1 << 32 | 4)]), E.BAD_ARG, 3),
    "reserved field set": (descriptor(2, [f32(1), raw_arg(T.BUF_IN, X_AT, 16, reserved=1),
                                          buf(T.BUF_INOUT, Y_AT, 16), u32(4)]), E.BAD_ARG, 1),
    "scalar with a length": (descriptor(2, [raw_arg(T.F32, 0, 8), buf(T.BUF_IN, X_AT, 16),
                                            buf(T.BUF_INOUT, Y_AT, 16), u32(4)]), E.BAD_ARG, 0),
    "buffer wraps around": (saxpy(4, x=(1 << 64) - 8, xlen=16), E.BAD_BUFFER, 1),
    "buffer at the top of the address space": (saxpy(4, x=(1 << 64) - 16, xlen=16), E.BAD_BUFFER, 1),
    "buffer in a device window": (saxpy(4, x=WINDOW), E.BAD_BUFFER, 1),
    "buffer below RAM": (saxpy(4, x=RAM_BASE - 8), E.BAD_BUFFER, 1),
    "buffer across the end of RAM": (saxpy(4, y=RAM_END - 8), E.BAD_BUFFER, 2),
    "buffer just past RAM": (saxpy(4, y=RAM_END), E.BAD_BUFFER, 2),
    "buffer over the size cap": (saxpy(4, x=X_AT, xlen=c.MAX_BUFFER + 1), E.TOO_LARGE, 1),
    "buffers over the total cap": (descriptor(1, [buf(T.BUF_IN, X_AT, c.MAX_BUFFER)] * 2
                                              + [buf(T.BUF_OUT, Y_AT, c.MAX_BUFFER), u32(4)]),
                                   E.TOO_LARGE, c.NO_INDEX),
    "buffer smaller than n": (saxpy(1000, ylen=3996), E.BUFFER_TOO_SMALL, 2),
    "n = 2^32 - 1 with small buffers": (saxpy(0xFFFF_FFFF, xlen=64, ylen=64), E.BUFFER_TOO_SMALL, 1),
    "sgemm over the flop cap": (descriptor(5, [u32(40000)] * 3 + [f32(1), buf(T.BUF_IN, X_AT, 16),
                                                                   buf(T.BUF_IN, Y_AT, 16), f32(0),
                                                                   buf(T.BUF_INOUT, Z_AT, 16)]),
                                E.TOO_LARGE, c.NO_INDEX),
    "mandelbrot over its iteration cap": (descriptor(7, [buf(T.BUF_OUT, Z_AT, 16), u32(2), u32(2), f32(0), f32(0),
                                                         f32(1), f32(1), u32(1 << 20)]), E.TOO_LARGE, c.NO_INDEX),
    "conv2d filter of 0 taps": (descriptor(6, [buf(T.BUF_IN, X_AT, 16), buf(T.BUF_IN, Y_AT, 16),
                                               buf(T.BUF_OUT, Z_AT, 16), u32(2), u32(2), u32(0), u32(1)]),
                                E.TOO_LARGE, c.NO_INDEX),
    "launch size for a built-in": (descriptor(2, [], global_size=(64, 0, 0)), E.BAD_LAUNCH, c.NO_INDEX),
    "source fields for a built-in": (descriptor(2, [], source=(X_AT, 16)), E.BAD_DESCRIPTOR, c.NO_INDEX),
    "kernel source without --allow-guest-kernels": (descriptor(0, [], opcode=c.Opcode.RUN_SOURCE, source=(X_AT, 8),
                                                               name=(Y_AT, 1), work_dim=1, global_size=(1, 0, 0)),
                                                    E.DENIED, c.NO_INDEX),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_descriptor_is_refused_and_touches_nothing(rig: Rig, name: str) -> None:
    desc, error, error_arg = HOSTILE[name]
    rig.put(X_AT, np.arange(1 << 14, dtype=np.float32))
    rig.memory.write(DESC_AT, desc)
    before = rig.ram.copy()
    assert rig.run(desc) == (c.Status.ERROR, error, error_arg), rig.device.error_message
    assert np.array_equal(rig.ram, before)
    assert E(error).name in rig.errors()                  # one line on stderr says what was wrong
    # The device still works afterwards.
    rig.put(Y_AT, np.zeros(4, np.float32))
    assert rig.run(saxpy(4))[:2] == (c.Status.DONE, 0)


@pytest.mark.parametrize("at", [DESC_AT + 4, RAM_BASE - c.DESC_SIZE, RAM_END - c.DESC_SIZE + 8, WINDOW, 0,
                                (1 << 64) - 8, RAM_END])
def test_descriptor_address_outside_ram_or_misaligned(rig: Rig, at: int) -> None:
    rig.put(Y_AT, np.zeros(4, np.float32))
    if rig.memory.contains(at, c.DESC_SIZE):
        rig.memory.write(at, saxpy(4))                  # where the guest put it (misaligned): in RAM before
    before = rig.ram.copy()
    assert rig.run(saxpy(4), at=at)[:2] == (c.Status.ERROR, E.BAD_DESCRIPTOR)
    assert np.array_equal(rig.ram, before)              # nothing ran: y is untouched


def test_bad_register_accesses(rig: Rig) -> None:
    d = rig.device
    d.write(c.REG_DOORBELL, 4, 2)
    assert (d.read(c.REG_STATUS, 4), d.read(c.REG_ERROR, 4)) == (c.Status.ERROR, E.BAD_DOORBELL)
    for offset, size in ((c.REG_MAGIC, 4), (c.REG_STATUS, 4), (c.REG_DOORBELL, 1), (c.REG_DESC, 2), (0xFFC, 4)):
        d.write(offset, size, 1)
        assert (d.read(c.REG_STATUS, 4), d.read(c.REG_ERROR, 4)) == (c.Status.ERROR, E.BAD_ACCESS)
    assert d.read(c.REG_MAGIC, 4) == c.MAGIC and d.read(c.REG_COMMANDS, 4) == 6
    # 0 at STATUS is the high half of an 8-byte doorbell store only right after the low half
    d.write(c.REG_DOORBELL, 4, 2)
    d.read(c.REG_STATUS, 4)
    d.write(c.REG_STATUS, 4, 0)
    assert (d.read(c.REG_STATUS, 4), d.read(c.REG_ERROR, 4)) == (c.Status.ERROR, E.BAD_ACCESS)


def test_the_descriptor_is_read_once_into_a_copy(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever happens to guest RAM after the copy, the checked copy is what runs: the device reads
    # the descriptor with a single GuestMemory.read of DESC_SIZE bytes and never again.
    reads: list[tuple[int, int]] = []
    real_read = rig.memory.read

    def spy(addr: int, length: int) -> bytes:
        reads.append((addr, length))
        return real_read(addr, length)

    monkeypatch.setattr(rig.memory, "read", spy)
    rig.put(Y_AT, np.zeros(4, np.float32))
    assert rig.run(saxpy(4))[:2] == (c.Status.DONE, 0)
    assert [r for r in reads if DESC_AT <= r[0] < DESC_AT + c.DESC_SIZE] == [(DESC_AT, c.DESC_SIZE)]


LENGTHS = [0, 4, 64, 4096, c.MAX_BUFFER + 4, (1 << 64) - 1]
EDGES = [0, RAM_BASE - 4, RAM_BASE, X_AT, RAM_END - 64, RAM_END, WINDOW, (1 << 64) - 4, (1 << 63)]


@st.composite
def random_arg(draw: st.DrawFn) -> tuple[int, int, int, int]:
    kind = draw(st.integers(0, 7))
    if kind in (T.U32, T.F32, T.I32):
        return raw_arg(kind, draw(st.one_of(st.integers(0, 255), st.integers(0, (1 << 64) - 1))),
                       draw(st.sampled_from([0, 0, 0, 4])), draw(st.sampled_from([0, 0, 0, 1])))
    addr = (draw(st.sampled_from(EDGES)) + 4 * draw(st.integers(-8, 8))) % (1 << 64)
    return raw_arg(kind, addr, draw(st.sampled_from(LENGTHS)))


@settings(max_examples=300, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kernel=st.integers(0, 8), args=st.lists(random_arg(), max_size=16), nargs_extra=st.integers(0, 2),
       opcode=st.sampled_from([1, 1, 1, 2, 0, 3]))
def test_random_descriptors_never_escape(rig: Rig, kernel: int, args: list[tuple[int, int, int, int]],
                                         nargs_extra: int, opcode: int) -> None:
    """Random headers and arguments (valid magic, addresses biased to the edges of RAM and the device
    window): every command ends in DONE or ERROR. An ERROR changes no byte of guest RAM; a DONE
    changes bytes only inside the command's out and inout buffers."""
    desc = descriptor(kernel, args, nargs=len(args) + nargs_extra, opcode=opcode)
    rig.memory.write(DESC_AT, desc)
    before = rig.ram.copy()
    status, _, _ = rig.run(desc)
    assert status in (c.Status.DONE, c.Status.ERROR)
    changed = np.flatnonzero(rig.ram != before)
    if status == c.Status.ERROR:
        assert changed.size == 0, changed[:8]
        return
    writable = np.zeros(rig.ram.size, bool)
    for kind, _, addr, length in args:
        if kind in (T.BUF_OUT, T.BUF_INOUT) and rig.memory.contains(addr, length):
            writable[addr - RAM_BASE:addr - RAM_BASE + length] = True
    assert writable[changed].all(), changed[~writable[changed]][:8]


# -- --gpu none and guest kernel source ---------------------------------------------------------------
def test_gpu_none(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, c.ComputeOptions(gpu="none"))
    d = rig.device
    assert d.read(c.REG_MAGIC, 4) == c.MAGIC and d.read(c.REG_FEATURES, 4) == c.FEATURE_BUILTIN
    assert d.read(c.REG_DEVICE_INDEX, 4) == c.NO_INDEX and d.read(c.REG_DEVICE_KIND, 4) == 0
    assert d.read(c.REG_DEVICE_NAME, 4) == 0
    assert rig.run(saxpy(4))[:2] == (c.Status.ERROR, E.NO_DEVICE)


SCALE = b"""
__kernel void scale(__global const float *x, __global float *y, float a, int off, uint n) {
    uint i = get_global_id(0);
    if (i < n) y[i] = a * x[i] + (float)off;
}
"""


def source_desc(src_at: int, src: bytes, name_at: int, name: bytes, args: list[tuple[int, int, int, int]],
                global_size: tuple[int, int, int] = (256, 0, 0),
                local_size: tuple[int, int, int] = (64, 0, 0), work_dim: int = 1) -> bytes:
    return descriptor(0, args, opcode=c.Opcode.RUN_SOURCE, source=(src_at, len(src)), name=(name_at, len(name)),
                      work_dim=work_dim, global_size=global_size, local_size=local_size)


def test_guest_kernel_source_runs_in_a_worker(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, c.ComputeOptions(allow_guest_kernels=True))
    assert rig.device.read(c.REG_FEATURES, 4) & c.FEATURE_SOURCE
    src_at, name_at = RAM_BASE + 0x40000, RAM_BASE + 0x48000
    rig.memory.write(src_at, SCALE)
    rig.memory.write(name_at, b"scale")
    x = np.arange(200, dtype=np.float32)
    rig.put(X_AT, x)
    args = [buf(T.BUF_IN, X_AT, 800), buf(T.BUF_OUT, Y_AT, 800), f32(1.5), raw_arg(T.I32, (-3) & 0xFFFF_FFFF),
            u32(200)]
    assert rig.run(source_desc(src_at, SCALE, name_at, b"scale", args))[:2] == (c.Status.DONE, 0)
    assert np.array_equal(rig.get(Y_AT, 200), np.float32(1.5) * x - np.float32(3))

    # A kernel that writes through a wild pointer kills its worker, not vm.
    wild = b"__kernel void wild(__global float *y) { ((__global float *)0x10)[get_global_id(0)] = 1.0f; }"
    rig.memory.write(src_at, wild)
    rig.memory.write(name_at, b"wild")
    desc = source_desc(src_at, wild, name_at, b"wild", [buf(T.BUF_OUT, Y_AT, 4)], (1, 0, 0), (0, 0, 0))
    rig.memory.write(DESC_AT, desc)
    before = rig.ram.copy()
    assert rig.run(desc)[:2] == (c.Status.ERROR, E.KERNEL_FAILED)
    assert np.array_equal(rig.ram, before)

    broken = b"__kernel void broken(__global float *y) { y[0] = undefined_name; }"
    rig.memory.write(src_at, broken)
    rig.memory.write(name_at, b"broken")
    assert rig.run(source_desc(src_at, broken, name_at, b"broken", [buf(T.BUF_OUT, Y_AT, 4)], (1, 0, 0),
                               (0, 0, 0)))[:2] == (c.Status.ERROR, E.KERNEL_FAILED)
    assert "undefined_name" in rig.errors()                 # the build log reaches the user


SOURCE_HOSTILE = {   # (kernel name bytes, work_dim, global, local, ERROR) with SCALE's five arguments
    "name not an identifier": (b"sc ale", 1, (256, 0, 0), (64, 0, 0), E.BAD_DESCRIPTOR),
    "name too long": (b"s" * 65, 1, (256, 0, 0), (64, 0, 0), E.TOO_LARGE),
    "work_dim 0": (b"scale", 0, (256, 0, 0), (64, 0, 0), E.BAD_LAUNCH),
    "work_dim 4": (b"scale", 4, (256, 0, 0), (64, 0, 0), E.BAD_LAUNCH),
    "global size 0": (b"scale", 1, (0, 0, 0), (0, 0, 0), E.BAD_LAUNCH),
    "sizes beyond work_dim": (b"scale", 1, (256, 4, 0), (64, 0, 0), E.BAD_LAUNCH),
    "local does not divide global": (b"scale", 1, (256, 0, 0), (96, 0, 0), E.BAD_LAUNCH),
    "too many work items": (b"scale", 3, (1 << 20, 1 << 20, 1 << 20), (0, 0, 0), E.TOO_LARGE),
    "work-group too large": (b"scale", 1, (4096, 0, 0), (2048, 0, 0), E.TOO_LARGE),
}


@pytest.mark.parametrize("name", SOURCE_HOSTILE)
def test_hostile_source_descriptor(tmp_path: Path, name: str) -> None:
    kernel, dim, glob, loc, error = SOURCE_HOSTILE[name]
    rig = make_rig(tmp_path, c.ComputeOptions(allow_guest_kernels=True))
    src_at, name_at = RAM_BASE + 0x40000, RAM_BASE + 0x48000
    rig.memory.write(src_at, SCALE)
    rig.memory.write(name_at, kernel)
    args = [buf(T.BUF_IN, X_AT, 800), buf(T.BUF_OUT, Y_AT, 800), f32(1.5), u32(0), u32(200)]
    desc = source_desc(src_at, SCALE, name_at, kernel, args, glob, loc, dim)
    rig.memory.write(DESC_AT, desc)
    before = rig.ram.copy()
    assert rig.run(desc)[:2] == (c.Status.ERROR, error), rig.device.error_message
    assert np.array_equal(rig.ram, before)


def test_source_outside_ram_and_non_text(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, c.ComputeOptions(allow_guest_kernels=True))
    name_at = RAM_BASE + 0x48000
    rig.memory.write(name_at, b"scale")
    args = [u32(0)]
    assert rig.run(source_desc(RAM_END - 8, b"x" * 64, name_at, b"scale", args))[:2] == (c.Status.ERROR,
                                                                                       E.BAD_BUFFER)
    assert rig.run(source_desc(WINDOW, b"x" * 64, name_at, b"scale", args))[:2] == (c.Status.ERROR, E.BAD_BUFFER)
    rig.memory.write(X_AT, b"\xff\xfe bad")
    assert rig.run(source_desc(X_AT, b"\xff\xfe bad", name_at, b"scale", args))[:2] == (c.Status.ERROR,
                                                                                      E.BAD_DESCRIPTOR)
    assert struct.calcsize("<IIQQ") * 16 + 96 == c.DESC_SIZE == 480
