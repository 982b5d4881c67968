"""Guest threads: green threads on one Unicorn engine, and the waits that block them.

Unicorn runs one CPU per engine, so all threads of a guest process share it: the running thread's
registers live in the engine, the others' in saved contexts (2-4 us to switch). Atomics stay atomic
because only one thread runs at a time. A thread that would block in a system call is parked on a
`Wait` (file descriptors to become ready, a futex word, a deadline, a signal, a child) and the
others run; the process waits in one host poll() only when no thread can run. A helper thread stops
the engine every SLICE seconds while more than one thread exists, so threads take turns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from vmcli.machine.engine import Context

SLICE = 0.01
CHILD_POLL = 0.05          # a wait for a child looks again this often (SIGCHLD may be ignored)


@dataclass
class Wait:
    """What a blocked thread waits for. When it comes, the system call runs again (`restart`) or
    completes with `wake_result`; at the deadline it completes with `timeout_result`."""

    fds: list[tuple[int, int]] = field(default_factory=list)      # (fd, poll events)
    futex: int | None = None                                      # guest address of the futex word
    bitset: int = 0xFFFF_FFFF
    deadline: float | None = None                                 # time.monotonic()
    timeout_result: int = 0
    signals: int = 0              # rt_sigtimedwait: these (blocked) signals end the wait
    sigmask: int | None = None    # rt_sigsuspend: the mask while waiting
    children: bool = False
    restartable: bool = True      # SA_RESTART restarts it after a handler (else -EINTR)
    forever: bool = False         # pause/sigsuspend: only a signal ends it
    vfork_fd: int = -1            # CLONE_VFORK: the child closes this pipe when it execs or exits
    vfork_child: int = 0
    syscall_pc: int = 0


class Block(Exception):
    """Raised by a system call handler: park the calling thread on `wait`."""

    def __init__(self, wait: Wait) -> None:
        super().__init__()
        self.wait = wait


@dataclass
class GuestThread:
    tid: int
    ctx: Context | None = None
    mask: int = 0
    pending: dict[int, bytes] = field(default_factory=dict)     # thread-directed signals
    altstack: tuple[int, int, int] = (0, 2, 0)                   # ss_sp, ss_flags, ss_size (SS_DISABLE)
    clear_tid: int = 0
    robust_list: int = 0
    wait: Wait | None = None
    result: int | None = None        # complete the parked system call with this on resume
    start: dict[str, int] | None = None   # a new thread's registers, applied when it first runs
    fault_addr: int | None = None
    fault_esr: int = 0
    sigsuspend_mask: int | None = None   # the mask to restore after a handler that ended a sigsuspend

    @property
    def runnable(self) -> bool:
        return self.wait is None


def deadline_after(seconds: float) -> float:
    return time.monotonic() + max(seconds, 0.0)
