"""--trace and --stats for Linux programs: the same compiled probes as for bare-metal images
(vmcli.debug.trace.Tracer, vmcli.debug.stats.BlockCounter), attached to each process image the run
goes through (an in-place execve starts a new one), plus system call counts. A forked child runs
without them: its parent's trace and figures stay the parent's."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, BinaryIO

from vmcli.errors import BadInput

if TYPE_CHECKING:
    from vmcli.debug.observe import TraceOptions
    from vmcli.debug.stats import BlockCounter, RunStats
    from vmcli.debug.trace import Tracer
    from vmcli.linux.process import Outcome, Process


class Probes:
    def __init__(self, trace: TraceOptions | None, stats: bool) -> None:
        self.trace = trace
        self.stats = stats
        self.out: BinaryIO | None = None
        if trace is not None:
            try:
                self.out = open(trace.path, "wb", buffering=0)  # noqa: SIM115 (closed in finish)
            except OSError as exc:
                raise BadInput(f"--trace {trace.path}: {exc.strerror}") from None
        self.tracer: Tracer | None = None
        self.counter: BlockCounter | None = None
        self.instructions = 0
        self.blocks = 0
        self.start = time.monotonic()
        self.pid = os.getpid()

    def attach(self, proc: Process) -> None:
        handlers = []
        if self.trace is not None and self.out is not None:
            from vmcli.debug.trace import Tracer, parse_range
            span = parse_range(self.trace.address_range) if self.trace.address_range else None
            self.tracer = Tracer(proc.cpu, self.out, blocks=self.trace.blocks, memory=self.trace.memory,
                                 fmt=self.trace.fmt, address_range=span)
            handlers.append(self.tracer.paused)
        if self.stats:
            from vmcli.debug.stats import BlockCounter
            self.counter = BlockCounter(proc.cpu)
            handlers.append(self.counter.paused)
        proc.pause_handlers = handlers

    def detach(self, proc: Process) -> None:
        """The image ended (exit, death, or an execve): write out and count what it ran."""
        pc = proc.cpu.pc
        if self.tracer is not None:
            self.tracer.close(pc)
            self.tracer = None
        if self.counter is not None:
            self.counter.close()
            self.instructions += self.counter.instructions(pc)
            self.blocks += self.counter.blocks
            self.counter = None
        proc.pause_handlers = []

    def forget(self, proc: Process) -> None:
        """In a forked child: drop the hooks without writing anything."""
        from vmcli.debug.native import remove_native_hook
        if self.tracer is not None:
            for handle in self.tracer.handles:
                remove_native_hook(proc.uc, handle)
        if self.counter is not None:
            remove_native_hook(proc.uc, self.counter.handle)
        self.tracer = self.counter = None
        proc.pause_handlers = []

    def run_stats(self, outcome: Outcome) -> RunStats:
        from vmcli.debug.stats import RunStats
        reason = f"killed by signal {outcome.signal}" if outcome.signal else "exit"
        return RunStats(instructions=self.instructions, blocks=self.blocks, wall_s=time.monotonic() - self.start,
                        exit_reason=reason, exit_status=outcome.status, syscalls=dict(outcome.syscalls),
                        unimplemented_syscalls=dict(outcome.unknown))

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None
