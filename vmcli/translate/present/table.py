"""The rich tables of `vm translate`: a translation side by side (each source instruction next to the
target instructions it became), --verify's results, and the supported forms. Instruction text is
never read as rich markup (`[x16]` is an operand, not a tag): every cell is a Text. rich is
imported when a table is drawn (the --json and --output paths never draw one)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from vmcli.translate.core.blocks import Translation
from vmcli.translate.core.direction import Form, direction
from vmcli.translate.isa import disasm
from vmcli.translate.verify.harness import InsnCheck

if TYPE_CHECKING:
    from rich.console import Console


def console() -> Console:
    """A console as wide as the terminal, or 160 columns when writing to a file or pipe."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 160)


def render(tr: Translation) -> None:
    """Side by side: each source instruction next to the target instructions it became."""
    from rich.table import Table
    from rich.text import Text

    d = direction(tr.source_arch)
    table = Table(title=f"{tr.source_arch} -> {tr.target_arch} at {tr.address:#x}", show_lines=True,
                  title_justify="left")
    for col in ("address", "source bytes", "source", "target bytes", "target"):
        table.add_column(col, overflow="fold")
    offset = 0
    for si in tr.insns:
        if not si.supported:
            table.add_row(f"{si.address:#x}", si.raw.hex(), Text(si.text), "",
                          Text(f"unsupported: {si.reason}", style="bold red"))
            continue
        tb, tt = [], []
        for raw in si.target:
            tb.append(raw.hex())
            tt.append(disasm.text(tr.target_arch, raw, offset))
            offset += len(raw)
        table.add_row(f"{si.address:#x}", si.raw.hex(), Text(si.text), "\n".join(tb), Text("\n".join(tt)))
    out = console()
    out.print(table)
    out.print(Text(d.state_line(tr)))
    n = sum(len(si.target) for si in tr.insns)
    out.print(Text(f"{sum(s.supported for s in tr.insns)}/{len(tr.insns)} instructions -> "
                   f"{n} {d.target_name} instructions ({len(tr.code)} bytes)"))


def render_checks(checks: Sequence[InsnCheck]) -> None:
    from rich.table import Table
    from rich.text import Text

    style = {"pass": "green", "fail": "bold red", "unsupported": "yellow", "skipped": "yellow"}
    table = Table(title="differential check on Unicorn (source vs translation, same guest state)")
    for col in ("address", "instruction", "result", "runs", "detail"):
        table.add_column(col)
    for c in checks:
        table.add_row(f"{c.address:#x}", Text(c.text), Text(c.status, style=style[c.status]), str(c.runs),
                      Text(c.detail))
    console().print(table)


def render_forms(arch: str, forms: Sequence[Form]) -> None:
    from rich.table import Table
    from rich.text import Text

    out = console()
    if not forms:
        out.print(Text(f"no verified forms from {arch} yet"))
        return
    table = Table(title=f"{len(forms)} verified forms from {arch}")
    table.add_column("extension")
    table.add_column("form")
    for f in forms:
        table.add_row(Text(f.extension), Text(f.name))
    out.print(table)
