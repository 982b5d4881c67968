"""What every device shares: a window of registers, an access counter, and the host it reports to."""

from __future__ import annotations

import contextlib
import os
import select
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Stop:
    """Why the guest stopped, as a device or the run loop saw it."""

    status: int
    reason: str                      # "exit", "fault", "reset", "timeout", "insn-limit", "halted"
    detail: str = ""


class Console:
    """The guest's terminal: UART and semihosting output to a file descriptor, input from another.

    Output is written straight through (one `os.write` per guest write) so a guest that prints and
    then hangs has already shown its output. Input is polled, never waited for, on the status path.
    A terminal on stdin is put in cbreak mode (no line buffering or local echo: the guest echoes, as
    on a serial line) the first time the guest looks for input, and restored by `close`.
    """

    def __init__(self, out_fd: int | None = None, in_fd: int | None = None, err_fd: int | None = None) -> None:
        self.out_fd = 1 if out_fd is None else out_fd
        self.err_fd = 2 if err_fd is None else err_fd
        self.output_error: OSError | None = None
        self.on_output_error: Callable[[OSError], None] | None = None   # the machine stops the guest
        self.in_fd = in_fd if in_fd is not None else _stdin_fd()
        self.cancelled = False           # set from another thread to end a waiting read (Ctrl-C)
        self.deadline: float | None = None   # time.monotonic() past which a waiting read gives up (--timeout)
        self._pending = bytearray()
        self._eof = False
        self._saved_tty: list[Any] | None = None
        self._tty_checked = False

    def write(self, data: bytes, *, err: bool = False) -> None:
        """Write all of `data`. A stdout that fails (closed, full, its reader gone) is reported once to
        `on_output_error` and written no more; stderr failures are dropped (nowhere to report them)."""
        if self.output_error is not None and not err:
            return
        fd = self.err_fd if err else self.out_fd
        view = memoryview(data)
        while view:
            try:
                n = os.write(fd, view)
            except OSError as exc:
                if not err:
                    self.output_error = exc
                    if self.on_output_error is not None:
                        self.on_output_error(exc)
                return
            view = view[n:]

    def input_ready(self) -> bool:
        """True when a byte can be read without waiting."""
        return bool(self._pending) or self._poll(0)

    def read_byte(self, *, wait: bool = False) -> int | None:
        """The next input byte; None when there is none now (or, with `wait`, ever: end of input)."""
        while not self._pending and not self._eof and self.in_fd is not None and not self.stopped():
            if self._poll(0.1 if wait else 0) or not wait:
                break
        if not self._pending:
            return None
        value = self._pending[0]
        del self._pending[0]
        return value

    def at_eof(self) -> bool:
        """True once the input has ended (no byte will ever come)."""
        return self._eof and not self._pending

    def stopped(self) -> bool:
        """Whether the run is being ended (Ctrl-C, or --timeout passed): nothing should wait any more."""
        return self.cancelled or (self.deadline is not None and time.monotonic() >= self.deadline)

    def close(self) -> None:
        """Give the terminal back as it was."""
        if self._saved_tty is not None and self.in_fd is not None:
            import termios

            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(self.in_fd, termios.TCSADRAIN, self._saved_tty)
            self._saved_tty = None

    def _poll(self, timeout: float) -> bool:
        """Read what is waiting (within `timeout` seconds) into the buffer; True if it now holds input."""
        if self._eof or self.in_fd is None:
            return bool(self._pending)
        if not self._tty_checked:
            self._enter_cbreak()
        try:
            ready, _, _ = select.select([self.in_fd], [], [], timeout)
        except (OSError, ValueError):
            self._eof = True
            return bool(self._pending)
        if ready:
            try:
                chunk = os.read(self.in_fd, 4096)
            except OSError:
                chunk = b""
            if chunk:
                self._pending += chunk
            else:
                self._eof = True
        return bool(self._pending)

    def _enter_cbreak(self) -> None:
        self._tty_checked = True
        assert self.in_fd is not None
        if not os.isatty(self.in_fd):
            return
        import termios
        import tty

        try:
            self._saved_tty = termios.tcgetattr(self.in_fd)
            tty.setcbreak(self.in_fd, termios.TCSANOW)
        except termios.error:
            self._saved_tty = None


def _stdin_fd() -> int | None:
    try:
        return sys.stdin.fileno() if sys.stdin is not None else None
    except (OSError, ValueError):
        return None


@dataclass
class Host:
    """What devices may ask of the machine: the console, and stopping the run."""

    console: Console
    stop: Callable[[Stop], None]
    counters: dict[str, int] = field(default_factory=dict)


class Device:
    """A device window: `read`/`write` take an offset into it and an access size in bytes."""

    kind = "device"

    def __init__(self, name: str, host: Host) -> None:
        self.name = name
        self.host = host
        self.accesses = 0

    def read(self, offset: int, size: int) -> int:
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        return None

    # -- for boards with interrupts: the run loop calls these between slices -------------------------
    def poll(self) -> None:
        """Bring state that changes on its own (time, input) up to date and drive the interrupt line."""
        return None

    def wants_input(self) -> bool:
        """True while an enabled receive interrupt waits for console input."""
        return False

    def deadline(self) -> float | None:
        """The next time.monotonic() at which this device changes on its own (a timer), or None."""
        return None
