"""`vm boards`: the boards' memory maps, from the table in vmcli/machine/boards.py."""

from __future__ import annotations

import dataclasses

import click

from vmcli.commands.params import SIZE
from vmcli.errors import BadInput


def write_dtb(path: str, arch: str, board_name: str | None, mem: int | None, append: str) -> None:
    from vmcli.machine.boards import BOARDS
    from vmcli.machine.cpu import canonical_arch
    from vmcli.machine.firmware.fdt import build_dtb, has_dtb

    canonical = canonical_arch(arch)
    key = f"{canonical}/{board_name}" if board_name else next((k for k in BOARDS if k.startswith(f"{canonical}/")), "")
    board = BOARDS.get(key)
    if board is None or not has_dtb(board):
        raise BadInput(f"no device tree for board {key or arch!r}: the arm64 and riscv64 virt boards have one")
    size = board.ram_default if mem is None else mem
    if size <= 0 or size > board.ram_max:
        raise BadInput(f"--mem {size} does not fit the {key} board's RAM window")
    try:
        with open(path, "wb") as out:
            out.write(build_dtb(board, size, bootargs=append))
    except OSError as exc:
        raise BadInput(f"{path}: cannot write: {exc.strerror or exc}") from None


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--markdown", is_flag=True, help="Print Markdown tables (docs/running.md holds this output).")
@click.option("--dtb", "dtb_path", metavar="FILE", help="Write the board's device tree blob to FILE (`dtc -I dtb`"
              " reads it); with --arch/--board/--mem/--append/--initrd-size as for `vm run`.")
@click.option("--arch", "-a", default="arm64", show_default=True, help="With --dtb: the board's arch.")
@click.option("--board", "-M", "board_name", help="With --dtb: the board (default: the arch's).")
@click.option("--mem", "-m", type=SIZE, help="With --dtb: RAM size (default 128M).")
@click.option("--append", default="", help="With --dtb: /chosen bootargs.")
def boards(as_json: bool, markdown: bool, dtb_path: str | None, arch: str, board_name: str | None, mem: int | None,
           append: str) -> None:
    """Show each board: RAM, load address, devices and their addresses."""
    from vmcli.machine.boards import BOARDS, irq_text, markdown_tables
    from vmcli.ui import out_console, print_json, table

    if dtb_path is not None:
        write_dtb(dtb_path, arch, board_name, mem, append)
        return
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
