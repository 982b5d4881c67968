"""`vm boards`: the boards' memory maps, from the table in vmcli/machine/boards.py."""

from __future__ import annotations

import dataclasses

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--markdown", is_flag=True, help="Print Markdown tables (docs/running.md holds this output).")
def boards(as_json: bool, markdown: bool) -> None:
    """Show each board: RAM, load address, devices and their addresses."""
    from vmcli.machine.boards import BOARDS, irq_text, markdown_tables
    from vmcli.ui import out_console, print_json, table

    if as_json:
        print_json([dataclasses.asdict(b) for b in BOARDS.values()])
        return
    if markdown:
        click.echo(markdown_tables(), nl=False)
        return
    for board in BOARDS.values():
        rows = [["RAM", "memory", f"{board.ram_base:#x}", f"{board.ram_default >> 20} MiB (--mem)", "", ""]]
        rows += [[r.name, r.kind, f"{r.base:#x}", f"{r.size:#x}", "", r.note] for r in board.rom]
        rows += [[d.name, d.kind, f"{d.base:#x}" + (" (I/O port)" if d.space == "io" else ""),
                  f"{d.size:#x}" + (f" x {d.count}" if d.count > 1 else ""), irq_text(board, d), d.note]
                 for d in board.devices]
        out_console.print(table(f"{board.arch} / {board.name}: {board.description}",
                                ["name", "kind", "address", "size", "interrupt", "notes"], rows))
        out_console.print(f"  raw images load at {board.raw_load_addr:#x}; "
                          f"semihosting: {'yes' if board.semihosting else 'no'}", markup=False)
        out_console.print(f"  at entry: {board.entry_state}", markup=False)
        if board.boot_note:
            out_console.print(f"  boot: {board.boot_note}", markup=False)
        out_console.print("")
