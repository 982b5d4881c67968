"""The project's error types and the exit statuses they map to.

Users cause errors (bad images, bad options, hostile guests); those are `VmError`s, turned into one
line on stderr and a documented exit status at the CLI boundary. Anything else is a bug.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Exit statuses of `vm` itself; a guest that exits normally sets any status 0..255 of its own."""

    OK = 0
    BAD_INPUT = 2          # missing/corrupt image, bad option, wrong arch, image outside RAM ...
    INTERNAL = 70          # a bug in vm (EX_SOFTWARE); run again with --debug for the traceback
    OUTPUT_ERROR = 74      # stdout cannot be written: closed, disk full, reader gone (EX_IOERR)
    GUEST_HALTED = 122     # wfi/hlt with no interrupt source: the guest would sleep forever
    GUEST_RESET = 123      # the guest asked for a reset (riscv64 SiFive test finisher 0x7777)
    TIMEOUT = 124          # --timeout SECONDS reached
    INSN_LIMIT = 125       # --max-insns N reached
    GUEST_FAULT = 126      # unmapped read/write/fetch, undefined instruction, unhandled exception
    INTERRUPTED = 130      # Ctrl-C


class VmError(Exception):
    """An error a user can cause; `status` is the exit status it ends `vm` with."""

    status: ExitStatus = ExitStatus.BAD_INPUT


class BadInput(VmError):
    """Bad image, option or argument: exit status 2."""

    status = ExitStatus.BAD_INPUT


class OutputError(VmError):
    """Standard output cannot be written (closed, full, its reader gone): exit status 74."""

    status = ExitStatus.OUTPUT_ERROR

    def __init__(self, cause: OSError, what: str = "output") -> None:
        import errno

        why = "its reader went away (broken pipe)" if cause.errno == errno.EPIPE else cause.strerror or str(cause)
        super().__init__(f"cannot write {what}: {why}")
        self.cause = cause
