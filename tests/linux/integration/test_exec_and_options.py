"""execve across arches, --fs-root, --strace, --env and exit statuses of vm itself."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from linux_helpers import build, run, vm


def test_exec_of_programs_for_other_arches(tmp_path: Path) -> None:
    """An arm64 program starts a riscv64 and an x86_64 program (qemu-user cannot without binfmt_misc):
    the same output as the host build of the same programs."""
    hello = {arch: build("hello", arch) for arch in ("riscv64", "x86_64", "arm64")}
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho script got \"$1\"\nexit 4\n")
    script.chmod(0o755)
    targets = [str(hello["riscv64"]), str(hello["x86_64"]), str(script)]
    got = vm(build("execer", "arm64"), *targets)
    want = run([str(build("execer", "x86_64")), str(hello["x86_64"]), str(hello["x86_64"]), str(script)])
    norm = [line.split(" said: ", 1)[-1] for line in got.stdout.decode().splitlines()]
    ref = [line.split(" said: ", 1)[-1] for line in want.stdout.decode().splitlines()]
    assert (got.status, norm) == (want.status, ref)
    assert "script got from-execer" in got.stdout.decode()


def test_fs_root_keeps_the_program_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "etc" / "motd").write_text("inside\n")
    (tmp_path / "secret").write_text("outside\n")
    os.symlink("/etc/motd", root / "etc" / "abs")
    os.symlink("../../secret", root / "etc" / "up")
    prog = root / "bin" / "cat"
    prog.write_bytes(build("cat", "arm64").read_bytes())
    prog.chmod(0o755)
    paths = ["/etc/motd", "/etc/abs", "/etc/up", f"/../../..{tmp_path}/secret", "../../../secret"]
    got = vm("/bin/cat", *paths, options=("--fs-root", str(root)))
    assert got.stdout.decode().splitlines() == ["/etc/motd: inside", "/etc/abs: inside", "/etc/up: ENOENT",
                                                f"/../../..{tmp_path}/secret: ENOENT", "../../../secret: ENOENT"]


def test_strace_shows_calls_and_results() -> None:
    got = vm(build("hello", "riscv64"), "x", options=("--strace",))
    lines = got.stderr.decode().splitlines()
    writes = [re.fullmatch(r"\[\d+\] write\(1, 0x[0-9a-f]+, (\d+)\) = (\d+)", line) for line in lines]
    assert any(m and m.group(1) == m.group(2) for m in writes), lines
    assert lines[-1].endswith("exit_group(42) = ?")
    assert got.status == 42


def test_env_option_and_argv0() -> None:
    got = vm(build("hello", "arm64"), options=("--env", "VM_TEST_VALUE=given"))
    assert b"env given" in got.stdout


def test_guest_killed_by_signal_kills_vm() -> None:
    """signals.c ends with raise(SIGTERM): vm itself dies by SIGTERM, as the program would."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    proc = subprocess.run([sys.executable, "-m", "vmcli", "run", str(build("signals", "riscv64"))],
                          capture_output=True, env=env)
    assert proc.returncode == -15


@pytest.mark.parametrize("arch", ["arm64", "riscv64"])
def test_missing_interpreter_is_bad_input(arch: str, tmp_path: Path) -> None:
    prog = build("hello", arch, "dynamic")
    got = vm(prog, options=("--sysroot", str(tmp_path)), env=dict(os.environ, VM_SYSROOT=""))
    assert got.status == 2
    assert got.stderr.decode().count("\n") == 1 and "interpreter" in got.stderr.decode()
