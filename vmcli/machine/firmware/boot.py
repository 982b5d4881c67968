"""Boot protocols: where firmware, a kernel, an initrd and the device tree go, and what the CPU holds at
the first instruction, as QEMU's virt machines do it (hw/arm/boot.c, hw/riscv/boot.c).

- arm64 Linux `Image` (Documentation/arm64/booting.rst): a raw file with "ARM\\x64" at byte 56, or its
  gzip; loaded at RAM + text_offset (+ 2 MiB when text_offset is below 2 MiB, as QEMU leaves the bottom
  for its boot stub), image_size bytes must fit; the initrd at RAM + min(RAM/2, 128 MiB) or after the
  kernel; the device tree after the initrd, 2 MiB aligned; x0 = device tree, x1-x3 = 0, EL1, MMU off.
- `--bios` on arm64: flash at 0 (the reset address), the device tree at the start of RAM.
- riscv64: firmware (`--bios`, e.g. OpenSBI fw_jump) at 0x80000000 with IMAGE at 0x80200000 for it;
  the device tree at the end of RAM (2 MiB aligned, below 3 GiB); a0 = hart id 0, a1 = device tree.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from vmcli.errors import BadInput
from vmcli.machine.boards import Board
from vmcli.machine.loader import MAX_IMAGE, Segment

MiB = 1 << 20
ARM64_MAGIC = b"ARM\x64"
ARM64_MAGIC_AT = 56
ARM64_HEADER = struct.Struct("<II QQQ QQQ 4s I")      # code0, code1, text_offset, image_size, flags, res2-4
LEGACY_LOAD_OFFSET = 0x80000                          # an Image with image_size 0: QEMU's default offset
BOOT_STUB_ROOM = 2 * MiB
DTB_ALIGN = 2 * MiB
RISCV_DTB_LIMIT = 3072 * MiB
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class LinuxImage:
    data: bytes
    text_offset: int
    image_size: int                  # bytes the kernel occupies once running (with .bss); 0: unknown


def gunzip(data: bytes, name: str) -> bytes:
    """A gzip file's content, at most MAX_IMAGE bytes (a bomb is refused, not expanded)."""
    out = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        result = out.decompress(data, MAX_IMAGE + 1)
    except zlib.error as exc:
        raise BadInput(f"{name}: corrupt gzip data ({exc})") from None
    if len(result) > MAX_IMAGE:
        raise BadInput(f"{name}: expands to more than {MAX_IMAGE} bytes")
    if not out.eof:
        raise BadInput(f"{name}: truncated gzip data")
    return result


def looks_like_arm64_image(data: bytes) -> bool:
    """The arm64 Image magic at byte 56, in the file or at the start of its gzip stream."""
    if data.startswith(GZIP_MAGIC):
        try:
            data = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(data, ARM64_HEADER.size)
        except zlib.error:
            return False
    return data[ARM64_MAGIC_AT:ARM64_MAGIC_AT + 4] == ARM64_MAGIC


def arm64_image(data: bytes, name: str) -> LinuxImage | None:
    """The arm64 Linux Image in `data` (plain or gzip), or None if it is not one."""
    if data.startswith(GZIP_MAGIC):
        inner = gunzip(data, name)
        if inner[ARM64_MAGIC_AT:ARM64_MAGIC_AT + 4] != ARM64_MAGIC:
            raise BadInput(f"{name}: gzip data that is not an arm64 Linux Image (no ARM\\x64 magic)")
        data = inner
    if len(data) < ARM64_HEADER.size or data[ARM64_MAGIC_AT:ARM64_MAGIC_AT + 4] != ARM64_MAGIC:
        return None
    _, _, text_offset, image_size, flags, *_ = ARM64_HEADER.unpack_from(data)
    if flags & 1:
        raise BadInput(f"{name}: big-endian arm64 Image (header flags {flags:#x}); vm runs little-endian")
    if image_size and image_size < len(data):
        raise BadInput(f"{name}: corrupt arm64 Image header: image_size {image_size:#x} is less than the "
                       f"file's {len(data):#x} bytes")
    if text_offset >= 1 << 32 or image_size > MAX_IMAGE:
        raise BadInput(f"{name}: corrupt arm64 Image header (text_offset {text_offset:#x}, "
                       f"image_size {image_size:#x})")
    return LinuxImage(data, text_offset if image_size else 0, image_size)


@dataclass(frozen=True)
class Placement:
    kernel_addr: int
    kernel_end: int                  # what the kernel occupies, .bss included
    initrd: tuple[int, int] | None
    dtb_addr: int


def _fit(what: str, start: int, size: int, board: Board, mem: int) -> None:
    ram_end = board.ram_base + mem
    if start + size > ram_end:
        raise BadInput(f"{what} ({size} bytes at {start:#x}) does not fit in {mem >> 20} MiB of RAM "
                       f"(ends {ram_end:#x}); a larger --mem may help")


def place_arm64_linux(board: Board, mem: int, image: LinuxImage, initrd_size: int | None, dtb_size: int,
                      name: str) -> Placement:
    offset = image.text_offset if image.image_size else LEGACY_LOAD_OFFSET
    if image.image_size and offset < BOOT_STUB_ROOM:
        offset += BOOT_STUB_ROOM
    kernel = board.ram_base + offset
    kernel_end = kernel + max(image.image_size, len(image.data))
    _fit(f"{name}: the kernel", kernel, kernel_end - kernel, board, mem)
    initrd = None
    end = kernel_end
    if initrd_size is not None:
        start = max(board.ram_base + min(mem // 2, 128 * MiB), (kernel_end + 0xFFF) & ~0xFFF)
        _fit("the initrd", start, initrd_size, board, mem)
        initrd = (start, start + initrd_size)
        end = initrd[1]
    dtb = (end + DTB_ALIGN - 1) & ~(DTB_ALIGN - 1)
    _fit("the device tree", dtb, dtb_size, board, mem)
    return Placement(kernel, kernel_end, initrd, dtb)


def riscv_dtb_addr(board: Board, mem: int, dtb_size: int) -> int:
    top = min(board.ram_base + mem, RISCV_DTB_LIMIT) if board.ram_base < RISCV_DTB_LIMIT else board.ram_base + mem
    return (top - dtb_size) & ~(DTB_ALIGN - 1)


def riscv_initrd_addr(board: Board, mem: int, kernel_end: int, size: int) -> tuple[int, int]:
    start = max(board.ram_base + min(mem // 2, 128 * MiB), (kernel_end + 0xFFF) & ~0xFFF)
    _fit("the initrd", start, size, board, mem)
    return start, start + size


def blob(address: int, data: bytes, *, writable: bool = True) -> Segment:
    return Segment(address, data, len(data), executable=True, writable=writable)
