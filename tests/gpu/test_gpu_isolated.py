"""Untrusted OpenCL C in a worker process: results come back; build errors, crashes and endless
loops end in a GpuError while this process carries on."""

from __future__ import annotations

import numpy as np
import pytest

from vmcli.gpu.driver import GpuError
from vmcli.gpu.isolated import BufferArg, ScalarArg, run_source

SCALE = """
__kernel void scale(__global const float *x, __global float *y, float a, uint n)
{
    uint i = get_global_id(0);
    if (i < n) y[i] = a * x[i];
}
"""


def test_results_come_back() -> None:
    x = np.arange(100, dtype=np.float32)
    res = run_source(SCALE, "scale", [BufferArg(x.tobytes(), "in"), BufferArg(bytes(400), "out"),
                                      ScalarArg(1.5, "f32"), ScalarArg(100, "u32")], (128,), (64,))
    assert res.outputs[0] is None and res.outputs[2] is None
    assert np.array_equal(np.frombuffer(res.outputs[1] or b"", np.float32), np.float32(1.5) * x)
    assert res.kernel_s > 0


def test_build_error_carries_the_log() -> None:
    with pytest.raises(GpuError, match="no_such_function"):
        run_source("__kernel void k(__global int *x) { x[0] = no_such_function(); }", "k",
                   [BufferArg(bytes(4), "out")], (1,))


def test_unknown_kernel_and_bad_scalar() -> None:
    with pytest.raises(GpuError, match="nope"):
        run_source(SCALE, "nope", [], (1,))
    with pytest.raises(GpuError, match="bad scalar"):
        run_source(SCALE, "scale", [BufferArg(bytes(4), "in"), BufferArg(bytes(4), "out"),
                                    ScalarArg(1.0, "f32"), ScalarArg(-1, "u32")], (1,))
    with pytest.raises(GpuError, match="bad scalar"):
        run_source(SCALE, "scale", [BufferArg(bytes(4), "in"), BufferArg(bytes(4), "out"),
                                    ScalarArg(1.0, "f32"), ScalarArg(2.5, "u32")], (1,))


def test_endless_kernel_is_killed() -> None:
    src = "__kernel void spin(__global volatile int *x) { while (x[0] == 0) { } }"
    with pytest.raises(GpuError, match="ran over 3 s; its worker was killed"):
        run_source(src, "spin", [BufferArg(bytes(4), "inout")], (1,), timeout_s=3)


def test_crashing_kernel_kills_only_the_worker() -> None:
    src = "__kernel void wild(__global int *x) { __global int *p = (__global int *)0x10; p[0] = 1; }"
    with pytest.raises(GpuError, match="worker died"):
        run_source(src, "wild", [BufferArg(bytes(4), "inout")], (1,))
