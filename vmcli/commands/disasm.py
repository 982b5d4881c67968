"""`vm disasm`: a capstone listing of an image's executable segments."""

from __future__ import annotations

import click

from vmcli.commands.params import ADDRESS


@click.command()
@click.argument("image")
@click.option("--arch", "-a", help="arm64, riscv64 or x86_64 (default: from the ELF header).")
@click.option("--load-addr", type=ADDRESS, help="Address of a raw image (default: the board's).")
@click.option("--start", type=ADDRESS, help="First address to list.")
@click.option("--count", type=click.IntRange(min=1), help="Number of instructions to list.")
def disasm(image: str, arch: str | None, load_addr: int | None, start: int | None, count: int | None) -> None:
    """Disassemble IMAGE (raw or ELF) with capstone."""
    import capstone
    from rich.markup import escape

    from vmcli.images import resolve_image
    from vmcli.machine.cpu import ARCHES
    from vmcli.machine.launch import pick_board
    from vmcli.machine.loader import load_image, read_image_file
    from vmcli.ui import out_console

    path = resolve_image(image)
    data = read_image_file(path)
    board = pick_board(arch, None, data, path)
    img = load_image(path, board.arch, data=data,
                     raw_load_addr=board.raw_load_addr if load_addr is None else load_addr)
    spec = ARCHES[img.arch]
    md = capstone.Cs(spec.cs_arch, spec.cs_mode)
    md.skipdata = True                            # data in a text segment is listed as .byte, not dropped
    labels = {addr: name for name, (addr, _) in img.symbols.items()}
    left = count
    for seg in img.segments:
        if not seg.executable:
            continue
        offset = 0 if start is None or start < seg.address else start - seg.address
        if offset >= len(seg.data):
            continue
        for insn in md.disasm(seg.data[offset:], seg.address + offset):
            if insn.address in labels:
                out_console.print(f"\n[bold]{escape(labels[insn.address])}[/]:", highlight=False)
            out_console.print(f"  {insn.address:#12x}:  {insn.bytes.hex(' '):<24} {insn.mnemonic:<8} "
                              f"{insn.op_str}", markup=False, highlight=False)
            if left is not None:
                left -= 1
                if left == 0:
                    return
