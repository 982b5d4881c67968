"""Make the golden corpus's inputs (tests/translate/golden/inputs.json.xz) from Debian's libc.

    python tests/translate/golden/make_inputs.py [X86_LIBC] [ARM64_LIBC]

Defaults: /lib/x86_64-linux-gnu/libc.so.6 and the cross sysroot's /usr/aarch64-linux-gnu/lib/libc.so.6
(Debian libc6-arm64-cross; or `apt-get download libc6:arm64` and `dpkg-deb -x` it). Every block of
.text, cut after each branch with capstone (independently of the translator), then every k-th of
them: a few thousand real blocks per architecture, and a few stretches of .text kept whole, to be
translated at their own addresses. The outputs are recorded by test_golden.py (VM_TRANSLATE_REGEN=1).
"""

from __future__ import annotations

import json
import lzma
import sys
from pathlib import Path

import capstone
from elftools.elf.elffile import ELFFile

HERE = Path(__file__).parent
BLOCKS = 2500          # real blocks per architecture
STRETCHES = 3          # stretches of .text kept whole
STRETCH = 1536         # bytes per stretch

MODES = {"x86_64": (capstone.CS_ARCH_X86, capstone.CS_MODE_64),
         "arm64": (capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)}
ENDS = {capstone.CS_GRP_JUMP, capstone.CS_GRP_CALL, capstone.CS_GRP_RET, capstone.CS_GRP_BRANCH_RELATIVE}


def text_of(path: str) -> tuple[bytes, int]:
    with open(path, "rb") as fh:
        text = ELFFile(fh).get_section_by_name(".text")
        return text.data(), text["sh_addr"]


def cut(code: bytes, address: int, arch: str) -> list[tuple[bytes, int]]:
    """Blocks ending after each jump, call, return or branch (undecodable bytes skipped)."""
    cs = capstone.Cs(*MODES[arch])
    cs.detail = True
    cs.skipdata = True
    out: list[tuple[bytes, int]] = []
    start = 0
    for insn in cs.disasm(code, address):
        end = insn.address - address + insn.size
        if insn.id and ENDS & set(insn.groups):
            out.append((code[start:end], address + start))
            start = end
    return out


def inputs(path: str, arch: str) -> dict[str, object]:
    code, address = text_of(path)
    blocks = [b for b in cut(code, address, arch) if b[0]]
    step = max(1, len(blocks) // BLOCKS)
    chosen = blocks[::step][:BLOCKS]
    align = 16 if arch == "x86_64" else 4
    stretches = []
    for i in range(STRETCHES):
        at = (len(code) * (2 * i + 1) // (2 * STRETCHES)) // align * align
        stretches.append({"address": address + at, "hex": code[at:at + STRETCH].hex()})
    return {"source": f"{path}: every {step}th of {len(blocks)} blocks of .text",
            "blocks": [{"address": a, "hex": b.hex()} for b, a in chosen], "stretches": stretches}


def main(argv: list[str]) -> None:
    x86 = argv[0] if argv else "/lib/x86_64-linux-gnu/libc.so.6"
    a64 = argv[1] if len(argv) > 1 else "/usr/aarch64-linux-gnu/lib/libc.so.6"
    data = {"x86_64": inputs(x86, "x86_64"), "arm64": inputs(a64, "arm64")}
    (HERE / "inputs.json.xz").write_bytes(lzma.compress(json.dumps(data, indent=0).encode(), preset=9))


if __name__ == "__main__":
    main(sys.argv[1:])
