"""Running untrusted OpenCL C source in a separate worker process.

A PoCL kernel runs inside its host process, so source written by someone else is code running in
ours: `run_source()` compiles and runs it in a child (`python -m vmcli.gpu.isolated`) that is
killed when it exceeds its time limit. The two sides speak a plain format, never pickle, so a worker
whose memory a kernel has corrupted can at worst send wrong bytes, which are checked:

    request  (stdin):  one JSON line {device, source, kernel, global, local, args}, then the bytes of
                       each in/inout buffer, in argument order
    response (stdout): one JSON line {ok, error, kernel_s, sizes}, then the bytes of each
                       out/inout buffer, in argument order

The response must name exactly the sizes the request had for its out/inout buffers, else it is
refused. The worker compiles into a scratch directory, never the shared program cache. This is
isolation from crashes, hangs and memory corruption, not a sandbox: the worker runs as the same
user with the same file system access.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

import numpy as np

from vmcli.gpu.driver import GpuError

MAX_SOURCE = 1 << 20
POLL_S = 0.05                 # how often a waiting caller's `cancelled` is asked: Ctrl-C ends the wait this soon
ScalarType = Literal["u32", "i32", "f32"]
_SCALAR: dict[str, type[np.uint32] | type[np.int32] | type[np.float32]] = {
    "u32": np.uint32, "i32": np.int32, "f32": np.float32}


@dataclass(frozen=True)
class BufferArg:
    data: bytes | bytearray | memoryview
    direction: Literal["in", "out", "inout"]


@dataclass(frozen=True)
class ScalarArg:
    value: int | float
    type: ScalarType


@dataclass(frozen=True)
class SourceResult:
    outputs: list[bytes | None]   # per argument: the new contents of out/inout buffers, else None
    kernel_s: float


def _header(device: str, source: str, kernel: str, global_size: Sequence[int],
            local_size: Sequence[int] | None, args: Sequence[BufferArg | ScalarArg]) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    for a in args:
        if isinstance(a, BufferArg):
            out.append({"dir": a.direction, "nbytes": memoryview(a.data).nbytes})
        else:
            out.append({"type": a.type, "value": a.value})
    return {"device": device, "source": source, "kernel": kernel, "global": list(global_size),
            "local": None if local_size is None else list(local_size), "args": out}


def run_source(source: str, kernel: str, args: Sequence[BufferArg | ScalarArg], global_size: Sequence[int],
               local_size: Sequence[int] | None = None, *, device: str = "auto",
               timeout_s: float = 10.0, cancelled: Callable[[], bool] | None = None) -> SourceResult:
    """Compile `source` and run `kernel` in a worker process; GpuError on a build error (with the
    log), a bad launch, a crash of the worker, a timeout, or when `cancelled()` turns true while it
    runs (the worker is killed within POLL_S: a guest's kernel never holds up Ctrl-C or --timeout)."""
    if len(source) > MAX_SOURCE:
        raise GpuError(f"kernel source over {MAX_SOURCE} bytes")
    header = _header(device, source, kernel, global_size, local_size, args)
    payload = json.dumps(header).encode() + b"\n" + b"".join(
        bytes(a.data) for a in args if isinstance(a, BufferArg) and a.direction != "out")
    with tempfile.TemporaryDirectory(prefix="vm-worker-") as scratch:
        # The worker's compiled binaries stay in its own scratch directory: a binary built from
        # untrusted source must never land in the cache this process loads native code from.
        env = {**os.environ, "VM_CACHE_DIR": scratch, "POCL_CACHE_DIR": scratch}
        proc = subprocess.Popen([sys.executable, "-m", "vmcli.gpu.isolated"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        stdout = _wait(proc, payload, kernel, timeout_s, cancelled or (lambda: False))
    if proc.returncode != 0:
        how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"status {proc.returncode}"
        raise GpuError(f"kernel {kernel!r}: its worker died ({how})")
    line, _, body = stdout.partition(b"\n")
    try:
        reply = json.loads(line)
    except ValueError:
        raise GpuError(f"kernel {kernel!r}: unreadable reply from its worker") from None
    if not isinstance(reply, dict) or not reply.get("ok"):
        error = reply.get("error") if isinstance(reply, dict) else None
        raise GpuError(str(error) if error else f"kernel {kernel!r}: worker failed")
    want = [h["nbytes"] for h in header["args"] if h.get("dir") in ("out", "inout")]
    if reply.get("sizes") != want or len(body) != sum(want):
        raise GpuError(f"kernel {kernel!r}: worker reply does not match the request")
    outputs: list[bytes | None] = []
    pos = 0
    for h in header["args"]:
        if h.get("dir") in ("out", "inout"):
            outputs.append(body[pos:pos + h["nbytes"]])
            pos += h["nbytes"]
        else:
            outputs.append(None)
    kernel_s = reply.get("kernel_s")
    return SourceResult(outputs, float(kernel_s) if isinstance(kernel_s, int | float) else 0.0)


def _wait(proc: subprocess.Popen[bytes], payload: bytes, kernel: str, timeout_s: float,
          cancelled: Callable[[], bool]) -> bytes:
    """The worker's stdout once it ends; kill it past `timeout_s` or as soon as `cancelled()`."""
    deadline = time.monotonic() + timeout_s
    send: bytes | None = payload
    while True:
        try:
            stdout, _ = proc.communicate(send, timeout=max(0.0, min(POLL_S, deadline - time.monotonic())))
            return stdout
        except subprocess.TimeoutExpired:
            send = None                          # communicate keeps feeding what it was first given
            stopped = cancelled()
            if stopped or time.monotonic() >= deadline:
                proc.kill()
                proc.communicate()
                why = "the run was stopped" if stopped else f"it ran over {timeout_s:g} s"
                raise GpuError(f"kernel {kernel!r}: {why}; its worker was killed") from None


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise GpuError("truncated request")
    return data


def _serve(stdin: BinaryIO) -> tuple[dict[str, Any], bytes]:
    """The worker side: one request in, one reply (header, body) out."""
    from vmcli.gpu.devices import for_opencl_c, select_device

    req = json.loads(stdin.readline())
    dev = select_device(req["device"])
    if dev is None:
        raise GpuError("no device selected")
    dev = for_opencl_c(dev)
    program = dev.compile(req["source"])
    kern = program.kernel(req["kernel"])
    q = dev.queue()
    launch_args: list[Any] = []
    hosts: list[tuple[np.ndarray, Any]] = []
    for h in req["args"]:
        if "dir" in h:
            n = int(h["nbytes"])
            host = np.zeros(max(n, 1), np.uint8)
            buf = dev.alloc(max(n, 1))
            if h["dir"] == "out":
                q.fill_zero(buf)
            else:
                host[:n] = np.frombuffer(_read_exact(stdin, n), np.uint8)
                q.write(buf, host)
            launch_args.append(buf)
            if h["dir"] != "in":
                hosts.append((host[:n], buf))
        else:
            v, kind = h.get("value"), h.get("type")
            integral = isinstance(v, int) and not isinstance(v, bool)
            if kind not in _SCALAR or not (integral or (kind == "f32" and isinstance(v, float))):
                raise GpuError(f"bad scalar argument {h!r}")
            try:
                with np.errstate(over="ignore"):
                    launch_args.append(_SCALAR[kind](v))
            except OverflowError as exc:
                raise GpuError(f"bad scalar argument {h!r}") from exc
    ev = q.launch(kern, req["global"], req["local"], launch_args)
    for host, buf in hosts:
        q.read(host, buf)
    kernel_s = ev.elapsed_s()
    reply = {"ok": True, "kernel_s": kernel_s, "sizes": [int(h.nbytes) for h, _ in hosts]}
    return reply, b"".join(h.tobytes() for h, _ in hosts)


def main() -> None:
    out = sys.stdout.buffer
    try:
        reply, body = _serve(sys.stdin.buffer)
    except GpuError as exc:
        reply, body = {"ok": False, "error": str(exc)}, b""
    except (ValueError, KeyError, TypeError) as exc:
        reply, body = {"ok": False, "error": f"bad request: {exc}"}, b""
    out.write(json.dumps(reply).encode() + b"\n" + body)
    out.flush()


if __name__ == "__main__":
    main()
