"""Guest paths to host paths: the sysroot (--sysroot, like qemu-user's -L) and the fs-root.

With a sysroot, an absolute path that exists below it is taken from there, else from the host, as
qemu-user does. With --fs-root DIR the guest sees DIR as `/`, and the host kernel enforces it: every
path is resolved by openat2(RESOLVE_IN_ROOT) from a descriptor of DIR, so `..` and symlinks (even
absolute ones) stay inside. Operations other than open get the resolved object as
/proc/self/fd/N (for calls that follow the last component) or as its parent's descriptor and the
last name (for calls that act on the name itself: unlink, mkdir, rename, lstat ...).
"""

from __future__ import annotations

import os
import platform

from vmcli.errors import BadInput
from vmcli.hostfs import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, openat2
from vmcli.linux.arch import LinuxArch

AT_FDCWD = -100
O_PATH = 0o10000000


class Paths:
    def __init__(self, arch: LinuxArch, sysroot: str | None, fs_root: str | None) -> None:
        self.arch = arch
        self.sysroot = os.path.abspath(sysroot).encode() if sysroot else None
        self.root_fd = -1
        self.fs_root = os.path.abspath(fs_root) if fs_root else None
        if self.fs_root is not None:
            if platform.system() != "Linux":
                raise BadInput("--fs-root needs Linux (openat2)")
            try:
                fd = os.open(self.fs_root, O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError as exc:
                raise BadInput(f"--fs-root {fs_root}: {exc.strerror}") from None
            from vmcli.linux.hostsignals import internal_fd
            self.root_fd = internal_fd(fd)
            try:
                os.close(openat2(self.root_fd, b".", O_PATH, 0, RESOLVE_IN_ROOT))
            except OSError as exc:
                raise BadInput(f"--fs-root needs openat2 with RESOLVE_IN_ROOT (Linux 5.6): {exc.strerror}") from None
            os.chdir(self.fs_root)

    # -- the program and its interpreter --------------------------------------------------------------
    def program(self, path: str) -> str:
        """The host file of the program given on the command line."""
        if self.fs_root is not None and path.startswith("/"):
            return os.path.join(self.fs_root, path.lstrip("/"))
        return path

    def interpreter(self, interp: str, program: str) -> str:
        candidates = []
        if self.fs_root is not None:
            candidates.append(os.path.join(self.fs_root, interp.lstrip("/")))
        else:
            if self.sysroot is not None:
                candidates.append(os.path.join(self.sysroot.decode(), interp.lstrip("/")))
            candidates.append(interp)
        for c in candidates:
            if os.path.exists(c):
                return c
        hint = "--fs-root" if self.fs_root else "--sysroot DIR (or VM_SYSROOT)"
        raise BadInput(f"{program}: interpreter {interp} not found; give the {self.arch.name} libraries with {hint}")

    # -- guest paths in system calls ---------------------------------------------------------------------
    def guest_cwd(self) -> bytes:
        cwd = os.getcwdb()
        if self.fs_root is None:
            return cwd
        root = self.fs_root.encode()
        if cwd == root:
            return b"/"
        if cwd.startswith(root + b"/"):
            return cwd[len(root):]
        return b"/"

    def _inside(self, dirfd: int, path: bytes) -> bytes:
        """A guest path as an absolute path inside the fs-root."""
        if path.startswith(b"/"):
            return path
        base = self.guest_cwd() if dirfd == AT_FDCWD else self.fd_path(dirfd)
        return base.rstrip(b"/") + b"/" + path

    def fd_path(self, fd: int) -> bytes:
        """Where a guest descriptor points, as the guest sees it."""
        target = os.readlink(f"/proc/self/fd/{fd}").encode()
        if self.fs_root is not None:
            root = self.fs_root.encode()
            if target == root:
                return b"/"
            if target.startswith(root + b"/"):
                return target[len(root):]
        return target

    def host(self, path: bytes) -> bytes:
        """Without an fs-root: the sysroot's copy of an absolute path when it has one."""
        if self.sysroot is not None and path.startswith(b"/"):
            candidate = self.sysroot + path
            if os.path.lexists(candidate):
                return candidate
        return path

    def open(self, dirfd: int, path: bytes, flags: int, mode: int) -> int:
        if self.fs_root is None:
            return os.open(self.host(path), flags, mode, dir_fd=None if dirfd == AT_FDCWD or path.startswith(b"/")
                           else dirfd)
        return openat2(self.root_fd, self._inside(dirfd, path), flags, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)

    def resolve(self, dirfd: int, path: bytes, follow: bool = True) -> tuple[int | None, bytes, int]:
        """(host dirfd or None for the cwd, host path, a descriptor to close afterwards or -1)."""
        if self.fs_root is None:
            if path.startswith(b"/"):
                return None, self.host(path), -1
            return (None if dirfd == AT_FDCWD else dirfd), path, -1
        inside = self._inside(dirfd, path)
        if follow or inside.rstrip(b"/").rsplit(b"/", 1)[-1] in (b"", b".", b".."):
            fd = openat2(self.root_fd, inside, O_PATH, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
            return None, f"/proc/self/fd/{fd}".encode(), fd
        parent, _, name = inside.rstrip(b"/").rpartition(b"/")
        fd = openat2(self.root_fd, parent or b"/", O_PATH | os.O_DIRECTORY, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
        return fd, name, fd

    def parent(self, dirfd: int, path: bytes) -> tuple[int | None, bytes, int]:
        """For calls that create or remove the last name: its directory and the name."""
        return self.resolve(dirfd, path, follow=False)

    def chdir(self, path: bytes) -> None:
        if self.fs_root is None:
            os.chdir(self.host(path))
            return
        fd = openat2(self.root_fd, self._inside(AT_FDCWD, path), O_PATH | os.O_DIRECTORY, 0,
                     RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
        try:
            os.fchdir(fd)
        finally:
            os.close(fd)

    def exec_file(self, path: bytes) -> str:
        """The host file behind an execve path (the sysroot's or the root's copy)."""
        if self.fs_root is None:
            return os.fsdecode(self.host(path))
        fd = openat2(self.root_fd, self._inside(AT_FDCWD, path), O_PATH, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
