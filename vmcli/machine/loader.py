"""Guest images: raw binaries and ELF files become a list of segments and an entry point.

All validation of images happens here, so everything after loading may trust the segment list:
every number in an ELF header is range-checked before it is used; placed segments lie inside the
board's memory, do not overlap each other and have sane sizes. The format is told from the content
(the ELF magic), never from the file name.
"""

from __future__ import annotations

import errno
import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from vmcli.errors import BadInput
from vmcli.hostfs import NotRegular, read_regular_file
from vmcli.machine.cpu import ARCHES

ELF_MAGIC = b"\x7fELF"
MAX_IMAGE = 1 << 30                  # no guest image is larger than 1 GiB; beyond it is a mistake
ADDRESS_SPACE = 1 << 64

# e_machine numbers (ELF gABI); the names say what an image is for when vm does not run it.
EM_NUMBERS = {183: "EM_AARCH64", 243: "EM_RISCV", 62: "EM_X86_64", 40: "EM_ARM", 3: "EM_386", 8: "EM_MIPS",
              20: "EM_PPC", 21: "EM_PPC64", 22: "EM_S390", 258: "EM_LOONGARCH"}
ELF_ARCH = {spec.elf_machine: name for name, spec in ARCHES.items()}
ET_EXEC, ET_DYN = 2, 3
PT_LOAD, PT_INTERP, PT_NOTE = 1, 3, 4
PF_X, PF_W = 1, 2
NT_GNU_ABI_TAG = 1


@dataclass(frozen=True)
class ElfLayout:
    """The ELF header fields and program header formats, per class (ELF32/ELF64), little-endian."""

    header: struct.Struct            # e_type .. e_shstrndx, after the 16-byte e_ident
    phdr: struct.Struct
    phdr_fields: tuple[str, ...]     # the phdr's field order differs between the classes


ELF_CLASSES = {
    1: ElfLayout(struct.Struct("<HHIIIIIHHHHHH"), struct.Struct("<IIIIIIII"),
                 ("type", "offset", "vaddr", "paddr", "filesz", "memsz", "flags", "align")),
    2: ElfLayout(struct.Struct("<HHIQQQIHHHHHH"), struct.Struct("<IIQQQQQQ"),
                 ("type", "flags", "offset", "vaddr", "paddr", "filesz", "memsz", "align")),
}
HEADER_FIELDS = ("type", "machine", "version", "entry", "phoff", "shoff", "flags", "ehsize", "phentsize", "phnum",
                 "shentsize", "shnum", "shstrndx")


@dataclass(frozen=True)
class Segment:
    address: int
    data: bytes
    memsize: int                     # >= len(data); the rest is zero (.bss)
    executable: bool = True
    writable: bool = True

    @property
    def end(self) -> int:
        return self.address + self.memsize


@dataclass(frozen=True)
class Image:
    path: str
    format: str                      # "elf" or "raw"
    arch: str
    entry: int
    segments: tuple[Segment, ...]
    symbols: dict[str, tuple[int, int]]  # name -> (address, size) for ELF function/object symbols
    linux: str = ""                  # why this looks like a Linux program (PT_INTERP, ABI note), else ""
    boot_segments: tuple[Segment, ...] = ()   # firmware, initrd, device tree: placed, but not the program
    regs: tuple[tuple[str, int], ...] = ()    # registers the boot protocol sets at the first instruction


def read_image_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of an image file, or BadInput for anything a user can get wrong about it. The file
    type and size are checked on the open descriptor: a device or FIFO would read (or wait) forever."""
    p = Path(path)
    try:
        data = read_regular_file(p, MAX_IMAGE)
    except FileNotFoundError:
        raise BadInput(f"{p}: no such file") from None
    except PermissionError:
        raise BadInput(f"{p}: permission denied") from None
    except NotRegular as exc:
        what = "a directory" if exc.errno == errno.EISDIR else "not a regular file (a device, FIFO or socket)"
        raise BadInput(f"{p}: is {what}, not an image") from None
    except OSError as exc:
        if exc.errno == errno.EFBIG:
            raise BadInput(f"{p}: image is {exc.strerror}") from None
        raise BadInput(f"{p}: cannot read image: {exc.strerror or exc}") from None
    if not data:
        raise BadInput(f"{p}: image is empty")
    return data


def elf_header(data: bytes) -> dict[str, int] | None:
    """The ELF header's fields (plus "class"), or None if `data` is no little-endian ELF32/ELF64."""
    if not data.startswith(ELF_MAGIC) or len(data) < 16:
        return None
    layout = ELF_CLASSES.get(data[4])
    if layout is None or data[5] != 1 or len(data) < 16 + layout.header.size:
        return None
    fields = dict(zip(HEADER_FIELDS, layout.header.unpack_from(data, 16), strict=True))
    fields["class"] = data[4]
    return fields


def elf_arch(data: bytes) -> str | None:
    """The architecture an ELF image is built for, or None if it is not an ELF or not ours."""
    header = elf_header(data)
    if header is None:
        return None
    return ELF_ARCH.get(EM_NUMBERS.get(header["machine"], ""))


def load_image(
    path: str | os.PathLike[str],
    arch: str | None,
    *,
    raw_load_addr: int | None = None,
    entry: int | None = None,
    data: bytes | None = None,
) -> Image:
    """Parse an image (read from `path` unless `data` is given). An ELF goes to its own physical
    addresses and must be for `arch` (None: any arch vm runs); a raw image goes to `raw_load_addr`."""
    if data is None:
        data = read_image_file(path)
    name = str(path)
    if data.startswith(ELF_MAGIC):
        image = _load_elf(name, data, arch)
        if entry is not None:
            image = Image(image.path, image.format, image.arch, entry, image.segments, image.symbols, image.linux)
        return image
    if arch is None:
        raise BadInput(f"{name}: not an ELF file, so --arch is needed for this raw image")
    if raw_load_addr is None:
        raise BadInput(f"{name}: no load address for a raw image")
    if raw_load_addr + len(data) > ADDRESS_SPACE:
        raise BadInput(f"{name}: {len(data)} bytes at {raw_load_addr:#x} run past the end of the address space")
    seg = Segment(raw_load_addr, data, len(data))
    return Image(name, "raw", arch, raw_load_addr if entry is None else entry, (seg,), {})


def _load_elf(name: str, data: bytes, arch: str | None) -> Image:
    """Every number in the headers is range-checked here, before anything is sliced or handed on."""
    if len(data) < 16:
        raise BadInput(f"{name}: truncated ELF ({len(data)} bytes)")
    if data[4] not in ELF_CLASSES:
        raise BadInput(f"{name}: corrupt ELF: class {data[4]} is neither ELF32 nor ELF64")
    if data[5] != 1:
        raise BadInput(f"{name}: big-endian ELF (data encoding {data[5]}); vm runs little-endian arm64, riscv64 "
                       "and x86_64")
    header = elf_header(data)
    if header is None:
        raise BadInput(f"{name}: truncated ELF header")
    machine = EM_NUMBERS.get(header["machine"], f"machine {header['machine']}")
    image_arch = ELF_ARCH.get(machine)
    if image_arch is None:
        raise BadInput(f"{name}: ELF for {machine}, which vm does not run (arm64, riscv64, x86_64)")
    if arch is not None and arch != image_arch:
        raise BadInput(f"{name}: ELF is for {image_arch}, not {arch} (drop --arch or pass --arch {image_arch})")
    if header["type"] not in (ET_EXEC, ET_DYN):
        raise BadInput(f"{name}: ELF type {header['type']} is not an executable")
    layout = ELF_CLASSES[header["class"]]
    phoff, phnum, phentsize = header["phoff"], header["phnum"], header["phentsize"]
    if phnum and phentsize < layout.phdr.size:
        raise BadInput(f"{name}: corrupt ELF: program header entries of {phentsize} bytes")
    if phoff + phnum * phentsize > len(data):
        raise BadInput(f"{name}: truncated ELF: program headers at {phoff:#x} run past the end of the file")
    segments: list[Segment] = []
    linux = ""
    for i in range(phnum):
        ph = dict(zip(layout.phdr_fields, layout.phdr.unpack_from(data, phoff + i * phentsize), strict=True))
        offset, filesz, memsz = ph["offset"], ph["filesz"], ph["memsz"]
        if ph["type"] in (PT_LOAD, PT_INTERP, PT_NOTE) and filesz and offset + filesz > len(data):
            raise BadInput(f"{name}: truncated ELF: segment at file offset {offset:#x} runs past the end")
        if ph["type"] == PT_INTERP:
            linux = f"its interpreter is {data[offset:offset + filesz].rstrip(bytes(1)).decode(errors='replace')}"
        elif ph["type"] == PT_NOTE and not linux and _has_gnu_abi_note(data[offset:offset + filesz]):
            linux = "it carries a GNU/Linux ABI note"
        if ph["type"] != PT_LOAD or memsz == 0:
            continue
        if filesz > memsz:
            raise BadInput(f"{name}: corrupt ELF: segment file size {filesz:#x} exceeds its memory size {memsz:#x}")
        if memsz > MAX_IMAGE:
            raise BadInput(f"{name}: ELF segment of {memsz:#x} bytes is absurdly large")
        if ph["paddr"] + memsz > ADDRESS_SPACE:
            raise BadInput(f"{name}: corrupt ELF: segment at {ph['paddr']:#x} runs past the end of the address space")
        segments.append(Segment(ph["paddr"], data[offset:offset + filesz], memsz,
                                bool(ph["flags"] & PF_X), bool(ph["flags"] & PF_W)))
    if not segments:
        raise BadInput(f"{name}: ELF has no loadable segments")
    return Image(name, "elf", image_arch, header["entry"], tuple(segments), _symbols(data, header), linux)


def _has_gnu_abi_note(notes: bytes) -> bool:
    """An NT_GNU_ABI_TAG note named "GNU" whose OS word is 0 (Linux), as glibc's crt1 carries."""
    at = 0
    while at + 12 <= len(notes):
        namesz, descsz, kind = struct.unpack_from("<III", notes, at)
        name_at = at + 12
        desc_at = name_at + ((namesz + 3) & ~3)
        if desc_at + descsz > len(notes):
            return False
        if kind == NT_GNU_ABI_TAG and notes[name_at:name_at + namesz] == b"GNU\0" and descsz >= 4 \
                and struct.unpack_from("<I", notes, desc_at)[0] == 0:
            return True
        at = desc_at + ((descsz + 3) & ~3)
    return False


def _symbols(data: bytes, header: dict[str, int]) -> dict[str, tuple[int, int]]:
    """Function and object symbols from .symtab; none when the section headers are absent or damaged
    (symbols only label listings and traces: an image runs without them)."""
    shoff, shnum, shentsize = header["shoff"], header["shnum"], header["shentsize"]
    if not shoff or not shnum or shentsize < (64 if header["class"] == 2 else 40) \
            or shoff + shnum * shentsize > len(data) or header["shstrndx"] >= shnum:
        return {}
    out: dict[str, tuple[int, int]] = {}
    try:
        table = ELFFile(io.BytesIO(data)).get_section_by_name(".symtab")
        if table is None or not hasattr(table, "iter_symbols"):
            return {}
        for sym in table.iter_symbols():
            if sym.name and sym["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT", "STT_NOTYPE") \
                    and sym["st_shndx"] != "SHN_UNDEF":
                out[sym.name] = (sym["st_value"], sym["st_size"])
    except (ELFError, ValueError, KeyError, IndexError, OverflowError, struct.error, UnicodeDecodeError,
            AssertionError, OSError):
        return {}                    # a damaged symbol table: pyelftools' own checks found it
    return out


@dataclass(frozen=True)
class Layout:
    """Where an image's segments go on a board: RAM, read-only flash, or nowhere (with a note)."""

    ram: tuple[Segment, ...]
    rom: tuple[Segment, ...]
    notes: tuple[str, ...]


def place_segments(image: Image, ram: tuple[int, int], rom: list[tuple[str, int, int]],
                   windows: list[tuple[str, int, int]]) -> Layout:
    """Place each segment as QEMU's loader does: in RAM, or in the board's flash/ROM if it is
    read-only there; a read-only data segment where the board has no memory at all (the ELF headers
    of a plain `-Ttext` link) is skipped with a note. Refused: a segment across a device window or
    across the edge of memory, two segments that overlap, and a writable or executable segment, or
    the entry point, outside memory."""
    ram_start, ram_end = ram
    placed: dict[str, list[Segment]] = {"ram": [], "rom": []}
    notes: list[str] = []
    ordered = sorted(image.segments + image.boot_segments, key=lambda s: s.address)
    for seg in ordered:
        span = f"[{seg.address:#x}, {seg.end:#x})"
        for dev, base, size in windows:
            if seg.address < base + size and base < seg.end:
                raise BadInput(f"{image.path}: segment {span} overlaps device {dev} at [{base:#x}, {base + size:#x})")
        if ram_start <= seg.address and seg.end <= ram_end:
            placed["ram"].append(seg)
            continue
        region = next(((n, b, sz) for n, b, sz in rom if b <= seg.address and seg.end <= b + sz), None)
        if region is not None and not seg.writable:
            placed["rom"].append(seg)
            continue
        if region is not None and image.format == "elf":
            raise BadInput(f"{image.path}: writable segment {span} lies in the board's read-only {region[0]} "
                           f"[{region[1]:#x}, {region[1] + region[2]:#x}); writable data must be in RAM "
                           f"[{ram_start:#x}, {ram_end:#x})")
        touches = [(ram_start, ram_end)] + [(b, b + sz) for _, b, sz in rom]
        if seg.executable or seg.writable or any(seg.address < end and start < seg.end for start, end in touches):
            raise BadInput(f"{image.path}: segment {span} lies outside RAM [{ram_start:#x}, {ram_end:#x}) "
                           "(a larger --mem or another --load-addr may help)")
        notes.append(f"read-only segment {span} lies where the board has no memory; not loaded (as QEMU does)")
    for a, b in zip(ordered, ordered[1:], strict=False):
        if b.address < a.end:
            raise BadInput(f"{image.path}: segments [{a.address:#x}, {a.end:#x}) and "
                           f"[{b.address:#x}, {b.end:#x}) overlap")
    in_memory = ram_start <= image.entry < ram_end or any(b <= image.entry < b + sz for _, b, sz in rom)
    if not in_memory:
        raise BadInput(f"{image.path}: entry point {image.entry:#x} lies outside RAM [{ram_start:#x}, {ram_end:#x})")
    return Layout(tuple(placed["ram"]), tuple(placed["rom"]), tuple(notes))
