"""`vm images`: the bundled guest images."""

from __future__ import annotations

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def images(as_json: bool) -> None:
    """List the bundled guest images (`vm run NAME` runs one by name)."""
    from vmcli.errors import BadInput
    from vmcli.images import bundled_images, images_dir
    from vmcli.machine.loader import ELF_MAGIC, elf_arch
    from vmcli.ui import out_console, print_json, table

    found = bundled_images()
    if images_dir() is None:
        raise BadInput("no bundled images found: set VM_IMAGES to a guest-images/bin directory")
    rows: list[dict[str, str]] = []
    for path in found:
        data = path.read_bytes()
        fmt = "elf" if data.startswith(ELF_MAGIC) else "raw"
        arch = elf_arch(data) or next((a for a in ("arm64", "riscv64", "x86_64") if a in path.stem), "?")
        rows.append({"name": path.name, "file": str(path), "format": fmt, "arch": arch, "size": str(len(data))})
    if as_json:
        print_json(rows)
        return
    out_console.print(table("bundled guest images", ["name", "arch", "format", "size", "file"],
                            [[r["name"], r["arch"], r["format"], r["size"], r["file"]] for r in rows]))
