"""`vm run` with --trace and/or --stats: attach the probes, run, detach, and gather the figures."""

from __future__ import annotations

from dataclasses import dataclass

from vmcli.debug.stats import BlockCounter, RunStats
from vmcli.debug.trace import Tracer, parse_range
from vmcli.errors import BadInput
from vmcli.machine.machine import Machine, RunResult


@dataclass
class TraceOptions:
    path: str
    blocks: bool = False
    memory: bool = False
    fmt: str = "text"
    address_range: str | None = None


def run_observed(machine: Machine, *, timeout: float | None = None, max_insns: int | None = None,
                 trace: TraceOptions | None = None, stats: bool = False) -> tuple[RunResult, RunStats | None]:
    """Run `machine` to its end with the requested probes; the stats are None without `stats`."""
    tracer = None
    out = None
    if trace is not None:
        span = parse_range(trace.address_range) if trace.address_range else None
        try:
            out = open(trace.path, "wb", buffering=0)  # noqa: SIM115 (closed below, after the run)
        except OSError as exc:
            raise BadInput(f"--trace {trace.path}: {exc.strerror}") from None
        tracer = Tracer(machine.cpu, out, blocks=trace.blocks, memory=trace.memory, fmt=trace.fmt,
                        address_range=span)
        machine.pause_handlers.append(tracer.paused)
    counter = None
    if stats:
        counter = BlockCounter(machine.cpu)
        machine.pause_handlers.append(counter.paused)
    result = None
    try:
        result = machine.run(timeout=timeout, max_insns=max_insns)
    finally:
        if tracer is not None:
            tracer.close(machine.cpu.pc if result is not None else None,
                         ran_stop_pc=result is None or result.reason != "insn-limit")
        if out is not None:
            out.close()
    if counter is None:
        return result, None
    counter.close()
    insns = result.insns if result.insns is not None else counter.instructions(machine.cpu.pc)
    return result, RunStats(
        instructions=insns, blocks=counter.blocks, wall_s=result.wall_s, exit_reason=result.reason,
        exit_status=result.status, device_accesses=result.device_accesses,
        semihosting_calls=result.semihosting_calls,
    )
