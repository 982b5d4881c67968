"""Rich rendering shared by commands: fault reports, run statistics, tables and JSON."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from vmcli.machine.faults import Fault

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False, soft_wrap=True)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def fault_report(fault: Fault, *, title: str = "guest fault") -> None:
    """One short report: the reason, PC, the instruction there, and the registers."""
    c = err_console
    c.print(f"[bold red]vm: {title}:[/] {escape(fault.summary())}")
    if fault.insn_text:
        c.print(f"  {fault.pc:#x}: {fault.insn_bytes.hex(' ')}  [bold]{escape(fault.insn_text)}[/]")
    names = list(fault.registers)
    width = max((len(n) for n in names), default=0)
    per_line = 4
    for i in range(0, len(names), per_line):
        row = "  ".join(f"{n:>{width}}={fault.registers[n]:016x}" for n in names[i:i + per_line])
        c.print(f"  {row}")


def table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    """A table of plain text: titles and cells are never read as rich markup (a `[...]` in a name,
    an operand or a path is shown as it is)."""
    t = Table(title=Text(title), title_justify="left")
    for col in columns:
        t.add_column(col)
    for row in rows:
        t.add_row(*(Text(cell) for cell in row))
    return t


def print_run_stats(stats: Any, *, as_json: bool = False) -> None:
    """`vm run --stats`: on stderr, since stdout carries the guest's console."""
    data = stats.as_dict()
    if as_json:
        sys.stderr.write(json.dumps(data, indent=2) + "\n")
        return
    t = Table(title="vm run statistics", title_justify="left", show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_row("guest instructions", f"{data['instructions']:,}")
    t.add_row("blocks executed", f"{data['blocks']:,}")
    t.add_row("wall time", f"{data['wall_s']:.3f} s")
    t.add_row("guest MIPS", f"{data['mips']:,.1f}")
    for name, count in data["device_accesses"].items():
        t.add_row(f"device {escape(name)} accesses", f"{count:,}")
    for kind, count in data["semihosting_calls"].items():
        t.add_row(f"semihosting {escape(kind)}", f"{count:,}")
    for name, count in sorted(data.get("syscalls", {}).items(), key=lambda item: -item[1]):
        t.add_row(f"syscall {escape(name)}", f"{count:,}")
    for name, count in data.get("unimplemented_syscalls", {}).items():
        t.add_row(f"unimplemented syscall {escape(name)} (ENOSYS)", f"{count:,}")
    t.add_row("exit", f"{escape(data['exit_reason'])} (status {data['exit_status']})")
    err_console.print(t)
