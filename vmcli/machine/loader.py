"""Guest images: raw binaries and ELF files become a list of segments and an entry point.

All validation of images happens here, so everything after loading may trust the segment list:
segments lie inside RAM, do not overlap each other and have sane sizes. The format is told from the
content (the ELF magic), never from the file name.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.constants import P_FLAGS
from elftools.elf.elffile import ELFFile

from vmcli.errors import BadInput
from vmcli.machine.cpu import ARCHES

ELF_MAGIC = b"\x7fELF"
MAX_IMAGE = 1 << 30                  # no guest image is larger than 1 GiB; beyond it is a mistake
PT_LOAD = "PT_LOAD"

ELF_ARCH = {spec.elf_machine: name for name, spec in ARCHES.items()}


@dataclass(frozen=True)
class Segment:
    address: int
    data: bytes
    memsize: int                     # >= len(data); the rest is zero (.bss)
    executable: bool = True

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


def read_image_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of an image file, or BadInput for anything a user can get wrong about it."""
    p = Path(path)
    try:
        if p.is_dir():
            raise BadInput(f"{p}: is a directory, not an image")
        size = p.stat().st_size
        if size > MAX_IMAGE:
            raise BadInput(f"{p}: image is {size} bytes; the limit is {MAX_IMAGE} bytes")
        data = p.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"{p}: no such file") from None
    except PermissionError:
        raise BadInput(f"{p}: permission denied") from None
    except OSError as exc:
        raise BadInput(f"{p}: cannot read image: {exc.strerror or exc}") from None
    if not data:
        raise BadInput(f"{p}: image is empty")
    return data


def elf_arch(data: bytes) -> str | None:
    """The architecture an ELF image is built for, or None if it is not an ELF or not ours."""
    if not data.startswith(ELF_MAGIC):
        return None
    try:
        return ELF_ARCH.get(ELFFile(io.BytesIO(data))["e_machine"])
    except (ELFError, ValueError, KeyError, OSError):
        return None


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
            image = Image(image.path, image.format, image.arch, entry, image.segments, image.symbols)
        return image
    if arch is None:
        raise BadInput(f"{name}: not an ELF file, so --arch is needed for this raw image")
    if raw_load_addr is None:
        raise BadInput(f"{name}: no load address for a raw image")
    seg = Segment(raw_load_addr, data, len(data))
    return Image(name, "raw", arch, raw_load_addr if entry is None else entry, (seg,), {})


def _load_elf(name: str, data: bytes, arch: str | None) -> Image:
    try:
        elf = ELFFile(io.BytesIO(data))
        machine = elf["e_machine"]
        image_arch = ELF_ARCH.get(machine)
        if image_arch is None:
            raise BadInput(f"{name}: ELF for {machine}, which vm does not run (arm64, riscv64, x86_64)")
        if arch is not None and arch != image_arch:
            raise BadInput(f"{name}: ELF is for {image_arch}, not {arch} (drop --arch or pass --arch {image_arch})")
        if elf["e_type"] not in ("ET_EXEC", "ET_DYN"):
            raise BadInput(f"{name}: ELF type {elf['e_type']} is not an executable")
        segments = []
        for seg in elf.iter_segments():
            if seg["p_type"] != PT_LOAD or seg["p_memsz"] == 0:
                continue
            offset, filesz, memsz = seg["p_offset"], seg["p_filesz"], seg["p_memsz"]
            if filesz > memsz:
                raise BadInput(f"{name}: corrupt ELF: segment file size {filesz:#x} exceeds its memory size {memsz:#x}")
            if offset + filesz > len(data):
                raise BadInput(f"{name}: truncated ELF: segment at file offset {offset:#x} runs past the end")
            if memsz > MAX_IMAGE:
                raise BadInput(f"{name}: ELF segment of {memsz:#x} bytes is absurdly large")
            segments.append(Segment(seg["p_paddr"], data[offset:offset + filesz], memsz,
                                    bool(seg["p_flags"] & P_FLAGS.PF_X)))
        if not segments:
            raise BadInput(f"{name}: ELF has no loadable segments")
        symbols = _symbols(elf)
        return Image(name, "elf", image_arch, elf["e_entry"], tuple(segments), symbols)
    except BadInput:
        raise
    except (ELFError, ValueError, KeyError, OSError, AssertionError, IndexError, TypeError) as exc:
        raise BadInput(f"{name}: corrupt or truncated ELF ({exc})") from None


def _symbols(elf: ELFFile) -> dict[str, tuple[int, int]]:
    table = elf.get_section_by_name(".symtab")
    if table is None or not hasattr(table, "iter_symbols"):
        return {}
    out = {}
    for sym in table.iter_symbols():
        if sym.name and sym["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT", "STT_NOTYPE") \
                and sym["st_shndx"] != "SHN_UNDEF":
            out[sym.name] = (sym["st_value"], sym["st_size"])
    return out


def check_layout(image: Image, ram: tuple[int, int], windows: list[tuple[str, int, int]]) -> None:
    """Segments must lie in RAM [start, end), not overlap each other or a device window."""
    ram_start, ram_end = ram
    ordered = sorted(image.segments, key=lambda s: s.address)
    for seg in ordered:
        for dev, base, size in windows:
            if seg.address < base + size and base < seg.end:
                raise BadInput(f"{image.path}: segment [{seg.address:#x}, {seg.end:#x}) overlaps device "
                               f"{dev} at [{base:#x}, {base + size:#x})")
        if seg.address < ram_start or seg.end > ram_end:
            raise BadInput(f"{image.path}: segment [{seg.address:#x}, {seg.end:#x}) lies outside RAM "
                           f"[{ram_start:#x}, {ram_end:#x}) (a larger --mem or another --load-addr may help)")
    for a, b in zip(ordered, ordered[1:], strict=False):
        if b.address < a.end:
            raise BadInput(f"{image.path}: segments [{a.address:#x}, {a.end:#x}) and "
                           f"[{b.address:#x}, {b.end:#x}) overlap")
