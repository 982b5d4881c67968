"""Host signals and vm's own descriptors: every catchable signal is blocked in every thread and read
from a signalfd (with its full siginfo) by one helper thread, the Stopper, which queues it for the
run loop, wakes the loop, and stops the engine exactly when a handler must run. A signal whose default
action ends or stops the process is left to the kernel, so vm dies (or stops) by it. The Stopper also
preempts threads: every SLICE seconds while the process has more than one.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import resource
import select
import signal
import threading
from typing import TYPE_CHECKING

from vmcli.linux import signals as sig
from vmcli.linux.threads import SLICE

if TYPE_CHECKING:
    from vmcli.linux.process import Process

FD_BASE = 900                   # vm's own descriptors live from here up; the guest's stay below
# All signals but SIGKILL, SIGSTOP and glibc's own 32 and 33 (which no glibc program sees).
HANDLER_SIGNALS = [s for s in range(1, 65) if s not in (signal.SIGKILL, signal.SIGSTOP, 32, 33)]

_libc = ctypes.CDLL(None, use_errno=True)


def internal_fd(fd: int) -> int:
    """Move one of vm's own descriptors out of the guest's way (close-on-exec, >= FD_BASE)."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, FD_BASE)
    os.close(fd)
    return new


# -- the signalfd: host signals with their siginfo -----------------------------------------------------
class _SigSet(ctypes.Structure):
    _fields_ = [("val", ctypes.c_ulong * 16)]


def host_sigset(signals: list[int]) -> _SigSet:
    mask = _SigSet()
    for s in signals:
        mask.val[(s - 1) // 64] |= 1 << ((s - 1) % 64)
    return mask


def open_signalfd() -> int:
    signal.pthread_sigmask(signal.SIG_BLOCK, HANDLER_SIGNALS)
    for s in (signal.SIGXFSZ, signal.SIGINT):        # Python's own dispositions: back to the default
        signal.signal(s, signal.SIG_DFL)
    # A write to a broken pipe: the kernel signals the writer before the call returns. The host's
    # SIGPIPE would arrive through the signalfd after the guest went on, so vm ignores it and gives
    # the guest its SIGPIPE itself, with the EPIPE (Process.broken_pipe).
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    fd = _libc.signalfd(-1, ctypes.byref(host_sigset(HANDLER_SIGNALS)), os.O_NONBLOCK | os.O_CLOEXEC)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "signalfd")
    return internal_fd(fd)


class Stopper:
    """The helper thread. It alone reads the signalfd: each signal goes to the run loop's queue (and
    wakes it through a pipe), and the engine is stopped, exactly (BlockStop), when a handler must run.
    A signal whose default action ends or stops the process, and that no thread blocks, is left to
    the kernel: the helper unblocks it in its own thread and raises it, so vm dies (or stops) by it
    exactly as the program would. While the process has more than one thread it also stops the
    engine every SLICE seconds so that threads take turns."""

    def __init__(self, proc: Process) -> None:
        self.proc = proc
        r, w = os.pipe()
        self.ctl_r, self.ctl_w = internal_fd(r), internal_fd(w)
        r, w = os.pipe()
        self.wake_r, self.wake_w = internal_fd(r), internal_fd(w)
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.preempting = False
        self.thread = threading.Thread(target=self._run, name="vm-stopper", daemon=True)
        self.thread.start()

    def poke(self) -> None:
        os.write(self.ctl_w, b"p")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self.ctl_w, b"q")
        self.thread.join(timeout=1)
        for fd in (self.wake_r, self.wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def drain_wake(self) -> None:
        try:
            while os.read(self.wake_r, 256):
                pass
        except OSError:
            pass

    def _run(self) -> None:
        proc = self.proc
        sigfd = proc.sigfd
        while True:
            ready, _, _ = select.select([sigfd, self.ctl_r], [], [], SLICE if self.preempting else None)
            if self.ctl_r in ready:
                if b"q" in os.read(self.ctl_r, 64):
                    os.close(self.ctl_r)
                    os.close(self.ctl_w)
                    return
                continue
            if sigfd in ready:
                try:
                    raw = os.read(sigfd, 128 * 16)
                except OSError:
                    raw = b""
                stop = False
                for at in range(0, len(raw) - 127, 128):
                    signo, info = sig.from_signalfd(raw[at:at + 128])
                    if proc.fatal_by_default(signo):
                        _default_action(signo)
                        continue
                    proc.incoming.append((signo, info))
                    stop = stop or proc.actions[signo].handler not in (sig.SIG_DFL, sig.SIG_IGN)
                with contextlib.suppress(OSError):
                    os.write(self.wake_w, b"s")
                if stop:
                    proc.stop_exactly()
            elif not ready:
                proc.preempt = True
                proc.stop_exactly()


def _default_action(signo: int) -> None:
    """Let the kernel apply a signal's default action to vm: unblock it in this thread, raise it."""
    if signo not in sig.DEFAULT_STOP:
        try:
            _soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
            resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
        except (ValueError, OSError):
            pass
    _libc.signal(signo, ctypes.c_void_p(0))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signo])
    os.kill(os.getpid(), signo)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signo])      # after a stop, vm was continued
