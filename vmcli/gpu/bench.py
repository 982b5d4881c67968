"""`vm gpu bench`: copy bandwidth and SGEMM GFLOP/s of one device, timed by the device's own clock.

Each figure is the median of `repeats` runs after one warm-up; the SGEMM result is checked against
numpy so a fast wrong kernel cannot report a number.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from vmcli.gpu.driver import Device, Event, GpuError
from vmcli.gpu.runtime import Runner


@dataclass(frozen=True)
class BenchResult:
    index: int
    kind: str
    name: str
    copy_bytes: int
    h2d_gbs: float      # host -> device, GB/s (1e9 bytes)
    d2h_gbs: float
    d2d_gbs: float      # a device -> device copy moves the bytes once each way; counted once
    sgemm_n: int
    sgemm_gflops: float
    sgemm_max_rel_err: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _median_s(events: list[Event]) -> float:
    return statistics.median(e.elapsed_s() for e in events)


def bench_device(device: Device, *, copy_mb: int = 32, sgemm_n: int = 512, repeats: int = 5) -> BenchResult:
    nbytes = copy_mb << 20
    host = np.arange(nbytes // 4, dtype=np.uint32)
    back = np.empty_like(host)
    q = device.queue()
    a, b = device.alloc(nbytes), device.alloc(nbytes)
    try:
        rounds = range(repeats + 1)
        h2d = [q.write(a, host) for _ in rounds][1:]
        d2d = [q.copy(b, a) for _ in rounds]
        q.finish()
        d2h = [q.read(back, b) for _ in rounds][1:]
        if not np.array_equal(back, host):
            raise GpuError(f"bench: {device.info.name} copied the buffer wrongly")
    finally:
        a.free()
        b.free()

    rng = np.random.default_rng(1)
    n = sgemm_n
    A = rng.standard_normal((n, n), dtype=np.float32)
    B = rng.standard_normal((n, n), dtype=np.float32)
    C = np.zeros((n, n), np.float32)
    runner = Runner(device)
    times = [runner.run("sgemm", [n, n, n, 1.0, A, B, 0.0, C]).kernel_s for _ in rounds][1:]
    ref = A.astype(np.float64) @ B.astype(np.float64)
    err = float(np.max(np.abs(C - ref)) / max(1e-30, float(np.max(np.abs(ref)))))
    if err > 1e-4:
        raise GpuError(f"bench: sgemm on {device.info.name} is wrong (max relative error {err:.2e})")
    return BenchResult(
        index=device.index, kind=device.info.kind, name=device.info.name, copy_bytes=nbytes,
        h2d_gbs=nbytes / _median_s(h2d) / 1e9, d2h_gbs=nbytes / _median_s(d2h) / 1e9,
        d2d_gbs=nbytes / _median_s(d2d[1:]) / 1e9, sgemm_n=n,
        sgemm_gflops=2 * n**3 / statistics.median(times) / 1e9, sgemm_max_rel_err=err)
