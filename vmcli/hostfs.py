"""Host files that a user or a guest names, opened so that neither can be tricked.

Two needs, one rule (check the open file descriptor, never the name):

- `read_regular_file`: images and input files. A character device (/dev/zero) or a FIFO reports size
  0 and then reads forever, or blocks forever: open without blocking, `fstat` the descriptor, and
  read only a regular file of bounded size.
- `open_beneath`: a guest's file name resolved below a directory the user granted, by the kernel in
  the same step as the open (`openat2` with RESOLVE_BENEATH), so that no other process can swap a
  directory for a symlink between a check and the open. Where `openat2` is missing, the path is
  walked one component at a time from directory descriptors with O_NOFOLLOW, `..` taken from our own
  stack of descriptors, never from the file system. (Linux user mode's `--fs-root` calls `openat2`
  with RESOLVE_IN_ROOT itself: vmcli/linux/paths.py.)
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from collections.abc import Callable

# linux/openat2.h
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10                  # `/` and `..` mean the root: a chroot the kernel enforces
SYS_OPENAT2 = 437                       # the same number on every Linux architecture (new syscall table)
MAX_SYMLINKS = 40                       # the kernel's own limit (ELOOP beyond it)
RETRIES = 64                            # openat2 EAGAIN retries while renames race the lookup


class OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


class NotRegular(OSError):
    """The name leads to something other than a regular file (a directory, FIFO, device or socket)."""


def _libc_syscall() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.syscall
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_long
    return fn


_syscall = _libc_syscall()
_openat2_works: bool | None = None      # None: not tried yet


def openat2(dirfd: int, path: bytes, flags: int, mode: int, resolve: int) -> int:
    """The raw syscall; OSError on failure (ENOSYS where the kernel or a seccomp filter lacks it)."""
    if _syscall is None:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))
    how = OpenHow(flags, mode, resolve)
    fd = _syscall(ctypes.c_long(SYS_OPENAT2), ctypes.c_int(dirfd), ctypes.c_char_p(path),
                  ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(fd)


def open_beneath(root_fd: int, path: bytes, flags: int, mode: int = 0o644, *, use_openat2: bool = True) -> int:
    """Open `path` (relative; a leading '/' means the root) below the directory `root_fd`.

    Any step that would leave the root (`..` above it, an absolute symlink, a symlink whose target
    climbs out) fails with EXDEV; symlinks that stay inside are followed. `flags` are os.O_* flags;
    O_CLOEXEC is always added."""
    global _openat2_works
    relative = path.lstrip(b"/") or b"."
    flags |= os.O_CLOEXEC
    if use_openat2 and _openat2_works is not False:
        for _ in range(RETRIES):
            try:
                fd = openat2(root_fd, relative, flags, mode if flags & os.O_CREAT else 0,
                             RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
                _openat2_works = True
                return fd
            except OSError as exc:
                if exc.errno == errno.EAGAIN:   # a rename raced the lookup: the kernel asks to retry
                    continue
                if exc.errno not in (errno.ENOSYS, errno.EPERM) or _openat2_works:
                    raise
                _openat2_works = False          # no openat2 here (old kernel, seccomp): walk instead
                break
        else:
            raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))
    return _walk_open(root_fd, relative, flags, mode)


def _walk_open(root_fd: int, relative: bytes, flags: int, mode: int) -> int:
    """openat2's RESOLVE_BENEATH, done by hand: one component at a time, never following a link the
    kernel chose; `..` pops our own descriptor stack, so a renamed directory cannot lead out."""
    stack = [os.dup(root_fd)]
    parts = [p for p in relative.split(b"/") if p not in (b"", b".")]
    links = 0
    try:
        while parts:
            name = parts.pop(0)
            if name == b"..":
                if len(stack) == 1:
                    raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
                os.close(stack.pop())
                continue
            last = not parts
            try:
                if last:
                    return os.open(name, flags | os.O_NOFOLLOW, mode, dir_fd=stack[-1])
                stack.append(os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                     dir_fd=stack[-1]))
                continue
            except OSError as exc:
                # O_NOFOLLOW on a symlink: ELOOP (ENOTDIR for O_DIRECTORY on some kernels)
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise
                try:
                    target = os.readlink(name, dir_fd=stack[-1])
                except OSError:
                    raise exc from None        # not a symlink after all: the original error stands
            links += 1
            if links > MAX_SYMLINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
            target_bytes = os.fsencode(target)
            if target_bytes.startswith(b"/"):
                raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
            parts = [p for p in target_bytes.split(b"/") if p not in (b"", b".")] + parts
        # The path named the root itself (or ended in `..`/`.`): open the directory we stand in.
        return os.open(".", flags, mode, dir_fd=stack[-1])
    finally:
        for fd in stack:
            os.close(fd)


def open_regular(opener: Callable[[int], int], flags: int) -> int:
    """An fd for a regular file: `opener(flags)` opens without blocking (a FIFO would wait for a
    writer), then fstat checks what it is; NotRegular (errno EISDIR for a directory, EACCES for a
    FIFO, device or socket) for anything but a regular file."""
    fd = opener(flags | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            err = errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EACCES
            raise NotRegular(err, "is a directory" if err == errno.EISDIR else "not a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular_file(path: str | os.PathLike[str], limit: int) -> bytes:
    """The contents of a regular file of at most `limit` bytes. OSError as from open (FileNotFoundError,
    PermissionError...), NotRegular for a directory, device, FIFO or socket, and EFBIG when larger."""
    fd = open_regular(lambda flags: os.open(path, flags), os.O_RDONLY)
    with os.fdopen(fd, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            raise OSError(errno.EFBIG, f"{size} bytes; the limit is {limit} bytes")
        data = fh.read(limit + 1)
    if len(data) > limit:                      # grew while we read
        raise OSError(errno.EFBIG, f"more than {limit} bytes; the limit is {limit} bytes")
    return data
