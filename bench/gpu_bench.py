"""Host-side compute numbers: what vmcli's driver layer costs against plain pyopencl, SGEMM against
numpy, and the scheduler over one lane against two.

    .venv/bin/python bench/gpu_bench.py [--device SPEC] [--repeats N] [--json]

Every figure is a median of --repeats runs after a warm-up (saxpy: 10x as many), each result
checked against numpy; a figure and its baseline run alternately.
- saxpy_1m: y = a*x + y over 1M floats, upload + kernel + download, wall time. Baseline: the same
  kernel source called directly through pyopencl (buffers created per call, as vmcli does).
  `ratio` = vmcli / direct (the guest path will be measured against the same baseline).
- sgemm_N: kernel time on the device clock -> GFLOP/s; wall time including transfers; numpy's
  matmul (OpenBLAS on the host CPU) as the baseline.
- scheduler: 16 independent SGEMM 256x256 launches, wall time, one lane against two lanes (two
  contexts on the selected device: on a one-device machine this shows the scheduler's overhead,
  not a speed-up).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vmcli.gpu import kernels  # noqa: E402
from vmcli.gpu.devices import select_device  # noqa: E402
from vmcli.gpu.driver import Device  # noqa: E402
from vmcli.gpu.opencl import ClDevice  # noqa: E402
from vmcli.gpu.runtime import Runner  # noqa: E402
from vmcli.gpu.scheduler import Scheduler  # noqa: E402


def paired_s(a: Callable[[], object], b: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Medians of `a` and `b` run alternately, so a load change on the machine hits both alike."""
    a()
    b()
    ta: list[float] = []
    tb: list[float] = []
    for _ in range(repeats):
        for fn, times in ((a, ta), (b, tb)):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb)


def saxpy(device: ClDevice, repeats: int) -> dict[str, float]:
    import pyopencl as cl

    n = 1 << 20
    rng = np.random.default_rng(0)
    x, y0 = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    want = np.float32(2.0) * x + y0

    ctx = cl.Context([device.cl_device])
    q = cl.CommandQueue(ctx)
    prg = cl.Program(ctx, kernels.source("opencl")).build()
    kern = cl.Kernel(prg, "vm_saxpy")
    y_direct = y0.copy()

    def direct() -> None:
        y_direct[:] = y0
        mf = cl.mem_flags
        bx = cl.Buffer(ctx, mf.READ_ONLY, x.nbytes)
        by = cl.Buffer(ctx, mf.READ_WRITE, y_direct.nbytes)
        cl.enqueue_copy(q, bx, x, is_blocking=False)
        cl.enqueue_copy(q, by, y_direct, is_blocking=False)
        kern.set_args(np.float32(2.0), bx, by, np.uint32(n))
        cl.enqueue_nd_range_kernel(q, kern, (n,), (64,))
        cl.enqueue_copy(q, y_direct, by, is_blocking=True)

    runner = Runner(device)
    y_vm = y0.copy()

    def via_vmcli() -> None:
        y_vm[:] = y0
        runner.run("saxpy", [2.0, x, y_vm, n])

    t_direct, t_vm = paired_s(direct, via_vmcli, 10 * repeats)
    assert np.array_equal(y_direct, want) and np.array_equal(y_vm, want)
    return {"direct_ms": t_direct * 1e3, "vmcli_ms": t_vm * 1e3, "ratio": t_vm / t_direct}


def sgemm(device: Device, n: int, repeats: int) -> dict[str, float]:
    rng = np.random.default_rng(n)
    A, B = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    C = np.zeros((n, n), np.float32)
    runner = Runner(device)
    runner.run("sgemm", [n, n, n, 1.0, A, B, 0.0, C])
    kernel_s = statistics.median(runner.run("sgemm", [n, n, n, 1.0, A, B, 0.0, C]).kernel_s
                                 for _ in range(repeats))
    wall_s, numpy_s = paired_s(lambda: runner.run("sgemm", [n, n, n, 1.0, A, B, 0.0, C]), lambda: A @ B,
                               repeats)
    np.testing.assert_allclose(C, A.astype(np.float64) @ B, rtol=1e-3, atol=1e-3)
    flop = 2 * n**3
    return {"kernel_gflops": flop / kernel_s / 1e9, "wall_ms": wall_s * 1e3, "numpy_ms": numpy_s * 1e3,
            "numpy_gflops": flop / numpy_s / 1e9, "wall_vs_numpy": wall_s / numpy_s}


def scheduler(device: ClDevice, repeats: int) -> dict[str, float]:
    n, jobs = 256, 16
    rng = np.random.default_rng(3)
    mats = [(rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)) for _ in range(jobs)]
    outs = [np.zeros((n, n), np.float32) for _ in range(jobs)]
    lanes = [Runner(device), Runner(ClDevice(device.cl_device))]

    def spread(k: int) -> Callable[[], None]:
        def go() -> None:
            s = Scheduler(lanes[:k])
            for (A, B), C in zip(mats, outs, strict=True):
                s.submit("sgemm", [n, n, n, 1.0, A, B, 0.0, C])
            s.wait_all()
        return go

    one, two = paired_s(spread(1), spread(2), repeats)
    np.testing.assert_allclose(outs[-1], mats[-1][0].astype(np.float64) @ mats[-1][1], rtol=1e-4)
    return {"one_lane_ms": one * 1e3, "two_lanes_ms": two * 1e3, "speedup": one / two}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    device = select_device(args.device)
    if not isinstance(device, ClDevice):
        sys.exit(f"gpu_bench: needs an OpenCL device, got {device!r}")
    results = {
        "device": f"{device.info.kind}: {device.info.name} ({device.info.platform})",
        "saxpy_1m": saxpy(device, args.repeats),
        **{f"sgemm_{n}": sgemm(device, n, args.repeats) for n in (256, 512, 1024)},
        "scheduler_16x_sgemm_256": scheduler(device, max(3, args.repeats // 2)),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(results["device"])
    for name, row in results.items():
        if isinstance(row, dict):
            print(f"  {name:26s} " + "  ".join(f"{k}={v:.3g}" for k, v in row.items()))


if __name__ == "__main__":
    main()
