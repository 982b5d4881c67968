"""Where blocks come from: hex text, assembly (keystone), an image (raw or ELF), a file of hex lines.

A malformed input raises InputError, which names the input it is about (the argument of these
functions: "hex", "asm", "image", "start", "count", "symbol", "input_file"); the command turns it
into one line naming its option, and exit status 2.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from vmcli.errors import BadInput
from vmcli.hostfs import read_regular_file
from vmcli.translate.isa import disasm

MAX_INPUT = 1 << 30        # an image or block file is read whole: from a regular file, at most 1 GiB


class InputError(BadInput):
    """A malformed input; `about` names which one."""

    def __init__(self, message: str, about: str) -> None:
        super().__init__(message)
        self.about = about


@dataclass
class Block:
    code: bytes
    address: int
    label: str = ""


def parse_hex(text: str, about: str = "hex") -> bytes:
    cleaned = re.sub(r"(0x|\\x|[\s,:_])", "", text.strip(), flags=re.IGNORECASE)
    if not cleaned:
        raise InputError("no bytes given", about)
    if len(cleaned) % 2 or not re.fullmatch(r"[0-9a-fA-F]*", cleaned):
        raise InputError(f"not a sequence of hex bytes: {text.strip()[:60]!r}", about)
    return bytes.fromhex(cleaned)


def assemble(text: str, arch: str, address: int) -> bytes:
    try:
        import keystone  # heavy, and only --asm needs it
    except ImportError as exc:  # pragma: no cover - keystone is in the asm extra
        raise InputError("needs keystone-engine (pip install 'vmcli[asm]')", "asm") from exc
    modes = {"x86_64": (keystone.KS_ARCH_X86, keystone.KS_MODE_64),
             "arm64": (keystone.KS_ARCH_ARM64, keystone.KS_MODE_LITTLE_ENDIAN)}
    ks = keystone.Ks(*modes[arch])
    try:
        encoding, _ = ks.asm(text.replace(";", "\n"), address)
    except keystone.KsError as exc:
        raise InputError(str(exc), "asm") from exc
    if not encoding:
        raise InputError("nothing assembled", "asm")
    return bytes(encoding)


def read_input_file(path: str) -> list[Block]:
    """One block per line of hex, at address 0 or at the address an `@ADDRESS` first word gives
    (`@0x401000 4801c8`); `#` starts a comment."""
    lines = _lines(path)
    plain = _plain_lines(lines)
    if plain is not None:
        return [Block(code, address, f"{path}:{number}") for number, (code, address) in enumerate(plain, 1)]
    return [Block(code, address, f"{path}:{number}") for code, address, number in _parsed_lines(path, lines)]


def read_input_pairs(path: str) -> list[tuple[bytes, int]]:
    """read_input_file's blocks as (code, address) pairs: what the bulk path takes, without an
    object per line."""
    lines = _lines(path)
    plain = _plain_lines(lines)
    if plain is not None:
        return plain
    return [(code, address) for code, address, _ in _parsed_lines(path, lines)]


def _lines(path: str) -> list[str]:
    try:
        return read_regular_file(path, MAX_INPUT).decode("utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{exc.strerror}: {path}", "input_file") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not text (byte {exc.start} is not UTF-8): give one hex block per line",
                         "input_file") from exc


def _parsed_lines(path: str, lines: list[str]) -> list[tuple[bytes, int, int]]:
    """(code, address, line number) of each block, line by line."""
    blocks = []
    for number, line in enumerate(lines, 1):
        if "#" in line:
            line = line.split("#", 1)[0]
        line = line.strip()
        if not line:
            continue
        address = 0
        try:
            if line[0] == "@":
                first, _, line = line.partition(" ")
                address = _address(first[1:])
            try:
                code = bytes.fromhex(line)          # plain hex (as the bench and tests write it)
            except ValueError:
                code = b""
            if not code:
                code = parse_hex(line, "input_file")
        except InputError as exc:
            raise InputError(f"{path}:{number}: {exc}", "input_file") from exc
        blocks.append((code, address, number))
    if not blocks:
        raise InputError(f"{path} holds no hex blocks", "input_file")
    return blocks


_PLAIN_LINE = re.compile(r"(?:@(0x[0-9a-fA-F]{1,16}) )?([0-9a-fA-F]+)")


def _plain_lines(lines: list[str]) -> list[tuple[bytes, int]] | None:
    """The blocks of a file whose every line is `[@0xADDRESS ]HEX` (as the bench and the tests
    write them), or None to parse it line by line."""
    match = _PLAIN_LINE.fullmatch
    blocks = []
    for line in lines:
        m = match(line)
        if m is None or len(m[2]) % 2:
            return None
        address, code = m.groups()
        blocks.append((bytes.fromhex(code), int(address, 16) if address else 0))
    return blocks or None


def _address(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise InputError(f"not an address: @{text}", "input_file") from None
    if not 0 <= value < 1 << 64:
        raise InputError(f"@{text} is not a 64-bit address", "input_file")
    return value


def read_image(path: str, start: int | None, count: int | None, symbol: str | None,
               arch: str) -> Block:
    """A block from a raw image (start = file offset = address) or an ELF (start = virtual address)."""
    try:
        data = read_regular_file(path, MAX_INPUT)
    except OSError as exc:
        raise InputError(f"{exc.strerror}: {path}", "image") from exc
    if data[:4] == b"\x7fELF":
        code, address = _from_elf(path, data, start, symbol)
    else:
        if symbol is not None:
            raise InputError(f"{path} is not an ELF image: it has no symbols", "symbol")
        address = start or 0
        if address >= len(data):
            raise InputError(f"{address:#x} is past the end of {path} ({len(data)} bytes)", "start")
        code = data[address:]
    if count is not None:
        code = _first_instructions(code, address, count, arch)
    elif symbol is None and len(code) > 1 << 20:
        code = code[: 1 << 20]
    if not code:
        raise InputError(f"no code at {address:#x}", "image")
    return Block(code, address, path)


def _from_elf(path: str, data: bytes, start: int | None, symbol: str | None) -> tuple[bytes, int]:
    from elftools.common.exceptions import ELFError  # heavy (35 ms), and only ELF images need it
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(data))
        size = None
        if symbol is not None:
            symtab = elf.get_section_by_name(".symtab")
            syms = symtab.get_symbol_by_name(symbol) if symtab is not None else None  # type: ignore[attr-defined]
            if not syms:
                raise InputError(f"no symbol {symbol!r} in {path}", "symbol")
            start = syms[0]["st_value"]
            size = syms[0]["st_size"] or None
        if start is None:
            start = elf.header["e_entry"]
        for section in elf.iter_sections():
            addr, sz = section["sh_addr"], section["sh_size"]
            if section["sh_type"] == "SHT_PROGBITS" and addr <= start < addr + sz:
                body = section.data()[start - addr:]
                return (body[:size] if size else body), start
    except ELFError as exc:
        raise InputError(f"{path}: {exc}", "image") from exc
    raise InputError(f"no section of {path} holds address {start:#x}", "image")


def _first_instructions(code: bytes, address: int, count: int, arch: str) -> bytes:
    if count <= 0:
        raise InputError("must be positive", "count")
    end = disasm.span(arch, code, address, count)
    return code[:end] if end else code[:15]
