"""The translator benches' baseline: capstone in detail mode decoding the same bytes, and nothing
else, in this process or as a whole process over the bench's input file. One definition for both
directions, so their ratios mean the same thing."""

from __future__ import annotations

import capstone

CS_MODES = {"x86_64": (capstone.CS_ARCH_X86, capstone.CS_MODE_64),
            "arm64": (capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)}

_SCRIPT = """
import sys, capstone
cs = capstone.Cs({arch}, {mode})
cs.detail = True
n = 0
for line in open(sys.argv[1]):
    words = line.split("#")[0].split()
    if not words:
        continue
    address = int(words[0][1:], 16) if words[0].startswith("@") else 0
    for insn in cs.disasm(bytes.fromhex(words[-1]), address):
        n += 1
print(n)
"""


def script(arch: str) -> str:
    """A `python -c` program decoding every hex line of the file argv[1] (`@ADDRESS HEX` lines at
    their address, as `vm translate --input-file` reads them)."""
    arch_id, mode = CS_MODES[arch]
    return _SCRIPT.format(arch=arch_id, mode=mode)


def decode(blocks: list[bytes], arch: str) -> int:
    """Decode every block; the instruction count."""
    cs = capstone.Cs(*CS_MODES[arch])
    cs.detail = True
    n = 0
    for code in blocks:
        for _insn in cs.disasm(code, 0):
            n += 1
    return n
