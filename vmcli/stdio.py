"""The process's standard streams, set up so that a failing output is a documented status.

`vm ... >&-` (stdout closed), `>/dev/full` (no space) and a reader that went away (`| head`) must end
in one line on stderr and exit status 74, not a traceback. Two things make that so:

- a closed fd 0, 1 or 2 is filled with /dev/null opened the wrong way round (a read-only stdout):
  otherwise the next file vm opens (a guest's semihosting file, say) would take that number and
  receive the guest's console output; writing to the stand-in fails with EBADF instead;
- sys.stdout writes through `FdRaw`, which turns any OSError into OutputError (a VmError), so click
  and rich output fails like everything else a user can cause. stderr never raises: with nowhere
  to report, vm still ends with its status.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys

from vmcli.errors import OutputError

# fd -> how to open /dev/null in its place: unusable in the direction the stream is used
STAND_IN = {0: os.O_WRONLY, 1: os.O_RDONLY, 2: os.O_RDONLY}


class FdRaw(io.RawIOBase):
    """A standard fd as a raw stream. Write failures of stdout are OutputError; stderr drops what it
    cannot write (the report of an error must not become one)."""

    def __init__(self, fd: int, raising: bool) -> None:
        super().__init__()
        self.fd, self.raising = fd, raising

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def isatty(self) -> bool:
        return os.isatty(self.fd)

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            return os.write(self.fd, data)
        except OSError as exc:
            if self.raising:
                raise OutputError(exc) from None
            return len(data)


def _text(raw: io.RawIOBase, like: object) -> io.TextIOWrapper:
    encoding = getattr(like, "encoding", None) or "utf-8"
    errors = getattr(like, "errors", None) or "strict"
    return io.TextIOWrapper(io.BufferedWriter(raw), encoding=encoding, errors=errors,
                            line_buffering=raw.isatty(), write_through=False)


def guard_std_streams() -> None:
    """Fill closed standard fds and route sys.stdout/sys.stderr through the raw streams above."""
    for fd, flags in STAND_IN.items():
        try:
            os.fstat(fd)
        except OSError:
            stand_in = os.open(os.devnull, flags)
            if stand_in != fd:
                os.dup2(stand_in, fd)
                os.close(stand_in)
    old_out, old_err = sys.stdout, sys.stderr
    sys.stdout = _text(FdRaw(1, raising=True), old_out)
    sys.stderr = _text(FdRaw(2, raising=False), old_err)
    for old in (old_out, old_err):
        if old is not None:
            with contextlib.suppress(OSError, ValueError):
                old.flush()


def finish_stdout() -> None:
    """Flush stdout while an error can still become a status; after a failure, leave nothing queued
    for the interpreter's own flush at exit (it would print 'Exception ignored ...')."""
    try:
        sys.stdout.flush()
    except OutputError:
        drop_stdout()
        raise


def drop_stdout() -> None:
    """Point fd 1 at /dev/null and empty sys.stdout's buffer into it: after an output error nothing is
    left for the interpreter's flush at exit to fail on."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    with contextlib.suppress(OutputError, OSError, ValueError):
        sys.stdout.flush()
