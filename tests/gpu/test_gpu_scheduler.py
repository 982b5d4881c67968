"""The least-loaded scheduler: its policy on fake lanes, and real launches over two PoCL contexts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from gpu_helpers import FakeDevice, pocl_device

from vmcli.gpu.cache import ProgramCache
from vmcli.gpu.driver import GpuError
from vmcli.gpu.opencl import ClDevice
from vmcli.gpu.runtime import Arg, Runner, Timings
from vmcli.gpu.scheduler import Scheduler, launch_cost


class FakeLaunch:
    def __init__(self) -> None:
        self.finished = False
        self.waited = False

    def done(self) -> bool:
        return self.finished

    def wait(self) -> Timings:
        self.finished = self.waited = True
        return Timings(0.0, 0.0, 0.0, 0.0)


class FakeLane:
    def __init__(self, compute_units: int) -> None:
        self.device = FakeDevice("gpu", f"fake{compute_units}", 0, compute_units)
        self.launches: list[FakeLaunch] = []

    def start(self, kernel: int | str, args: Sequence[Arg]) -> FakeLaunch:
        self.launches.append(FakeLaunch())
        return self.launches[-1]


def vadd(n: int) -> list[Arg]:
    a = np.zeros(n, np.float32)
    return [a, a, a, n]


def test_equal_lanes_alternate() -> None:
    s = Scheduler([FakeLane(4), FakeLane(4)])
    assert [s.submit("vadd", vadd(8)).lane for _ in range(6)] == [0, 1, 0, 1, 0, 1]


def test_small_launches_go_around_a_busy_lane() -> None:
    lanes = [FakeLane(1), FakeLane(1)]
    s = Scheduler(lanes)
    assert s.submit("vadd", vadd(8), cost=100).lane == 0
    assert [s.submit("vadd", vadd(8), cost=10).lane for _ in range(10)] == [1] * 10
    assert s.submit("vadd", vadd(8), cost=10).lane == 0      # lane 1 now holds 100 too: tie, fewer launches
    lanes[0].launches[0].finished = True                    # the big one ends
    assert s.submit("vadd", vadd(8), cost=10).lane == 0
    assert lanes[0].launches[0].waited                      # collected (buffers freed) when found done


def test_bigger_device_takes_proportionally_more() -> None:
    s = Scheduler([FakeLane(4), FakeLane(1)])
    lanes = [s.submit("vadd", vadd(8), cost=1).lane for _ in range(10)]
    assert lanes.count(0) == 8 and lanes.count(1) == 2


def test_cost_is_the_kernel_flop_count() -> None:
    a = np.zeros(1, np.float32)
    assert launch_cost("sgemm", [4, 5, 6, 1.0, a, a, 0.0, a]) == 2 * 4 * 5 * 6
    assert launch_cost(1, vadd(100)) == 100
    with pytest.raises(GpuError, match="takes 4 arguments"):
        launch_cost("vadd", [a])


def test_no_lanes() -> None:
    with pytest.raises(GpuError, match="no devices"):
        Scheduler([])


def test_two_pocl_contexts_share_independent_launches(cache_dir: Path, runner: Runner) -> None:
    second = Runner(pocl_device(ProgramCache(cache_dir)))   # same hardware, its own context and queue
    s = Scheduler([runner, second])
    rng = np.random.default_rng(7)
    work = []
    for _ in range(8):
        n = 1 << 16
        a, b = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
        c = np.zeros(n, np.float32)
        work.append((s.submit("vadd", [a, b, c, n]), a, b, c))
    m = 64
    A, B = rng.random((m, m), dtype=np.float32), rng.random((m, m), dtype=np.float32)
    C = np.zeros((m, m), np.float32)
    job = s.submit("sgemm", [m, m, m, 1.0, A, B, 0.0, C])
    s.wait_all()
    for j, a, b, c in work:
        assert j.wait().kernel_s > 0
        assert np.array_equal(c, a + b)
    np.testing.assert_allclose(C, A.astype(np.float64) @ B, rtol=1e-5)
    assert job.lane in (0, 1)
    assert all(n > 0 for n in s.submitted)


def test_for_devices_builds_one_runner_per_device(pocl: ClDevice, cache_dir: Path) -> None:
    s = Scheduler.for_devices([pocl, pocl_device(ProgramCache(cache_dir))], max_flops=1e6)
    assert [type(lane).__name__ for lane in s.lanes] == ["Runner", "Runner"]
    x, y = np.ones(8, np.float32), np.zeros(8, np.float32)
    assert s.submit("vadd", [x, x, y, 8]).wait().kernel_s > 0
    assert y.tolist() == [2.0] * 8
    with pytest.raises(GpuError, match="limit"):
        s.submit("sgemm", [128, 128, 128, 1.0, x, x, 0.0, y])
