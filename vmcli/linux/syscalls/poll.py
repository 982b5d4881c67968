"""poll, select and epoll: asked of the host with a zero timeout; when nothing is ready and the guest
wants to wait, its thread is parked on the same descriptors and the call runs again when one is
ready (or completes with 0 at the deadline). struct epoll_event is packed on x86_64 (12 bytes) and
naturally aligned elsewhere (16 bytes)."""

from __future__ import annotations

import ctypes
import errno
import platform
import select
import struct
from typing import TYPE_CHECKING

from vmcli.linux.syscalls import check, libc, raw_ptr, s32, syscall
from vmcli.linux.syscalls.files import _opened, guest_fd
from vmcli.linux.threads import Block, Wait, deadline_after

if TYPE_CHECKING:
    from vmcli.linux.process import Process

HOST_EPOLL = "<IQ" if platform.machine() == "x86_64" else "<I4xQ"


def _timespec(p: Process, addr: int) -> float | None:
    if not addr:
        return None
    sec, nsec = struct.unpack("<qq", p.mem.read(addr, 16))
    if sec < 0 or not 0 <= nsec < 1_000_000_000:
        raise OSError(errno.EINVAL, "bad timeout")
    return sec + nsec / 1e9


def do_poll(p: Process, fds: int, nfds: int, timeout: float | None, sigmask: int | None = None) -> int:
    if nfds > 1 << 16:
        return -errno.EINVAL
    r = check(libc.poll(raw_ptr(p, fds, 8 * nfds), ctypes.c_ulong(nfds), 0))
    if r != 0 or timeout == 0:
        return r
    raw = p.mem.read(fds, 8 * nfds)
    waits = []
    for i in range(nfds):
        fd, events, _ = struct.unpack_from("<ihh", raw, 8 * i)
        if fd >= 0:
            waits.append((fd, events & 0xFFFF | select.POLLHUP | select.POLLERR))
    raise Block(Wait(fds=waits, deadline=None if timeout is None else deadline_after(timeout), timeout_result=0,
                     restartable=False, sigmask=sigmask, forever=not waits and timeout is None))


@syscall("poll")
def sys_poll(p: Process, fds: int, nfds: int, timeout: int, *_: int) -> int:
    ms = s32(timeout)
    return do_poll(p, fds, nfds, None if ms < 0 else ms / 1000)


@syscall("ppoll")
def sys_ppoll(p: Process, fds: int, nfds: int, tsp: int, sigmask: int, size: int, *_: int) -> int:
    mask = p.mem.u64(sigmask) if sigmask else None
    return do_poll(p, fds, nfds, _timespec(p, tsp), mask)


def do_select(p: Process, nfds: int, rd: int, wr: int, ex: int, timeout: float | None, sigmask: int | None) -> int:
    nfds = s32(nfds)
    if nfds < 0 or nfds > 1024:
        return -errno.EINVAL
    size = (nfds + 63) // 64 * 8
    sets = [p.mem.read(a, size) if a else b"" for a in (rd, wr, ex)]
    zero = ctypes.create_string_buffer(16)
    r = check(libc.select(nfds, raw_ptr(p, rd, size) if rd else None, raw_ptr(p, wr, size) if wr else None,
                          raw_ptr(p, ex, size) if ex else None, zero))
    if r != 0 or timeout == 0:
        return r
    waits = []
    for data, events in zip(sets, (select.POLLIN, select.POLLOUT, select.POLLPRI), strict=True):
        bits = int.from_bytes(data, "little")
        waits += [(fd, events) for fd in range(nfds) if bits >> fd & 1]
    for addr, data in zip((rd, wr, ex), sets, strict=True):
        if addr:
            p.mem.write(addr, data)             # the zero-timeout probe cleared them
    raise Block(Wait(fds=waits, deadline=None if timeout is None else deadline_after(timeout), timeout_result=0,
                     restartable=False, sigmask=sigmask, forever=not waits and timeout is None))


@syscall("select")
def sys_select(p: Process, nfds: int, rd: int, wr: int, ex: int, tv: int, *_: int) -> int:
    timeout = None
    if tv:
        sec, usec = struct.unpack("<qq", p.mem.read(tv, 16))
        timeout = sec + usec / 1e6
    return do_select(p, nfds, rd, wr, ex, timeout, None)


@syscall("pselect6")
def sys_pselect6(p: Process, nfds: int, rd: int, wr: int, ex: int, tsp: int, sig: int) -> int:
    mask = None
    if sig:
        mask_ptr, _size = struct.unpack("<QQ", p.mem.read(sig, 16))
        mask = p.mem.u64(mask_ptr) if mask_ptr else None
    return do_select(p, nfds, rd, wr, ex, _timespec(p, tsp), mask)


@syscall("epoll_create1")
def sys_epoll_create1(p: Process, flags: int, *_: int) -> int:
    fd = check(libc.epoll_create1(s32(flags) | 0o2000000))
    return fd if fd < 0 else _opened(fd, s32(flags))


@syscall("epoll_create")
def sys_epoll_create(p: Process, size: int, *_: int) -> int:
    if s32(size) <= 0:
        return -errno.EINVAL
    return sys_epoll_create1(p, 0)


def _guest_event(p: Process) -> str:
    return p.arch.epoll_event


@syscall("epoll_ctl")
def sys_epoll_ctl(p: Process, epfd: int, op: int, fd: int, event: int, *_: int) -> int:
    fmt = _guest_event(p)
    host = None
    if event:
        events, data = struct.unpack(fmt, p.mem.read(event, struct.calcsize(fmt)))
        host = ctypes.create_string_buffer(struct.pack(HOST_EPOLL, events, data))
    return check(libc.epoll_ctl(guest_fd(p, s32(epfd)), s32(op), guest_fd(p, s32(fd)), host))


def do_epoll_wait(p: Process, epfd: int, events: int, maxevents: int, timeout_ms: int, sigmask: int | None) -> int:
    epfd = guest_fd(p, s32(epfd))
    maxevents = s32(maxevents)
    if maxevents <= 0 or maxevents > 1 << 16:
        return -errno.EINVAL
    hsize, gfmt = struct.calcsize(HOST_EPOLL), _guest_event(p)
    buf = ctypes.create_string_buffer(hsize * maxevents)
    n = check(libc.epoll_wait(epfd, buf, maxevents, 0))
    if n > 0:
        out = b"".join(struct.pack(gfmt, *struct.unpack_from(HOST_EPOLL, buf.raw, hsize * i)) for i in range(n))
        p.mem.write(events, out)
        return n
    if n < 0 or timeout_ms == 0:
        return n
    deadline = None if timeout_ms < 0 else deadline_after(timeout_ms / 1000)
    raise Block(Wait(fds=[(epfd, select.POLLIN)], deadline=deadline, timeout_result=0, restartable=False,
                     sigmask=sigmask))


@syscall("epoll_wait")
def sys_epoll_wait(p: Process, epfd: int, events: int, maxevents: int, timeout: int, *_: int) -> int:
    return do_epoll_wait(p, epfd, events, maxevents, s32(timeout), None)


@syscall("epoll_pwait")
def sys_epoll_pwait(p: Process, epfd: int, events: int, maxevents: int, timeout: int, sigmask: int,
                    *_: int) -> int:
    mask = p.mem.u64(sigmask) if sigmask else None
    return do_epoll_wait(p, epfd, events, maxevents, s32(timeout), mask)
