"""`vm run PROG` for Linux programs: load, run, follow in-process execs, and end as the program did
(its exit status, or death by the same signal)."""

from __future__ import annotations

import errno
import os
import resource
import signal
import sys
from typing import TYPE_CHECKING

from vmcli.errors import BadInput, ExitStatus
from vmcli.linux.loader import parse_elf
from vmcli.linux.paths import Paths

if TYPE_CHECKING:
    from vmcli.debug.observe import TraceOptions
    from vmcli.linux.process import Options, Outcome, Process


def _read_program(path: str) -> bytes:
    """The first MiB of a program file, opened without blocking and only if it is a regular file
    (a FIFO would wait for a writer forever, a device read forever)."""
    from vmcli.hostfs import NotRegular, open_regular

    try:
        fd = open_regular(lambda flags: os.open(path, flags), os.O_RDONLY)
        with os.fdopen(fd, "rb") as f:
            return f.read(1 << 20)
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except PermissionError:
        raise BadInput(f"{path}: permission denied") from None
    except NotRegular as exc:
        what = "a directory" if exc.errno == errno.EISDIR else "not a regular file (a device, FIFO or socket)"
        raise BadInput(f"{path}: is {what}, not a program") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read: {exc.strerror}") from None


def default_sysroot(arch: str) -> str | None:
    from vmcli.linux.arch import LINUX_ARCHES
    env = os.environ.get("VM_SYSROOT")
    if env:
        return env
    for candidate in LINUX_ARCHES[arch].sysroots:
        if os.path.isdir(candidate):
            return candidate
    return None


def load_linux(prog: str, args: list[str], *, arch: str | None, options: Options, env: list[str]) -> Process:
    """A process with the program loaded, before its first instruction."""
    from vmcli.linux.process import Process, guest_environment
    host_prog = program_path(prog, options.fs_root)
    data = _read_program(host_prog)
    info = parse_elf(host_prog, data, what=prog, file_size=os.path.getsize(host_prog))
    if arch is not None and arch != info.arch.name:
        raise BadInput(f"{prog}: ELF is for {info.arch.name}, not {arch}")
    if options.sysroot is not None and not os.path.isdir(options.sysroot):
        raise BadInput(f"--sysroot {options.sysroot}: no such directory")
    if options.sysroot is None and info.interp is not None and options.fs_root is None:
        options.sysroot = default_sysroot(info.arch.name)
    paths = Paths(info.arch, options.sysroot, options.fs_root)
    argv0 = os.environ.get("VM_ARGV0")          # set by the binfmt_misc wrapper (vmcli/linux/binfmt.py)
    argv = [(argv0 or prog).encode(), *(a.encode() for a in args)]
    envp = guest_environment(env)
    proc = Process(info.arch, options, paths=paths)
    proc.load(host_prog, info, argv, envp, prog.encode())
    return proc


def run_linux(prog: str, args: list[str], *, arch: str | None, options: Options, env: list[str]) -> Outcome:
    """Run a Linux program to its end; returns how it ended."""
    proc = load_linux(prog, args, arch=arch, options=options, env=env)
    while True:
        outcome = proc.run()
        request = proc.exec_request
        if request is None:
            return outcome
        proc = _exec_in_place(proc, request.path, request.argv, request.envp, request.execfn)


def _exec_in_place(old: Process, path: str, argv: list[bytes], envp: list[bytes], execfn: bytes) -> Process:
    """execve of a guest program: a new engine and address space in the same host process, keeping
    what the kernel keeps (pid, descriptors without close-on-exec, mask, pending and ignored signals)."""
    from vmcli.linux.hostsignals import FD_BASE
    from vmcli.linux.process import Process
    data = _read_program(path)
    info = parse_elf(path, data, file_size=os.path.getsize(path))
    old_thread = old.current
    assert old_thread is not None
    new = Process(info.arch, old.options, paths=Paths(info.arch, old.options.sysroot, None)
                  if old.paths.fs_root is None else old.paths)
    new.pid = old.pid
    new.sigfd = old.sigfd
    new.pending = old.pending
    new.incoming = old.incoming
    for s, action in enumerate(old.actions):
        if s and action.handler == 1:
            new.actions[s].handler = 1
    if old.vfork_done_fd >= 0:
        os.close(old.vfork_done_fd)
    for fd in sorted(int(n) for n in os.listdir("/proc/self/fd")):
        if fd < FD_BASE:
            try:
                if not os.get_inheritable(fd):
                    os.close(fd)
            except OSError:
                pass
    for t in old.threads:
        if t.ctx is not None:
            t.ctx.free()
    old.mem.close()
    new.load(path, info, argv, envp, execfn)
    main = new.current
    assert main is not None
    main.mask = old_thread.mask
    main.pending = old_thread.pending
    return new


def finish(outcome: Outcome) -> None:
    """Leave vm as the program left: with its status, or killed by its signal."""
    sys.stdout.flush()
    sys.stderr.flush()
    if outcome.signal:
        s = outcome.signal
        try:
            soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
            resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
        except (ValueError, OSError):
            pass
        signal.signal(s, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [s])
        os.kill(os.getpid(), s)
    os._exit(outcome.status)


def program_path(prog: str, fs_root: str | None) -> str:
    """The host file of PROG: with --fs-root, PROG names a file inside it (as the program would)."""
    if fs_root is not None:
        return os.path.join(fs_root, prog.lstrip("/"))
    return prog


def is_user_program(path: str, fs_root: str | None = None) -> bool:
    """A Linux program: an ELF with a PT_INTERP, the GNU/Linux ABI note, or ELFOSABI_LINUX."""
    from vmcli.hostfs import open_regular
    from vmcli.linux.loader import is_linux_program

    path = program_path(path, fs_root)
    try:
        # without blocking, and only a regular file: a FIFO would wait for a writer forever
        fd = open_regular(lambda flags: os.open(path, flags), os.O_RDONLY)
        with os.fdopen(fd, "rb") as f:
            head = f.read(1 << 16)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return False
    return is_linux_program(head, size)


def start_deadline(timeout: float) -> None:
    """--timeout for a Linux program: as timeout(1) does, the program ends when the time is up, whatever
    it is doing (computing, blocked in a system call, waiting for a thread); vm exits with status 124.
    A watch thread ends the process itself: nothing the guest holds (a host syscall it is blocked in,
    the engine) can delay it. Processes the program forked keep running, as under timeout(1)."""
    import threading

    pid = os.getpid()

    def expire() -> None:
        if os.getpid() == pid:              # not in a forked child (threads do not survive fork anyway)
            os.write(2, f"vm: --timeout {timeout:g} s reached\n".encode())
            os._exit(ExitStatus.TIMEOUT)

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()


def run_user(prog: str, args: list[str], *, arch: str | None, sysroot: str | None, fs_root: str | None,
             env: list[str], strace: bool, gdb: str | None, trace: TraceOptions | None, stats: bool, as_json: bool,
             unsupported: dict[str, object], timeout: float | None = None) -> None:
    """The `vm run` path for Linux programs; never returns (vm ends as the program does, or with
    status 124 when `timeout` seconds pass first)."""
    from vmcli.machine.cpu import canonical_arch
    given = [name for name, value in unsupported.items() if value is not None]
    if given:
        raise BadInput(f"{', '.join(given)}: not for Linux programs")
    if arch is not None:
        canonical = canonical_arch(arch)
        if canonical is None:
            raise BadInput(f"unknown --arch {arch!r}; choose one of arm64, riscv64, x86_64")
        arch = canonical
    if fs_root is not None and not os.path.isdir(fs_root):
        raise BadInput(f"--fs-root {fs_root}: no such directory")
    for item in env:
        if "=" not in item:
            raise BadInput(f"--env {item!r}: expected K=V")
    if as_json and not stats:
        raise BadInput("--json goes with --stats")
    from vmcli.linux.process import Options
    options = Options(sysroot=sysroot, fs_root=fs_root, strace=sys.stderr if strace else None)
    probes = None
    if trace is not None or stats:
        from vmcli.linux.observe import Probes
        probes = options.probes = Probes(trace, stats)
        options.count_syscalls = stats
    if gdb is not None:
        if probes is not None or timeout is not None:
            raise BadInput("--gdb does not combine with --trace, --stats or --timeout")
        from vmcli.linux.gdb import serve_linux
        outcome = serve_linux(prog, args, arch=arch, options=options, env=env, address=gdb)
    else:
        if timeout is not None:
            start_deadline(timeout)
        outcome = run_linux(prog, args, arch=arch, options=options, env=env)
    if probes is not None:
        probes.close()
        if stats and os.getpid() == probes.pid:
            from vmcli.ui import print_run_stats
            print_run_stats(probes.run_stats(outcome), as_json=as_json)
    finish(outcome)
