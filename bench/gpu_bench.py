"""Host-side compute numbers: what vmcli's driver layer costs against plain pyopencl, SGEMM against
numpy, and the scheduler over one lane against two.

    .venv/bin/python bench/gpu_bench.py [--device SPEC] [--repeats N] [--json]

Every figure is a median of --repeats runs after a warm-up (saxpy: 10x as many), each result
checked against numpy; a figure and its baseline run alternately.
- saxpy_1m: y = a*x + y over 1M floats, upload + kernel + download, wall time. Baseline: the same
  kernel called directly through pyopencl, or through cuda-bindings' driver API for the cuda
  driver, into device buffers allocated once (vmcli keeps its buffers between launches too).
  `ratio` = vmcli / direct (the guest path will be measured against the same baseline).
- sgemm_N (N to 1024 on a CPU device, to 4096 on others): kernel time on the device clock ->
  GFLOP/s; wall time including transfers; numpy's matmul (OpenBLAS on the host CPU) as the baseline.
- scheduler: 16 independent SGEMM 256x256 launches, wall time, one lane against two lanes (two
  contexts on the selected device: on a one-device machine this shows the scheduler's overhead,
  not a speed-up).
- guest_saxpy_1m: the guest compute device's path for the same SAXPY, against the same direct
  pyopencl baseline. `doorbell`: a machine's device rung from here with x and y in guest RAM
  (descriptor copy and checks, zero-copy views of guest RAM), paired with the baseline. `guest`: the
  bundled gpu-saxpy-arm64 run in this process (vm run's machine) timing 7 launches per run on the
  device's clock register, doorbell write to status read (MMIO exits included; each run's first
  launch dropped), in runs that alternate with 6 calls of the baseline.
- guest_sgemm_256_<arch>: the bundled gpu-sgemm-<arch> under `vm run` (--repeats // 3 runs, at least
  2): the median of 5 device launches (doorbell to status, guest clock) against the same product
  computed by the emulated guest CPU (-O2 i-k-j loop), both timed by the guest in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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


def direct_saxpy(device: Device, x: np.ndarray, y0: np.ndarray) -> tuple[Callable[[], None], np.ndarray]:
    """The baseline: y = 2x + y through the vendor API alone (pyopencl, or cuda-bindings for the cuda
    driver), into device buffers allocated once, as vmcli keeps them between launches. It updates
    y_direct in place; callers restore it from y0 (outside the timing where they can)."""
    if not isinstance(device, ClDevice):
        return direct_saxpy_cuda(device, x, y0)
    import pyopencl as cl

    n = x.size
    ctx = cl.Context([device.cl_device])
    q = cl.CommandQueue(ctx)
    prg = cl.Program(ctx, kernels.source("opencl")).build()
    kern = cl.Kernel(prg, "vm_saxpy")
    y_direct = y0.copy()
    mf = cl.mem_flags
    bx = cl.Buffer(ctx, mf.READ_ONLY, x.nbytes)
    by = cl.Buffer(ctx, mf.READ_WRITE, y_direct.nbytes)

    def direct() -> None:
        cl.enqueue_copy(q, bx, x, is_blocking=False)
        cl.enqueue_copy(q, by, y_direct, is_blocking=False)
        kern.set_args(np.float32(2.0), bx, by, np.uint32(n))
        cl.enqueue_nd_range_kernel(q, kern, (n,), (64,))
        cl.enqueue_copy(q, y_direct, by, is_blocking=True)

    return direct, y_direct


def direct_saxpy_cuda(device: Device, x: np.ndarray, y0: np.ndarray) -> tuple[Callable[[], None], np.ndarray]:
    """The same baseline on the CUDA driver API: buffers from cuMemAlloc once, then per call async
    copies, cuLaunchKernel and a synchronous copy back (the kernel is the library's, as NVRTC built
    it)."""
    from cuda.bindings import driver as cu

    from vmcli.gpu.cuda import CudaDevice

    assert isinstance(device, CudaDevice)
    n = x.size
    fn = device.compile(kernels.source("cuda"), kernels.OPTIONS["cuda"]).kernel("vm_saxpy").function
    device.make_current()
    _, stream = cu.cuStreamCreate(1)
    y_direct = y0.copy()
    _, bx = cu.cuMemAlloc(x.nbytes)
    _, by = cu.cuMemAlloc(y_direct.nbytes)

    def direct() -> None:
        cu.cuMemcpyHtoDAsync(bx, x.ctypes.data, x.nbytes, stream)
        cu.cuMemcpyHtoDAsync(by, y_direct.ctypes.data, y_direct.nbytes, stream)
        values: list[np.ndarray] = [np.array([2.0], np.float32), np.array([int(bx)], np.uint64),
                                    np.array([int(by)], np.uint64), np.array([n], np.uint32)]
        params = np.array([v.ctypes.data for v in values], np.uint64)
        cu.cuLaunchKernel(fn, n // 64, 1, 1, 64, 1, 1, 0, stream, params.ctypes.data, 0)
        cu.cuMemcpyDtoHAsync(y_direct.ctypes.data, by, y_direct.nbytes, stream)
        cu.cuStreamSynchronize(stream)

    return direct, y_direct


def twin(device: Device) -> Device:
    """A second, independent handle on the same hardware (its own context or stream)."""
    if isinstance(device, ClDevice):
        return ClDevice(device.cl_device)
    from vmcli.gpu.cuda import CudaDevice

    assert isinstance(device, CudaDevice)
    return CudaDevice(device.ordinal)


def saxpy(device: Device, repeats: int) -> dict[str, float]:
    n = 1 << 20
    rng = np.random.default_rng(0)
    x, y0 = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    want = np.float32(2.0) * x + y0
    run_direct, y_direct = direct_saxpy(device, x, y0)
    runner = Runner(device)

    def direct() -> None:
        y_direct[:] = y0
        run_direct()

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


def scheduler(device: Device, repeats: int) -> dict[str, float]:
    n, jobs = 256, 16
    rng = np.random.default_rng(3)
    mats = [(rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)) for _ in range(jobs)]
    outs = [np.zeros((n, n), np.float32) for _ in range(jobs)]
    lanes = [Runner(device), Runner(twin(device))]

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


def vm_run(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "vmcli", "run", *args], capture_output=True, text=True,
                          check=False, cwd=ROOT)
    if proc.returncode != 0 or not proc.stdout.endswith("PASS\n"):
        sys.exit(f"gpu_bench: vm run {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def run_guest(image: str, device: Device, cmdline: str) -> str:
    """Run a bundled guest in this process under `vm run`'s machine; its console output."""
    import tempfile

    from vmcli.machine.devices.compute import ComputeOptions
    from vmcli.machine.devices.device import Console
    from vmcli.machine.launch import boot

    with tempfile.TemporaryFile() as out, open(os.devnull, "rb") as null:
        machine = boot(str(ROOT / "guest-images/bin" / f"{image}.elf"), cmdline=cmdline,
                       console=Console(out.fileno(), null.fileno(), out.fileno()),
                       compute=ComputeOptions(str(device.index)))
        result = machine.run()
        out.seek(0)
        text = out.read().decode()
    if result.status != 0:
        sys.exit(f"gpu_bench: {image} {cmdline} exited with {result.status}:\n{text}")
    return text


def guest_saxpy(device: Device, repeats: int) -> dict[str, float]:
    import struct

    from vmcli.machine.devices import compute as c
    from vmcli.machine.devices.compute import ComputeOptions
    from vmcli.machine.launch import boot

    n = 1 << 20
    rng = np.random.default_rng(0)
    x, y0 = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    want = np.float32(2.0) * x + y0
    run_direct, y_direct = direct_saxpy(device, x, y0)

    def direct() -> None:   # the doorbell side restores y too
        y_direct[:] = y0
        run_direct()

    machine = boot(str(ROOT / "guest-images/bin/gpu-saxpy-arm64.elf"), compute=ComputeOptions(str(device.index)))
    dev = next(d for d in machine.devices if isinstance(d, c.ComputeDevice))
    mem = machine.memory
    desc_at, x_at = mem.base + (64 << 20), mem.base + (65 << 20)
    y_at = x_at + x.nbytes
    mem.write(x_at, x.tobytes())
    args = [(c.ArgType.F32, 0, int(np.float32(2.0).view(np.uint32)), 0), (c.ArgType.BUF_IN, 0, x_at, x.nbytes),
            (c.ArgType.BUF_INOUT, 0, y_at, x.nbytes), (c.ArgType.U32, 0, n, 0)]
    desc = c.HEADER.pack(c.DESC_MAGIC, c.Opcode.RUN_BUILTIN, 2, len(args), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    mem.write(desc_at, (desc + b"".join(struct.pack("<IIQQ", *a) for a in args)).ljust(c.DESC_SIZE, b"\0"))
    y_guest = mem.view(y_at, x.nbytes).view(np.float32)

    def doorbell() -> None:
        y_guest[:] = y0
        dev.write(c.REG_DESC, 8, desc_at)
        dev.write(c.REG_DOORBELL, 4, c.DOORBELL_RUN)
        assert dev.status == c.Status.DONE, dev.error_message

    t_direct, t_door = paired_s(direct, doorbell, 10 * repeats)
    assert np.array_equal(y_direct, want) and np.array_equal(y_guest, want)

    # The real guest, in this process, in rounds that alternate with the baseline.
    guest_times: list[float] = []
    direct_times: list[float] = []
    for _ in range(max(3, repeats // 2)):
        out = run_guest("gpu-saxpy-arm64", device, f"{n} 7")
        m = re.search(r"launch_us=([\d,]+)", out)
        assert m is not None and out.endswith("PASS\n"), out
        guest_times += [int(v) / 1e6 for v in m.group(1).split(",")[1:]]
        for _ in range(6):   # the guest's figure excludes its own refill of y: so does this one
            y_direct[:] = y0
            t = time.perf_counter()
            run_direct()
            direct_times.append(time.perf_counter() - t)
    guest_s, base_s = statistics.median(guest_times), statistics.median(direct_times)
    return {"direct_ms": t_direct * 1e3, "doorbell_ms": t_door * 1e3, "doorbell_ratio": t_door / t_direct,
            "direct_again_ms": base_s * 1e3, "guest_ms": guest_s * 1e3, "guest_ratio": guest_s / base_s}


def guest_sgemm(device: Device, arch: str, runs: int) -> dict[str, float]:
    device_us, cpu_us = [], []
    for _ in range(runs):
        out = vm_run(f"gpu-sgemm-{arch}", "--gpu", str(device.index))
        m = re.search(r"device_us=(\d+) kernel_us=\d+ cpu_us=(\d+)", out)
        assert m is not None, out
        device_us.append(int(m.group(1)))
        cpu_us.append(int(m.group(2)))
    dev_s, cpu_s = statistics.median(device_us) / 1e6, statistics.median(cpu_us) / 1e6
    return {"offloaded_ms": dev_s * 1e3, "guest_cpu_ms": cpu_s * 1e3, "speedup": cpu_s / dev_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--guest-only", action="store_true", help="only the guest compute device's figures")
    args = ap.parse_args()
    device = select_device(args.device)
    if device is None:
        sys.exit("gpu_bench: needs a device, not --device none")
    results: dict[str, object] = {"device": f"{device.info.kind}: {device.info.name} ({device.info.platform})"}
    if not args.guest_only:
        results["saxpy_1m"] = saxpy(device, args.repeats)
        sizes = (256, 512, 1024) if device.info.kind == "cpu" else (256, 512, 1024, 2048, 4096)
        results.update({f"sgemm_{n}": sgemm(device, n, args.repeats) for n in sizes})
        results["scheduler_16x_sgemm_256"] = scheduler(device, max(3, args.repeats // 2))
    results["guest_saxpy_1m"] = guest_saxpy(device, args.repeats)
    for arch in ("arm64", "riscv64"):
        results[f"guest_sgemm_256_{arch}"] = guest_sgemm(device, arch, max(2, args.repeats // 3))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(results["device"])
    for name, row in results.items():
        if isinstance(row, dict):
            print(f"  {name:26s} " + "  ".join(f"{k}={v:.3g}" for k, v in row.items()))


if __name__ == "__main__":
    main()
