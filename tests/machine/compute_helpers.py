"""Helpers for the compute device tests: descriptors built field by field, a device over plain RAM,
and a cache directory of their own for compiled kernels."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from vmcli.machine.devices import compute as c
from vmcli.machine.devices.device import Console, Host, Stop
from vmcli.machine.memory import GuestMemory

RAM_BASE = 0x4000_0000
RAM_SIZE = 4 << 20
DESC_AT = RAM_BASE + 0x1000


@pytest.fixture(scope="session", autouse=True)
def vm_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Compiled kernels go to a directory of the test run's own, never the user's cache."""
    path = tmp_path_factory.getbasetemp() / "vm-cache"
    path.mkdir(exist_ok=True)
    old = os.environ.get("VM_CACHE_DIR")
    os.environ["VM_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("VM_CACHE_DIR", None)
    else:
        os.environ["VM_CACHE_DIR"] = old


def mandelbrot(w: int, h: int, x0: float | np.floating, y0: float | np.floating, dx: float | np.floating,
               dy: float | np.floating, max_iter: int) -> np.ndarray:
    """library.cl's loop in numpy float32, operation for operation."""
    f = np.float32
    px, py = np.meshgrid(np.arange(w, dtype=f), np.arange(h, dtype=f))
    cx, cy = f(x0) + px * f(dx), f(y0) + py * f(dy)
    x, y = np.zeros_like(cx), np.zeros_like(cy)
    count = np.zeros(cx.shape, np.uint32)
    live = np.ones(cx.shape, bool)
    for _ in range(max_iter):
        x2, y2 = x * x, y * y
        live &= ~(x2 + y2 > f(4.0))
        xy = x * y
        y = np.where(live, xy + xy + cy, y)
        x = np.where(live, x2 - y2 + cx, x)
        count += live
    return count


def arg(kind: int, value: int = 0, length: int = 0, reserved: int = 0) -> tuple[int, int, int, int]:
    return (kind, reserved, value, length)


def buf(direction: int, addr: int, length: int) -> tuple[int, int, int, int]:
    return arg(direction, addr, length)


def u32(v: int) -> tuple[int, int, int, int]:
    return arg(c.ArgType.U32, v)


def f32(v: float) -> tuple[int, int, int, int]:
    return arg(c.ArgType.F32, int(np.float32(v).view(np.uint32)))


def descriptor(kernel: int = 0, args: Sequence[tuple[int, int, int, int]] = (), *, opcode: int = c.Opcode.RUN_BUILTIN,
               magic: int = c.DESC_MAGIC, nargs: int | None = None, source: tuple[int, int] = (0, 0),
               name: tuple[int, int] = (0, 0), work_dim: int = 0, global_size: Sequence[int] = (0, 0, 0),
               local_size: Sequence[int] = (0, 0, 0)) -> bytes:
    """A descriptor exactly as docs/compute-device.md lays it out, packed independently of the device's
    own struct definitions."""
    head = struct.pack("<IIIIQQQII3Q3Q", magic, opcode, kernel, len(args) if nargs is None else nargs,
                       source[0], source[1], name[0], name[1], work_dim, *global_size, *local_size)
    assert len(head) == 96
    slots = b"".join(struct.pack("<IIQQ", *a) for a in args[:16])
    return (head + slots).ljust(480, b"\0")


@dataclass
class Rig:
    """A compute device over 4 MiB of RAM at 0x40000000 and its error output."""

    device: c.ComputeDevice
    memory: GuestMemory
    ram: np.ndarray
    err_path: Path

    def run(self, desc: bytes, at: int = DESC_AT) -> tuple[int, int, int]:
        """Write `desc` at `at`, ring the doorbell; (STATUS, ERROR, ERROR_ARG)."""
        if self.memory.contains(at, len(desc)):
            self.memory.write(at, desc)
        self.device.write(c.REG_DESC, 8, at)
        self.device.write(c.REG_DOORBELL, 4, c.DOORBELL_RUN)
        return (self.device.read(c.REG_STATUS, 4), self.device.read(c.REG_ERROR, 4),
                self.device.read(c.REG_ERROR_ARG, 4))

    def put(self, addr: int, array: np.ndarray) -> None:
        self.memory.write(addr, array.tobytes())

    def get(self, addr: int, count: int, dtype: type = np.float32) -> np.ndarray:
        return np.frombuffer(self.memory.read(addr, count * np.dtype(dtype).itemsize), dtype)

    def errors(self) -> str:
        return self.err_path.read_text()


def make_rig(tmp_path: Path, options: c.ComputeOptions | None = None) -> Rig:
    ram = np.zeros(RAM_SIZE, np.uint8)
    memory = GuestMemory(RAM_BASE, ram)
    err_path = tmp_path / "stderr"
    # Plain descriptors (no file objects to be collected early); a test run opens a few dozen.
    err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    null = os.open(os.devnull, os.O_RDWR)
    console = Console(null, null, err)
    stops: list[Stop] = []
    device = c.ComputeDevice("compute", Host(console, stops.append), memory, options)
    return Rig(device, memory, ram, err_path)
