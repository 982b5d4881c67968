"""Time: clocks, sleeps (a parked thread with a deadline), alarms and interval timers, POSIX timers.
The host's timers signal the host process; their signals reach the guest through the signalfd."""

from __future__ import annotations

import ctypes
import errno
import struct
import time
from typing import TYPE_CHECKING

from vmcli.linux.syscalls import check, libc, raw_ptr, s32, syscall
from vmcli.linux.syscalls.processes import host_syscall
from vmcli.linux.threads import Block, Wait, deadline_after

if TYPE_CHECKING:
    from vmcli.linux.process import Process

TIMER_ABSTIME = 1
SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD_ID = 0, 1, 4


@syscall("clock_gettime")
def sys_clock_gettime(p: Process, clock: int, tp: int, *_: int) -> int:
    return check(libc.clock_gettime(s32(clock), raw_ptr(p, tp, 16)))


@syscall("clock_getres")
def sys_clock_getres(p: Process, clock: int, tp: int, *_: int) -> int:
    return check(libc.clock_getres(s32(clock), raw_ptr(p, tp, 16) if tp else None))


@syscall("gettimeofday")
def sys_gettimeofday(p: Process, tv: int, tz: int, *_: int) -> int:
    return check(libc.gettimeofday(raw_ptr(p, tv, 16) if tv else None, raw_ptr(p, tz, 8) if tz else None))


@syscall("time")
def sys_time(p: Process, tloc: int, *_: int) -> int:
    now = int(time.time())
    if tloc:
        p.mem.put_u64(tloc, now)
    return now


def _sleep(p: Process, seconds: float) -> int:
    if seconds <= 0:
        return 0
    raise Block(Wait(deadline=deadline_after(seconds), timeout_result=0, restartable=False))


@syscall("nanosleep")
def sys_nanosleep(p: Process, req: int, rem: int, *_: int) -> int:
    sec, nsec = struct.unpack("<qq", p.mem.read(req, 16))
    if sec < 0 or not 0 <= nsec < 1_000_000_000:
        return -errno.EINVAL
    return _sleep(p, sec + nsec / 1e9)


@syscall("clock_nanosleep")
def sys_clock_nanosleep(p: Process, clock: int, flags: int, req: int, rem: int, *_: int) -> int:
    sec, nsec = struct.unpack("<qq", p.mem.read(req, 16))
    if sec < 0 or not 0 <= nsec < 1_000_000_000:
        return -errno.EINVAL
    seconds = sec + nsec / 1e9
    if s32(flags) & TIMER_ABSTIME:
        now = ctypes.create_string_buffer(16)
        libc.clock_gettime(s32(clock), now)
        nsec_now = struct.unpack("<qq", now.raw)
        seconds -= nsec_now[0] + nsec_now[1] / 1e9
    return _sleep(p, seconds)


@syscall("alarm")
def sys_alarm(p: Process, seconds: int, *_: int) -> int:
    import signal
    return signal.alarm(seconds & 0xFFFF_FFFF)


@syscall("setitimer")
def sys_setitimer(p: Process, which: int, new: int, old: int, *_: int) -> int:
    return check(libc.setitimer(s32(which), raw_ptr(p, new, 32), raw_ptr(p, old, 32) if old else None))


@syscall("getitimer")
def sys_getitimer(p: Process, which: int, out: int, *_: int) -> int:
    return check(libc.getitimer(s32(which), raw_ptr(p, out, 32)))


@syscall("timer_create")
def sys_timer_create(p: Process, clock: int, sevp: int, timerid: int, *_: int) -> int:
    # struct sigevent: sigev_value, sigev_signo, sigev_notify, then the thread id. Green threads have
    # no host thread ids: a thread-directed timer signal goes to the process.
    event = b""
    if sevp:
        raw = bytearray(p.mem.read(sevp, 64))
        value, signo, notify = struct.unpack_from("<Qii", raw)
        if notify == SIGEV_THREAD_ID:
            struct.pack_into("<Qii", raw, 0, value, signo, SIGEV_SIGNAL)
        event = bytes(raw)
    buf = ctypes.create_string_buffer(event, 64) if event else None
    out = ctypes.c_int()
    r = host_syscall("timer_create", s32(clock), ctypes.c_void_p(ctypes.addressof(buf)) if buf else None,
                     ctypes.c_void_p(ctypes.addressof(out)))
    if r == 0:
        p.mem.put_u32(timerid, out.value)
    return r


@syscall("timer_settime")
def sys_timer_settime(p: Process, timer: int, flags: int, new: int, old: int, *_: int) -> int:
    return host_syscall("timer_settime", s32(timer), s32(flags), raw_ptr(p, new, 32), raw_ptr(p, old, 32) if old
                        else None)


@syscall("timer_gettime")
def sys_timer_gettime(p: Process, timer: int, out: int, *_: int) -> int:
    return host_syscall("timer_gettime", s32(timer), raw_ptr(p, out, 32))


@syscall("timer_getoverrun", "timer_delete")
def sys_timer_other(p: Process, timer: int, *_: int) -> int:
    return host_syscall(p.arch.numbers[p.sysregs.values[0]], s32(timer))


@syscall("timerfd_create")
def sys_timerfd_create(p: Process, clock: int, flags: int, *_: int) -> int:
    from vmcli.linux.syscalls.files import _opened
    fd = check(libc.timerfd_create(s32(clock), s32(flags) | 0o2000000))
    return fd if fd < 0 else _opened(fd, s32(flags))


@syscall("timerfd_settime")
def sys_timerfd_settime(p: Process, fd: int, flags: int, new: int, old: int, *_: int) -> int:
    return check(libc.timerfd_settime(s32(fd), s32(flags), raw_ptr(p, new, 32), raw_ptr(p, old, 32) if old else None))


@syscall("timerfd_gettime")
def sys_timerfd_gettime(p: Process, fd: int, out: int, *_: int) -> int:
    return check(libc.timerfd_gettime(s32(fd), raw_ptr(p, out, 32)))
