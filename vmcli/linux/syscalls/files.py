"""Descriptors: read/write and their vector and positional kin, open, close, dup, fcntl, ioctl,
pipes, eventfd, sendfile. Guest descriptors are host descriptors (as in qemu-user), below FD_BASE.

Reads and writes that could block (pipes, sockets, terminals) first ask poll() whether they would;
if so, and the descriptor is not O_NONBLOCK, the thread is parked until it is ready and the call
runs again, so other threads and signals are not held up.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl as host_fcntl
import os
import select
import struct
from typing import TYPE_CHECKING

from vmcli.linux.arch import open_flags_to_guest, open_flags_to_host
from vmcli.linux.hostsignals import FD_BASE
from vmcli.linux.memory import SPACE
from vmcli.linux.paths import AT_FDCWD
from vmcli.linux.syscalls import check, libc, libc_wait, path_arg, raw_ptr, s32, s64, syscall
from vmcli.linux.threads import Block, Wait

if TYPE_CHECKING:
    from vmcli.linux.process import Process

POLLIN, POLLOUT = select.POLLIN, select.POLLOUT
O_CLOEXEC = os.O_CLOEXEC
O_NONBLOCK = os.O_NONBLOCK
F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC = 0, 1, 2, 3, 4, 1030
FD_CLOEXEC = 1


class _PollFd(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_short), ("revents", ctypes.c_short)]


_one = _PollFd()
_one_ref = ctypes.byref(_one)


def ready(fd: int, events: int) -> bool:
    """Whether an operation on fd would not block now (errors and hang-ups count as ready)."""
    _one.fd, _one.events, _one.revents = fd, events, 0
    return libc.poll(_one_ref, 1, 0) != 0


# Character devices that never block: /dev/null, zero, full, random, urandom.
QUIET_DEVICES = {os.makedev(1, n) for n in (3, 5, 7, 8, 9)}


def never_blocks(p: Process, fd: int) -> bool:
    """Regular files, directories and the quiet devices never block: no poll() for them. Known per
    descriptor number until the number is reused (every call that makes or drops one forgets it)."""
    if fd in p.quiet_fds:
        return True
    try:
        st = os.fstat(fd)
    except OSError:
        return True
    import stat
    if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) or (
            stat.S_ISCHR(st.st_mode) and st.st_rdev in QUIET_DEVICES):
        p.quiet_fds.add(fd)
        return True
    return False


def nonblocking(fd: int) -> bool:
    try:
        return bool(host_fcntl.fcntl(fd, F_GETFL) & O_NONBLOCK)
    except OSError:
        return True


def wait_for(fd: int, events: int) -> None:
    """Park the thread until fd is ready, unless the guest asked not to wait (O_NONBLOCK)."""
    if not ready(fd, events) and not nonblocking(fd):
        raise Block(Wait(fds=[(fd, events)]))


def guest_fd(p: Process, fd: int) -> int:
    """A descriptor number from the guest; vm's own descriptors do not exist for it."""
    if fd >= FD_BASE or fd < 0:
        raise OSError(errno.EBADF, "bad file descriptor")
    return fd


@syscall("read")
def sys_read(p: Process, fd: int, buf: int, count: int, *_: int) -> int:
    if fd >= FD_BASE:
        return -errno.EBADF
    if fd not in p.quiet_fds and not never_blocks(p, fd):
        wait_for(fd, POLLIN)
    if buf + count > SPACE:
        return -errno.EFAULT
    r = _read(fd, base + buf if (base := p.mem.base) else 0, count)
    return r if r >= 0 else -ctypes.get_errno()


@syscall("write")
def sys_write(p: Process, fd: int, buf: int, count: int, *_: int) -> int:
    if fd >= FD_BASE:
        return -errno.EBADF
    if fd in p.quiet_fds or never_blocks(p, fd):
        write = _write
    else:
        wait_for(fd, POLLOUT)
        write = libc_wait.write
    if buf + count > SPACE:
        return -errno.EFAULT
    r = write(fd, ctypes.c_void_p(p.mem.base + buf), count)
    return r if r >= 0 else -ctypes.get_errno()


_read = libc.read
_read.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
_write = libc.write
_write.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]


@syscall("pread64")
def sys_pread(p: Process, fd: int, buf: int, count: int, offset: int, *_: int) -> int:
    fd = guest_fd(p, s32(fd))
    return check(libc.pread64(fd, raw_ptr(p, buf, count), ctypes.c_size_t(count), ctypes.c_long(s64(offset))))


@syscall("pwrite64")
def sys_pwrite(p: Process, fd: int, buf: int, count: int, offset: int, *_: int) -> int:
    fd = guest_fd(p, s32(fd))
    return check(libc.pwrite64(fd, raw_ptr(p, buf, count), ctypes.c_size_t(count), ctypes.c_long(s64(offset))))


def iovecs(p: Process, iov: int, count: int) -> ctypes.Array[ctypes.c_uint64]:
    """A host iovec array for a guest one: the same layout, with host addresses."""
    count = s32(count)
    if count < 0 or count > 1024:
        raise OSError(errno.EINVAL, "bad iovec count")
    raw = struct.unpack(f"<{2 * count}Q", p.mem.read(iov, 16 * count)) if count else ()
    out = (ctypes.c_uint64 * (2 * count))()
    for i in range(count):
        base, length = raw[2 * i], raw[2 * i + 1]
        out[2 * i] = raw_ptr(p, base, length).value or 0
        out[2 * i + 1] = length
    return out


@syscall("readv")
def sys_readv(p: Process, fd: int, iov: int, count: int, *_: int) -> int:
    fd = guest_fd(p, s32(fd))
    wait_for(fd, POLLIN)
    return check(libc.readv(fd, iovecs(p, iov, count), s32(count)))


@syscall("writev")
def sys_writev(p: Process, fd: int, iov: int, count: int, *_: int) -> int:
    fd = guest_fd(p, s32(fd))
    wait_for(fd, POLLOUT)
    return check(libc_wait.writev(fd, iovecs(p, iov, count), s32(count)))


@syscall("preadv")
def sys_preadv(p: Process, fd: int, iov: int, count: int, offset: int, *_: int) -> int:
    fd = guest_fd(p, s32(fd))
    return check(libc.preadv(fd, iovecs(p, iov, count), s32(count), ctypes.c_long(s64(offset))))


@syscall("pwritev")
def sys_pwritev(p: Process, fd: int, iov: int, count: int, offset: int, *_: int) -> int:
    fd = guest_fd(p, s32(fd))
    return check(libc.pwritev(fd, iovecs(p, iov, count), s32(count), ctypes.c_long(s64(offset))))


@syscall("lseek")
def sys_lseek(p: Process, fd: int, offset: int, whence: int, *_: int) -> int:
    return os.lseek(guest_fd(p, s32(fd)), s64(offset), s32(whence))


def _opened(fd: int, flags: int, p: Process | None = None) -> int:
    """A descriptor the guest opened: inheritable unless it asked for O_CLOEXEC (Python's os.open
    sets close-on-exec on everything)."""
    forget(fd)
    if fd >= FD_BASE:
        os.close(fd)
        raise OSError(errno.EMFILE, "too many open files")
    if not flags & O_CLOEXEC:
        os.set_inheritable(fd, True)
    return fd


def do_open(p: Process, dirfd: int, path: bytes, gflags: int, mode: int) -> int:
    flags = open_flags_to_host(p.arch, gflags)
    from vmcli.linux import procfs
    fd = procfs.open_special(p, dirfd, path, flags)
    if fd is None:
        fd = p.paths.open(dirfd, path, flags, mode)
    return _opened(fd, flags)


@syscall("openat")
def sys_openat(p: Process, dirfd: int, path: int, flags: int, mode: int, *_: int) -> int:
    return do_open(p, s32(dirfd), path_arg(p, path), s32(flags), mode & 0o7777)


@syscall("open")
def sys_open(p: Process, path: int, flags: int, mode: int, *_: int) -> int:
    return do_open(p, AT_FDCWD, path_arg(p, path), s32(flags), mode & 0o7777)


@syscall("creat")
def sys_creat(p: Process, path: int, mode: int, *_: int) -> int:
    return do_open(p, AT_FDCWD, path_arg(p, path), os.O_CREAT | os.O_WRONLY | os.O_TRUNC, mode & 0o7777)


@syscall("openat2")
def sys_openat2(p: Process, dirfd: int, path: int, how: int, size: int, *_: int) -> int:
    if size < 24:
        return -errno.EINVAL
    flags, mode, resolve = struct.unpack("<QQQ", p.mem.read(how, 24))
    if resolve:
        return -errno.ENOSYS if p.paths.fs_root else _openat2_host(p, s32(dirfd), path_arg(p, path), flags, mode,
                                                                    resolve)
    return do_open(p, s32(dirfd), path_arg(p, path), flags, mode)


def _openat2_host(p: Process, dirfd: int, path: bytes, flags: int, mode: int, resolve: int) -> int:
    from vmcli.hostfs import openat2
    hflags = open_flags_to_host(p.arch, flags)
    return _opened(openat2(dirfd, p.paths.host(path), hflags, mode, resolve), hflags)


def forget(fd: int) -> None:
    """The number fd now names another file (or none): forget what was known of it."""
    from vmcli.linux import process
    if process.CURRENT is not None:
        process.CURRENT.quiet_fds.discard(fd)


@syscall("close")
def sys_close(p: Process, fd: int, *_: int) -> int:
    fd = guest_fd(p, s32(fd))
    p.quiet_fds.discard(fd)
    os.close(fd)
    return 0


@syscall("close_range")
def sys_close_range(p: Process, first: int, last: int, flags: int, *_: int) -> int:
    first, last = first & 0xFFFF_FFFF, min(last & 0xFFFF_FFFF, FD_BASE - 1)
    if first > last:
        return 0
    p.quiet_fds.clear()
    for fd in _open_fds():
        if first <= fd <= last:
            if flags & 4:            # CLOSE_RANGE_CLOEXEC
                os.set_inheritable(fd, False)
            else:
                with contextlib.suppress(OSError):
                    os.close(fd)
    return 0


def _open_fds() -> list[int]:
    return sorted(int(n) for n in os.listdir("/proc/self/fd"))


@syscall("dup")
def sys_dup(p: Process, fd: int, *_: int) -> int:
    new = os.dup(guest_fd(p, s32(fd)))
    return _opened(new, 0)


@syscall("dup3")
def sys_dup3(p: Process, old: int, new: int, flags: int, *_: int) -> int:
    old, new = guest_fd(p, s32(old)), guest_fd(p, s32(new))
    if old == new:
        return -errno.EINVAL
    p.quiet_fds.discard(new)
    return os.dup2(old, new, inheritable=not flags & O_CLOEXEC)


@syscall("dup2")
def sys_dup2(p: Process, old: int, new: int, *_: int) -> int:
    old, new = guest_fd(p, s32(old)), guest_fd(p, s32(new))
    if old == new:
        os.fstat(old)
        return new
    p.quiet_fds.discard(new)
    return os.dup2(old, new, inheritable=True)


@syscall("fcntl")
def sys_fcntl(p: Process, fd: int, cmd: int, arg: int, *_: int) -> int:
    fd, cmd = guest_fd(p, s32(fd)), s32(cmd)
    if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
        if s32(arg) >= FD_BASE:
            return -errno.EINVAL
        new = host_fcntl.fcntl(fd, cmd, s32(arg))
        return _opened(new, O_CLOEXEC if cmd == F_DUPFD_CLOEXEC else 0)
    if cmd == F_GETFL:
        return open_flags_to_guest(p.arch, host_fcntl.fcntl(fd, F_GETFL))
    if cmd == F_SETFL:
        return host_fcntl.fcntl(fd, F_SETFL, open_flags_to_host(p.arch, s32(arg)))
    if cmd in (F_GETFD, F_SETFD, 1031, 1032, 1033, 1034, 8, 9, 1024, 1025, 1026):
        # GETFD/SETFD, F_SETPIPE_SZ/GETPIPE_SZ, ADD_SEALS/GET_SEALS, F_SETOWN/GETOWN, SETLEASE/GETLEASE, NOTIFY
        return host_fcntl.fcntl(fd, cmd, arg & 0xFFFF_FFFF if cmd != F_SETFD else s32(arg))
    if cmd in (5, 6, 7, 36, 37, 38):         # F_GETLK, F_SETLK, F_SETLKW and the OFD ones: struct flock
        size = 32
        data = bytearray(p.mem.read(arg, size))
        if cmd in (7, 38) and not _lock_free(fd, bytes(data), cmd):
            raise Block(Wait(deadline=_soon()))
        out = host_fcntl.fcntl(fd, cmd, bytes(data))
        if cmd in (5, 36):
            p.mem.write(arg, out)
        return 0
    return -errno.EINVAL


def _soon() -> float:
    import time
    return time.monotonic() + 0.02


def _lock_free(fd: int, flock: bytes, cmd: int) -> bool:
    test = 5 if cmd == 7 else 36
    out = host_fcntl.fcntl(fd, test, flock)
    return struct.unpack_from("<h", out)[0] == 2     # F_UNLCK: nothing in the way


@syscall("flock")
def sys_flock(p: Process, fd: int, op: int, *_: int) -> int:
    fd, op = guest_fd(p, s32(fd)), s32(op)
    try:
        host_fcntl.flock(fd, op | host_fcntl.LOCK_NB)
    except BlockingIOError:
        if op & host_fcntl.LOCK_NB:
            raise
        raise Block(Wait(deadline=_soon())) from None
    return 0


# ioctls whose argument is a flat structure (no pointers inside), the same on every arch here.
IOCTL_FLAT = {
    0x5401: 60, 0x5402: 60, 0x5403: 60, 0x5404: 60,         # TCGETS, TCSETS, TCSETSW, TCSETSF (struct termios)
    0x5413: 8, 0x5414: 8,                                   # TIOCGWINSZ, TIOCSWINSZ
    0x540F: 4, 0x5410: 4, 0x5429: 4,                        # TIOCGPGRP, TIOCSPGRP, TIOCGSID
    0x541B: 4, 0x5421: 4, 0x5451: 0, 0x5450: 0,             # FIONREAD, FIONBIO, FIOCLEX, FIONCLEX
    0x5409: -1, 0x540A: -1, 0x540B: -1, 0x540E: -1, 0x5422: -1,  # TCSBRK, TCXONC, TCFLSH, TIOCSCTTY, TIOCNOTTY
    0x5411: 4, 0x5412: 4,                                   # TIOCOUTQ, TIOCSTI
    0x80045430: 4, 0x5432: 4,                               # TIOCGPTN, TIOCGPKT? (read an int)
    0x40045431: 4,                                          # TIOCSPTLCK
}


@syscall("ioctl")
def sys_ioctl(p: Process, fd: int, request: int, arg: int, *_: int) -> int:
    fd = guest_fd(p, s32(fd))
    request &= 0xFFFF_FFFF
    size = IOCTL_FLAT.get(request)
    if size is None:
        return -errno.ENOTTY if request >> 8 & 0xFF == 0x54 else -errno.ENOTTY
    if size == -1:                                           # the argument is a plain value
        return check(libc.ioctl(fd, ctypes.c_ulong(request), ctypes.c_ulong(arg)))
    if size == 0:
        return check(libc.ioctl(fd, ctypes.c_ulong(request), ctypes.c_ulong(0)))
    return check(libc.ioctl(fd, ctypes.c_ulong(request), raw_ptr(p, arg, size)))


@syscall("pipe2")
def sys_pipe2(p: Process, fds: int, flags: int, *_: int) -> int:
    r, w = os.pipe2(open_flags_to_host(p.arch, s32(flags)) | O_CLOEXEC)
    try:
        p.mem.write(fds, struct.pack("<ii", r, w))
    except Exception:
        os.close(r)
        os.close(w)
        raise
    return _pair(r, w, s32(flags))


def _pair(r: int, w: int, flags: int) -> int:
    _opened(r, flags & O_CLOEXEC)
    _opened(w, flags & O_CLOEXEC)
    return 0


@syscall("pipe")
def sys_pipe(p: Process, fds: int, *_: int) -> int:
    return sys_pipe2(p, fds, 0)


@syscall("eventfd2")
def sys_eventfd2(p: Process, initval: int, flags: int, *_: int) -> int:
    fd = os.eventfd(initval & 0xFFFF_FFFF, s32(flags) | os.EFD_CLOEXEC)
    return _opened(fd, s32(flags))


@syscall("eventfd")
def sys_eventfd(p: Process, initval: int, *_: int) -> int:
    return sys_eventfd2(p, initval, 0)


@syscall("fsync", "fdatasync", "syncfs")
def sys_fsync(p: Process, fd: int, *_: int) -> int:
    os.fsync(guest_fd(p, s32(fd)))
    return 0


@syscall("sync")
def sys_sync(p: Process, *_: int) -> int:
    os.sync()
    return 0


@syscall("ftruncate")
def sys_ftruncate(p: Process, fd: int, length: int, *_: int) -> int:
    os.ftruncate(guest_fd(p, s32(fd)), s64(length))
    return 0


@syscall("fallocate")
def sys_fallocate(p: Process, fd: int, mode: int, offset: int, length: int, *_: int) -> int:
    fd = guest_fd(p, s32(fd))
    return check(libc.fallocate(fd, s32(mode), ctypes.c_long(s64(offset)), ctypes.c_long(s64(length))))


@syscall("fadvise64")
def sys_fadvise(p: Process, fd: int, offset: int, length: int, advice: int, *_: int) -> int:
    guest_fd(p, s32(fd))
    return 0


@syscall("sendfile")
def sys_sendfile(p: Process, out_fd: int, in_fd: int, offset: int, count: int, *_: int) -> int:
    out_fd, in_fd = guest_fd(p, s32(out_fd)), guest_fd(p, s32(in_fd))
    wait_for(out_fd, POLLOUT)
    off = raw_ptr(p, offset, 8) if offset else None
    return check(libc.sendfile(out_fd, in_fd, off, ctypes.c_size_t(count)))


@syscall("copy_file_range")
def sys_copy_file_range(p: Process, fd_in: int, off_in: int, fd_out: int, off_out: int, length: int,
                        flags: int) -> int:
    fd_in, fd_out = guest_fd(p, s32(fd_in)), guest_fd(p, s32(fd_out))
    pin = raw_ptr(p, off_in, 8) if off_in else None
    pout = raw_ptr(p, off_out, 8) if off_out else None
    return check(libc.copy_file_range(fd_in, pin, fd_out, pout, ctypes.c_size_t(length), ctypes.c_uint(flags)))


@syscall("memfd_create")
def sys_memfd_create(p: Process, name: int, flags: int, *_: int) -> int:
    fd = os.memfd_create(path_arg(p, name).decode(errors="replace"), (flags & 0xFFFF_FFFF) | os.MFD_CLOEXEC)
    return _opened(fd, flags & 1 and O_CLOEXEC)
