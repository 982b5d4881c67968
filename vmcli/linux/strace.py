"""--strace: each system call with its decoded arguments and result, one line each, like strace."""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vmcli.linux.process import Process

# Argument kinds per call: s = string, i = int, x = hex, p = pointer, o = octal; the rest print as hex.
SIGNATURES = {
    "openat": "isxo", "open": "sxo", "execve": "spp", "newfstatat": "ispx", "statx": "isxxp", "readlinkat": "ispi",
    "read": "ipi", "write": "ipi", "close": "i", "faccessat": "isx", "access": "sx", "chdir": "s",
    "mkdirat": "iso", "unlinkat": "isx", "exit_group": "i", "exit": "i", "kill": "ii", "tgkill": "iii",
    "lseek": "iii", "dup3": "iii", "dup": "i", "fcntl": "iix", "ioctl": "ixp", "wait4": "ipxp",
    "mmap": "xxxxii", "munmap": "xx", "mprotect": "xxx", "brk": "x", "rt_sigaction": "ipp", "stat": "sp",
    "lstat": "sp", "readlink": "spi", "unlink": "s", "mkdir": "so", "rename": "ss", "symlinkat": "sis",
    "renameat": "isis", "renameat2": "isisx", "linkat": "isisx", "fchdir": "i", "pipe2": "px", "getdents64": "ipi",
}


def _arg(p: Process, kind: str, value: int) -> str:
    if kind == "s":
        try:
            return '"' + p.mem.cstring(value, 256).decode(errors="backslashreplace") + '"'
        except Exception:
            return f"{value:#x}"
    if kind == "i":
        v = value & 0xFFFF_FFFF
        return str(v - (1 << 32) if v & 0x8000_0000 else v)
    if kind == "o":
        return f"{value:#o}"
    if kind == "p" and value == 0:
        return "NULL"
    return f"{value:#x}"


def format_call(p: Process, nr: int, values: list[int], result: int | None) -> str:
    name = p.arch.numbers.get(nr, f"syscall_{nr}")
    kinds = SIGNATURES.get(name, "xxxxxx")
    args = ", ".join(_arg(p, k, v) for k, v in zip(kinds, values[1:], strict=False))
    head = f"[{p.current.tid if p.current else p.pid}] {name}({args})"
    if result is None:
        return f"{head} = ?"
    r = result - (1 << 64) if result >= 1 << 63 else result
    if -4096 < r < 0:
        code = -r
        return f"{head} = -1 {errno.errorcode.get(code, str(code))} ({os.strerror(code)})"
    if name not in p.arch.names or p.table[nr] is None:
        return f"{head} = -1 ENOSYS (not implemented)"
    return f"{head} = {r:#x}" if name in ("mmap", "brk", "mremap") else f"{head} = {r}"
