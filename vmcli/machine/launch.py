"""From a command line's words to a ready Machine: pick the arch and board, load and check the image."""

from __future__ import annotations

from vmcli.errors import BadInput
from vmcli.machine.boards import BOARDS, DEFAULT_BOARD, Board, board_for
from vmcli.machine.cpu import ARCHES, canonical_arch
from vmcli.machine.devices.compute import ComputeOptions
from vmcli.machine.devices.device import Console
from vmcli.machine.loader import ELF_MAGIC, elf_arch, load_image, read_image_file
from vmcli.machine.machine import Machine


def pick_board(arch: str | None, board: str | None, data: bytes, image_path: str) -> Board:
    """The board for --arch/--board, or for the arch in the ELF header when --arch is omitted."""
    if arch is not None:
        canonical = canonical_arch(arch)
        if canonical is None:
            raise BadInput(f"unknown --arch {arch!r}; choose one of {', '.join(ARCHES)}")
    else:
        canonical = elf_arch(data)
        if canonical is None and data.startswith(ELF_MAGIC):
            load_image(image_path, None, data=data)      # raises the exact reason (class, byte order, machine)
        if canonical is None:
            what = "an ELF for an arch vm does not run" if data.startswith(ELF_MAGIC) else "not an ELF file"
            raise BadInput(f"{image_path}: {what}, so --arch is needed ({', '.join(ARCHES)})")
    name = board or DEFAULT_BOARD[canonical]
    try:
        return board_for(canonical, name)
    except KeyError:
        boards = [key.split("/")[1] for key in BOARDS if key.startswith(canonical + "/")]
        raise BadInput(f"no board {name!r} for {canonical}; choose one of {', '.join(boards)}") from None


def boot(
    image_path: str,
    *,
    arch: str | None = None,
    board: str | None = None,
    mem: int | None = None,
    load_addr: int | None = None,
    entry: int | None = None,
    semihosting_root: str | None = None,
    cmdline: str = "",
    console: Console | None = None,
    compute: ComputeOptions | None = None,
) -> Machine:
    """A machine with the image loaded and checked, ready to run."""
    data = read_image_file(image_path)
    chosen = pick_board(arch, board, data, image_path)
    if load_addr is not None and data.startswith(ELF_MAGIC):
        raise BadInput(f"{image_path}: --load-addr applies to raw images; an ELF loads at its own addresses")
    image = load_image(image_path, chosen.arch, data=data, entry=entry,
                       raw_load_addr=chosen.raw_load_addr if load_addr is None else load_addr)
    if image.linux:
        raise BadInput(f"{image_path}: a Linux program ({image.linux}); vm runs bare-metal images on its boards, "
                       "not Linux programs")
    return Machine(chosen, image, mem=mem, console=console, semihosting_root=semihosting_root,
                   cmdline=cmdline, compute=compute)
