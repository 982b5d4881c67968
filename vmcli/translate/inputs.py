"""Where `vm translate` gets its blocks: --hex, --asm (keystone), --image (raw or ELF), --input-file.

Every malformed input is a BadInput (one line, exit status 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vmcli.errors import BadInput


@dataclass
class Block:
    code: bytes
    address: int
    label: str = ""


def parse_hex(text: str, what: str = "--hex") -> bytes:
    cleaned = re.sub(r"(0x|\\x|[\s,:_])", "", text.strip(), flags=re.IGNORECASE)
    if not cleaned:
        raise BadInput(f"{what}: no bytes given")
    if len(cleaned) % 2 or not re.fullmatch(r"[0-9a-fA-F]*", cleaned):
        raise BadInput(f"{what}: not a sequence of hex bytes: {text.strip()[:60]!r}")
    return bytes.fromhex(cleaned)


def assemble(text: str, arch: str, address: int) -> bytes:
    try:
        import keystone
    except ImportError as exc:  # pragma: no cover - keystone is in the asm extra
        raise BadInput("--asm needs keystone-engine (pip install 'vmcli[asm]')") from exc
    if arch == "x86_64":
        ks = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_64)
    else:
        ks = keystone.Ks(keystone.KS_ARCH_ARM64, keystone.KS_MODE_LITTLE_ENDIAN)
    try:
        encoding, _ = ks.asm(text.replace(";", "\n"), address)
    except keystone.KsError as exc:
        raise BadInput(f"--asm: {exc}") from exc
    if not encoding:
        raise BadInput("--asm: nothing assembled")
    return bytes(encoding)


def read_input_file(path: str) -> list[Block]:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise BadInput(f"--input-file: {exc.strerror}: {path}") from exc
    blocks = []
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        blocks.append(Block(parse_hex(line, f"{path}:{number}"), 0, f"{path}:{number}"))
    if not blocks:
        raise BadInput(f"--input-file: {path} holds no hex blocks")
    return blocks


def read_image(path: str, start: int | None, count: int | None, symbol: str | None,
               arch: str) -> Block:
    """A block from a raw image (start = file offset = address) or an ELF (start = virtual address)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BadInput(f"--image: {exc.strerror}: {path}") from exc
    if data[:4] == b"\x7fELF":
        code, address = _from_elf(path, data, start, symbol)
    else:
        if symbol is not None:
            raise BadInput("--symbol needs an ELF image")
        address = start or 0
        if address >= len(data):
            raise BadInput(f"--start {address:#x} is past the end of {path} ({len(data)} bytes)")
        code = data[address:]
    if count is not None:
        code = _first_instructions(code, address, count, arch)
    elif symbol is None and len(code) > 1 << 20:
        code = code[: 1 << 20]
    if not code:
        raise BadInput(f"--image: no code at {address:#x}")
    return Block(code, address, path)


def _from_elf(path: str, data: bytes, start: int | None, symbol: str | None) -> tuple[bytes, int]:
    import io

    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(data))
        size = None
        if symbol is not None:
            symtab = elf.get_section_by_name(".symtab")
            syms = symtab.get_symbol_by_name(symbol) if symtab is not None else None  # type: ignore[attr-defined]
            if not syms:
                raise BadInput(f"--symbol: no symbol {symbol!r} in {path}")
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
        raise BadInput(f"--image: {path}: {exc}") from exc
    raise BadInput(f"--image: no section of {path} holds address {start:#x}")


def _first_instructions(code: bytes, address: int, count: int, arch: str) -> bytes:
    import capstone

    if count <= 0:
        raise BadInput("--count must be positive")
    if arch == "x86_64":
        cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    else:
        cs = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    end = 0
    n = 0
    for addr, size, _m, _o in cs.disasm_lite(code, address, count):
        end = addr - address + size
        n += 1
    if n == 0:
        return code[:15]
    return code[:end]
