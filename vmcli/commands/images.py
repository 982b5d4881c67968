"""`vm images`: the bundled guest images."""

from __future__ import annotations

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def images(as_json: bool) -> None:
    """List the bundled guest images (`vm run NAME` runs one by name)."""
    from rich.table import Table
    from rich.text import Text

    from vmcli.errors import BadInput
    from vmcli.images import bundled_images, images_dir
    from vmcli.machine.loader import ELF_MAGIC, elf_arch
    from vmcli.ui import out_console, print_json

    folder = images_dir()
    if folder is None:
        raise BadInput("no bundled images found: VM_IMAGES names no directory")
    rows: list[dict[str, str | int]] = []
    for path in bundled_images():
        data = path.read_bytes()
        fmt = "elf" if data.startswith(ELF_MAGIC) else "raw"
        arch = elf_arch(data) or next((a for a in ("arm64", "riscv64", "x86_64") if a in path.stem), "?")
        rows.append({"name": path.name, "file": str(path), "format": fmt, "arch": arch, "size": len(data)})
    if as_json:
        print_json(rows)
        return
    # The folder is the same for every image: said once, so that names are never cut to fit a column.
    table = Table(title=Text(f"bundled guest images in {folder}"), title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("arch", no_wrap=True)
    table.add_column("format", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    for r in rows:
        table.add_row(*(Text(cell) for cell in (str(r["name"]), str(r["arch"]), str(r["format"]), f"{r['size']:,}")))
    out_console.print(table)
