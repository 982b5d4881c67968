"""Drive the real gdb-multiarch in batch mode against `vm run --gdb`.

    out = gdb_session(IMAGES / "hello-arm64.elf", ["stepi", "p/x $pc"])
    out.gdb, out.stdout, out.status

vm listens on port 0 (any free port) and prints the port it got; gdb attaches with `target remote`,
runs the commands, and ends (batch mode kills or detaches the guest at the end). With
`interrupt_after` gdb gets SIGINT (Ctrl-C) once it has printed that marker, sent the stub its next
continue packet and started to wait for the stop (both seen in gdb's own `set debug remote` log):
gdb then forwards it to the stub as the remote interrupt byte. No sleeping: the signal follows the
event it needs (sent earlier, while gdb is still resuming, gdb takes it for its own Ctrl-C).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile
from toolcheck import require_tool

ROOT = Path(__file__).resolve().parents[3]
IMAGES = ROOT / "guest-images" / "bin"
VM = [sys.executable, "-m", "vmcli"]
ARCHES = ("arm64", "riscv64", "x86_64")
CONTINUE_SENT = re.compile(r"Sending packet: \$(vCont;c|c)[#:;]")




@dataclass
class Session:
    gdb: str          # gdb's stdout and stderr
    stdout: str       # the guest's console
    stderr: str       # vm's own messages
    status: int       # vm's exit status


def symbols(image: Path) -> dict[str, int]:
    with image.open("rb") as f:
        table = ELFFile(f).get_section_by_name(".symtab")
        return {s.name: s["st_value"] for s in table.iter_symbols() if s.name}


def entry(image: Path) -> int:
    with image.open("rb") as f:
        return int(ELFFile(f).header["e_entry"])


def lldb_session(image: Path, commands: list[str], *, timeout: float = 60) -> Session:
    """The same with lldb in batch mode (`gdb-remote`)."""
    require_tool("lldb")
    vm = subprocess.Popen([*VM, "run", str(image), "--gdb", "127.0.0.1:0"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert vm.stderr is not None
        line = vm.stderr.readline()
        found = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert found, f"vm did not announce its port: {line!r}"
        args = ["lldb", "--batch", "--no-lldbinit", "-o", f"gdb-remote 127.0.0.1:{found.group(1)}"]
        for command in commands:
            args += ["-o", command]
        lldb = subprocess.run([*args, str(image)], capture_output=True, text=True, timeout=timeout)
        stdout, stderr = vm.communicate(timeout=timeout)
        return Session(lldb.stdout + lldb.stderr, stdout, line + stderr, vm.returncode)
    finally:
        if vm.poll() is None:
            vm.kill()
            vm.wait()


def gdb_session(image: Path, commands: list[str], *, interrupt_after: str | None = None,
                vm_args: tuple[str, ...] = (), timeout: float = 60) -> Session:
    require_tool("gdb-multiarch")
    vm = subprocess.Popen([*VM, "run", str(image), "--gdb", "127.0.0.1:0", *vm_args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert vm.stderr is not None
        line = vm.stderr.readline()
        found = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert found, f"vm did not announce its port: {line!r}"
        args = ["gdb-multiarch", "-q", "-batch", "-nx", "-ex", "set confirm off",
                "-ex", f"target remote 127.0.0.1:{found.group(1)}"]
        if interrupt_after is not None:
            args += ["-ex", "set debug remote 1"]        # logs each packet: the continue is an event to see
        for command in commands:
            args += ["-ex", command]
        gdb = subprocess.Popen([*args, str(image)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               encoding="utf-8", errors="replace")      # the packet log holds binary bytes
        assert gdb.stdout is not None
        lines = []
        deadline = time.monotonic() + timeout
        stage = 0                            # 1: marker seen, 2: continue sent, then SIGINT at the wait
        for out_line in gdb.stdout:
            lines.append(out_line)
            if interrupt_after is not None and stage == 0 and out_line.startswith(interrupt_after):
                stage = 1
            elif stage == 1 and CONTINUE_SENT.search(out_line):
                stage = 2
            elif stage == 2 and "[remote] wait: enter" in out_line:
                stage = 3
                gdb.send_signal(signal.SIGINT)
            if time.monotonic() > deadline:
                gdb.kill()
                break
        gdb.wait(timeout=timeout)
        stdout, stderr = vm.communicate(timeout=timeout)
        return Session("".join(lines), stdout, line + stderr, vm.returncode)
    finally:
        if vm.poll() is None:
            vm.kill()
            vm.wait()
