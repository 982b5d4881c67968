"""Processes and threads: clone (a green thread for CLONE_THREAD, a host fork otherwise), execve,
wait, kill, exit, identity, limits, uname and the other facts a process asks about itself."""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import signal
import struct
from typing import TYPE_CHECKING

from vmcli.errors import BadInput
from vmcli.linux import signals as sig
from vmcli.linux.syscalls import check, libc, path_arg, raw_ptr, s32, s64, syscall
from vmcli.linux.syscalls.numbers import NUMBERS
from vmcli.linux.threads import Block, GuestThread, Wait

if TYPE_CHECKING:
    from vmcli.linux.process import Process

CLONE_VM, CLONE_VFORK, CLONE_THREAD, CLONE_SETTLS = 0x100, 0x4000, 0x10000, 0x80000
CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID = 0x100000, 0x200000, 0x01000000
WNOHANG = 1
HOST_ARCH = {"x86_64": "x86_64", "aarch64": "arm64", "riscv64": "riscv64"}.get(platform.machine(), "x86_64")
HOST_NR = {name: nr for nr, name in NUMBERS[HOST_ARCH].items()}


def host_syscall(name: str, *args: int | ctypes.c_void_p | None) -> int:
    conv = [a if isinstance(a, ctypes.c_void_p) or a is None else ctypes.c_long(a) for a in args]
    return check(libc.syscall(ctypes.c_long(HOST_NR[name]), *conv))


@syscall("exit")
def sys_exit(p: Process, status: int, *_: int) -> int:
    from vmcli.linux.process import ThreadExit
    raise ThreadExit(status & 0xFF)


@syscall("exit_group")
def sys_exit_group(p: Process, status: int, *_: int) -> int:
    from vmcli.linux.process import ExitGroup
    raise ExitGroup(status & 0xFF)


@syscall("getpid")
def sys_getpid(p: Process, *_: int) -> int:
    return p.pid


@syscall("gettid")
def sys_gettid(p: Process, *_: int) -> int:
    assert p.current is not None
    return p.current.tid


@syscall("getppid")
def sys_getppid(p: Process, *_: int) -> int:
    return os.getppid()


@syscall("set_tid_address")
def sys_set_tid_address(p: Process, addr: int, *_: int) -> int:
    assert p.current is not None
    p.current.clear_tid = addr
    return p.current.tid


@syscall("set_robust_list")
def sys_set_robust_list(p: Process, head: int, length: int, *_: int) -> int:
    assert p.current is not None
    if length != 24:
        return -errno.EINVAL
    p.current.robust_list = head
    return 0


@syscall("get_robust_list")
def sys_get_robust_list(p: Process, pid: int, head: int, length: int, *_: int) -> int:
    assert p.current is not None
    p.mem.put_u64(head, p.current.robust_list)
    p.mem.put_u64(length, 24)
    return 0


@syscall("getuid")
def sys_getuid(p: Process, *_: int) -> int:
    return os.getuid()


@syscall("geteuid")
def sys_geteuid(p: Process, *_: int) -> int:
    return os.geteuid()


@syscall("getgid")
def sys_getgid(p: Process, *_: int) -> int:
    return os.getgid()


@syscall("getegid")
def sys_getegid(p: Process, *_: int) -> int:
    return os.getegid()


@syscall("getresuid")
def sys_getresuid(p: Process, r: int, e: int, s: int, *_: int) -> int:
    for addr, value in zip((r, e, s), os.getresuid(), strict=True):
        p.mem.put_u32(addr, value)
    return 0


@syscall("getresgid")
def sys_getresgid(p: Process, r: int, e: int, s: int, *_: int) -> int:
    for addr, value in zip((r, e, s), os.getresgid(), strict=True):
        p.mem.put_u32(addr, value)
    return 0


@syscall("getgroups")
def sys_getgroups(p: Process, size: int, addr: int, *_: int) -> int:
    groups = os.getgroups()
    size = s32(size)
    if size == 0:
        return len(groups)
    if size < len(groups):
        return -errno.EINVAL
    p.mem.write(addr, struct.pack(f"<{len(groups)}I", *groups))
    return len(groups)


@syscall("setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid", "setgroups")
def sys_setid(p: Process, *args: int) -> int:
    name = p.arch.numbers[p.sysregs.values[0]]
    if name == "setgroups":
        return host_syscall(name, args[0], raw_ptr(p, args[1], 4 * s32(args[0])))
    return host_syscall(name, *[s32(a) for a in args[:3]])


@syscall("setpgid")
def sys_setpgid(p: Process, pid: int, pgid: int, *_: int) -> int:
    os.setpgid(s32(pid), s32(pgid))
    return 0


@syscall("getpgid")
def sys_getpgid(p: Process, pid: int, *_: int) -> int:
    return os.getpgid(s32(pid))


@syscall("getpgrp")
def sys_getpgrp(p: Process, *_: int) -> int:
    return os.getpgrp()


@syscall("setsid")
def sys_setsid(p: Process, *_: int) -> int:
    os.setsid()
    return os.getpid()


@syscall("getsid")
def sys_getsid(p: Process, pid: int, *_: int) -> int:
    return os.getsid(s32(pid))


@syscall("uname")
def sys_uname(p: Process, buf: int, *_: int) -> int:
    u = os.uname()
    fields = [u.sysname, u.nodename, u.release, u.version, p.arch.uname, "(none)"]
    p.mem.write(buf, b"".join(f.encode()[:64].ljust(65, b"\0") for f in fields))
    return 0


@syscall("sethostname", "setdomainname")
def sys_sethostname(p: Process, *_: int) -> int:
    return -errno.EPERM


@syscall("prlimit64")
def sys_prlimit64(p: Process, pid: int, resource: int, new: int, old: int, *_: int) -> int:
    from vmcli.linux.hostsignals import FD_BASE
    pid, resource = s32(pid), s32(resource)
    if pid not in (0, p.pid):
        return host_syscall("prlimit64", pid, resource, raw_ptr(p, new, 16) if new else None,
                            raw_ptr(p, old, 16) if old else None)
    buf = ctypes.create_string_buffer(16)
    r = check(libc.prlimit(0, resource, None, buf))
    if r < 0:
        return r
    soft, hard = struct.unpack("<QQ", buf.raw)
    if resource == 7:                        # RLIMIT_NOFILE: vm's own descriptors sit above FD_BASE
        soft, hard = min(soft, FD_BASE), min(hard, FD_BASE)
    if new:
        nsoft, nhard = struct.unpack("<QQ", p.mem.read(new, 16))
        if resource == 7:
            if nsoft > FD_BASE or nhard > FD_BASE:
                nsoft, nhard = min(nsoft, FD_BASE), min(nhard, FD_BASE)
            if nsoft > nhard:
                return -errno.EINVAL
        else:
            r = check(libc.prlimit(0, resource, ctypes.c_char_p(struct.pack("<QQ", nsoft, nhard)), None))
            if r < 0:
                return r
    if old:
        p.mem.write(old, struct.pack("<QQ", soft, hard))
    return 0


@syscall("getrlimit")
def sys_getrlimit(p: Process, resource: int, old: int, *_: int) -> int:
    return sys_prlimit64(p, 0, resource, 0, old)


@syscall("setrlimit")
def sys_setrlimit(p: Process, resource: int, new: int, *_: int) -> int:
    return sys_prlimit64(p, 0, resource, new, 0)


@syscall("getrusage")
def sys_getrusage(p: Process, who: int, buf: int, *_: int) -> int:
    return check(libc.getrusage(s32(who), raw_ptr(p, buf, 144)))


@syscall("times")
def sys_times(p: Process, buf: int, *_: int) -> int:
    return check(libc.times(raw_ptr(p, buf, 32) if buf else None))


@syscall("sysinfo")
def sys_sysinfo(p: Process, buf: int, *_: int) -> int:
    return check(libc.sysinfo(raw_ptr(p, buf, 112)))


@syscall("getrandom")
def sys_getrandom(p: Process, buf: int, length: int, flags: int, *_: int) -> int:
    return check(libc.getrandom(raw_ptr(p, buf, length), ctypes.c_size_t(length), ctypes.c_uint(flags & 0xFFFF_FFFF)))


@syscall("sched_getaffinity")
def sys_sched_getaffinity(p: Process, pid: int, size: int, mask: int, *_: int) -> int:
    if s32(pid) in (0, p.pid) or any(t.tid == s32(pid) for t in p.threads):
        pid = 0
    return host_syscall("sched_getaffinity", s32(pid), size, raw_ptr(p, mask, size))


@syscall("sched_setaffinity")
def sys_sched_setaffinity(p: Process, pid: int, size: int, mask: int, *_: int) -> int:
    p.mem.read(mask, size)
    return 0


@syscall("sched_yield")
def sys_sched_yield(p: Process, *_: int) -> int:
    if len(p.threads) > 1:
        p.preempt = True
        p.stop_engine()
    return 0


@syscall("sched_getparam", "sched_getscheduler")
def sys_sched_get(p: Process, pid: int, param: int = 0, *_: int) -> int:
    if p.arch.numbers[p.sysregs.values[0]] == "sched_getparam":
        p.mem.put_u32(param, 0)
    return 0


@syscall("sched_setscheduler", "sched_setparam")
def sys_sched_set(p: Process, *_: int) -> int:
    return 0


@syscall("sched_get_priority_max", "sched_get_priority_min")
def sys_sched_prio(p: Process, policy: int, *_: int) -> int:
    return 0 if s32(policy) == 0 else (99 if p.arch.numbers[p.sysregs.values[0]].endswith("max") else 1)


@syscall("getpriority")
def sys_getpriority(p: Process, which: int, who: int, *_: int) -> int:
    return 20 - os.getpriority(s32(which), s32(who))


@syscall("setpriority")
def sys_setpriority(p: Process, which: int, who: int, prio: int, *_: int) -> int:
    os.setpriority(s32(which), s32(who), s32(prio))
    return 0


@syscall("getcpu")
def sys_getcpu(p: Process, cpu: int, node: int, *_: int) -> int:
    if cpu:
        p.mem.put_u32(cpu, 0)
    if node:
        p.mem.put_u32(node, 0)
    return 0


@syscall("personality")
def sys_personality(p: Process, persona: int, *_: int) -> int:
    return 0


@syscall("arch_prctl")
def sys_arch_prctl(p: Process, code: int, addr: int, *_: int) -> int:
    from unicorn import x86_const as x86
    code = s32(code)
    if code == 0x1002:                                  # ARCH_SET_FS
        p.tlsreg.set(addr)
        return 0
    if code == 0x1003:                                  # ARCH_GET_FS
        p.mem.put_u64(addr, p.tlsreg.get())
        return 0
    if code == 0x1001:                                  # ARCH_SET_GS
        p.uc.reg_write(x86.UC_X86_REG_GS_BASE, addr)
        return 0
    if code == 0x1004:
        p.mem.put_u64(addr, int(p.uc.reg_read(x86.UC_X86_REG_GS_BASE)))
        return 0
    return -errno.EINVAL


@syscall("prctl")
def sys_prctl(p: Process, option: int, a2: int, a3: int, a4: int, a5: int, *_: int) -> int:
    option = s32(option)
    if option == 15:                                     # PR_SET_NAME
        p.thread_name = p.mem.cstring(a2, 16)[:15]     # type: ignore[attr-defined]
        return 0
    if option == 16:                                     # PR_GET_NAME
        name = getattr(p, "thread_name", os.path.basename(p.exe).encode()[:15])
        p.mem.write(a2, name.ljust(16, b"\0")[:16])
        return 0
    if option in (1, 2, 3, 4, 36, 37, 38, 39):   # PDEATHSIG, DUMPABLE, CHILD_SUBREAPER, NO_NEW_PRIVS
        if option in (2, 37, 39):
            ptr = raw_ptr(p, a2, 4) if option == 2 else None
            return host_syscall("prctl", option, ptr if ptr is not None else a2, a3, a4, a5)
        return host_syscall("prctl", option, a2, a3, a4, a5)
    return -errno.EINVAL


# -- clone, fork, vfork ---------------------------------------------------------------------------------
@syscall("clone")
def sys_clone(p: Process, flags: int, stack: int, ptid: int, a3: int, a4: int, *_: int) -> int:
    tls, ctid = (a4, a3) if p.arch.clone_tls_last else (a3, a4)
    return do_clone(p, flags, stack, ptid, ctid, tls)


@syscall("fork")
def sys_fork(p: Process, *_: int) -> int:
    return do_clone(p, signal.SIGCHLD, 0, 0, 0, 0)


@syscall("vfork")
def sys_vfork(p: Process, *_: int) -> int:
    return do_clone(p, CLONE_VM | CLONE_VFORK | signal.SIGCHLD, 0, 0, 0, 0)


def do_clone(p: Process, flags: int, stack: int, ptid: int, ctid: int, tls: int) -> int:
    cur = p.current
    assert cur is not None
    after = p.syscall_pc() + p.arch.syscall_len
    if flags & CLONE_THREAD:
        if not flags & CLONE_VM:
            return -errno.EINVAL
        t = GuestThread(tid=p.new_tid(), mask=cur.mask)
        t.start = {"pc": after}
        if stack:
            t.start["sp"] = stack
        if flags & CLONE_SETTLS:
            t.start["tls"] = tls
        if flags & CLONE_PARENT_SETTID:
            p.mem.put_u32(ptid, t.tid)
        if flags & CLONE_CHILD_SETTID:
            p.mem.put_u32(ctid, t.tid)
        if flags & CLONE_CHILD_CLEARTID:
            t.clear_tid = ctid
        p.add_thread(t)
        return t.tid
    # A new process: the whole emulator forks (CLONE_VM without CLONE_THREAD, as in posix_spawn and
    # vfork, gets a copy too, as under qemu-user; the parent waits for a vfork child's exec or exit).
    vfork_r = vfork_w = -1
    if flags & CLONE_VFORK:
        vfork_r, vfork_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        p.after_fork_child()
        if vfork_r >= 0:
            os.close(vfork_r)
            p.vfork_done_fd = vfork_w
        if flags & CLONE_CHILD_SETTID:
            p.mem.put_u32(ctid, p.pid)
        if flags & CLONE_CHILD_CLEARTID:
            cur.clear_tid = ctid
        if stack:
            p.spreg.set(stack)
        if flags & CLONE_SETTLS:
            p.tlsreg.set(tls)
        return 0
    if flags & CLONE_PARENT_SETTID:
        p.mem.put_u32(ptid, pid)
    if vfork_r >= 0:
        os.close(vfork_w)
        raise Block(Wait(vfork_fd=vfork_r, vfork_child=pid, restartable=False))
    return pid


@syscall("clone3")
def sys_clone3(p: Process, *_: int) -> int:
    return -errno.ENOSYS            # glibc falls back to clone


# -- execve -----------------------------------------------------------------------------------------------
@syscall("execve")
def sys_execve(p: Process, path: int, argv: int, envp: int, *_: int) -> int:
    name = path_arg(p, path)
    args = p.mem.cstrings(argv)
    env = p.mem.cstrings(envp)
    return do_execve(p, name, args, env)


@syscall("execveat")
def sys_execveat(p: Process, dirfd: int, path: int, argv: int, envp: int, flags: int, *_: int) -> int:
    name = path_arg(p, path)
    if not name.startswith(b"/"):
        from vmcli.linux.paths import AT_FDCWD
        if s32(dirfd) != AT_FDCWD:
            base = p.paths.fd_path(s32(dirfd))
            name = base + b"/" + name if name else base
    return do_execve(p, name, p.mem.cstrings(argv), p.mem.cstrings(envp))


def do_execve(p: Process, name: bytes, args: list[bytes], env: list[bytes], depth: int = 0) -> int:
    from vmcli.linux import procfs
    from vmcli.linux.loader import parse_elf
    from vmcli.linux.process import ExecRequest
    if depth > 4:
        return -errno.ELOOP
    special = procfs.exe_path(p, name)
    host = special if special is not None else p.paths.exec_file(name)
    if not os.path.exists(host):
        return -errno.ENOENT
    if os.path.isdir(host) or not os.access(host, os.X_OK):
        return -errno.EACCES
    with open(host, "rb") as f:
        head = f.read(4096)
    if head.startswith(b"#!"):
        line = head[2:].split(b"\n", 1)[0].strip()
        if not line:
            return -errno.ENOEXEC
        interp, _, arg = line.partition(b" ")
        arg = arg.strip()
        new_args = [interp] + ([arg] if arg else []) + [name] + args[1:]
        return do_execve(p, interp, new_args, env, depth + 1)
    try:
        info = parse_elf(host, head + (b"" if len(head) < 4096 else _rest(host)), file_size=os.path.getsize(host))
    except BadInput:
        return -errno.ENOEXEC
    if info.arch.name == HOST_ARCH and p.paths.fs_root is None and not os.environ.get("VM_EMULATE_HOST"):
        p.exec_native(host, args, env)          # does not return
    raise ExecRequest(host, args, env, execfn=name)


def _rest(path: str) -> bytes:
    with open(path, "rb") as f:
        f.seek(4096)
        return f.read(1 << 20)


# -- wait ---------------------------------------------------------------------------------------------------
@syscall("wait4")
def sys_wait4(p: Process, pid: int, status: int, options: int, rusage: int, *_: int) -> int:
    options = s32(options)
    st = raw_ptr(p, status, 4) if status else None
    ru = raw_ptr(p, rusage, 144) if rusage else None
    r = check(libc.wait4(s32(pid), st, options | WNOHANG, ru))
    if r == 0 and not options & WNOHANG:
        raise Block(Wait(children=True))
    return r


@syscall("waitid")
def sys_waitid(p: Process, idtype: int, ident: int, info: int, options: int, rusage: int, *_: int) -> int:
    options = s32(options)
    inf = raw_ptr(p, info, 128) if info else None
    ru = raw_ptr(p, rusage, 144) if rusage else None
    if info:
        p.mem.write(info, bytes(16))
    r = host_syscall("waitid", s32(idtype), s32(ident), inf, options | WNOHANG, ru)
    if r == 0 and not options & WNOHANG and info and p.mem.u32(info) == 0:
        raise Block(Wait(children=True))
    return r


# -- kill -----------------------------------------------------------------------------------------------------
def _self_signal(p: Process) -> None:
    """The guest signalled itself: the signal must be taken before its next instruction."""
    p.reschedule = True
    p.stop_engine()


@syscall("kill")
def sys_kill(p: Process, pid: int, signo: int, *_: int) -> int:
    pid, signo = s32(pid), s32(signo)
    if not 0 <= signo <= sig.NSIG:
        return -errno.EINVAL
    if pid == p.pid and signo:
        p.queue_signal(signo, sig.siginfo(signo, sig.SI_USER, pid=p.pid, uid=os.getuid()))
        _self_signal(p)
        return 0
    r = check(libc.kill(pid, signo))
    if r == 0 and signo and pid <= 0:
        _self_signal(p)
    return r


@syscall("tgkill")
def sys_tgkill(p: Process, tgid: int, tid: int, signo: int, *_: int) -> int:
    tgid, tid, signo = s32(tgid), s32(tid), s32(signo)
    if tgid != p.pid:
        return host_syscall("tgkill", tgid, tid, signo)
    return _thread_kill(p, tid, signo)


@syscall("tkill")
def sys_tkill(p: Process, tid: int, signo: int, *_: int) -> int:
    tid, signo = s32(tid), s32(signo)
    if not any(t.tid == tid for t in p.threads):
        return host_syscall("tkill", tid, signo)
    return _thread_kill(p, tid, signo)


def _thread_kill(p: Process, tid: int, signo: int) -> int:
    if not 0 <= signo <= sig.NSIG:
        return -errno.EINVAL
    for t in p.threads:
        if t.tid == tid:
            if signo:
                p.queue_signal(signo, sig.siginfo(signo, sig.SI_TKILL, pid=p.pid, uid=os.getuid()), thread=t)
                _self_signal(p)
            return 0
    return -errno.ESRCH


@syscall("rt_sigqueueinfo")
def sys_rt_sigqueueinfo(p: Process, pid: int, signo: int, info: int, *_: int) -> int:
    data = p.mem.read(info, 128)
    if s32(pid) == p.pid:
        p.queue_signal(s32(signo), data)
        _self_signal(p)
        return 0
    return host_syscall("rt_sigqueueinfo", s32(pid), s32(signo), ctypes.c_void_p(ctypes.addressof(
        ctypes.create_string_buffer(data, 128))))


def unused_s64(v: int) -> int:
    return s64(v)
