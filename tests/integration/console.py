"""Drive a console program as a person would: wait for its prompt, then type the next line.

    out, status = converse(cmd, [b"version", b"poweroff"], prompt=b"=> ", first=b"Hit any key")

Each line is sent only once the prompt has appeared after the previous one (firmware discards
type-ahead while it works); the first line waits for `first` instead when given (U-Boot's autoboot
countdown). The output is everything the program printed until it exited.
"""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


def converse(cmd: Sequence[str], lines: Sequence[bytes], *, prompt: bytes, first: bytes | None = None,
             cwd: Path | None = None, timeout: float = 120, stdin_close: bool = True) -> tuple[bytes, int]:
    proc = subprocess.Popen(list(cmd), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=cwd)
    assert proc.stdin is not None and proc.stdout is not None
    deadline = time.monotonic() + timeout
    out = bytearray()
    searched = 0                               # where the next marker is looked for
    pending = list(lines)
    marker = first if first is not None else prompt
    fd = proc.stdout.fileno()
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{cmd[0]}: no exit within {timeout} s; output so far: {bytes(out)[-500:]!r}")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            out += chunk
            while pending and (at := out.find(marker, searched)) >= 0:
                searched, marker = at + len(marker), prompt
                proc.stdin.write(pending.pop(0) + b"\n")
                proc.stdin.flush()
        status = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return bytes(out), status
