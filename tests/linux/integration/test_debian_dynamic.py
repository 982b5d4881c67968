"""Dynamically linked Debian arm64 programs (gzip, GNU hello) with their libraries unpacked from the
packages, run with --sysroot, against `qemu-aarch64 -L` with the same folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from debian import unpacked
from linux_helpers import require_tool, run, vm


@pytest.fixture(scope="module")
def root() -> Path:
    return unpacked(["libc6", "gzip", "hello"])


def _qemu(root: Path, prog: Path, *args: str, stdin: bytes = b"") -> tuple[int, bytes]:
    require_tool("qemu-aarch64")
    got = run(["qemu-aarch64", "-L", str(root), str(prog), *args], stdin=stdin)
    return got.status, got.stdout


@pytest.mark.parametrize("args", [["--version"], ["-c", "-9"], ["-l", "{gz}"], ["-dc", "{gz}"]])
def test_gzip_with_sysroot(root: Path, tmp_path: Path, args: list[str]) -> None:
    data = "".join(f"{i} bottles of beer\n" for i in range(2000)).encode()
    gz = tmp_path / "data.gz"
    gz.write_bytes(run(["gzip", "-c", "-n"], stdin=data).stdout)
    words = [a.format(gz=gz) for a in args]
    prog = root / "bin" / "gzip"
    got = vm(prog, *words, options=("--sysroot", str(root)), stdin=data)
    assert (got.status, got.stdout) == _qemu(root, prog, *words, stdin=data)
    assert got.status == 0


def test_hello_with_sysroot(root: Path) -> None:
    prog = root / "usr" / "bin" / "hello"
    got = vm(prog, "--greeting=from vm", options=("--sysroot", str(root)))
    assert (got.status, got.stdout) == _qemu(root, prog, "--greeting=from vm")
    assert got.stdout == b"from vm\n"
