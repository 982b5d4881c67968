"""From a command line's words to a ready Machine: pick the arch and board, load and check the image."""

from __future__ import annotations

from vmcli.errors import BadInput
from vmcli.machine.boards import BOARDS, DEFAULT_BOARD, Board, board_for
from vmcli.machine.cpu import ARCHES, canonical_arch
from vmcli.machine.devices.compute import ComputeOptions
from vmcli.machine.devices.device import Console
from vmcli.machine.firmware import boot as protocol
from vmcli.machine.firmware.fdt import build_dtb, has_dtb, update_dtb
from vmcli.machine.loader import ELF_MAGIC, Image, Segment, elf_arch, load_image, read_image_file
from vmcli.machine.machine import Machine


def pick_board(arch: str | None, board: str | None, data: bytes, image_path: str) -> Board:
    """The board for --arch/--board, or for the arch in the ELF header when --arch is omitted."""
    if arch is not None:
        canonical = canonical_arch(arch)
        if canonical is None:
            raise BadInput(f"unknown --arch {arch!r}; choose one of {', '.join(ARCHES)}")
    else:
        canonical = elf_arch(data)
        if canonical is None and protocol.looks_like_arm64_image(data):   # an arm64 Linux Image names its arch
            canonical = "arm64"
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
    image_path: str | None,
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
    bios: str | None = None,
    initrd: str | None = None,
    append: str = "",
    dtb: str | None = None,
) -> Machine:
    """A machine with the image (and firmware, initrd, device tree) loaded and checked, ready to run."""
    if image_path is None and bios is None:
        raise BadInput("nothing to boot: give an IMAGE, --bios FILE, or both")
    data = read_image_file(image_path) if image_path is not None else None
    bios_data = read_image_file(bios) if bios is not None else None
    first = data if data is not None else bios_data
    assert first is not None
    chosen = pick_board(arch, board, first, image_path or str(bios))
    firmware_options = bios is not None or initrd is not None or append or dtb is not None
    if firmware_options and not has_dtb(chosen):
        raise BadInput(f"board {chosen.arch}/{chosen.name} has no firmware interface: --bios, --initrd, --append "
                       "and --dtb apply to the arm64 and riscv64 virt boards")
    if load_addr is not None and data is not None and data.startswith(ELF_MAGIC):
        raise BadInput(f"{image_path}: --load-addr applies to raw images; an ELF loads at its own addresses")
    mem_size = chosen.ram_default if mem is None else mem
    initrd_data = read_image_file(initrd) if initrd is not None else None
    user_dtb = read_image_file(dtb) if dtb is not None else None

    linux = None
    if data is not None and not data.startswith(ELF_MAGIC) and chosen.arch == "arm64" and load_addr is None \
            and bios is None:
        assert image_path is not None
        linux = protocol.arm64_image(data, image_path)

    def device_tree(initrd_range: tuple[int, int] | None) -> bytes:
        if user_dtb is not None:
            return update_dtb(user_dtb, str(dtb), bootargs=append, initrd=initrd_range)
        return build_dtb(chosen, mem_size, bootargs=append, initrd=initrd_range)

    extra: list[Segment] = []
    regs: list[tuple[str, int]] = []
    if linux is not None:                                   # arm64 Linux Image
        assert image_path is not None
        size_guess = len(device_tree((0, 0)))
        place = protocol.place_arm64_linux(chosen, mem_size, linux, None if initrd_data is None else len(initrd_data),
                                           size_guess, image_path)
        tree = device_tree(place.initrd)
        image = Image(image_path, "linux-image", chosen.arch, place.kernel_addr,
                      (Segment(place.kernel_addr, linux.data, place.kernel_end - place.kernel_addr),), {})
        if initrd_data is not None and place.initrd is not None:
            extra.append(protocol.blob(place.initrd[0], initrd_data))
        extra.append(protocol.blob(place.dtb_addr, tree))
        regs.append(("x0", place.dtb_addr))
    elif chosen.arch == "arm64" and bios_data is not None:  # firmware in flash, device tree at RAM
        if data is not None:
            raise BadInput("with --bios, the arm64 virt board takes no IMAGE (QEMU hands a kernel to firmware "
                           "through fw_cfg, which vm does not model): load it from the firmware instead")
        if initrd_data is not None:
            raise BadInput("--initrd needs a Linux Image to go with it on arm64")
        assert chosen.bios_addr is not None
        image = Image(str(bios), "raw", chosen.arch, chosen.bios_addr,
                      (protocol.blob(chosen.bios_addr, bios_data, writable=False),), {})
        extra.append(protocol.blob(chosen.ram_base, device_tree(None)))
    elif chosen.arch == "riscv64":
        if bios_data is not None:
            assert chosen.bios_addr is not None and chosen.kernel_addr is not None
            program = None
            if data is not None:
                assert image_path is not None
                program = load_image(image_path, chosen.arch, data=data,
                                     raw_load_addr=chosen.kernel_addr if load_addr is None else load_addr)
            segments = (protocol.blob(chosen.bios_addr, bios_data),) + (program.segments if program else ())
            image = Image(str(bios), "raw", chosen.arch, chosen.bios_addr, segments,
                          program.symbols if program else {})
        else:
            assert image_path is not None and data is not None
            image = load_image(image_path, chosen.arch, data=data, entry=entry,
                               raw_load_addr=chosen.raw_load_addr if load_addr is None else load_addr)
        initrd_range = None
        if initrd_data is not None:
            top = max(s.end for s in image.segments)
            initrd_range = protocol.riscv_initrd_addr(chosen, mem_size, top, len(initrd_data))
            extra.append(protocol.blob(initrd_range[0], initrd_data))
        tree = device_tree(initrd_range)
        dtb_addr = protocol.riscv_dtb_addr(chosen, mem_size, len(tree))
        extra.append(protocol.blob(dtb_addr, tree))
        regs += [("a0", 0), ("a1", dtb_addr)]
    else:
        if firmware_options:
            raise BadInput("on arm64, --initrd, --append and --dtb go with a Linux Image or --bios")
        assert image_path is not None and data is not None
        image = load_image(image_path, chosen.arch, data=data, entry=entry,
                           raw_load_addr=chosen.raw_load_addr if load_addr is None else load_addr)
    if image.linux:
        raise BadInput(f"{image_path}: a Linux program ({image.linux}); vm runs bare-metal images on its boards, "
                       "not Linux programs")
    if entry is not None and image.entry != entry:
        image = Image(image.path, image.format, image.arch, entry, image.segments, image.symbols)
    image = Image(image.path, image.format, image.arch, image.entry, image.segments, image.symbols, image.linux,
                  tuple(extra), tuple(regs))
    return Machine(chosen, image, mem=mem, console=console, semihosting_root=semihosting_root,
                   cmdline=cmdline, compute=compute)
