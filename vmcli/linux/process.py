"""One guest process: its engine, address space, threads and signals, and the run loop.

The guest runs in `emu_start` with no Python per instruction or block. Python runs when the guest
traps: a system call enters `_on_syscall` through a raw libunicorn hook (the registers come in one
batch), faults and other exceptions stop the engine and become signals in the run loop.

Host signals never interrupt the emulator: they are blocked in every thread and read from a
signalfd (with their full siginfo). A helper thread watches that signalfd and stops the engine when
one arrives, and, while the process has more than one thread, every SLICE seconds so that threads
take turns. No guest system call blocks the host: a call that would block parks its thread on a
Wait (threads.py), and when no thread can run the run loop sleeps in one poll() on the waited-for
descriptors and the signalfd.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import unicorn

from vmcli.errors import BadInput
from vmcli.linux import signals as sig
from vmcli.linux.arch import LinuxArch
from vmcli.linux.hostsignals import HANDLER_SIGNALS, Stopper, open_signalfd
from vmcli.linux.loader import ElfInfo, Loaded, build_stack, load_program, map_sigpage
from vmcli.linux.memory import AddressSpace, GuestFault
from vmcli.linux.observe import Probes
from vmcli.linux.paths import Paths
from vmcli.linux.threads import CHILD_POLL, Block, GuestThread, Wait
from vmcli.machine.cpu import Cpu
from vmcli.machine.engine import (
    INSN_HOOK,
    INTR_HOOK,
    INVALID_HOOK,
    MEM_HOOK,
    Context,
    Hooks,
    Reg,
    RegBatch,
    engine_fast,
)
from vmcli.machine.stops import ExactStop, check_free_stop

UNREACHABLE = 0xFFFF_FFFF_FFFF_FFFE
MASK64 = 0xFFFF_FFFF_FFFF_FFFF
CURRENT: Process | None = None  # the process this host process runs

_libc = ctypes.CDLL(None, use_errno=True)


# Calls whose EPIPE comes with a SIGPIPE.
PIPE_WRITERS = frozenset({"write", "writev", "pwrite64", "pwritev", "pwritev2", "sendto", "sendmsg", "sendfile",
                          "splice", "vmsplice", "copy_file_range", "tee", "sendmmsg"})


class ExitGroup(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class ThreadExit(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class ExecRequest(Exception):
    """execve of a guest program: the run loop replaces the process image."""

    def __init__(self, path: str, argv: list[bytes], envp: list[bytes], execfn: bytes) -> None:
        super().__init__(path)
        self.path, self.argv, self.envp, self.execfn = path, argv, envp, execfn


@dataclass
class Options:
    sysroot: str | None = None
    fs_root: str | None = None
    strace: TextIO | None = None
    probes: Probes | None = None                       # --trace, --stats
    count_syscalls: bool = False
    vm_argv: list[str] = field(default_factory=list)   # how to start vm again (exec of another arch)


@dataclass
class Outcome:
    status: int = 0
    signal: int = 0                  # killed by this signal (status is then 128 + signal)
    exec_native: tuple[str, list[bytes], list[bytes]] | None = None
    syscalls: dict[str, int] = field(default_factory=dict)
    unknown: dict[str, int] = field(default_factory=dict)


class Process:
    def __init__(self, arch: LinuxArch, options: Options, *, paths: Paths | None = None) -> None:
        self.arch = arch
        self.options = options
        self.paths = paths or Paths(arch, options.sysroot, options.fs_root)
        self.cpu = Cpu(arch.name)
        self.uc = uc = self.cpu.uc
        self.mem = AddressSpace(uc)
        self.pid = os.getpid()
        self.hooks = Hooks(uc)
        self.sysregs = RegBatch(uc, [arch.nr, *arch.args])
        self.ret = Reg(uc, arch.ret)
        self.pcreg = Reg(uc, arch.spec.pc)
        self.spreg = Reg(uc, arch.spec.sp)
        self.tlsreg = Reg(uc, arch.tls)
        self.table = build_table(arch)
        self.threads: list[GuestThread] = []
        self.current: GuestThread | None = None
        self.actions = [sig.Action() for _ in range(sig.NSIG + 1)]
        self.pending: dict[int, bytes] = {}              # process-directed signals
        self.outcome: Outcome | None = None
        self.exec_request: ExecRequest | None = None
        self.error: BaseException | None = None
        self.preempt = False
        self.reschedule = False
        self.pc_set_in_hook = False
        self.trap: tuple[int, int, int] | None = None    # (signal, si_code, address) from a hook
        self.mem_fault: tuple[int, int] | None = None    # (access, address)
        self.exe = ""
        self.argv: list[bytes] = []
        self.envp: list[bytes] = []
        self.auxv: list[tuple[int, int]] = []
        self.sigpage = 0
        self.sigfd = -1
        self.stopper: Stopper | None = None
        self.running = False
        self.calls: dict[str, int] = {}
        self.unknown: dict[str, int] = {}
        self.next_thread = 1
        self.vfork_done_fd = -1         # a CLONE_VFORK child: closed when it execs or exits
        self.incoming: list[tuple[int, bytes]] = []     # host signals, from the helper thread
        self.pause_handlers: list[Callable[[], bool]] = []   # probes that stop the engine to drain
        self.quiet_fds: set[int] = set()                # descriptors that never block (files.py)
        self.exact: ExactStop | None = None             # exact stops from other threads (chosen at the first run)
        self.want_exact = False
        self.debugged = False                           # a debugger's hooks stop the guest at instructions
        self.syscall_intno = next((n for n, k in arch.traps.items() if k == "syscall"), -1)
        self.on_syscall = self._fast_syscall_hook()
        self._install_hooks()

    # -- set-up ----------------------------------------------------------------------------------------
    def _install_hooks(self) -> None:
        h, arch = self.hooks, self.arch
        if arch.syscall_insn_hook is not None:
            h.add(unicorn.UC_HOOK_INSN, INSN_HOOK, self._insn_entry, extra=arch.syscall_insn_hook)
        h.add(unicorn.UC_HOOK_INTR, INTR_HOOK, self._intr_entry)
        self._bad_access = MEM_HOOK(self._on_bad_access)
        self.mem.fault_hooks.add(unicorn.UC_HOOK_MEM_UNMAPPED | unicorn.UC_HOOK_MEM_PROT,
                                 ctypes.cast(self._bad_access, ctypes.c_void_p).value or 0)
        if arch.invalid_insn_hook:
            h.add(unicorn.UC_HOOK_INSN_INVALID, INVALID_HOOK, self._on_invalid)

    def load(self, path: str, info: ElfInfo, argv: list[bytes], envp: list[bytes], execfn: bytes) -> Loaded:
        """Map the program (and its interpreter) and build the initial stack and registers."""
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            interp = None
            if info.interp is not None:
                interp_path = self.paths.interpreter(info.interp, path)
                idata = _read_head(interp_path)
                from vmcli.linux.loader import parse_elf
                iinfo = parse_elf(interp_path, idata, what=f"{path}: interpreter {interp_path}",
                                  file_size=os.path.getsize(interp_path))
                if iinfo.arch is not info.arch:
                    raise BadInput(f"{path}: interpreter {interp_path} is for {iinfo.arch.name}, not {info.arch.name}")
                ifd = os.open(interp_path, os.O_RDONLY | os.O_CLOEXEC)
                interp = (iinfo, ifd)
            try:
                loaded = load_program(self.mem, info, fd, interp)
            finally:
                if interp is not None:
                    os.close(interp[1])
        finally:
            os.close(fd)
        self.sigpage = map_sigpage(self.mem, self.arch)
        build_stack(self.mem, self.arch, info, loaded, argv, envp, execfn)
        self.exe = os.path.abspath(path)
        self.argv, self.envp, self.auxv = argv, envp, loaded.auxv
        self.pcreg.set(loaded.entry)
        self.spreg.set(loaded.sp)
        for reg, bits in self.arch.cpu_setup:
            self.uc.reg_write(reg, int(self.uc.reg_read(reg)) | bits)
        if not self.threads:
            main = GuestThread(tid=self.pid)
            self.threads = [main]
            self.current = main
        return loaded

    # -- hooks -------------------------------------------------------------------------------------------
    def stop_engine(self) -> None:
        """Stop the engine from inside a hook (exact there: the hook runs between instructions)."""
        self.uc.emu_stop()

    def stop_exactly(self) -> None:
        """From another thread: stop at the next block start (nothing happens without an exact
        stopper: stops from another thread would not be exact, and the process then has nothing to
        stop for)."""
        if self.exact is not None:
            self.exact.request()

    def need_exact_stops(self) -> None:
        """A handler or a second thread: from now on other threads may need to stop the engine."""
        if self.exact is None and not self.want_exact:
            self.want_exact = True
            self.reschedule = True
            self.stop_engine()

    def fatal_by_default(self, signo: int) -> bool:
        """Whether the signal's default action ends or stops the process and a thread would take it now."""
        if self.actions[signo].handler != sig.SIG_DFL or signo in sig.DEFAULT_IGNORE:
            return False
        return any(not t.mask & sig.bit(signo) and (t.wait is None or t.wait.sigmask is None
                                                     or not t.wait.sigmask & sig.bit(signo))
                   and not (t.wait is not None and t.wait.signals & sig.bit(signo)) for t in list(self.threads))

    def _fast_syscall_hook(self) -> Callable[[], None]:
        """The system call path, with everything it touches bound once: ~1.5 us for a getpid. Unicorn
        calls it directly (as the INTR hook's body, or the x86 syscall instruction's hook)."""
        batch = self.sysregs
        read, handle, ids, ptrs, n = batch.read_fn, batch.handle, batch.ids, batch.ptrs, batch.count
        vals = memoryview(batch.values).cast("B").cast("Q")     # item access ~2x faster than ctypes
        table, size = self.table, len(self.table)
        ret_value = ctypes.c_uint64()
        ret_ref = ctypes.byref(ret_value)
        ret_id = self.arch.ret
        write = engine_fast.uc_reg_write
        options = self.options
        proc = self
        pipe_writers = {self.arch.names[n] for n in PIPE_WRITERS if n in self.arch.names}

        def on_syscall() -> None:
            read(handle, ids, ptrs, n)
            nr = vals[0]
            handler = table[nr] if nr < size else None
            if handler is None or options.strace is not None or options.count_syscalls:
                proc._on_syscall()
                return
            try:
                result = handler(proc, vals[1], vals[2], vals[3], vals[4], vals[5], vals[6])
            except OSError as exc:
                result = -(exc.errno or errno.EIO)
            except GuestFault:
                result = -errno.EFAULT
            except Block as block:
                proc._park(block.wait)
                return
            except (ExitGroup, ThreadExit, ExecRequest) as exc:
                proc._end_request(exc)
                return
            except BaseException as exc:
                proc._hook_failed(exc)
                return
            if result is not None:
                if result == -errno.EPIPE and nr in pipe_writers:
                    proc.broken_pipe(nr)
                ret_value.value = result & MASK64
                write(handle, ret_id, ret_ref)
            if proc.pc_set_in_hook:
                proc._pc_fixup()

        self._syscall_body = on_syscall
        syscall_intno = self.syscall_intno
        other = self._on_interrupt

        def on_intr(uc: Any, intno: int, user: Any) -> None:
            if intno == syscall_intno:
                on_syscall()
            else:
                other(uc, intno, user)

        def on_insn(uc: Any, user: Any) -> None:
            on_syscall()

        self._intr_entry, self._insn_entry = on_intr, on_insn
        return on_syscall

    def _pc_fixup(self) -> None:
        self.pc_set_in_hook = False
        if self.arch.hook_pc_at_insn:      # Unicorn adds the instruction's length after the hook
            self.pcreg.set(self.pcreg.get() - self.arch.syscall_len)
        # After a PC written in a hook Unicorn leaves a later stop at a block start without
        # restoring the PC from the block (skip_sync_pc_on_exit stays set for the rest of
        # emu_start): an exact stop from another thread would resume at a stale PC. End the slice.
        self.reschedule = True
        self.stop_engine()

    def _on_interrupt(self, uc: Any, intno: int, user: Any) -> None:
        """A CPU exception other than a system call: a synchronous signal for the current thread."""
        try:
            kind = self.arch.traps.get(intno)
            pc = self.pcreg.get()
            if intno in self.arch.intr_pc_after:
                pc -= 4
                self.pcreg.set(pc)
            signo, code = kind if isinstance(kind, tuple) else (sig.SIGILL, self.arch.ill_code)
            addr = 0 if signo in self.arch.addressless else pc
            self.trap = (signo, code, addr)
            self.stop_engine()
        except BaseException as exc:       # never let an exception vanish inside a C callback
            self._hook_failed(exc)

    def _on_invalid(self, uc: Any, user: Any) -> bool:
        pc = self.pcreg.get()
        try:
            word = int.from_bytes(self.mem.read(pc, 4), "little")
        except GuestFault:
            word = 0
        self.trap = (sig.SIGTRAP, sig.TRAP_BRKPT, pc) if word == 0x00100073 else (sig.SIGILL, sig.ILL_ILLOPC, pc)
        self.stop_engine()
        return True

    def _on_bad_access(self, uc: Any, access: int, address: int, size: int, value: int, user: Any) -> bool:
        self.mem_fault = (access, address)
        return False

    def _hook_failed(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        self.stop_engine()

    def _on_syscall(self) -> None:
        try:
            v = self.sysregs.read()
            nr = v[0]
            handler = self.table[nr] if nr < len(self.table) else None
            trace = self.options.strace
            if self.options.count_syscalls and handler is not None:
                name = self.arch.numbers[nr]
                self.calls[name] = self.calls.get(name, 0) + 1
            if handler is None:
                name = self.arch.numbers.get(nr, f"syscall_{nr}")
                self.unknown[name] = self.unknown.get(name, 0) + 1
                result: int | None = -errno.ENOSYS
            else:
                try:
                    result = handler(self, v[1], v[2], v[3], v[4], v[5], v[6])
                except OSError as exc:
                    result = -(exc.errno or errno.EIO)
                except GuestFault:
                    result = -errno.EFAULT
                except Block as block:
                    self._park(block.wait)
                    if trace is not None:
                        trace_call(self, nr, v, None)
                    return
            if trace is not None:
                trace_call(self, nr, v, result)
            if result is not None:
                if result == -errno.EPIPE and self.arch.numbers.get(nr) in PIPE_WRITERS:
                    self.broken_pipe(nr)
                self.ret.set(result)
            if self.pc_set_in_hook:
                self._pc_fixup()
        except (ExitGroup, ThreadExit, ExecRequest) as exc:
            if self.options.strace is not None and not isinstance(exc, ExecRequest):
                trace_call(self, self.sysregs.values[0], self.sysregs.values[:], None)
            self._end_request(exc)
        except BaseException as exc:
            self._hook_failed(exc)

    def broken_pipe(self, nr: int) -> None:
        """A write-like call failed with EPIPE: SIGPIPE for the calling thread, taken before its next
        instruction (unless a send asked for MSG_NOSIGNAL)."""
        name = self.arch.numbers.get(nr, "")
        if name in ("sendto", "sendmsg") and self.sysregs.values[3] & 0x4000:
            return
        t = self.current
        if t is not None:
            self.queue_signal(sig.SIGPIPE, sig.siginfo(sig.SIGPIPE, sig.SI_USER, pid=self.pid, uid=os.getuid()),
                              thread=t)
            self.reschedule = True
            self.stop_engine()

    def count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def syscall_pc(self) -> int:
        """Inside the syscall hook: the address of the system call instruction."""
        pc = self.pcreg.get()
        return pc if self.arch.hook_pc_at_insn else pc - self.arch.syscall_len

    def set_pc_in_hook(self, pc: int) -> None:
        self.pcreg.set(pc)
        self.pc_set_in_hook = True

    def _park(self, wait: Wait) -> None:
        """Block the current thread; it resumes at the system call instruction (a restart) unless the
        wait completes it with a result."""
        t = self.current
        assert t is not None
        wait.syscall_pc = self.syscall_pc()
        self.set_pc_in_hook(wait.syscall_pc)
        if self.arch.hook_pc_at_insn:
            self.pcreg.set(wait.syscall_pc - self.arch.syscall_len)
            self.pc_set_in_hook = False
        else:
            self.pc_set_in_hook = False
        t.wait = wait
        self.reschedule = True
        self.stop_engine()

    def _end_request(self, exc: BaseException) -> None:
        if isinstance(exc, ExitGroup):
            self.outcome = Outcome(status=exc.status & 0xFF)
        elif isinstance(exc, ThreadExit):
            self._thread_exit(exc.status)
        elif isinstance(exc, ExecRequest):
            self.exec_request = exc
        self.reschedule = True
        self.stop_engine()

    def _thread_exit(self, status: int) -> None:
        t = self.current
        assert t is not None
        if t.clear_tid:
            try:
                self.mem.put_u32(t.clear_tid, 0)
                from vmcli.linux.syscalls.futex import futex_wake
                futex_wake(self, t.clear_tid, 1, 0xFFFF_FFFF)
            except GuestFault:
                pass
        self.threads.remove(t)
        if t.ctx is not None:
            t.ctx.free()
        self.current = None
        if not self.threads:
            self.outcome = Outcome(status=status & 0xFF)
        elif self.stopper is not None:
            self.stopper.preempting = len(self.threads) > 1

    # -- fork and exec ------------------------------------------------------------------------------------
    def after_fork_child(self) -> None:
        """In the child of a fork: one thread (the caller), no pending signals, a new helper thread."""
        cur = self.current
        assert cur is not None
        self.pid = os.getpid()
        cur.tid = self.pid
        for t in self.threads:
            if t is not cur and t.ctx is not None:
                t.ctx.free()
        self.threads = [cur]
        self.pending = {}
        cur.pending = {}
        self.next_thread = 1
        if self.options.probes is not None:
            self.options.probes.forget(self)
            self.options.probes = None
            self.options.count_syscalls = False
        old = self.stopper
        if old is not None:                    # its thread did not survive the fork
            for fd in (old.ctl_r, old.ctl_w, old.wake_r, old.wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.stopper = Stopper(self)

    def exec_native(self, path: str, argv: list[bytes], envp: list[bytes]) -> None:
        """execve of a host program: the process becomes it, with the guest's signal state."""
        t = self.current
        assert t is not None
        for s in HANDLER_SIGNALS:
            with contextlib.suppress(OSError, ValueError):
                signal.signal(s, signal.SIG_IGN if self.actions[s].handler == sig.SIG_IGN else signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [s for s in HANDLER_SIGNALS if t.mask & sig.bit(s)])
        env = {key: value for key, _, value in (e.partition(b"=") for e in envp)}
        try:
            os.execve(path, argv or [path.encode()], env)
        except OSError:
            signal.pthread_sigmask(signal.SIG_BLOCK, HANDLER_SIGNALS)
            raise

    # -- threads -----------------------------------------------------------------------------------------
    def new_tid(self) -> int:
        """Thread ids of green threads: unique per process, below FUTEX_TID_MASK (2^30)."""
        n = self.next_thread
        self.next_thread += 1
        return (1 << 29) | ((self.pid & 0x3FFFFF) << 7) | (n & 0x7F)

    def add_thread(self, t: GuestThread) -> None:
        t.ctx = Context(self.uc)
        t.ctx.save()
        self.threads.append(t)
        self.need_exact_stops()
        if self.stopper is not None:
            self.stopper.preempting = True
            self.stopper.poke()

    def _switch(self, t: GuestThread) -> None:
        cur = self.current
        if cur is t:
            return
        if cur is not None:
            if cur.ctx is None:
                cur.ctx = Context(self.uc)
            cur.ctx.save()
        assert t.ctx is not None
        t.ctx.restore()
        self.current = t
        if t.start is not None:
            start, t.start = t.start, None
            self.pcreg.set(start["pc"])
            if "sp" in start:
                self.spreg.set(start["sp"])
            if "tls" in start:
                self.tlsreg.set(start["tls"])
            self.ret.set(0)

    def _apply_result(self, t: GuestThread) -> None:
        if t.result is not None:
            self.ret.set(t.result)
            self.pcreg.set(self.pcreg.get() + self.arch.syscall_len)
            t.result = None

    # -- signals -----------------------------------------------------------------------------------------
    def _drain_signals(self) -> None:
        while self.incoming:
            signo, info = self.incoming.pop(0)
            if signo == sig.SIGCHLD:
                self._wake_children()
            self.queue_signal(signo, info)

    def queue_signal(self, signo: int, info: bytes, thread: GuestThread | None = None) -> None:
        """A signal for the process (or one thread). Ignored signals are dropped here, as the kernel
        does, unless blocked (a handler may be installed by the time they are unblocked)."""
        action = self.actions[signo]
        b = sig.bit(signo)
        blocked = thread.mask & b if thread is not None else all(t.mask & b for t in self.threads)
        ignored = action.handler == sig.SIG_IGN or (action.handler == sig.SIG_DFL and signo in sig.DEFAULT_IGNORE)
        if not blocked and ignored and not any(t.wait and t.wait.signals & b for t in self.threads):
            return
        target = thread.pending if thread is not None else self.pending
        if signo < 32 and signo in target:
            return                          # standard signals do not queue
        target[signo] = info
        if signo == sig.SIGKILL:
            self.outcome = Outcome(status=128 + signo, signal=signo)

    def _wake_children(self) -> None:
        for t in self.threads:
            if t.wait is not None and t.wait.children:
                t.wait = None               # wait4 runs again

    def _deliverable(self, t: GuestThread) -> int:
        mask = t.mask if t.wait is None or t.wait.sigmask is None else t.wait.sigmask
        for pending in (t.pending, self.pending):
            for s in sorted(pending):
                if not mask & sig.bit(s) or s in (sig.SIGKILL, sig.SIGSTOP):
                    return s
        return 0

    def _take(self, t: GuestThread, s: int) -> bytes:
        if s in t.pending:
            return t.pending.pop(s)
        return self.pending.pop(s)

    def _signal_waiters(self) -> None:
        """Wake threads whose wait a pending signal ends: rt_sigtimedwait runs again and takes it; a
        handler interrupts other waits (the call is restarted after it, or fails with EINTR)."""
        for t in self.threads:
            w = t.wait
            if w is None:
                continue
            if w.signals and any(w.signals & sig.bit(s) for s in (*t.pending, *self.pending)):
                t.wait = None
                continue
            s = self._deliverable(t)
            if not s:
                continue
            action = self.actions[s]
            if action.handler == sig.SIG_IGN or (action.handler == sig.SIG_DFL and s in sig.DEFAULT_IGNORE):
                self._take(t, s)          # nothing to do; the wait goes on
                continue
            if w.sigmask is not None:     # sigsuspend, ppoll, pselect: the frame saves the old mask
                t.sigsuspend_mask = t.mask
                t.mask = w.sigmask
            restart = w.restartable and action.flags & sig.SA_RESTART and not w.forever
            t.result = None if restart else -errno.EINTR
            if w.vfork_fd >= 0:
                os.close(w.vfork_fd)
            t.wait = None

    def _deliver(self, t: GuestThread) -> None:
        """Deliver the signals t can take now: default actions, or a handler frame each."""
        while self.outcome is None:
            s = self._deliverable(t)
            if not s:
                return
            info = self._take(t, s)
            action = self.actions[s]
            if action.handler == sig.SIG_IGN:
                continue
            if action.handler == sig.SIG_DFL:
                if s in sig.DEFAULT_IGNORE:
                    continue
                if s in sig.DEFAULT_STOP:
                    self._stop_self(s)
                    continue
                self.outcome = Outcome(status=128 + s, signal=s)
                return
            old_mask = t.mask if t.sigsuspend_mask is None else t.sigsuspend_mask
            t.sigsuspend_mask = None
            self._apply_result(t)
            sig.build_frame(self, t, s, info, action, old_mask)
            t.fault_addr = None
            t.mask |= action.mask
            if not action.flags & sig.SA_NODEFER:
                t.mask |= sig.bit(s)
            t.mask &= ~sig.UNBLOCKABLE
            if action.flags & sig.SA_RESETHAND:
                self.actions[s] = sig.Action()

    def _stop_self(self, s: int) -> None:
        """A stop signal with the default action: stop vm itself, as the guest would stop."""
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGCONT])
        os.kill(os.getpid(), signal.SIGSTOP)
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCONT])

    # -- the run loop -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Before the first instruction: the signalfd, the helper thread, the probes."""
        global CURRENT
        CURRENT = self
        self.sigfd = open_signalfd() if self.sigfd < 0 else self.sigfd
        self.stopper = Stopper(self)
        self.stopper.preempting = len(self.threads) > 1
        if self.options.probes is not None:
            self.options.probes.attach(self)
        if self.want_exact or len(self.threads) > 1 or any(a.handler > 1 for a in self.actions):
            self.want_exact = True

    def finish(self) -> None:
        if self.options.probes is not None:
            self.options.probes.detach(self)
        if self.stopper is not None:
            self.stopper.close()
            self.stopper = None

    def run(self) -> Outcome:
        self.start()
        try:
            return self._loop()
        finally:
            self.finish()

    def _loop(self) -> Outcome:
        while self.iterate() != "ended":
            pass
        return self.result()

    def result(self) -> Outcome:
        if self.exec_request is not None:
            return Outcome()
        assert self.outcome is not None
        self.outcome.syscalls = self.calls
        self.outcome.unknown = self.unknown
        return self.outcome

    def iterate(self, count: int = 0) -> str:
        """One turn of the run loop: take signals, pick a thread, run it once (up to `count`
        instructions; 0: no limit). Returns "ended" (exit, death or execve), "waited" (no thread
        could run), "fault" (a fault became a pending signal), "internal" (the engine stopped for the
        loop itself: a parked thread, a signal, preemption) or "stopped" (something else stopped it:
        a debugger's breakpoint or an instruction count)."""
        uc = self.uc
        self._drain_signals()
        if self.outcome is not None or self.exec_request is not None:
            return "ended"
        self._signal_waiters()
        t = self._pick()
        if t is None:
            self._wait_events()
            return "waited"
        self._switch(t)
        self._deliver(t)
        if self.outcome is not None:
            return "ended"
        self._apply_result(t)
        if self.exact is None and not self.debugged and not self.pause_handlers:
            self.exact = check_free_stop(uc, self.arch.name, self.mem.fault_hooks)
        if self.want_exact and self.exact is None:
            from vmcli.debug.exact_stop import BlockStop
            self.exact = BlockStop(uc)
        self.reschedule = self.preempt = False
        self.mem_fault = None
        error: unicorn.UcError | None = None
        try:
            uc.emu_start(self.pcreg.get(), UNREACHABLE, count=count)
        except unicorn.UcError as exc:
            error = exc
        if error is None and self.exact is not None:
            error = self.exact.write_fault()
        if self.error is not None:
            raise self.error
        if self.pause_handlers:
            for handler in self.pause_handlers:
                handler()
        outcome = "stopped"
        if self.trap is not None:
            signo, code, addr = self.trap
            self.trap = None
            self._sync_fault(signo, code, addr)
            outcome = "fault"
        elif error is not None and self.current is not None:
            self._fault_from(error)
            outcome = "fault"
        if self.preempt and self.current is not None and len(self.threads) > 1:
            self._rotate()
        if self.outcome is not None or self.exec_request is not None:
            return "ended"
        if outcome == "stopped" and (self.reschedule or self.preempt or self.current is None
                                     or self.current.wait is not None):
            return "internal"
        return outcome

    def _rotate(self) -> None:
        t = self.current
        if t in self.threads:
            self.threads.remove(t)
            self.threads.append(t)

    def _pick(self) -> GuestThread | None:
        cur = self.current
        if cur is not None and cur.wait is None and not self.preempt:
            return cur
        self._poll_waits(0)
        for t in self.threads:
            if t.wait is None:
                return t
        return None

    def _poll_waits(self, timeout: float | None) -> None:
        """One poll() over what the parked threads wait for (and the signalfd); wake those whose
        descriptors are ready or whose deadline passed."""
        assert self.stopper is not None
        fds: dict[int, int] = {self.stopper.wake_r: select.POLLIN}
        now = time.monotonic()
        soonest = timeout
        for t in self.threads:
            w = t.wait
            if w is None:
                continue
            for fd, events in w.fds:
                if fd >= 0:
                    fds[fd] = fds.get(fd, 0) | events
            if w.vfork_fd >= 0:
                fds[w.vfork_fd] = fds.get(w.vfork_fd, 0) | select.POLLIN
            if w.deadline is not None:
                left = max(0.0, w.deadline - now)
                soonest = left if soonest is None else min(soonest, left)
            if w.children:
                soonest = CHILD_POLL if soonest is None else min(soonest, CHILD_POLL)
        poller = select.poll()
        for fd, events in fds.items():
            poller.register(fd, events)
        try:
            ready = dict(poller.poll(None if soonest is None else max(0, int(soonest * 1000 + 0.999))))
        except InterruptedError:
            ready = {}
        now = time.monotonic()
        for t in self.threads:
            w = t.wait
            if w is None:
                continue
            if any(fd >= 0 and fd in ready for fd, _ in w.fds):
                t.wait = None                       # run the call again: it will not block now
            elif w.vfork_fd >= 0 and w.vfork_fd in ready:
                os.close(w.vfork_fd)
                t.wait = None
                t.result = w.vfork_child
            elif w.deadline is not None and now >= w.deadline:
                t.wait = None
                t.result = w.timeout_result
            elif w.children and soonest == CHILD_POLL and not ready:
                t.wait = None
        if self.stopper.wake_r in ready:
            self.stopper.drain_wake()
        self._drain_signals()

    def _wait_events(self) -> None:
        if not self.threads:
            self.outcome = self.outcome or Outcome()
            return
        self._poll_waits(None)

    # -- faults -------------------------------------------------------------------------------------------
    def _fault_from(self, error: unicorn.UcError) -> None:
        pc = self.pcreg.get()
        if self.mem_fault is None and error.errno == unicorn.UC_ERR_FETCH_PROT:
            self.mem_fault = (unicorn.UC_MEM_FETCH_PROT, pc)     # from a writable page: no hook there
        if self.mem_fault is not None:
            access, addr = self.mem_fault
            code = sig.SEGV_ACCERR if access in (unicorn.UC_MEM_READ_PROT, unicorn.UC_MEM_WRITE_PROT,
                                                 unicorn.UC_MEM_FETCH_PROT) else sig.SEGV_MAPERR
            write = access in (unicorn.UC_MEM_WRITE_UNMAPPED, unicorn.UC_MEM_WRITE_PROT)
            esr = (0x24 << 26) | (1 << 25) | ((1 << 6) if write else 0) | (0x7 if code == sig.SEGV_MAPERR else 0xF)
            if access in (unicorn.UC_MEM_FETCH_UNMAPPED, unicorn.UC_MEM_FETCH_PROT):
                esr = (0x20 << 26) | (1 << 25) | (0x7 if code == sig.SEGV_MAPERR else 0xF)
            if self.arch.name == "x86_64":
                esr = 4 | (2 if write else 0) | (1 if code == sig.SEGV_ACCERR else 0) | (
                    16 if access in (unicorn.UC_MEM_FETCH_UNMAPPED, unicorn.UC_MEM_FETCH_PROT) else 0)
            self._sync_fault(sig.SIGSEGV, code, addr, esr)
        elif error.errno in (unicorn.UC_ERR_READ_UNALIGNED, unicorn.UC_ERR_WRITE_UNALIGNED,
                             unicorn.UC_ERR_FETCH_UNALIGNED):
            self._sync_fault(sig.SIGBUS, sig.BUS_ADRALN, pc)
        elif error.errno == unicorn.UC_ERR_INSN_INVALID:
            self._sync_fault(sig.SIGILL, self.arch.ill_code, pc)
        else:
            self._sync_fault(sig.SIGSEGV, sig.SI_KERNEL, 0)

    def _sync_fault(self, signo: int, code: int, addr: int, esr: int = 0) -> None:
        """A synchronous signal for the current thread: if it is blocked or ignored, the kernel kills
        the process with it (force_sig_fault)."""
        t = self.current
        assert t is not None
        action = self.actions[signo]
        if t.mask & sig.bit(signo) or action.handler == sig.SIG_IGN:
            self.actions[signo] = sig.Action()
            t.mask &= ~sig.bit(signo)
        t.fault_addr = addr
        t.fault_esr = esr
        t.pending[signo] = sig.siginfo(signo, code, addr=addr)


def _read_head(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(1 << 20)
    except OSError as exc:
        raise BadInput(f"{path}: {exc.strerror}") from None


def build_table(arch: LinuxArch) -> list[Callable[..., int | None] | None]:
    from vmcli.linux.syscalls import HANDLERS, load_all
    load_all()
    size = max(arch.numbers) + 1
    table: list[Callable[..., int | None] | None] = [None] * size
    for nr, name in arch.numbers.items():
        table[nr] = HANDLERS.get(name)
    return table


def trace_call(p: Process, nr: int, values: list[int], result: int | None) -> None:
    from vmcli.linux.strace import format_call
    out = p.options.strace
    if out is not None:
        out.write(format_call(p, nr, values, result) + "\n")
        out.flush()


def guest_environment(extra: list[str]) -> list[bytes]:
    """The host's environment (as qemu-user passes it) plus --env K=V. Python's locale coercion
    (PEP 538) adds LC_CTYPE=C.UTF-8 when the locale is C: that one is vm's, not the user's."""
    env = dict(os.environb)
    if env.get(b"LC_CTYPE") == b"C.UTF-8" and b"LC_ALL" not in env and env.get(b"LANG", b"C") in (b"C", b"POSIX"):
        env.pop(b"LC_CTYPE")
    for item in extra:
        key, _, value = item.partition("=")
        env[key.encode()] = value.encode()
    return [k + b"=" + v for k, v in env.items()]
