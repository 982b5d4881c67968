"""Running a built-in kernel on one device with host memory as arguments.

`Runner(device).run("saxpy", [2.0, x, y, n])` checks the arguments against the kernel's table
entry, uploads the `in`/`inout` buffers, zero-fills the `out` ones (a kernel never sees stale device
memory), launches, and reads `out`/`inout` back into the caller's memory in place. `start()` does the
same without waiting and returns a `Pending` (the scheduler keeps several in flight).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vmcli.gpu import kernels
from vmcli.gpu.driver import Buffer, Device, Event, GpuError, HostArray, Program, Queue

U32_MAX = 0xFFFF_FFFF
# Most elements one buffer argument may span: keeps every index the kernels compute (int and uint,
# plus a reduction's stride) from wrapping around.
MAX_ELEMENTS = (1 << 31) - (1 << 20)
_NP_DTYPE = {"f32": np.dtype(np.float32), "u32": np.dtype(np.uint32)}
POOL_BYTES = 256 << 20   # device memory a Runner keeps for reuse, at most

Arg = HostArray | int | float


@dataclass(frozen=True)
class Timings:
    """Device times (from the device's own profiling clock) and the host's wall time from start()
    until wait() saw the launch finish, in seconds."""

    upload_s: float
    kernel_s: float
    download_s: float
    wall_s: float


class Pending:
    """A launched kernel; `wait()` finishes it, frees its buffers and returns its timings."""

    def __init__(self, runner: Runner, buffers: list[Buffer], uploads: list[Event], kernel: Event,
                 downloads: list[Event], started: float) -> None:
        self.runner = runner
        self._buffers = buffers
        self._uploads, self._kernel, self._downloads = uploads, kernel, downloads
        self._started = started
        self._timings: Timings | None = None

    def done(self) -> bool:
        last = self._downloads[-1] if self._downloads else self._kernel
        return self._timings is not None or last.done()

    def wait(self) -> Timings:
        if self._timings is None:
            try:
                for ev in (*self._uploads, self._kernel, *self._downloads):
                    ev.wait()
                wall = time.perf_counter() - self._started
                self._timings = Timings(
                    upload_s=sum(e.elapsed_s() for e in self._uploads),
                    kernel_s=self._kernel.elapsed_s(),
                    download_s=sum(e.elapsed_s() for e in self._downloads),
                    wall_s=wall)
            finally:
                self.runner.recycle(self._buffers)
        return self._timings


def _as_bytes(value: Arg, name: str, dtype: np.dtype) -> np.ndarray:
    """A flat byte view of a buffer argument. A numpy array must have the parameter's element type
    (or be raw bytes, uint8); other buffer-protocol objects are taken as raw bytes."""
    if isinstance(value, np.ndarray):
        if value.dtype not in (dtype, np.dtype(np.uint8)):
            raise GpuError(f"argument {name}: expected {dtype} elements (or raw uint8 bytes), "
                           f"got {value.dtype}")
        if not value.flags.c_contiguous:
            raise GpuError(f"argument {name}: array must be C-contiguous")
        return value.reshape(-1).view(np.uint8)
    if isinstance(value, bool | int | float):
        raise GpuError(f"argument {name}: expected a buffer, got {type(value).__name__}")
    try:
        return np.frombuffer(value, dtype=np.uint8)
    except (TypeError, ValueError) as exc:
        raise GpuError(f"argument {name}: not a buffer ({exc})") from exc


def _scalar(value: Arg, dtype: str, name: str) -> np.generic:
    if dtype == "u32":
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value <= U32_MAX:
            raise GpuError(f"argument {name}: expected an integer 0..{U32_MAX}, got {value!r}")
        return np.uint32(value)
    if not isinstance(value, int | float | np.integer | np.floating) or isinstance(value, bool):
        raise GpuError(f"argument {name}: expected a number, got {value!r}")
    try:
        with np.errstate(over="ignore"):
            return np.float32(value)   # out of float32's range: +-inf, as a C cast gives
    except OverflowError:   # an int beyond even float64
        return np.float32(np.inf if value > 0 else -np.inf)


class Runner:
    """One device, one queue, the kernel library compiled for it on first use. Not thread-safe: one
    caller at a time. `max_flops` refuses launches whose flop count (the kernel table's) is larger,
    since a launch cannot be interrupted once queued (PoCL runs it inside this process)."""

    def __init__(self, device: Device, max_flops: float | None = None) -> None:
        self.device = device
        self.max_flops = max_flops
        self._queue: Queue | None = None
        self._program: Program | None = None
        self._pool: dict[int, list[Buffer]] = {}   # nbytes -> buffers kept for reuse
        self._pooled = 0

    @property
    def queue(self) -> Queue:
        if self._queue is None:
            self._queue = self.device.queue()
        return self._queue

    @property
    def program(self) -> Program:
        if self._program is None:
            dialect = self.device.dialect
            self._program = self.device.compile(kernels.source(dialect), kernels.OPTIONS[dialect])
        return self._program

    def _alloc(self, nbytes: int) -> Buffer:
        kept = self._pool.get(nbytes)
        if kept:
            self._pooled -= nbytes
            return kept.pop()
        return self.device.alloc(nbytes)

    def recycle(self, buffers: Sequence[Buffer]) -> None:
        """Keep finished launches' buffers for reuse, up to POOL_BYTES; free the rest."""
        for b in buffers:
            if self._pooled + b.nbytes <= POOL_BYTES:
                self._pool.setdefault(b.nbytes, []).append(b)
                self._pooled += b.nbytes
            else:
                b.free()

    def release(self) -> None:
        """Free the buffers kept for reuse."""
        for kept in self._pool.values():
            for b in kept:
                b.free()
        self._pool.clear()
        self._pooled = 0

    def run(self, kernel: int | str, args: Sequence[Arg]) -> Timings:
        return self.start(kernel, args).wait()

    def start(self, kernel: int | str, args: Sequence[Arg]) -> Pending:
        spec = kernels.spec(kernel)
        if len(args) != len(spec.params):
            raise GpuError(f"{spec.name} takes {len(spec.params)} arguments "
                           f"({', '.join(p.name for p in spec.params)}), got {len(args)}")
        scalars = {p.name: _scalar(a, p.dtype, p.name) for p, a in zip(spec.params, args, strict=True)
                   if not p.is_buffer}
        plain = {k: v.item() for k, v in scalars.items()}
        reason = spec.limits(plain)
        if reason:
            raise GpuError(f"{spec.name}: {reason}")
        if self.max_flops is not None and spec.flops(plain) > self.max_flops:
            raise GpuError(f"{spec.name}: {spec.flops(plain)} flops is over this runner's limit of "
                           f"{self.max_flops:.0f}")
        needs = spec.needs(plain)
        too_big = [k for k, n in needs.items() if n > MAX_ELEMENTS]
        if too_big:
            raise GpuError(f"{spec.name}: buffer {too_big[0]} would span {needs[too_big[0]]} elements "
                           f"(at most {MAX_ELEMENTS})")
        hosts: dict[str, np.ndarray] = {}
        for p, a in zip(spec.params, args, strict=True):
            if not p.is_buffer:
                continue
            view = _as_bytes(a, p.name, _NP_DTYPE[p.dtype])
            need = needs[p.name] * _NP_DTYPE[p.dtype].itemsize
            if view.nbytes < need:
                raise GpuError(f"{spec.name}: buffer {p.name} holds {view.nbytes} bytes, needs {need}")
            if p.direction != "in" and not view.flags.writeable:
                raise GpuError(f"{spec.name}: buffer {p.name} is {p.direction} but read-only")
            hosts[p.name] = view[:need]   # only the bytes the kernel touches travel
        gsize, lsize = spec.launch(plain)
        if any(g > U32_MAX for g in gsize):
            raise GpuError(f"{spec.name}: launch size {gsize} too large")

        q, started = self.queue, time.perf_counter()
        kern = self.program.kernel(spec.symbol)
        buffers: dict[str, Buffer] = {}
        uploads: list[Event] = []
        try:
            for p in spec.buffers:
                # At least one element: a launch with n = 0 still gets valid (untouched) buffers.
                host = hosts[p.name]
                buf = buffers[p.name] = self._alloc(max(host.nbytes, _NP_DTYPE[p.dtype].itemsize))
                if p.direction == "out" or not host.nbytes:
                    uploads.append(q.fill_zero(buf))
                else:
                    uploads.append(q.write(buf, host, blocking=False))
            launch_args = [buffers[p.name] if p.is_buffer else scalars[p.name] for p in spec.params]
            kernel_ev = q.launch(kern, gsize, lsize, launch_args)
            downloads = [q.read(hosts[p.name], buffers[p.name], blocking=False)
                         for p in spec.buffers if p.direction != "in" and hosts[p.name].nbytes]
        except BaseException:
            q.finish()
            self.recycle(list(buffers.values()))
            raise
        return Pending(self, list(buffers.values()), uploads, kernel_ev, downloads, started)
