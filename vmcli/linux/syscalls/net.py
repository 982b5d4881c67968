"""Sockets through the host: AF_UNIX and AF_INET/AF_INET6 with the host's own structures (sockaddr,
msghdr and cmsg are laid out alike on every 64-bit Linux). msghdr's pointers are rewritten to host
addresses; a call that would block parks the thread until the socket is ready."""

from __future__ import annotations

import ctypes
import errno
import select
import struct
from typing import TYPE_CHECKING

from vmcli.linux.syscalls import check, libc, libc_wait, raw_ptr, s32, syscall
from vmcli.linux.syscalls.files import _opened, guest_fd, iovecs, wait_for

if TYPE_CHECKING:
    from vmcli.linux.process import Process

SOCK_NONBLOCK, SOCK_CLOEXEC = 0o4000, 0o2000000
MSG_DONTWAIT = 0x40


@syscall("socket")
def sys_socket(p: Process, domain: int, kind: int, protocol: int, *_: int) -> int:
    fd = check(libc.socket(s32(domain), s32(kind) | SOCK_CLOEXEC, s32(protocol)))
    return fd if fd < 0 else _opened(fd, s32(kind) & SOCK_CLOEXEC)


@syscall("socketpair")
def sys_socketpair(p: Process, domain: int, kind: int, protocol: int, sv: int, *_: int) -> int:
    out = (ctypes.c_int * 2)()
    r = check(libc.socketpair(s32(domain), s32(kind) | SOCK_CLOEXEC, s32(protocol), out))
    if r < 0:
        return r
    for fd in out:
        _opened(fd, s32(kind) & SOCK_CLOEXEC)
    p.mem.write(sv, struct.pack("<ii", out[0], out[1]))
    return 0


@syscall("bind", "connect")
def sys_bind(p: Process, fd: int, addr: int, length: int, *_: int) -> int:
    fd = guest_fd(p, s32(fd))
    name = p.arch.numbers[p.sysregs.values[0]]
    if name == "connect":
        wait_for(fd, select.POLLOUT)
    return check(getattr(libc, name)(fd, raw_ptr(p, addr, length & 0xFFFF_FFFF), ctypes.c_uint(length)))


@syscall("listen")
def sys_listen(p: Process, fd: int, backlog: int, *_: int) -> int:
    return check(libc.listen(guest_fd(p, s32(fd)), s32(backlog)))


@syscall("accept4")
def sys_accept4(p: Process, fd: int, addr: int, lenp: int, flags: int, *_: int) -> int:
    fd = guest_fd(p, s32(fd))
    wait_for(fd, select.POLLIN)
    length = p.mem.u32(lenp) if lenp else 0
    r = check(libc.accept4(fd, raw_ptr(p, addr, length) if addr else None, raw_ptr(p, lenp, 4) if lenp else None,
                           s32(flags) | SOCK_CLOEXEC))
    return r if r < 0 else _opened(r, s32(flags) & SOCK_CLOEXEC)


@syscall("accept")
def sys_accept(p: Process, fd: int, addr: int, lenp: int, *_: int) -> int:
    return sys_accept4(p, fd, addr, lenp, 0)


@syscall("getsockname", "getpeername")
def sys_getsockname(p: Process, fd: int, addr: int, lenp: int, *_: int) -> int:
    name = p.arch.numbers[p.sysregs.values[0]]
    length = p.mem.u32(lenp)
    return check(getattr(libc, name)(guest_fd(p, s32(fd)), raw_ptr(p, addr, length), raw_ptr(p, lenp, 4)))


@syscall("setsockopt")
def sys_setsockopt(p: Process, fd: int, level: int, opt: int, val: int, length: int, *_: int) -> int:
    return check(libc.setsockopt(guest_fd(p, s32(fd)), s32(level), s32(opt), raw_ptr(p, val, length & 0xFFFF_FFFF)
                                 if val else None, ctypes.c_uint(length)))


@syscall("getsockopt")
def sys_getsockopt(p: Process, fd: int, level: int, opt: int, val: int, lenp: int, *_: int) -> int:
    length = p.mem.u32(lenp)
    return check(libc.getsockopt(guest_fd(p, s32(fd)), s32(level), s32(opt), raw_ptr(p, val, length),
                                 raw_ptr(p, lenp, 4)))


@syscall("shutdown")
def sys_shutdown(p: Process, fd: int, how: int, *_: int) -> int:
    return check(libc.shutdown(guest_fd(p, s32(fd)), s32(how)))


@syscall("sendto")
def sys_sendto(p: Process, fd: int, buf: int, length: int, flags: int, addr: int, alen: int) -> int:
    fd = guest_fd(p, s32(fd))
    if not s32(flags) & MSG_DONTWAIT:
        wait_for(fd, select.POLLOUT)
    return check(libc_wait.sendto(fd, raw_ptr(p, buf, length), ctypes.c_size_t(length), s32(flags),
                                  raw_ptr(p, addr, alen & 0xFFFF_FFFF) if addr else None, ctypes.c_uint(alen)))


@syscall("recvfrom")
def sys_recvfrom(p: Process, fd: int, buf: int, length: int, flags: int, addr: int, alenp: int) -> int:
    fd = guest_fd(p, s32(fd))
    if not s32(flags) & MSG_DONTWAIT:
        wait_for(fd, select.POLLIN)
    alen = p.mem.u32(alenp) if alenp else 0
    return check(libc.recvfrom(fd, raw_ptr(p, buf, length), ctypes.c_size_t(length), s32(flags),
                               raw_ptr(p, addr, alen) if addr else None, raw_ptr(p, alenp, 4) if alenp else None))


def _msghdr(p: Process, msg: int) -> tuple[ctypes.Array[ctypes.c_char], object]:
    """A host struct msghdr for the guest's: name, iov and control pointers made host pointers."""
    name, namelen, iov, iovlen, control, controllen, flags = struct.unpack("<QI4xQQQQi4x", p.mem.read(msg, 56))
    host_iov = iovecs(p, iov, iovlen)
    hdr = ctypes.create_string_buffer(struct.pack(
        "<QI4xQQQQi4x", raw_ptr(p, name, namelen).value if name else 0, namelen, ctypes.addressof(host_iov),
        iovlen, raw_ptr(p, control, controllen).value if control else 0, controllen, flags), 56)
    return hdr, host_iov


@syscall("sendmsg")
def sys_sendmsg(p: Process, fd: int, msg: int, flags: int, *_: int) -> int:
    fd = guest_fd(p, s32(fd))
    if not s32(flags) & MSG_DONTWAIT:
        wait_for(fd, select.POLLOUT)
    hdr, keep = _msghdr(p, msg)
    return check(libc_wait.sendmsg(fd, hdr, s32(flags)))


@syscall("recvmsg")
def sys_recvmsg(p: Process, fd: int, msg: int, flags: int, *_: int) -> int:
    fd = guest_fd(p, s32(fd))
    if not s32(flags) & MSG_DONTWAIT:
        wait_for(fd, select.POLLIN)
    hdr, keep = _msghdr(p, msg)
    r = check(libc.recvmsg(fd, hdr, s32(flags)))
    if r >= 0:
        namelen = struct.unpack_from("<I", hdr.raw, 8)[0]
        controllen, mflags = struct.unpack_from("<Qi", hdr.raw, 40)
        p.mem.put_u32(msg + 8, namelen)
        p.mem.put_u64(msg + 40, controllen)
        p.mem.put_u32(msg + 48, mflags)
    return r


def unused() -> int:
    return errno.EINVAL
