"""Signal system calls: sigaction, masks, sigreturn, the alternate stack, waiting for signals."""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from vmcli.linux import signals as sig
from vmcli.linux.syscalls import s32, syscall
from vmcli.linux.threads import Block, Wait, deadline_after

if TYPE_CHECKING:
    from vmcli.linux.process import Process

SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2
MINSIGSTKSZ = 2048


def _valid(signo: int) -> bool:
    return 1 <= signo <= sig.NSIG


def _recheck(p: Process) -> None:
    """The mask or a disposition changed: a pending signal may be deliverable now."""
    if p.pending or (p.current is not None and p.current.pending):
        p.reschedule = True
        p.stop_engine()


@syscall("rt_sigaction")
def sys_rt_sigaction(p: Process, signo: int, act: int, oact: int, size: int, *_: int) -> int:
    signo = s32(signo)
    if not _valid(signo) or size != 8:
        return -errno.EINVAL
    if act and signo in (sig.SIGKILL, sig.SIGSTOP):
        return -errno.EINVAL
    restorer = p.arch.sigaction_restorer
    old = p.actions[signo]
    fmt = "<QQQQ" if restorer else "<QQQ"
    if act:
        raw = struct.unpack(fmt, p.mem.read(act, struct.calcsize(fmt)))
        handler, flags = raw[0], raw[1]
        new = sig.Action(handler, flags & 0xFFFF_FFFF, raw[2] if restorer else 0, raw[-1] & ~sig.UNBLOCKABLE)
    if oact:
        values = (old.handler, old.flags, old.restorer, old.mask) if restorer else (old.handler, old.flags, old.mask)
        p.mem.write(oact, struct.pack(fmt, *values))
    if act:
        p.actions[signo] = new
        if new.handler not in (sig.SIG_DFL, sig.SIG_IGN):
            p.need_exact_stops()
        if new.handler == sig.SIG_IGN or (new.handler == sig.SIG_DFL and signo in sig.DEFAULT_IGNORE):
            p.pending.pop(signo, None)
            for t in p.threads:
                t.pending.pop(signo, None)
        _recheck(p)
    return 0


@syscall("rt_sigprocmask")
def sys_rt_sigprocmask(p: Process, how: int, new: int, old: int, size: int, *_: int) -> int:
    t = p.current
    assert t is not None
    if size != 8:
        return -errno.EINVAL
    previous = t.mask
    if new:
        value = p.mem.u64(new)
        how = s32(how)
        if how == SIG_BLOCK:
            t.mask |= value
        elif how == SIG_UNBLOCK:
            t.mask &= ~value
        elif how == SIG_SETMASK:
            t.mask = value
        else:
            return -errno.EINVAL
        t.mask &= ~sig.UNBLOCKABLE
    if old:
        p.mem.put_u64(old, previous)
    if t.mask != previous:
        _recheck(p)
    return 0


@syscall("rt_sigreturn")
def sys_rt_sigreturn(p: Process, *_: int) -> None:
    t = p.current
    assert t is not None
    sig.sigreturn(p, t)
    p.pc_set_in_hook = True
    _recheck(p)
    return None


@syscall("sigaltstack")
def sys_sigaltstack(p: Process, ss: int, old: int, *_: int) -> int:
    t = p.current
    assert t is not None
    sp = p.spreg.get()
    cur_sp, cur_flags, cur_size = t.altstack
    on = bool(cur_size) and not cur_flags & sig.SS_DISABLE and cur_sp <= sp - 1 < cur_sp + cur_size
    if ss:
        new_sp, flags, new_size = struct.unpack("<Qi4xQ", p.mem.read(ss, 24))
        if on:
            return -errno.EPERM
        if flags & ~(sig.SS_DISABLE | sig.SS_ONSTACK | (1 << 31)):
            return -errno.EINVAL
    if old:
        oflags = sig.SS_ONSTACK if on else (sig.SS_DISABLE if cur_flags & sig.SS_DISABLE or not cur_size else 0)
        p.mem.write(old, struct.pack("<Qi4xQ", cur_sp, oflags, cur_size))
    if ss:
        if flags & sig.SS_DISABLE:
            t.altstack = (0, sig.SS_DISABLE, 0)
        else:
            if new_size < MINSIGSTKSZ:
                return -errno.ENOMEM
            t.altstack = (new_sp, 0, new_size)
    return 0


@syscall("rt_sigsuspend")
def sys_rt_sigsuspend(p: Process, mask: int, size: int, *_: int) -> int:
    if size != 8:
        return -errno.EINVAL
    raise Block(Wait(sigmask=p.mem.u64(mask) & ~sig.UNBLOCKABLE, forever=True, restartable=False))


@syscall("pause")
def sys_pause(p: Process, *_: int) -> int:
    raise Block(Wait(forever=True, restartable=False))


@syscall("rt_sigpending")
def sys_rt_sigpending(p: Process, out: int, size: int, *_: int) -> int:
    t = p.current
    assert t is not None
    bits = 0
    for s in list(p.pending) + list(t.pending):
        bits |= sig.bit(s)
    p.mem.put_u64(out, bits & t.mask)
    return 0


@syscall("rt_sigtimedwait")
def sys_rt_sigtimedwait(p: Process, setp: int, info: int, timeout: int, size: int, *_: int) -> int:
    t = p.current
    assert t is not None
    wanted = p.mem.u64(setp) & ~sig.UNBLOCKABLE
    for pending in (t.pending, p.pending):
        for s in sorted(pending):
            if wanted & sig.bit(s):
                data = pending.pop(s)
                if info:
                    p.mem.write(info, data)
                return s
    deadline = None
    if timeout:
        sec, nsec = struct.unpack("<qq", p.mem.read(timeout, 16))
        if sec == 0 and nsec == 0:
            return -errno.EAGAIN
        deadline = deadline_after(sec + nsec / 1e9)
    raise Block(Wait(signals=wanted, deadline=deadline, timeout_result=-errno.EAGAIN, restartable=False))
