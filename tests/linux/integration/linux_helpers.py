"""Building guest C programs with Debian's cross compilers and running them under vm, qemu-user
and natively, for the Linux user-mode tests."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from toolcheck import require_tool

ROOT = Path(__file__).resolve().parents[3]
PROGRAMS = Path(__file__).resolve().parents[1] / "programs"
VM = [sys.executable, "-m", "vmcli"]
COMPILERS = {"arm64": "aarch64-linux-gnu-gcc", "riscv64": "riscv64-linux-gnu-gcc", "x86_64": "gcc"}
QEMU = {"arm64": "qemu-aarch64", "riscv64": "qemu-riscv64", "x86_64": None}
SYSROOTS = {"arm64": "/usr/aarch64-linux-gnu", "riscv64": "/usr/riscv64-linux-gnu", "x86_64": None}
CACHE = Path(os.environ.get("VM_TEST_CACHE", Path.home() / ".cache" / "vm-tests"))


@dataclass
class Result:
    status: int
    stdout: bytes
    stderr: bytes


def build(name: str, arch: str, linkage: str = "static", extra: tuple[str, ...] = ()) -> Path:
    """The program tests/linux/programs/NAME.c built for arch, cached by the source's hash."""
    compiler = COMPILERS[arch]
    require_tool(compiler)
    source = PROGRAMS / f"{name}.c"
    flags = ["-O1", "-g0", "-pthread", *(["-static"] if linkage == "static" else []), *extra]
    key = hashlib.sha256(source.read_bytes() + " ".join([compiler, *flags]).encode()).hexdigest()[:16]
    out = CACHE / f"{name}-{arch}-{linkage}-{key}"
    if not out.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        subprocess.run([compiler, *flags, "-o", str(tmp), str(source)], check=True, capture_output=True)
        tmp.rename(out)
    return out


def run(cmd: list[str], *, stdin: bytes = b"", env: dict[str, str] | None = None, timeout: float = 60,
        cwd: str | None = None) -> Result:
    proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout, env=env, cwd=cwd)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def vm(prog: Path | str, *args: str, options: tuple[str, ...] = (), env: dict[str, str] | None = None,
       **kw: object) -> Result:
    """`vm run` from this checkout, whatever the working directory."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return run([*VM, "run", *options, str(prog), "--", *args], env=env, **kw)  # type: ignore[arg-type]


def reference(arch: str, prog: Path, *args: str, linkage: str = "static", **kw: object) -> Result:
    """The program under qemu-user (arm64, riscv64) or natively (x86_64)."""
    qemu = QEMU[arch]
    if qemu is None:
        return run([str(prog), *args], **kw)  # type: ignore[arg-type]
    require_tool(qemu)
    cmd = [qemu, *(["-L", SYSROOTS[arch]] if linkage == "dynamic" else []), str(prog), *args]
    return run(cmd, **kw)  # type: ignore[arg-type]
