"""Test helpers: PoCL's device with a given cache, and fake devices that only describe themselves."""

from __future__ import annotations

from collections.abc import Sequence

from vmcli.gpu.cache import ProgramCache
from vmcli.gpu.driver import Buffer, Device, DeviceInfo, Kind, Program, Queue
from vmcli.gpu.opencl import ClDevice, OpenClDriver


def pocl_device(cache: ProgramCache) -> ClDevice:
    for d in OpenClDriver(cache).devices():
        if d.info.platform == "Portable Computing Language":
            assert isinstance(d, ClDevice)
            return d
    raise AssertionError("PoCL (pocl-binary-distribution) is not installed: it is a test dependency")


class FakeDevice(Device):
    def __init__(self, kind: Kind, name: str, index: int, compute_units: int = 4) -> None:
        self.info = DeviceInfo(kind=kind, name=name, vendor="fake", platform="fake", driver="fake",
                               compute_units=compute_units, global_mem=1 << 30, max_alloc=1 << 28,
                               max_work_group=256)
        self.index = index

    def alloc(self, nbytes: int) -> Buffer:
        raise AssertionError("a fake device holds no memory")

    def queue(self) -> Queue:
        raise AssertionError("a fake device has no queue")

    def compile(self, source: str, options: Sequence[str] = ()) -> Program:
        raise AssertionError("a fake device compiles nothing")


def fakes(*kinds: Kind) -> tuple[Device, ...]:
    return tuple(FakeDevice(k, f"{k} device {i}", i) for i, k in enumerate(kinds))
