"""`vm binfmt`: the binfmt_misc entries (always), and a real registration where this host allows it
(root and a mounted binfmt_misc; skipped with the reason otherwise)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from tiny_elf import tiny_program

from vmcli.linux import binfmt

ROOT = Path(__file__).resolve().parents[2]


def test_entries_match_each_foreign_arch_header() -> None:
    lines = {e.arch: e.line() for e in binfmt.entries("t", Path("/x"))}
    assert binfmt.HOST not in lines
    if "arm64" in lines:
        assert lines["arm64"].startswith(":t-arm64:M:0:\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01")
        assert "\\x02\\x00\\xb7\\x00:" in lines["arm64"] and lines["arm64"].endswith(":/x/vm-run-arm64:P")
    assert all(len(line.split(":")) == 8 for line in lines.values())


def test_status_without_registration() -> None:
    got = subprocess.run([os.sys.executable, "-m", "vmcli", "binfmt", "status", "--name", "vm-none"],
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert got.returncode == 0
    assert all(line.endswith(("not registered", "binfmt_misc not available")) for line in got.stdout.splitlines())


def test_registered_programs_run_directly(tmp_path: Path) -> None:
    register = binfmt.BINFMT / "register"
    if not register.exists() or not os.access(register, os.W_OK):
        pytest.skip("needs root and a mounted binfmt_misc (mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc)")
    foreign = next(e.arch for e in binfmt.entries())
    prog = tmp_path / "prog"
    prog.write_bytes(tiny_program(foreign, status=5, message=b"direct\n"))
    prog.chmod(0o755)
    env = dict(os.environ, PYTHONPATH=str(ROOT), VM_BINFMT_DIR=str(tmp_path / "wrappers"))
    name = f"vmtest{os.getpid()}"
    vm = [os.sys.executable, "-m", "vmcli", "binfmt"]
    subprocess.run([*vm, "register", "--name", name], check=True, env=env, capture_output=True)
    try:
        got = subprocess.run([str(prog)], capture_output=True, timeout=60)
    finally:
        subprocess.run([*vm, "unregister", "--name", name], check=True, env=env, capture_output=True)
    assert (got.returncode, got.stdout) == (5, b"direct\n")
