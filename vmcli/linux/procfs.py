"""The guest's own /proc: self/exe, maps, auxv, cmdline, environ, stat, status and cpuinfo describe
the emulated program, not vm. Other /proc paths and /dev pass through to the host."""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING

from vmcli.linux.paths import AT_FDCWD

if TYPE_CHECKING:
    from vmcli.linux.process import Process

CPUINFO = {
    "arm64": "processor\t: {n}\nBogoMIPS\t: 125.00\nFeatures\t: fp asimd aes pmull sha1 sha2 crc32\n"
             "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\n"
             "CPU revision\t: 3\n\n",
    "riscv64": "processor\t: {n}\nhart\t\t: {n}\nisa\t\t: rv64imafdc\nmmu\t\t: sv48\n\n",
    "x86_64": "processor\t: {n}\nvendor_id\t: GenuineIntel\nmodel name\t: QEMU Virtual CPU\n"
              "flags\t\t: fpu de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr "
              "sse sse2 ht syscall nx lm pni cx16 popcnt\n\n",
}


def _self_part(p: Process, dirfd: int, path: bytes) -> bytes | None:
    """The part after /proc/self/ (or /proc/<our pid>/, /proc/thread-self/) of a path, else None."""
    if not path.startswith(b"/"):
        if dirfd == AT_FDCWD:
            cwd = p.paths.guest_cwd()
            if not cwd.startswith(b"/proc"):
                return None
            path = cwd.rstrip(b"/") + b"/" + path
        else:
            return None
    parts = [x for x in path.split(b"/") if x and x != b"."]
    if len(parts) < 2 or parts[0] != b"proc":
        return None
    if parts[1] in (b"self", b"thread-self", str(p.pid).encode()):
        return b"/".join(parts[2:])
    if parts[1] == b"cpuinfo" and len(parts) == 2:
        return b"../cpuinfo"
    return None


def content(p: Process, what: bytes) -> bytes | None:
    if what == b"../cpuinfo":
        return "".join(CPUINFO[p.arch.name].format(n=n) for n in range(os.cpu_count() or 1)).encode()
    if what == b"maps":
        return p.mem.maps_text().encode()
    if what == b"cmdline":
        return b"".join(a + b"\0" for a in p.argv)
    if what == b"environ":
        return b"".join(e + b"\0" for e in p.envp)
    if what == b"auxv":
        return b"".join(struct.pack("<QQ", k, v) for k, v in p.auxv)
    if what == b"comm":
        return os.path.basename(p.exe).encode()[:15] + b"\n"
    if what in (b"stat", b"status"):
        host = open(f"/proc/self/{what.decode()}", "rb").read()   # noqa: SIM115
        name = os.path.basename(p.exe).encode()[:15]
        if what == b"stat":
            rest = host[host.rindex(b")") + 1:]
            return str(p.pid).encode() + b" (" + name + b")" + rest
        lines = host.split(b"\n")
        lines[0] = b"Name:\t" + name
        return b"\n".join(lines)
    return None


def open_special(p: Process, dirfd: int, path: bytes, flags: int) -> int | None:
    what = _self_part(p, dirfd, path)
    if what is None:
        return None
    if what in (b"mem", b"pagemap") or what.startswith((b"task/", b"map_files")):
        # These would be vm's own memory, not the guest's.
        raise OSError(13, "vm does not show its own memory to the guest")
    if what == b"exe":
        return os.open(p.exe, flags & ~(os.O_CREAT | os.O_TRUNC))
    data = content(p, what)
    if data is None:
        return None
    fd = os.memfd_create("proc", os.MFD_CLOEXEC)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def readlink(p: Process, dirfd: int, path: bytes) -> bytes | None:
    what = _self_part(p, dirfd, path)
    if what == b"exe":
        return os.fsencode(p.exe)
    if what is not None and what.startswith(b"fd/"):
        return p.paths.fd_path(int(what[3:]))
    if what == b"cwd":
        return p.paths.guest_cwd()
    return None


def resolve(p: Process, dirfd: int, path: bytes) -> bytes | None:
    """A host path standing for a synthetic /proc entry, for stat and access."""
    what = _self_part(p, dirfd, path)
    if what == b"exe":
        return os.fsencode(p.exe)
    return None


def exe_path(p: Process, path: bytes) -> str | None:
    """execve("/proc/self/exe"): the running program."""
    return p.exe if _self_part(p, AT_FDCWD, path) == b"exe" else None
