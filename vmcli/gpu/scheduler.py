"""Spreading independent kernel launches over several devices: each goes to the least-loaded lane.

A lane is a Runner (one device and its queue). A lane's load is the work of its launches that have
not finished yet (the kernel table's flop count), divided by the device's compute units, so a big
device takes proportionally more. Ties go to the lane that was given fewer launches so far, then to
the lower index. Finished launches are found by polling their events; nothing here blocks except
`wait_all`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from vmcli.gpu import kernels
from vmcli.gpu.driver import Device, GpuError
from vmcli.gpu.runtime import Arg, Runner, Timings


class Launch(Protocol):
    def done(self) -> bool: ...
    def wait(self) -> Timings: ...


class Lane(Protocol):
    @property
    def device(self) -> Device: ...

    def start(self, kernel: int | str, args: Sequence[Arg]) -> Launch: ...


@dataclass
class Job:
    lane: int
    cost: float
    launch: Launch

    def wait(self) -> Timings:
        return self.launch.wait()


def launch_cost(kernel: int | str, args: Sequence[Arg]) -> float:
    """The kernel's flop count for these scalar arguments (buffers do not enter it)."""
    spec = kernels.spec(kernel)
    if len(args) != len(spec.params):
        raise GpuError(f"{spec.name} takes {len(spec.params)} arguments, got {len(args)}")
    scalars = {p.name: a for p, a in zip(spec.params, args, strict=True) if not p.is_buffer}
    try:
        return float(spec.flops(scalars))  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise GpuError(f"{spec.name}: bad scalar argument ({exc})") from exc


@dataclass
class Scheduler:
    lanes: Sequence[Lane]
    submitted: list[int] = field(init=False)
    _active: list[list[Job]] = field(init=False)

    @classmethod
    def for_devices(cls, devices: Sequence[Device], max_flops: float | None = None) -> Scheduler:
        """One Runner (one queue) per device."""
        return cls([Runner(d, max_flops) for d in devices])

    def __post_init__(self) -> None:
        if not self.lanes:
            raise GpuError("scheduler: no devices")
        self.submitted = [0] * len(self.lanes)
        self._active = [[] for _ in self.lanes]

    def load(self, lane: int) -> float:
        """Outstanding work on `lane` per compute unit (finished launches are collected here)."""
        running = []
        for j in self._active[lane]:
            if j.launch.done():
                j.wait()   # already done: frees its buffers without blocking
            else:
                running.append(j)
        self._active[lane] = running
        units = max(1, self.lanes[lane].device.info.compute_units)
        return sum(j.cost for j in self._active[lane]) / units

    def pick(self) -> int:
        return min(range(len(self.lanes)), key=lambda i: (self.load(i), self.submitted[i], i))

    def submit(self, kernel: int | str, args: Sequence[Arg], cost: float | None = None) -> Job:
        work = launch_cost(kernel, args) if cost is None else cost
        i = self.pick()
        job = Job(i, work, self.lanes[i].start(kernel, args))
        self.submitted[i] += 1
        self._active[i].append(job)
        return job

    def wait_all(self) -> None:
        for jobs in self._active:
            for j in jobs:
                j.wait()
            jobs.clear()
