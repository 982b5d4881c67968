"""A signal from another process reaches a program that makes no system calls: its handler runs (the
engine is stopped exactly at a block start), or its default action kills vm by the same signal."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from linux_helpers import ROOT, VM, build


@pytest.mark.parametrize("arch", ["arm64", "riscv64", "x86_64"])
@pytest.mark.parametrize("mode", ["handler", "default"])
def test_sigint_from_outside(arch: str, mode: str) -> None:
    prog = build("spin", arch)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([*VM, "run", str(prog), "--", mode], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"          # the program runs: now interrupt it
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    if mode == "handler":
        assert (proc.returncode, out) == (3, b"handler ran for signal 2 after spinning\n")
    else:
        assert (proc.returncode, out) == (-signal.SIGINT, b"")
