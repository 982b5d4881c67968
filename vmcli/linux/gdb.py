"""`vm run --gdb` for Linux programs: the bare-metal gdb stub (vmcli.debug.gdbstub) and its execution
control (vmcli.debug.control) driving a guest process instead of a board.

LinuxTarget gives the stub what it asks of a Machine: the engine, the CPU, `resume(count)` and
`stop_request`. A resume runs the process's own loop (system calls, parked threads, signals) until
a breakpoint, watchpoint, interrupt, fault or exit stops it. A fault is reported to gdb as its
signal first (as gdb stops a native program on SIGSEGV); going on delivers it to the program.
Memory is the guest's mappings; writes reach read-only code pages (breakpoints gdb writes itself).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import sys
from types import SimpleNamespace
from typing import Any

import numpy as np

from vmcli.debug.control import Debugger
from vmcli.debug.gdbstub import Connection, GdbStub, parse_address
from vmcli.debug.native import flush_translations
from vmcli.errors import BadInput, ExitStatus
from vmcli.linux import signals as sig
from vmcli.linux.memory import GuestFault
from vmcli.linux.process import Options, Outcome, Process
from vmcli.machine.devices.device import Stop

# The words vmcli.debug.control.fault_signal maps back to each signal.
FAULT_WORDS = {sig.SIGILL: "undefined instruction", sig.SIGFPE: "divide error", sig.SIGTRAP: "breakpoint",
               sig.SIGBUS: "unaligned access", sig.SIGSEGV: "segmentation fault"}


class LinuxTarget:
    """A guest process as the gdb stub's machine."""

    def __init__(self, proc: Process) -> None:
        self.proc = proc
        self.board = SimpleNamespace(arch=proc.arch.name, ram_base=0, name="linux")
        self.semihosting = None
        self.devices: list[Any] = []
        self.stop_request: Stop | None = None
        self.fault = None
        self.outcome: Outcome | None = None
        self.debugger: LinuxDebugger | None = None
        proc.want_exact = True            # gdb's Ctrl-C stops the guest from another thread

    @property
    def uc(self) -> Any:
        return self.proc.uc

    @property
    def cpu(self) -> Any:
        return self.proc.cpu

    def resume(self, *, count: int = 0) -> str:
        p = self.proc
        if self.stop_request is not None and self.stop_request.reason == "fault":
            self.stop_request = None      # the fault's signal is pending: the loop delivers it now
        dbg = self.debugger
        while True:
            result = p.iterate(count)
            if result == "ended":
                if p.exec_request is not None:
                    self._follow_exec()
                    continue
                self.outcome = p.result()
                status = self.outcome.status
                self.stop_request = Stop(status, "exit", f"exited with status {status}")
                return "stopped"
            if result == "fault":
                t = p.current
                signo = min(t.pending) if t is not None and t.pending else sig.SIGSEGV
                self.stop_request = Stop(ExitStatus.GUEST_FAULT, "fault", FAULT_WORDS.get(signo, "signal"))
                return "stopped"
            if result == "stopped" and (count or dbg is None or dbg.interrupted or dbg.stopped_by_probe()):
                return "paused"
            # The loop's own stops (a parked thread, a signal, preemption): not the debugger's business.

    def _follow_exec(self) -> None:
        """An execve: the new image runs in a new engine; gdb's breakpoints do not follow it."""
        from vmcli.linux.run import _exec_in_place
        old = self.proc
        request = old.exec_request
        assert request is not None
        old.finish()
        self.proc = _exec_in_place(old, request.path, request.argv, request.envp, request.execfn)
        self.proc.want_exact = True
        self.proc.start()
        if self.debugger is not None:
            self.debugger.uc = self.proc.uc
            self.debugger.breakpoints.clear()
            self.debugger.watchpoints.clear()

    def interrupt(self) -> None:
        p = self.proc
        if p.exact is not None:
            p.exact.request()
        if p.stopper is not None:
            with contextlib.suppress(OSError):
                os.write(p.stopper.wake_w, b"i")


class LinuxDebugger(Debugger):
    def __init__(self, target: LinuxTarget) -> None:
        super().__init__(target)  # type: ignore[arg-type]
        self.target = target
        target.debugger = self

    def interrupt(self) -> None:
        self.interrupted = True
        self.target.interrupt()

    def stopped_by_probe(self) -> bool:
        return self._bp_hit is not None or self._watch_hit is not None


class LinuxGdbStub(GdbStub):
    def __init__(self, target: LinuxTarget, conn: Connection) -> None:
        self.machine = target  # type: ignore[assignment]
        self.conn = conn
        self.uc = target.uc
        self.arch = target.board.arch
        from vmcli.debug.registers import REGISTERS
        self.regs = REGISTERS[self.arch]
        self.debugger = LinuxDebugger(target)
        from vmcli.debug.control import Event
        self.last = Event("step", 5)
        self.result = None
        self.detached = False
        self.no_ack_next = False

    def _ram(self, address: int, length: int) -> np.ndarray | None:
        mem = self.machine.proc.mem  # type: ignore[attr-defined]
        try:
            host = mem.check(address, length)
        except GuestFault:
            return None
        return np.ctypeslib.as_array((ctypes.c_uint8 * length).from_address(host))

    def _store(self, span: str, data: bytes) -> str:
        address, length = (int(x, 16) for x in span.split(","))
        mem = self.machine.proc.mem  # type: ignore[attr-defined]
        if len(data) != length:
            return "E14"
        try:
            mem.check(address, length)
            mem.write_force(address, data)
        except GuestFault:
            return "E14"
        flush_translations(self.machine.uc)
        return "OK"

    def reset(self) -> None:
        raise ValueError("reset is not available for Linux programs")

    def monitor(self, command: str) -> str:
        if command.split()[:1] == ["reset"]:
            return b"reset is not available for Linux programs\n".hex()
        return super().monitor(command)

    def _result(self, stop: Stop) -> Any:
        from vmcli.machine.machine import RunResult
        return RunResult(status=int(stop.status), reason=stop.reason, detail=stop.detail, fault=None, wall_s=0.0)


def serve_linux(prog: str, args: list[str], *, arch: str | None, options: Options, env: list[str],
                address: str) -> Outcome:
    """Load the program, hold it before its first instruction until gdb attaches, and serve gdb
    until the program ends, gdb kills it, or gdb detaches (the program then runs on)."""
    from vmcli.linux.run import load_linux
    proc = load_linux(prog, args, arch=arch, options=options, env=env)
    target = LinuxTarget(proc)
    host, port = parse_address(address)
    try:
        listener = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as exc:
        raise BadInput(f"--gdb {address}: cannot listen: {exc.strerror}") from None
    with listener:
        bound = listener.getsockname()[1]
        sys.stderr.write(f"vm: waiting for gdb on {host}:{bound} (target remote {host}:{bound})\n")
        sys.stderr.flush()
        sock, _ = listener.accept()
    proc.start()
    try:
        with sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            stub = LinuxGdbStub(target, Connection(sock))
            stub.serve()
        if target.outcome is not None:
            return target.outcome
        if stub.result is not None:              # killed by gdb
            return Outcome(status=128 + sig.SIGKILL, signal=sig.SIGKILL)
        stub.debugger.clear()
        p = target.proc
        while p.iterate() != "ended" or p.exec_request is not None:
            if p.exec_request is not None:
                target._follow_exec()
                p = target.proc
        return p.result()
    finally:
        target.proc.finish()
