"""Memory: brk, mmap (anonymous, file-backed, shared), munmap, mprotect with real permissions (a write
to a read-only page is a SIGSEGV), mremap, madvise, msync, mlock."""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from vmcli.linux.memory import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_PRIVATE,
    MAP_SHARED,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PAGE,
    SPACE,
    page_up,
)
from vmcli.linux.syscalls import s32, syscall
from vmcli.linux.syscalls.files import guest_fd

if TYPE_CHECKING:
    from vmcli.linux.process import Process

MAP_SHARED_VALIDATE = 0x03


@syscall("brk")
def sys_brk(p: Process, addr: int, *_: int) -> int:
    if addr == 0:
        return p.mem.brk
    return p.mem.set_brk(addr)


@syscall("mmap")
def sys_mmap(p: Process, addr: int, length: int, prot: int, flags: int, fd: int, offset: int) -> int:
    mem = p.mem
    flags = s32(flags)
    prot = s32(prot)
    if length == 0 or offset % PAGE:
        return -errno.EINVAL
    size = page_up(length)
    if size > SPACE:
        return -errno.ENOMEM
    kind = flags & 0x0F
    if kind not in (MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE):
        return -errno.EINVAL
    shared = kind != MAP_PRIVATE
    fixed = bool(flags & MAP_FIXED)
    if fixed:
        if addr % PAGE or addr + size > SPACE:
            return -errno.EINVAL
        start = addr
    elif flags & MAP_FIXED_NOREPLACE:
        if addr % PAGE or not mem.is_free(addr, addr + size):
            return -errno.EEXIST
        start = addr
    else:
        found = mem.find_free(size, addr & ~(PAGE - 1) if addr else 0)
        if found is None:
            return -errno.ENOMEM
        start = found
    if flags & MAP_ANONYMOUS:
        mem.map(start, size, prot & 7, shared=shared)
        return start
    fd = guest_fd(p, s32(fd))
    try:
        name = p.paths.fd_path(fd).decode(errors="replace")
    except OSError:
        name = ""
    mem.map(start, size, prot & 7, shared=shared, fd=fd, offset=offset, name=name)
    return start


@syscall("munmap")
def sys_munmap(p: Process, addr: int, length: int, *_: int) -> int:
    if addr % PAGE or length == 0 or addr + length > SPACE:
        return -errno.EINVAL
    p.mem.unmap(addr, length)
    return 0


@syscall("mprotect")
def sys_mprotect(p: Process, addr: int, length: int, prot: int, *_: int) -> int:
    if addr % PAGE:
        return -errno.EINVAL
    if length == 0:
        return 0
    p.mem.protect(addr, length, s32(prot) & 7)
    return 0


@syscall("mremap")
def sys_mremap(p: Process, old: int, old_size: int, new_size: int, flags: int, new_addr: int, *_: int) -> int:
    mem = p.mem
    if old % PAGE or new_size == 0:
        return -errno.EINVAL
    old_size, new_size = page_up(old_size), page_up(new_size)
    vma = mem.find(old)
    if vma is None or old + old_size > vma.end:
        return -errno.EFAULT
    if flags & MREMAP_FIXED:
        target = new_addr
    elif new_size <= old_size:
        if new_size < old_size:
            mem.unmap(old + new_size, old_size - new_size)
        return old
    elif mem.is_free(old + old_size, old + new_size):
        target = old
    elif flags & MREMAP_MAYMOVE:
        found = mem.find_free(new_size)
        if found is None:
            return -errno.ENOMEM
        target = found
    else:
        return -errno.ENOMEM
    data = mem.read(old, min(old_size, new_size)) if vma.prot & 1 else bytes(min(old_size, new_size))
    if target == old:
        mem.map(old + old_size, new_size - old_size, vma.prot, shared=vma.shared)
        return old
    if vma.shared or vma.inode:
        # A file or shared mapping: map the same object again at the new place.
        if vma.inode and vma.name:
            fd = os.open(vma.name, os.O_RDWR if vma.prot & 2 and vma.shared else os.O_RDONLY)
            try:
                mem.map(target, new_size, vma.prot, shared=vma.shared, fd=fd, offset=vma.offset + old - vma.start,
                        name=vma.name)
            finally:
                os.close(fd)
        else:
            mem.map(target, new_size, vma.prot, shared=vma.shared)
            mem.write_force(target, data)
    else:
        mem.map(target, new_size, vma.prot)
        mem.write_force(target, data)
    mem.unmap(old, old_size)
    return target


@syscall("madvise")
def sys_madvise(p: Process, addr: int, length: int, advice: int, *_: int) -> int:
    advice = s32(advice)
    if advice == 4:                 # MADV_DONTNEED: private anonymous pages read back as zero
        end = addr + page_up(length)
        at = addr
        while at < end:
            vma = p.mem.find(at)
            if vma is None:
                return -errno.ENOMEM
            hi = min(vma.end, end)
            if not vma.shared and not vma.inode and vma.prot & 2:
                p.mem.write(at, bytes(hi - at))
            at = hi
    return 0


@syscall("msync")
def sys_msync(p: Process, addr: int, length: int, flags: int, *_: int) -> int:
    import ctypes

    from vmcli.linux.memory import _libc
    if _libc.msync(ctypes.c_void_p(p.mem.base + addr), ctypes.c_size_t(length), s32(flags)) < 0:
        return -ctypes.get_errno()
    return 0


@syscall("mlock", "munlock", "mlockall", "munlockall", "mlock2")
def sys_mlock(p: Process, *_: int) -> int:
    return 0


@syscall("membarrier")
def sys_membarrier(p: Process, cmd: int, *_: int) -> int:
    return 0 if s32(cmd) == 0 else 0


@syscall("riscv_flush_icache")
def sys_flush_icache(p: Process, start: int, end: int, *_: int) -> int:
    p.uc.ctl_remove_cache(start, max(end, start + 1))
    return 0
