"""binfmt_misc registration: the kernel runs arm64, riscv64 (and, on other hosts, x86_64) programs
through `vm run --user`, so `./arm64-test` works in a CI script.

Each entry matches the ELF header of one arch (magic and mask as qemu-user's entries) and names a
small wrapper script as its interpreter; with the P flag the kernel passes the program's own argv[0]
along, which the wrapper hands to vm in VM_ARGV0.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from vmcli.errors import BadInput

BINFMT = Path("/proc/sys/fs/binfmt_misc")
HEADER = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00"
MASK = b"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff"
MACHINES = {"arm64": b"\xb7\x00", "riscv64": b"\xf3\x00", "x86_64": b"\x3e\x00"}
HOST = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64", "riscv64": "riscv64"}.get(platform.machine(), "")


@dataclass(frozen=True)
class Entry:
    arch: str
    name: str
    interpreter: Path

    def line(self) -> str:
        """The text written to binfmt_misc/register."""
        def esc(data: bytes) -> str:
            return "".join(f"\\x{b:02x}" for b in data)
        magic, mask = esc(HEADER + MACHINES[self.arch]), esc(MASK + b"\xff\xff")
        return f":{self.name}:M:0:{magic}:{mask}:{self.interpreter}:P"


def entries(prefix: str = "vm", directory: Path | None = None) -> list[Entry]:
    """One entry per arch vm runs, except the host's own (the kernel runs those itself)."""
    where = directory or Path(os.environ.get("VM_BINFMT_DIR", "/usr/local/lib/vm-binfmt"))
    return [Entry(arch, f"{prefix}-{arch}", where / f"vm-run-{arch}") for arch in MACHINES if arch != HOST]


def wrapper(python: str = sys.executable) -> str:
    root = Path(__file__).resolve().parents[2]
    return ("#!/bin/sh\n# Written by `vm binfmt register`: binfmt_misc runs foreign programs through vm.\n"
            f'PROG="$1"; VM_ARGV0="$2"; export VM_ARGV0; shift 2\n'
            f"PYTHONPATH={shlex.quote(str(root))}${{PYTHONPATH:+:$PYTHONPATH}} exec {shlex.quote(python)} "
            '-m vmcli run --user "$PROG" -- "$@"\n')


def _available() -> None:
    if not (BINFMT / "register").exists():
        raise BadInput(f"binfmt_misc is not available here ({BINFMT}/register missing; as root: "
                       f"mount -t binfmt_misc binfmt_misc {BINFMT})")
    if not os.access(BINFMT / "register", os.W_OK):
        raise BadInput("binfmt_misc registration needs root")


def register(prefix: str = "vm") -> list[str]:
    _available()
    done = []
    for entry in entries(prefix):
        if (BINFMT / entry.name).exists():
            (BINFMT / entry.name).write_text("-1")
        entry.interpreter.parent.mkdir(parents=True, exist_ok=True)
        entry.interpreter.write_text(wrapper())
        entry.interpreter.chmod(0o755)
        try:
            (BINFMT / "register").write_text(entry.line())
        except OSError as exc:
            raise BadInput(f"binfmt_misc refused {entry.name}: {exc.strerror}") from None
        done.append(entry.name)
    return done


def unregister(prefix: str = "vm") -> list[str]:
    _available()
    done = []
    for entry in entries(prefix):
        if (BINFMT / entry.name).exists():
            (BINFMT / entry.name).write_text("-1")
            done.append(entry.name)
        if entry.interpreter.exists():
            entry.interpreter.unlink()
    return done


def status(prefix: str = "vm") -> list[tuple[str, str]]:
    """(entry, state) for each entry: enabled, disabled, not registered, or binfmt_misc missing."""
    if not (BINFMT / "register").exists():
        return [(e.name, "binfmt_misc not available") for e in entries(prefix)]
    out = []
    for entry in entries(prefix):
        path = BINFMT / entry.name
        state = path.read_text().splitlines()[0] if path.exists() else "not registered"
        out.append((entry.name, state))
    return out
