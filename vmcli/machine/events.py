"""Time and wake-ups for a board with interrupt sources: a persistent stopper thread and the host sleep
that stands in for `wfi`.

Unicorn has no way to raise an interrupt line, so interrupts are delivered by the run loop between
`emu_start` slices. What ends a slice when something must happen (a timer deadline passes, input
arrives for a UART whose receive interrupt is enabled, an interrupt is pending while the guest has
it masked) is this thread calling `emu_stop`. Unicorn stops at the next translation-block start with
an exact PC, and forgets an `emu_stop` made while no `emu_start` runs, so the thread repeats it every
`REPEAT_S` until the run loop acknowledges the kick. Nothing runs per instruction or per block.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any

REPEAT_S = 0.001            # an unacknowledged kick is repeated this often (emu_stop may fall between slices)
POLL_MASKED_S = 0.001       # while an interrupt waits for the guest to unmask it, look again this often


class Events:
    """Deadlines (time.monotonic() seconds) and kicks; `stop` is called to end the current slice."""

    def __init__(self, stop: Any) -> None:
        self._stop = stop                    # uc.emu_stop
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._input_fd: int | None = None    # watched for readability while a device waits for input
        self._kicked = 0                     # kicks made; the run loop acknowledges by copying it
        self._acked = 0
        self._closed = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._thread: threading.Thread | None = None
        self.kicks = 0                       # slices ended by this thread (for --stats and the bench)

    @property
    def started(self) -> bool:
        return self._thread is not None

    # -- set by the run loop between slices ---------------------------------------------------------
    def arm(self, deadline: float | None, input_fd: int | None) -> None:
        """The next moment a device changes on its own, and the fd to watch for input (None: none)."""
        with self._cond:
            changed = deadline != self._deadline or input_fd != self._input_fd
            self._deadline, self._input_fd = deadline, input_fd
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="vm-events", daemon=True)
                self._thread.start()
            elif changed:
                self._wake()

    def kick(self) -> None:
        """End the current slice soon (at the next block start): an interrupt became pending. Safe from
        a device callback, where an `emu_stop` of its own would make Unicorn run the access again."""
        with self._cond:
            self._kicked += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="vm-events", daemon=True)
                self._thread.start()
        self._wake()

    def acknowledge(self) -> bool:
        """Called after each slice: True if the thread asked for it to end (something is due)."""
        with self._cond:
            kicked = self._kicked != self._acked
            self._acked = self._kicked
            return kicked

    def sleep(self, deadline: float | None, input_fd: int | None, cancelled: Any) -> None:
        """Block the run loop (the guest executed wfi) until `deadline`, input on `input_fd`, or
        `cancelled()` (Ctrl-C, --timeout) becomes true; wakes at least every 50 ms to look."""
        while not cancelled():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return
            wait = 0.05 if deadline is None else min(0.05, deadline - now)
            fds = [self._wake_r] + ([input_fd] if input_fd is not None else [])
            try:
                ready, _, _ = select.select(fds, [], [], wait)
            except (OSError, ValueError):
                return
            if input_fd is not None and input_fd in ready:
                return
            if self._wake_r in ready:
                self._drain()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._wake()
        if self._thread is not None:
            self._thread.join(timeout=1)
        os.close(self._wake_r)
        os.close(self._wake_w)

    # -- the thread ---------------------------------------------------------------------------------
    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"\0")

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self._wake_r, 4096)

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                deadline, input_fd = self._deadline, self._input_fd
                pending = self._kicked != self._acked
            now = time.monotonic()
            if pending:
                self._stop()                 # repeat until the loop has seen it
                wait: float | None = REPEAT_S
            elif deadline is not None and now >= deadline:
                self._kick()
                continue
            else:
                wait = None if deadline is None else deadline - now
            fds = [self._wake_r] + ([input_fd] if input_fd is not None and not pending else [])
            try:
                ready, _, _ = select.select(fds, [], [], wait)
            except (OSError, ValueError):
                ready = []
                with self._cond:
                    self._input_fd = None    # the input went away: stop watching it
            if self._wake_r in ready:
                self._drain()
            if input_fd is not None and input_fd in ready:
                with self._cond:
                    self._input_fd = None    # the run loop re-arms it once the input is read
                self._kick()

    def _kick(self) -> None:
        with self._cond:
            self._kicked += 1
            self.kicks += 1
        self._stop()


class ReplayGuard:
    """Unicorn runs a device access again when a slice is stopped around it: measured with a loop of
    MMIO loads and a thread calling `emu_stop` every 0.2 ms (bench/replay_probe.py), nearly every stop
    made the interrupted load reach its callback twice. A second read of an interrupt acknowledge or a
    receive FIFO would lose an interrupt or a byte, so the first access after a stopped slice that
    repeats the last access before it (same window, offset, size and, for a write, value) is answered
    from the record instead of reaching the device again."""

    def __init__(self) -> None:
        self.armed = False
        self.last: tuple[int, int, int, int | None] | None = None   # (window id, offset, size, written value)
        self.last_value = 0
        self.replays = 0

    def read(self, window: int, offset: int, size: int, do_read: Callable[[], int]) -> int:
        key = (window, offset, size, None)
        if self.armed:
            self.armed = False
            if key == self.last:
                self.replays += 1
                return self.last_value
        self.last = key
        self.last_value = do_read()
        return self.last_value

    def write(self, window: int, offset: int, size: int, value: int, do_write: Callable[[], None]) -> None:
        key = (window, offset, size, value)
        if self.armed:
            self.armed = False
            if key == self.last:
                self.replays += 1
                return
        self.last = key
        do_write()
