"""Linux user mode without the Debian tools: hand-made programs for each arch, bad input, the syscall
tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_elf import tiny_program

from vmcli.linux.arch import LINUX_ARCHES, open_flags_to_guest, open_flags_to_host
from vmcli.linux.syscalls.numbers import NUMBERS

ROOT = Path(__file__).resolve().parents[2]
VM = [os.sys.executable, "-m", "vmcli", "run"]


def vm(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([*VM, *args], capture_output=True, env=env, cwd=cwd, timeout=60)


@pytest.mark.parametrize("arch", list(LINUX_ARCHES))
def test_tiny_program_writes_and_exits(arch: str, tmp_path: Path) -> None:
    prog = tmp_path / f"tiny-{arch}"
    prog.write_bytes(tiny_program(arch, status=7, message=b"tiny " + arch.encode() + b"\n"))
    prog.chmod(0o755)
    got = vm(str(prog))
    assert (got.returncode, got.stdout, got.stderr) == (7, b"tiny " + arch.encode() + b"\n", b"")


def _bad(tmp_path: Path, *args: str) -> str:
    got = vm(*args, cwd=tmp_path)
    assert got.returncode == 2, got.stderr
    text = got.stderr.decode()
    assert text.count("\n") == 1 and text.startswith("vm: error: "), text
    return text


def test_bad_input_is_one_line_with_status_2(tmp_path: Path) -> None:
    prog = tmp_path / "p"
    prog.write_bytes(tiny_program("arm64"))
    assert "no such file" in _bad(tmp_path, "--user", str(tmp_path / "missing"))
    assert "directory" in _bad(tmp_path, "--user", str(tmp_path))
    text = tmp_path / "t.txt"
    text.write_text("not a program\n")
    assert "not an ELF" in _bad(tmp_path, "--user", str(text))
    p32 = tmp_path / "p32"
    p32.write_bytes(tiny_program("arm64", elf_class=1))
    assert "32-bit" in _bad(tmp_path, "--user", str(p32))
    arm32 = tmp_path / "arm32"
    arm32.write_bytes(tiny_program("arm64", machine=40))
    assert "does not run" in _bad(tmp_path, "--user", str(arm32))
    assert "K=V" in _bad(tmp_path, "--env", "novalue", str(prog))
    assert "exclude" in _bad(tmp_path, "--user", "--system", str(prog))
    assert "not for Linux programs" in _bad(tmp_path, "--mem", "64M", str(prog))
    assert "--sysroot" in _bad(tmp_path, "--sysroot", str(tmp_path / "nowhere"), str(prog))
    assert "--fs-root" in _bad(tmp_path, "--fs-root", str(tmp_path / "nowhere"), str(prog))
    assert "riscv64" in _bad(tmp_path, "--arch", "riscv64", str(prog))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)                                    # no writer: opening it to look would wait forever
    assert "not a regular file" in _bad(tmp_path, "--user", str(fifo))


def test_timeout_ends_a_spinning_program_with_status_124(tmp_path: Path) -> None:
    """--timeout for a Linux program, as timeout(1): it prints, then spins (its exit replaced by
    `jmp .`), and vm ends it when the time is up."""
    program = tiny_program("x86_64", message=b"spin\n")
    exit_call = b"\xb8\x3c\x00\x00\x00"                  # mov eax, 60 (exit)
    assert program.count(exit_call) == 1
    prog = tmp_path / "spin"
    prog.write_bytes(program.replace(exit_call, b"\xeb\xfe\x90\x90\x90"))
    prog.chmod(0o755)
    proc = subprocess.run([sys.executable, "-m", "vmcli", "run", "--user", "--timeout", "0.5", str(prog)],
                          capture_output=True, timeout=60, check=False, cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (124, b"spin\n"), proc.stderr
    assert proc.stderr == b"vm: --timeout 0.5 s reached\n"


def test_syscall_tables_have_each_arch_numbering() -> None:
    assert NUMBERS["arm64"][172] == NUMBERS["riscv64"][172] == "getpid"
    assert NUMBERS["x86_64"][39] == "getpid"
    assert NUMBERS["x86_64"][56] == "clone" and NUMBERS["arm64"][220] == "clone"
    assert "open" not in NUMBERS["arm64"].values() and NUMBERS["x86_64"][2] == "open"
    assert NUMBERS["riscv64"][259] == "riscv_flush_icache"


def test_arm64_open_flags_differ_from_the_hosts() -> None:
    arm64 = LINUX_ARCHES["arm64"]
    o_directory_arm64 = 0o40000
    assert open_flags_to_host(arm64, o_directory_arm64) == os.O_DIRECTORY
    assert open_flags_to_guest(arm64, os.O_DIRECTORY | os.O_RDWR) == o_directory_arm64 | os.O_RDWR
    assert open_flags_to_host(LINUX_ARCHES["riscv64"], os.O_DIRECTORY) == os.O_DIRECTORY


@pytest.mark.parametrize("arch", list(LINUX_ARCHES))
def test_stats_count_the_programs_instructions_and_calls(arch: str, tmp_path: Path) -> None:
    """The tiny programs run exactly 8 (x86_64) or 9 (arm64, riscv64) instructions, counted by hand in
    tiny_elf.py, and make two system calls."""
    prog = tmp_path / "tiny"
    prog.write_bytes(tiny_program(arch, status=3))
    got = vm("--stats", "--json", str(prog))
    stats = json.loads(got.stderr.decode())
    assert stats["instructions"] == {"x86_64": 8, "arm64": 9, "riscv64": 9}[arch]
    assert stats["syscalls"] == {"write": 1, "exit": 1}
    assert (stats["exit_status"], got.returncode) == (3, 3)


def test_trace_lists_the_instructions(tmp_path: Path) -> None:
    prog = tmp_path / "tiny"
    prog.write_bytes(tiny_program("x86_64"))
    trace = tmp_path / "trace.txt"
    got = vm("--trace", str(trace), str(prog))
    assert got.returncode == 0
    lines = trace.read_text().splitlines()
    assert [line.split()[-2] if "syscall" not in line else "syscall" for line in lines][:5] == [
        "eax,", "edi,", "rsi,", "edx,", "syscall"]
    assert len(lines) == 8
