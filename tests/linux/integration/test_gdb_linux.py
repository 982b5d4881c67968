"""`vm run --gdb` on Linux programs with the real gdb-multiarch: breakpoints in the program's own
functions, arguments and globals read through the program's debug information, continue to exit."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from linux_helpers import ROOT, VM, build, require_tool


def gdb_session(prog: Path, commands: list[str]) -> tuple[str, str, int]:
    require_tool("gdb-multiarch")
    vm = subprocess.Popen([*VM, "run", "--gdb", "127.0.0.1:0", str(prog)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert vm.stderr is not None
        line = vm.stderr.readline()
        port = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert port, line
        args = ["gdb-multiarch", "-nx", "-batch", "-ex", f"target remote 127.0.0.1:{port.group(1)}"]
        for command in commands:
            args += ["-ex", command]
        gdb = subprocess.run([*args, str(prog)], capture_output=True, text=True, timeout=120)
        stdout, _ = vm.communicate(timeout=60)
        return gdb.stdout + gdb.stderr, stdout, vm.returncode
    finally:
        if vm.poll() is None:
            vm.kill()
            vm.wait()


@pytest.mark.parametrize("arch", ["arm64", "riscv64", "x86_64"])
def test_breakpoints_and_variables(arch: str) -> None:
    prog = build("squares", arch, extra=("-g", "-O0"))
    out, stdout, status = gdb_session(prog, ["break square", "continue", "print x", "continue", "print x",
                                             "print counter", "delete", "continue"])
    assert "Breakpoint 1, square (x=1)" in out and "Breakpoint 1, square (x=2)" in out, out
    assert re.search(r"\$2 = 2\b", out) and re.search(r"\$3 = 1\b", out), out
    assert "exited with code 036" in out, out
    assert (stdout, status) == ("sum 30\n", 30)
