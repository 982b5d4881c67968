"""System call handlers, grouped by topic (files, fs, memory, process, signals, time, poll, net,
futex). Each is declared with `@syscall("name", ...)` under the kernel's name for it; the per-arch
number tables (numbers.py, generated from asm/unistd.h) bind numbers to them. A number with no
handler returns -ENOSYS.

A handler takes the process and the six raw argument registers and returns the result (a negative
errno for an error), or None when it has set the registers itself (rt_sigreturn). It may raise
OSError (its errno is returned), GuestFault (EFAULT) or Block (park the thread: threads.py).
"""

from __future__ import annotations

import ctypes
import errno
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from vmcli.linux.process import Process

from vmcli.linux.memory import SPACE

Handler = Callable[..., "int | None"]
HANDLERS: dict[str, Handler] = {}
MASK64 = 0xFFFF_FFFF_FFFF_FFFF

# Calls made with the GIL held (they never block: every blocking call is parked first).
libc = ctypes.PyDLL(None, use_errno=True)
# Functions that return ssize_t or long (the rest return int, ctypes' default restype).
for _name in ("read", "write", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev", "getdents64",
              "sendto", "recvfrom", "sendmsg", "recvmsg", "syscall", "sendfile", "copy_file_range", "splice", "tee",
              "getrandom"):
    getattr(libc, _name).restype = ctypes.c_long
# Calls that may wait (a blocking write to a full pipe): the GIL is released.
libc_wait = ctypes.CDLL(None, use_errno=True)
libc_wait.write.restype = ctypes.c_long
libc_wait.writev.restype = ctypes.c_long
libc_wait.sendto.restype = ctypes.c_long
libc_wait.sendmsg.restype = ctypes.c_long


F = TypeVar("F", bound=Callable[..., Any])


def syscall(*names: str) -> Callable[[F], F]:
    def register(func: F) -> F:
        for name in names:
            HANDLERS[name] = func
        return func
    return register


def check(result: int) -> int:
    """A libc call's result as a system call result: -errno on failure."""
    if result < 0:
        return -ctypes.get_errno()
    return result


def s32(value: int) -> int:
    """An int argument: the low 32 bits, sign-extended (a dirfd of -100 arrives as 0xffffff9c)."""
    value &= 0xFFFF_FFFF
    return value - (1 << 32) if value & 0x8000_0000 else value


def s64(value: int) -> int:
    return value - (1 << 64) if value & (1 << 63) else value


def ptr(p: Process, addr: int, size: int, write: bool = False) -> ctypes.c_void_p:
    """A host pointer to guest memory [addr, addr + size): checked against the guest's mappings."""
    return ctypes.c_void_p(p.mem.check(addr, size, write))


def raw_ptr(p: Process, addr: int, size: int) -> ctypes.c_void_p:
    """A host pointer for a buffer the host kernel checks itself (EFAULT where the guest has no access:
    the host protection mirrors the guest's); only the bounds of the guest space are checked here."""
    if addr + size > SPACE or size < 0:
        raise OSError(errno.EFAULT, "bad address")
    return ctypes.c_void_p(p.mem.base + addr)


def path_arg(p: Process, addr: int) -> bytes:
    if addr == 0:
        raise OSError(errno.EFAULT, "bad address")
    return p.mem.cstring(addr)


def load_all() -> None:
    from vmcli.linux.syscalls import (  # noqa: F401  (registering handlers)
        files,
        fs,
        futex,
        memory,
        net,
        poll,
        processes,
        signals,
        timers,
    )


def unused(*args: Any) -> None:
    del args
