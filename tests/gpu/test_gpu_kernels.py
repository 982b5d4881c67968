"""Every built-in kernel against numpy on PoCL, and on an NVIDIA GPU where the cuda driver finds one;
the argument checks that keep launches inside their buffers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from vmcli.gpu import kernels, runtime
from vmcli.gpu.driver import Device, GpuError
from vmcli.gpu.opencl import ClDevice
from vmcli.gpu.runtime import Runner

rng = np.random.default_rng(2024)


def f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape, dtype=np.float32)


@pytest.mark.parametrize("n", [1, 63, 1000, 1 << 16])
def test_vadd(runner: Runner, n: int) -> None:
    a, b, c = f32(n), f32(n), np.full(n, np.nan, np.float32)
    t = runner.run("vadd", [a, b, c, n])
    assert np.array_equal(c, a + b)
    assert t.kernel_s > 0 and t.wall_s > 0            # each its own clock: the device's and the host's


@pytest.mark.parametrize("n", [5, 4097])
def test_saxpy_exact(runner: Runner, n: int) -> None:
    x, y = f32(n), f32(n)
    want = np.float32(-1.5) * x + y
    runner.run(2, [-1.5, x, y, n])   # by id
    assert np.array_equal(y, want)   # fused multiply-add is off: same roundings as numpy


@pytest.mark.parametrize("n", [1, 255, 256, 100_000, 1 << 20])
def test_dot(runner: Runner, n: int) -> None:
    x, y, out = f32(n), f32(n), np.full(1, 7.0, np.float32)
    runner.run("dot", [x, y, out, n])
    ref = float(x.astype(np.float64) @ y.astype(np.float64))
    assert out[0] == pytest.approx(ref, rel=1e-4, abs=1e-3)


@pytest.mark.parametrize("n", [1, 300, 1 << 20])
def test_reduce_sum(runner: Runner, n: int) -> None:
    x, out = rng.random(n, dtype=np.float32), np.full(1, 7.0, np.float32)   # out starts zeroed on device
    runner.run("reduce_sum", [x, out, n])
    assert out[0] == pytest.approx(float(x.astype(np.float64).sum()), rel=1e-5)


@pytest.mark.parametrize(("m", "n", "k"), [(1, 1, 1), (16, 16, 16), (70, 50, 33), (256, 256, 256)])
def test_sgemm(runner: Runner, m: int, n: int, k: int) -> None:
    A, B = f32(m, k), f32(k, n)
    C = np.full((m, n), np.nan, np.float32)   # beta == 0: C is not read, NaN must not leak through
    runner.run("sgemm", [m, n, k, 1.0, A, B, 0.0, C])
    np.testing.assert_allclose(C, A.astype(np.float64) @ B.astype(np.float64), rtol=1e-4, atol=1e-4)


def test_sgemm_rounds_like_an_in_order_float32_sum(runner: Runner) -> None:
    """Each C element is a float32 sum over k in order, every product and addition rounded on its
    own (fused multiply-add is off in both dialects): numpy doing the same agrees bit for bit."""
    m, n, k = 48, 40, 72
    A, B = f32(m, k), f32(k, n)
    want = np.zeros((m, n), np.float32)
    for kk in range(k):
        want = want + A[:, kk:kk + 1] * B[kk:kk + 1, :]
    C = np.zeros((m, n), np.float32)
    runner.run("sgemm", [m, n, k, 1.0, A, B, 0.0, C])
    assert np.array_equal(C, want)


def test_sgemm_alpha_beta(runner: Runner) -> None:
    A, B, C0 = f32(40, 24), f32(24, 30), f32(40, 30)
    C = C0.copy()
    runner.run("sgemm", [40, 30, 24, 0.5, A, B, -2.0, C])
    np.testing.assert_allclose(C, 0.5 * (A.astype(np.float64) @ B) - 2.0 * C0, rtol=1e-4, atol=1e-4)


def conv2d_reference(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Centred cross-correlation with zero padding, accumulated in the kernel's order."""
    kh, kw = k.shape
    padded = np.pad(img, ((kh // 2, kh - 1 - kh // 2), (kw // 2, kw - 1 - kw // 2)))
    h, w = img.shape
    out = np.zeros_like(img)
    for i in range(kh):
        for j in range(kw):
            out += padded[i:i + h, j:j + w] * k[i, j]
    return out


CONV_SHAPES = [(1, 1, 1, 1), (37, 53, 3, 3), (64, 64, 5, 7), (20, 9, 4, 2)]


@pytest.mark.parametrize(("h", "w", "kh", "kw"), CONV_SHAPES)
def test_conv2d(runner: Runner, h: int, w: int, kh: int, kw: int) -> None:
    img, k, out = f32(h, w), f32(kh, kw), np.empty((h, w), np.float32)
    runner.run("conv2d", [img, k, out, h, w, kh, kw])
    np.testing.assert_allclose(out, conv2d_reference(img, k), rtol=1e-5, atol=1e-5)


def mandelbrot_reference(w: int, h: int, x0: float, y0: float, dx: float, dy: float, it: int) -> np.ndarray:
    """The kernel's float32 iteration, vectorised."""
    f = np.float32
    cx = f(x0) + np.arange(w, dtype=f)[None, :] * f(dx) + np.zeros((h, 1), f)
    cy = f(y0) + np.arange(h, dtype=f)[:, None] * f(dy) + np.zeros((1, w), f)
    x, y = np.zeros((h, w), f), np.zeros((h, w), f)
    count = np.zeros((h, w), np.uint32)
    alive = np.ones((h, w), bool)
    for _ in range(it):
        x2, y2 = x * x, y * y
        alive &= ~(x2 + y2 > f(4))
        xy = x * y
        y = np.where(alive, xy + xy + cy, y)
        x = np.where(alive, x2 - y2 + cx, x)
        count += alive
    return count


def test_mandelbrot(runner: Runner) -> None:
    w, h, it = 96, 64, 200
    args = (-2.2, -1.2, 3.2 / w, 2.4 / h)
    img = np.zeros((h, w), np.uint32)
    runner.run("mandelbrot", [img, w, h, *args, it])
    ref = mandelbrot_reference(w, h, *args, it)
    assert np.array_equal(img, ref)
    assert img.max() == it and img.min() < 5   # both the set and fast escapes are in the picture


def test_memoryview_arguments(runner: Runner) -> None:
    """Guest RAM arrives as memoryviews of raw bytes: offsets into one block work too."""
    n = 100
    block = bytearray(12 * n + 8)
    a = np.frombuffer(block, np.float32, n, offset=0)
    a[:] = np.arange(n)
    b = np.frombuffer(block, np.float32, n, offset=4 * n)
    b[:] = 1.0
    c = memoryview(block)[8 * n:]
    runner.run("vadd", [memoryview(block)[:4 * n], memoryview(block)[4 * n:8 * n], c, n])
    assert np.frombuffer(block, np.float32, n, offset=8 * n).tolist() == [i + 1.0 for i in range(n)]
    assert block[-8:] == bytes(8)   # nothing past the n elements was written


BAD = [
    ("vadd", lambda a: [a, a, a], "takes 4 arguments"),
    ("vadd", lambda a: [a, a, a, 65], "holds 256 bytes, needs 260"),
    ("vadd", lambda a: [a, a, a, -1], "integer 0..4294967295"),
    ("vadd", lambda a: [a, a, a, 2.5], "integer"),
    ("vadd", lambda a: [a, 3, a, 4], "expected a buffer"),
    ("vadd", lambda a: [a, a, memoryview(bytes(256)), 4], "c is out but read-only"),
    ("saxpy", lambda a: ["x", a, a, 4], "expected a number"),
    ("vadd", lambda a: [a.astype(np.float64), a, a, 4], "expected float32 elements"),
    ("vadd", lambda a: [a, a, a[::2], 4], "C-contiguous"),
    ("vadd", lambda a: [a, np.array([None] * 8), a, 4], "got object"),
    ("sgemm", lambda a: [8, 8, 8, 1.0, a, a, 0.0, a], "needs"),          # 64 floats needed, 64 held: ok
    ("sgemm", lambda a: [65536, 65536, 1, 1.0, a, a, 0.0, a], "would span"),
    ("conv2d", lambda a: [a, a, a, 4, 4, 64, 1], "filter must be"),
    ("mandelbrot", lambda a: [a, 4, 4, 0.0, 0.0, 0.1, 0.1, 1 << 20], "max_iter"),
    (99, lambda a: [], "unknown built-in kernel 99"),
    ("fft", lambda a: [], "unknown built-in kernel 'fft'"),
]


@pytest.mark.parametrize(("kernel", "make", "words"), BAD)
def test_bad_arguments_are_refused(runner: Runner, kernel: int | str, make: Callable[[np.ndarray], list[Any]],
                                   words: str) -> None:
    a = np.zeros(64, np.float32)
    if words == "needs":   # the control case: exactly enough is accepted, and computed
        a[:] = 1.0
        runner.run(kernel, make(a))
        assert np.array_equal(a, np.full(64, 8.0, np.float32))   # C = A @ B of 8x8 ones (beta 0): all 8
        return
    with pytest.raises(GpuError, match=words.replace("(", "\\(").replace("[", "\\[")):
        runner.run(kernel, make(a))


@pytest.mark.parametrize("kernel", ["vadd", "saxpy", "dot", "reduce_sum", "sgemm", "conv2d", "mandelbrot"])
def test_empty_launches(runner: Runner, kernel: str) -> None:
    """Zero-sized work touches nothing: every buffer (each holds one 5.0 beyond what the sizes need)
    comes back as it went in, except the one-element result of a sum over nothing (dot, reduce_sum),
    which is 0."""
    spec = kernels.BY_NAME[kernel]
    sizes = {"vadd": [0], "saxpy": [2.0, 0], "dot": [0], "reduce_sum": [0], "sgemm": [0, 0, 0, 1.0, 0.0],
             "conv2d": [0, 0, 1, 1], "mandelbrot": [0, 0, 0.0, 0.0, 1.0, 1.0, 10]}[kernel]
    numbers = iter(sizes)
    args: list[Any] = []
    for p in spec.params:
        if p.is_buffer:
            args.append(np.full(1, 5.0, np.uint32 if kernel == "mandelbrot" else np.float32))
        else:
            args.append(next(numbers))
    runner.run(kernel, args)
    for p, a in zip(spec.params, args, strict=True):
        if p.is_buffer:
            assert a[0] == (0 if kernel in ("dot", "reduce_sum") and p.name == "out" else 5), (p.name, a)


def test_huge_float_scalar_becomes_inf(runner: Runner) -> None:
    x, y = np.ones(4, np.float32), np.zeros(4, np.float32)
    runner.run("saxpy", [10**400, x, y, 4])
    assert np.all(np.isposinf(y))


def test_flop_limit(pocl: ClDevice) -> None:
    limited = Runner(pocl, max_flops=2 * 32**3)
    m = np.zeros((64, 64), np.float32)
    limited.run("sgemm", [32, 32, 32, 1.0, m, m, 0.0, m])
    with pytest.raises(GpuError, match="over this runner's limit"):
        limited.run("sgemm", [32, 32, 33, 1.0, m, m, 0.0, m])


def test_table_ids_are_stable() -> None:
    assert {k: s.name for k, s in kernels.BY_ID.items()} == {
        1: "vadd", 2: "saxpy", 3: "dot", 4: "reduce_sum", 5: "sgemm", 6: "conv2d", 7: "mandelbrot"}


def test_every_kernel_is_in_the_library_source() -> None:
    src = kernels.source("opencl")
    for spec in kernels.BY_ID.values():
        assert f"KERNEL void {spec.symbol}(" in src
    # The launch sizes in Python and the constants in library.cl agree.
    for name, value in (("REDUCE_WG", kernels.REDUCE_WG), ("TILE", kernels.TILE), ("WPT", kernels.WPT)):
        assert f"#define {name} {value} " in src


def test_docs_table_matches_the_kernel_table() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "gpu.md").read_text()
    for s in kernels.BY_ID.values():
        row = next((line for line in doc.splitlines() if line.startswith(f"| {s.id} | `{s.name}` |")), None)
        assert row is not None, f"docs/gpu.md has no row for kernel {s.id} {s.name}"
        items = [item.split() for item in row.split("|")[3].split(",")]
        want = [(p.direction or p.dtype, p.name) for p in s.params]
        assert [(t[0], t[1].split("[")[0]) for t in items] == want


def test_buffers_are_reused_and_out_buffers_start_at_zero(device: Device, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second launch of the same sizes takes the first one's device buffers; `dot` accumulates into
    `out` atomically, so a reused buffer that were not zero-filled would double the result."""
    runner = Runner(device)
    allocs: list[int] = []
    real_alloc = device.alloc
    monkeypatch.setattr(device, "alloc", lambda n: allocs.append(n) or real_alloc(n))
    x, y = f32(5000), f32(5000)
    outs = [np.full(1, 7.0, np.float32) for _ in range(3)]
    for out in outs:
        runner.run("dot", [x, y, out, 5000])
    # numpy's dot in float64 is the oracle; the groups' atomic float32 adds land in any order, so each
    # launch agrees to rounding, where a stale start would be off by the 7.0 or double the sum
    want = float(np.dot(x.astype(np.float64), y.astype(np.float64)))
    assert [float(out[0]) for out in outs] == [pytest.approx(want, rel=1e-4, abs=1e-3)] * 3
    assert sorted(allocs) == [4, 20000, 20000]   # the first launch only
    # Over the pool's limit, finished launches' buffers are freed instead of kept.
    monkeypatch.setattr(runtime, "POOL_BYTES", 0)
    runner.release()
    kept = runner.start("vadd", [x, y, np.empty(5000, np.float32), 5000])
    bufs = list(kept._buffers)
    kept.wait()
    with pytest.raises(GpuError, match="after free"):
        device.queue().fill_zero(bufs[0])
