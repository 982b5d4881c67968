"""The file system by name: stat and statx, directories, links, renames, permissions, times, the
working directory. Paths go through vmcli.linux.paths (sysroot, fs-root) and the synthetic /proc.

struct stat is asm-generic's on arm64 and riscv64 (128 bytes) and x86_64's own (144 bytes); statx,
dirent64 and statfs are the same everywhere and pass through.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from vmcli.linux.paths import AT_FDCWD
from vmcli.linux.syscalls import check, libc, path_arg, raw_ptr, s32, syscall
from vmcli.linux.syscalls.files import guest_fd

if TYPE_CHECKING:
    from vmcli.linux.process import Process

AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_EMPTY_PATH = 0x100, 0x200, 0x400, 0x1000
T = TypeVar("T")


def at(p: Process, dirfd: int, path: bytes, follow: bool, call: Callable[[int | None, bytes], T]) -> T:
    """Run call(host dirfd or None, host path) on a resolved guest path."""
    from vmcli.linux import procfs
    special = procfs.resolve(p, dirfd, path)
    if special is not None:
        return call(None, special)
    if dirfd != AT_FDCWD and not path.startswith(b"/"):
        guest_fd(p, dirfd)
    host_dirfd, host_path, to_close = p.paths.resolve(dirfd, path, follow)
    try:
        return call(host_dirfd, host_path)
    finally:
        if to_close >= 0:
            os.close(to_close)


def pack_stat(p: Process, st: os.stat_result) -> bytes:
    def ts(ns: int) -> tuple[int, int]:
        return ns // 1_000_000_000, ns % 1_000_000_000
    a, m, c = ts(st.st_atime_ns), ts(st.st_mtime_ns), ts(st.st_ctime_ns)
    if p.arch.generic_stat:
        return struct.pack("<QQIIIIQQqi4xqqQqQqQII", st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid,
                           st.st_gid, st.st_rdev, 0, st.st_size, st.st_blksize, st.st_blocks, *a, *m, *c, 0, 0)
    return struct.pack("<QQQIIIiQqqqqQqQqQ24x", st.st_dev, st.st_ino, st.st_nlink, st.st_mode, st.st_uid, st.st_gid,
                       0, st.st_rdev, st.st_size, st.st_blksize, st.st_blocks, *a, *m, *c)


def do_stat(p: Process, dirfd: int, path: bytes, buf: int, flags: int) -> int:
    if not path and flags & AT_EMPTY_PATH:
        st = os.fstat(guest_fd(p, dirfd) if dirfd != AT_FDCWD else os.open(".", os.O_RDONLY))
    else:
        follow = not flags & AT_SYMLINK_NOFOLLOW
        st = at(p, dirfd, path, follow, lambda d, h: os.stat(h, dir_fd=d, follow_symlinks=follow))
    p.mem.write(buf, pack_stat(p, st))
    return 0


@syscall("newfstatat", "fstatat64")
def sys_newfstatat(p: Process, dirfd: int, path: int, buf: int, flags: int, *_: int) -> int:
    return do_stat(p, s32(dirfd), path_arg(p, path), buf, s32(flags))


@syscall("fstat")
def sys_fstat(p: Process, fd: int, buf: int, *_: int) -> int:
    p.mem.write(buf, pack_stat(p, os.fstat(guest_fd(p, s32(fd)))))
    return 0


@syscall("stat")
def sys_stat(p: Process, path: int, buf: int, *_: int) -> int:
    return do_stat(p, AT_FDCWD, path_arg(p, path), buf, 0)


@syscall("lstat")
def sys_lstat(p: Process, path: int, buf: int, *_: int) -> int:
    return do_stat(p, AT_FDCWD, path_arg(p, path), buf, AT_SYMLINK_NOFOLLOW)


@syscall("statx")
def sys_statx(p: Process, dirfd: int, path: int, flags: int, mask: int, buf: int, *_: int) -> int:
    dirfd, flags = s32(dirfd), s32(flags)
    name = path_arg(p, path) if path else b""
    out = raw_ptr(p, buf, 256)
    if not name and flags & AT_EMPTY_PATH:
        return check(libc.statx(guest_fd(p, dirfd), b"", flags, ctypes.c_uint(mask), out))
    follow = not flags & AT_SYMLINK_NOFOLLOW
    return at(p, dirfd, name, follow, lambda d, h: check(
        libc.statx(AT_FDCWD if d is None else d, h, flags, ctypes.c_uint(mask), out)))


@syscall("statfs")
def sys_statfs(p: Process, path: int, buf: int, *_: int) -> int:
    out = raw_ptr(p, buf, 120)
    return at(p, AT_FDCWD, path_arg(p, path), True, lambda d, h: check(libc.statfs(h, out)))


@syscall("fstatfs")
def sys_fstatfs(p: Process, fd: int, buf: int, *_: int) -> int:
    return check(libc.fstatfs(guest_fd(p, s32(fd)), raw_ptr(p, buf, 120)))


@syscall("getdents64")
def sys_getdents64(p: Process, fd: int, buf: int, count: int, *_: int) -> int:
    return check(libc.getdents64(guest_fd(p, s32(fd)), raw_ptr(p, buf, count), ctypes.c_size_t(count)))


@syscall("getcwd")
def sys_getcwd(p: Process, buf: int, size: int, *_: int) -> int:
    cwd = p.paths.guest_cwd() + b"\0"
    if len(cwd) > size:
        return -errno.ERANGE
    p.mem.write(buf, cwd)
    return len(cwd)


@syscall("chdir")
def sys_chdir(p: Process, path: int, *_: int) -> int:
    p.paths.chdir(path_arg(p, path))
    return 0


@syscall("fchdir")
def sys_fchdir(p: Process, fd: int, *_: int) -> int:
    os.fchdir(guest_fd(p, s32(fd)))
    return 0


@syscall("mkdirat")
def sys_mkdirat(p: Process, dirfd: int, path: int, mode: int, *_: int) -> int:
    at(p, s32(dirfd), path_arg(p, path), False, lambda d, h: os.mkdir(h, mode & 0o7777, dir_fd=d))
    return 0


@syscall("mkdir")
def sys_mkdir(p: Process, path: int, mode: int, *_: int) -> int:
    return sys_mkdirat(p, AT_FDCWD & 0xFFFF_FFFF, path, mode)


@syscall("mknodat")
def sys_mknodat(p: Process, dirfd: int, path: int, mode: int, dev: int, *_: int) -> int:
    at(p, s32(dirfd), path_arg(p, path), False, lambda d, h: os.mknod(h, mode & 0xFFFF, dev, dir_fd=d))
    return 0


@syscall("mknod")
def sys_mknod(p: Process, path: int, mode: int, dev: int, *_: int) -> int:
    return sys_mknodat(p, AT_FDCWD & 0xFFFF_FFFF, path, mode, dev)


@syscall("unlinkat")
def sys_unlinkat(p: Process, dirfd: int, path: int, flags: int, *_: int) -> int:
    func = os.rmdir if s32(flags) & AT_REMOVEDIR else os.unlink
    at(p, s32(dirfd), path_arg(p, path), False, lambda d, h: func(h, dir_fd=d))
    return 0


@syscall("unlink")
def sys_unlink(p: Process, path: int, *_: int) -> int:
    return sys_unlinkat(p, AT_FDCWD & 0xFFFF_FFFF, path, 0)


@syscall("rmdir")
def sys_rmdir(p: Process, path: int, *_: int) -> int:
    return sys_unlinkat(p, AT_FDCWD & 0xFFFF_FFFF, path, AT_REMOVEDIR)


def _two(p: Process, d1: int, n1: bytes, d2: int, n2: bytes, follow1: bool,
         call: Callable[[int | None, bytes, int | None, bytes], None]) -> int:
    at(p, d1, n1, follow1, lambda a, h1: at(p, d2, n2, False, lambda b, h2: call(a, h1, b, h2)))
    return 0


@syscall("renameat2")
def sys_renameat2(p: Process, od: int, old: int, nd: int, new: int, flags: int, *_: int) -> int:
    if flags:
        def call(a: int | None, h1: bytes, b: int | None, h2: bytes) -> None:
            r = libc.renameat2(AT_FDCWD if a is None else a, h1, AT_FDCWD if b is None else b, h2, ctypes.c_uint(flags))
            if r < 0:
                raise OSError(ctypes.get_errno(), "renameat2")
        return _two(p, s32(od), path_arg(p, old), s32(nd), path_arg(p, new), False, call)
    return _two(p, s32(od), path_arg(p, old), s32(nd), path_arg(p, new), False,
                lambda a, h1, b, h2: os.rename(h1, h2, src_dir_fd=a, dst_dir_fd=b))


@syscall("renameat")
def sys_renameat(p: Process, od: int, old: int, nd: int, new: int, *_: int) -> int:
    return sys_renameat2(p, od, old, nd, new, 0)


@syscall("rename")
def sys_rename(p: Process, old: int, new: int, *_: int) -> int:
    return sys_renameat2(p, AT_FDCWD & 0xFFFF_FFFF, old, AT_FDCWD & 0xFFFF_FFFF, new, 0)


@syscall("linkat")
def sys_linkat(p: Process, od: int, old: int, nd: int, new: int, flags: int, *_: int) -> int:
    return _two(p, s32(od), path_arg(p, old), s32(nd), path_arg(p, new), bool(s32(flags) & AT_SYMLINK_FOLLOW),
                lambda a, h1, b, h2: os.link(h1, h2, src_dir_fd=a, dst_dir_fd=b, follow_symlinks=False))


@syscall("link")
def sys_link(p: Process, old: int, new: int, *_: int) -> int:
    return sys_linkat(p, AT_FDCWD & 0xFFFF_FFFF, old, AT_FDCWD & 0xFFFF_FFFF, new, 0)


@syscall("symlinkat")
def sys_symlinkat(p: Process, target: int, dirfd: int, path: int, *_: int) -> int:
    text = path_arg(p, target)
    at(p, s32(dirfd), path_arg(p, path), False, lambda d, h: os.symlink(text, h, dir_fd=d))
    return 0


@syscall("symlink")
def sys_symlink(p: Process, target: int, path: int, *_: int) -> int:
    return sys_symlinkat(p, target, AT_FDCWD & 0xFFFF_FFFF, path)


@syscall("readlinkat")
def sys_readlinkat(p: Process, dirfd: int, path: int, buf: int, size: int, *_: int) -> int:
    from vmcli.linux import procfs
    name = path_arg(p, path)
    s = s32(size)
    if s <= 0:
        return -errno.EINVAL
    target = procfs.readlink(p, s32(dirfd), name)
    if target is None:
        target = at(p, s32(dirfd), name, False, lambda d, h: os.readlink(h, dir_fd=d))
    data = target[:s]
    p.mem.write(buf, data)
    return len(data)


@syscall("readlink")
def sys_readlink(p: Process, path: int, buf: int, size: int, *_: int) -> int:
    return sys_readlinkat(p, AT_FDCWD & 0xFFFF_FFFF, path, buf, size)


@syscall("fchmodat")
def sys_fchmodat(p: Process, dirfd: int, path: int, mode: int, *_: int) -> int:
    at(p, s32(dirfd), path_arg(p, path), True, lambda d, h: os.chmod(h, mode & 0o7777, dir_fd=d))
    return 0


@syscall("chmod")
def sys_chmod(p: Process, path: int, mode: int, *_: int) -> int:
    return sys_fchmodat(p, AT_FDCWD & 0xFFFF_FFFF, path, mode)


@syscall("fchmod")
def sys_fchmod(p: Process, fd: int, mode: int, *_: int) -> int:
    os.fchmod(guest_fd(p, s32(fd)), mode & 0o7777)
    return 0


@syscall("fchownat")
def sys_fchownat(p: Process, dirfd: int, path: int, uid: int, gid: int, flags: int, *_: int) -> int:
    follow = not s32(flags) & AT_SYMLINK_NOFOLLOW
    name = path_arg(p, path)
    if not name and s32(flags) & AT_EMPTY_PATH:
        os.fchown(guest_fd(p, s32(dirfd)), s32(uid), s32(gid))
        return 0
    at(p, s32(dirfd), name, follow, lambda d, h: os.chown(h, s32(uid), s32(gid), dir_fd=d, follow_symlinks=follow))
    return 0


@syscall("chown")
def sys_chown(p: Process, path: int, uid: int, gid: int, *_: int) -> int:
    return sys_fchownat(p, AT_FDCWD & 0xFFFF_FFFF, path, uid, gid, 0)


@syscall("lchown")
def sys_lchown(p: Process, path: int, uid: int, gid: int, *_: int) -> int:
    return sys_fchownat(p, AT_FDCWD & 0xFFFF_FFFF, path, uid, gid, AT_SYMLINK_NOFOLLOW)


@syscall("fchown")
def sys_fchown(p: Process, fd: int, uid: int, gid: int, *_: int) -> int:
    os.fchown(guest_fd(p, s32(fd)), s32(uid), s32(gid))
    return 0


@syscall("faccessat", "faccessat2")
def sys_faccessat(p: Process, dirfd: int, path: int, mode: int, flags: int, *_: int) -> int:
    follow = not s32(flags) & AT_SYMLINK_NOFOLLOW
    ok = at(p, s32(dirfd), path_arg(p, path), follow,
            lambda d, h: os.access(h, mode & 7, dir_fd=d, effective_ids=bool(s32(flags) & 0x200),
                                   follow_symlinks=follow))
    if ok:
        return 0
    # Tell "missing" from "no permission", as the kernel does.
    at(p, s32(dirfd), path_arg(p, path), follow, lambda d, h: os.stat(h, dir_fd=d, follow_symlinks=follow))
    return -errno.EACCES


@syscall("access")
def sys_access(p: Process, path: int, mode: int, *_: int) -> int:
    return sys_faccessat(p, AT_FDCWD & 0xFFFF_FFFF, path, mode, 0)


@syscall("utimensat")
def sys_utimensat(p: Process, dirfd: int, path: int, times: int, flags: int, *_: int) -> int:
    ts = raw_ptr(p, times, 32) if times else None
    dirfd, flags = s32(dirfd), s32(flags)
    if path == 0:
        return check(libc.futimens(guest_fd(p, dirfd), ts))
    follow = not flags & AT_SYMLINK_NOFOLLOW
    return at(p, dirfd, path_arg(p, path), follow, lambda d, h: check(
        libc.utimensat(AT_FDCWD if d is None else d, h, ts, flags & AT_SYMLINK_NOFOLLOW)))


@syscall("truncate")
def sys_truncate(p: Process, path: int, length: int, *_: int) -> int:
    at(p, AT_FDCWD, path_arg(p, path), True, lambda d, h: os.truncate(h, length))
    return 0


@syscall("umask")
def sys_umask(p: Process, mask: int, *_: int) -> int:
    return os.umask(mask & 0o777)


@syscall("chroot")
def sys_chroot(p: Process, path: int, *_: int) -> int:
    return -errno.EPERM
