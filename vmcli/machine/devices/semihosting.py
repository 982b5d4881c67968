"""ARM and RISC-V semihosting: the guest's calls into the host (console, files, clock, exit).

Reference: "Semihosting for AArch32 and AArch64", ARM IHI 0056 (release 2.0), and the RISC-V semihosting
spec, which reuses the same operation numbers and 64-bit parameter blocks. Behaviour follows
QEMU's semihosting/arm-compat-semi.c where the spec leaves room, except files: the guest may open host
files only below the directory the user grants with --semihosting-root, as if that were its root.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from vmcli.hostfs import open_beneath, open_regular
from vmcli.machine.devices.device import Device, Host, Stop
from vmcli.machine.memory import GuestMemory, GuestMemoryError

ADP_STOPPED_APPLICATION_EXIT = 0x20026
FEATURES_FILE = b"SHFB\x03"          # magic + EXIT_EXTENDED | STDOUT_STDERR
MAX_PATH = 4096
MAX_TRANSFER = 1 << 26               # one READ/WRITE moves at most 64 MiB; the guest loops for more
MAX_HANDLES = 256                    # open handles per guest; beyond, SYS_OPEN fails with EMFILE
MAX_OFFSET = (1 << 63) - 1           # the largest file position the host's lseek takes
WORD = 8                             # both boards are 64-bit: parameter block fields are 8 bytes
TICKS_PER_SECOND = 1_000_000

# fopen mode numbers 0..11 of SYS_OPEN ("r", "rb", "r+", "r+b", "w", "wb", "w+", "w+b", "a", ...)
OPEN_FLAGS = [os.O_RDONLY] * 2 + [os.O_RDWR] * 2 + [os.O_WRONLY | os.O_CREAT | os.O_TRUNC] * 2 + \
    [os.O_RDWR | os.O_CREAT | os.O_TRUNC] * 2 + [os.O_WRONLY | os.O_CREAT | os.O_APPEND] * 2 + \
    [os.O_RDWR | os.O_CREAT | os.O_APPEND] * 2


class SemihostError(Exception):
    def __init__(self, err: int) -> None:
        super().__init__(os.strerror(err))
        self.errno = err


@dataclass
class Handle:
    kind: str                        # "stdin", "stdout", "stderr", "features", "file"
    fd: int = -1
    data: bytes = b""                # contents of the features pseudo-file
    pos: int = 0

    @property
    def console(self) -> bool:
        return self.kind in ("stdin", "stdout", "stderr")


OPS: dict[int, tuple[str, Callable[..., int]]] = {}


def op(number: int, name: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Declare a semihosting operation; the table of what is supported is the code itself."""

    def register(fn: Callable[..., int]) -> Callable[..., int]:
        OPS[number] = (name, fn)
        return fn

    return register


class Semihosting(Device):
    kind = "semihosting"

    def __init__(self, name: str, host: Host, memory: GuestMemory, *, root: str | None,
                 cmdline: str, heap: tuple[int, int]) -> None:
        super().__init__(name, host)
        self.mem = memory
        self.root = os.path.realpath(root) if root is not None else None
        self._root_fd = -1
        self._told_no_root = False
        self.cmdline = cmdline.encode()
        self.heap = heap
        self.handles: dict[int, Handle] = {}
        self.last_errno = 0
        self.started = time.monotonic()
        self.calls: dict[str, int] = {}

    def close_all(self) -> None:
        for handle in self.handles.values():
            if handle.fd >= 0:
                os.close(handle.fd)
        self.handles.clear()
        if self._root_fd >= 0:
            os.close(self._root_fd)
            self._root_fd = -1

    def call(self, number: int, param: int) -> int:
        """Perform operation `number` with parameter `param`; the result goes back in the op register."""
        self.accesses += 1
        entry = OPS.get(number)
        if entry is None:
            self.calls["unknown"] = self.calls.get("unknown", 0) + 1
            self.last_errno = errno.ENOSYS
            return -1
        name, fn = entry
        self.calls[name] = self.calls.get(name, 0) + 1
        try:
            return fn(self, param)
        except GuestMemoryError:
            self.last_errno = errno.EFAULT
            return -1
        except SemihostError as exc:
            self.last_errno = exc.errno
            return -1
        except OSError as exc:
            self.last_errno = exc.errno or errno.EIO
            return -1

    # -- helpers --------------------------------------------------------------------------------
    def args(self, param: int, count: int) -> list[int]:
        block = self.mem.read(param, WORD * count)
        return [int.from_bytes(block[i * WORD:(i + 1) * WORD], "little") for i in range(count)]

    def handle(self, number: int) -> Handle:
        handle = self.handles.get(number)
        if handle is None:
            raise SemihostError(errno.EBADF)
        return handle

    def new_handle(self, handle: Handle) -> int:
        if len(self.handles) >= MAX_HANDLES:
            if handle.fd >= 0:
                os.close(handle.fd)
            raise SemihostError(errno.EMFILE)
        number = 1
        while number in self.handles:
            number += 1
        self.handles[number] = handle
        return number

    def open_file(self, name: bytes, flags: int) -> int:
        """A host fd for a guest file name, confined to the granted root like a chroot: the kernel
        resolves the name below the root in the same step as the open (no check-then-use race), and
        only a regular file is kept."""
        if self.root is None:
            if not self._told_no_root:
                self._told_no_root = True
                self.host.console.write(b"vm: the guest tried to open a host file; semihosting file access "
                                        b"needs --semihosting-root DIR\n", err=True)
            raise SemihostError(errno.EACCES)
        if b"\0" in name or not name:
            raise SemihostError(errno.ENOENT)
        if self._root_fd < 0:
            self._root_fd = os.open(self.root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return open_regular(lambda f: open_beneath(self._root_fd, name, f, 0o644), flags)
        except OSError as exc:
            if exc.errno == errno.EXDEV:          # the name leads out of the root
                raise SemihostError(errno.EACCES) from None
            raise

    def console_write(self, handle: Handle, data: bytes) -> None:
        self.host.console.write(data, err=handle.kind == "stderr")


# -- operations ---------------------------------------------------------------------------------
@op(0x01, "open")
def sys_open(sh: Semihosting, param: int) -> int:
    name_ptr, mode, length = sh.args(param, 3)
    if mode > 11 or length > MAX_PATH:
        raise SemihostError(errno.EINVAL)
    name = sh.mem.read(name_ptr, length)
    if name == b":tt":
        return sh.new_handle(Handle("stdin" if mode < 4 else "stdout" if mode < 8 else "stderr"))
    if name == b":semihosting-features":
        if mode > 1:
            raise SemihostError(errno.EACCES)
        return sh.new_handle(Handle("features", data=FEATURES_FILE))
    if len(sh.handles) >= MAX_HANDLES:
        raise SemihostError(errno.EMFILE)
    return sh.new_handle(Handle("file", fd=sh.open_file(name, OPEN_FLAGS[mode])))


@op(0x02, "close")
def sys_close(sh: Semihosting, param: int) -> int:
    (number,) = sh.args(param, 1)
    handle = sh.handle(number)
    del sh.handles[number]
    if handle.fd >= 0:
        os.close(handle.fd)
    return 0


@op(0x03, "writec")
def sys_writec(sh: Semihosting, param: int) -> int:
    sh.host.console.write(sh.mem.read(param, 1))
    return 0


@op(0x04, "write0")
def sys_write0(sh: Semihosting, param: int) -> int:
    sh.host.console.write(sh.mem.read_cstring(param, MAX_TRANSFER))
    return 0


@op(0x05, "write")
def sys_write(sh: Semihosting, param: int) -> int:
    number, buf, length = sh.args(param, 3)
    handle = sh.handle(number)
    if length > MAX_TRANSFER:
        raise SemihostError(errno.EINVAL)
    data = sh.mem.read(buf, length)
    if handle.console:
        if handle.kind == "stdin":
            raise SemihostError(errno.EBADF)
        sh.console_write(handle, data)
        return 0
    if handle.kind == "features":
        raise SemihostError(errno.EBADF)
    written = os.write(handle.fd, data)
    return length - written


@op(0x06, "read")
def sys_read(sh: Semihosting, param: int) -> int:
    number, buf, length = sh.args(param, 3)
    handle = sh.handle(number)
    if length > MAX_TRANSFER:
        raise SemihostError(errno.EINVAL)
    sh.mem.view(buf, length)                     # check the whole destination before reading
    if handle.kind == "features":
        data = handle.data[handle.pos:handle.pos + length]
        handle.pos += len(data)
    elif handle.kind == "stdin":
        first = sh.host.console.read_byte(wait=True)
        data = b"" if first is None else bytes((first,))
        while len(data) < length and data[-1:] != b"\n" and sh.host.console.input_ready():
            more = sh.host.console.read_byte()
            if more is None:
                break
            data += bytes((more,))
    elif handle.console:
        raise SemihostError(errno.EBADF)
    else:
        data = os.read(handle.fd, length)
    sh.mem.write(buf, data)
    return length - len(data)


@op(0x07, "readc")
def sys_readc(sh: Semihosting, param: int) -> int:
    byte = sh.host.console.read_byte(wait=True)
    return -1 if byte is None else byte


@op(0x09, "istty")
def sys_istty(sh: Semihosting, param: int) -> int:
    (number,) = sh.args(param, 1)
    return 1 if sh.handle(number).console else 0


@op(0x0A, "seek")
def sys_seek(sh: Semihosting, param: int) -> int:
    number, position = sh.args(param, 2)
    handle = sh.handle(number)
    if position > MAX_OFFSET:
        raise SemihostError(errno.EINVAL)
    if handle.kind == "features":
        handle.pos = position
        return 0
    if handle.console:
        raise SemihostError(errno.ESPIPE)
    os.lseek(handle.fd, position, os.SEEK_SET)
    return 0


@op(0x0C, "flen")
def sys_flen(sh: Semihosting, param: int) -> int:
    (number,) = sh.args(param, 1)
    handle = sh.handle(number)
    if handle.kind == "features":
        return len(handle.data)
    if handle.console:
        return 0
    return os.fstat(handle.fd).st_size


@op(0x10, "clock")
def sys_clock(sh: Semihosting, param: int) -> int:
    return int((time.monotonic() - sh.started) * 100)       # centiseconds since the run began


@op(0x11, "time")
def sys_time(sh: Semihosting, param: int) -> int:
    return int(time.time())


@op(0x13, "errno")
def sys_errno(sh: Semihosting, param: int) -> int:
    return sh.last_errno


@op(0x15, "get_cmdline")
def sys_get_cmdline(sh: Semihosting, param: int) -> int:
    buf, length = sh.args(param, 2)
    data = sh.cmdline
    if len(data) + 1 > length:
        raise SemihostError(errno.E2BIG)
    sh.mem.write(buf, data + b"\0")
    sh.mem.write_u64(param + WORD, len(data))
    return 0


@op(0x16, "heapinfo")
def sys_heapinfo(sh: Semihosting, param: int) -> int:
    # The parameter is the address of a word that points to the four-word result block.
    block = sh.mem.read_u64(param)
    heap_base, heap_limit = sh.heap
    for i, value in enumerate((heap_base, heap_limit, heap_limit, heap_base)):
        sh.mem.write_u64(block + i * WORD, value)
    return 0


@op(0x18, "exit")
def sys_exit(sh: Semihosting, param: int) -> int:
    # On 64-bit targets SYS_EXIT takes a block {reason, subcode}, like SYS_EXIT_EXTENDED.
    return sys_exit_extended(sh, param)


@op(0x20, "exit_extended")
def sys_exit_extended(sh: Semihosting, param: int) -> int:
    reason, subcode = sh.args(param, 2)
    if reason == ADP_STOPPED_APPLICATION_EXIT:
        sh.host.stop(Stop(subcode & 0xFF, "exit", f"semihosting exit {subcode}"))
    else:
        sh.host.stop(Stop(1, "exit", f"semihosting exit with reason {reason:#x}"))
    return 0


@op(0x30, "elapsed")
def sys_elapsed(sh: Semihosting, param: int) -> int:
    sh.mem.write_u64(param, int((time.monotonic() - sh.started) * TICKS_PER_SECOND))
    return 0


@op(0x31, "tickfreq")
def sys_tickfreq(sh: Semihosting, param: int) -> int:
    return TICKS_PER_SECOND
