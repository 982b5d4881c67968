"""futex between the green threads of one process: a wait parks the thread on the word's guest
address; wake, requeue, bitsets, WAKE_OP and timeouts (relative, or absolute for WAIT_BITSET) as
the kernel defines them (futex_wake's count of 0 waking one included). Waiting on a word shared
with another process is not modelled."""

from __future__ import annotations

import errno
import struct
import time
from typing import TYPE_CHECKING

from vmcli.linux.syscalls import s32, syscall
from vmcli.linux.threads import Block, Wait

if TYPE_CHECKING:
    from vmcli.linux.process import Process

WAIT, WAKE, REQUEUE, CMP_REQUEUE, WAKE_OP, WAIT_BITSET, WAKE_BITSET = 0, 1, 3, 4, 5, 9, 10
CLOCK_REALTIME_FLAG = 256


def futex_wake(p: Process, addr: int, count: int, bitset: int, *, exact: bool = False) -> int:
    """Wake waiters on addr whose bitset matches. As the kernel's futex_wake, a count of 0 still
    wakes one (it checks the count after a wake); requeue's wake count is `exact`."""
    woken = 0
    for t in p.threads:
        if exact and woken >= count:
            break
        w = t.wait
        if w is not None and w.futex == addr and w.bitset & bitset:
            t.wait = None
            t.result = 0
            woken += 1
            if woken >= count:
                break
    return woken


def _timeout(p: Process, addr: int, absolute: bool, realtime: bool) -> float | None:
    if not addr:
        return None
    sec, nsec = struct.unpack("<qq", p.mem.read(addr, 16))
    if sec < 0 or not 0 <= nsec < 1_000_000_000:
        raise OSError(errno.EINVAL, "bad timeout")
    value = sec + nsec / 1e9
    if absolute:
        now = time.time() if realtime else time.monotonic()
        return time.monotonic() + (value - now)
    return time.monotonic() + value


def _wake_op(p: Process, addr2: int, val3: int) -> bool:
    op, cmp, oparg, cmparg = (val3 >> 28) & 0xF, (val3 >> 24) & 0xF, (val3 >> 12) & 0xFFF, val3 & 0xFFF
    if op & 8:
        oparg = 1 << (oparg & 31)
        op &= 7
    old = p.mem.u32(addr2)
    new = {0: oparg, 1: old + oparg, 2: old | oparg, 3: old & ~oparg, 4: old ^ oparg}.get(op)
    if new is None:
        raise OSError(errno.ENOSYS, "bad futex op")
    p.mem.put_u32(addr2, new)
    old_s = s32(old)
    return {0: old_s == cmparg, 1: old_s != cmparg, 2: old_s < cmparg, 3: old_s <= cmparg, 4: old_s > cmparg,
            5: old_s >= cmparg}.get(cmp, False)


@syscall("futex")
def sys_futex(p: Process, addr: int, op: int, val: int, timeout: int, addr2: int, val3: int) -> int:
    op = s32(op)
    cmd = op & 0x7F
    realtime = bool(op & CLOCK_REALTIME_FLAG)
    val = val & 0xFFFF_FFFF
    if cmd in (WAIT, WAIT_BITSET):
        bitset = 0xFFFF_FFFF if cmd == WAIT else val3 & 0xFFFF_FFFF
        if bitset == 0:
            return -errno.EINVAL
        if p.mem.u32(addr) != val:
            return -errno.EAGAIN
        deadline = _timeout(p, timeout, cmd == WAIT_BITSET, realtime)
        raise Block(Wait(futex=addr, bitset=bitset, deadline=deadline, timeout_result=-errno.ETIMEDOUT))
    if cmd in (WAKE, WAKE_BITSET):
        bitset = 0xFFFF_FFFF if cmd == WAKE else val3 & 0xFFFF_FFFF
        if bitset == 0:
            return -errno.EINVAL
        return futex_wake(p, addr, val, bitset)
    if cmd in (REQUEUE, CMP_REQUEUE):
        if cmd == CMP_REQUEUE and p.mem.u32(addr) != val3 & 0xFFFF_FFFF:
            return -errno.EAGAIN
        woken = futex_wake(p, addr, val, 0xFFFF_FFFF, exact=True)
        limit, moved = timeout & 0xFFFF_FFFF, 0
        for t in p.threads:
            if moved >= limit:
                break
            if t.wait is not None and t.wait.futex == addr:
                t.wait.futex = addr2
                moved += 1
        return woken + moved
    if cmd == WAKE_OP:
        woken = futex_wake(p, addr, val, 0xFFFF_FFFF)
        if _wake_op(p, addr2, val3 & 0xFFFF_FFFF):
            woken += futex_wake(p, addr2, timeout & 0xFFFF_FFFF, 0xFFFF_FFFF)
        return woken
    return -errno.ENOSYS
