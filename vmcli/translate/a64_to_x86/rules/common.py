"""What rules of several groups share: extended registers, load/store addresses, VFPExpandImm."""

from __future__ import annotations

from vmcli.translate.a64_to_x86.builder import Ctx
from vmcli.translate.isa.a64.encodings import sext
from vmcli.translate.isa.x86.decoder import Mem

EXTEND = {0: (1, False), 1: (2, False), 2: (4, False), 3: (8, False), 4: (1, True), 5: (2, True),
          6: (4, True), 7: (8, True)}


# ---- loads and stores ----------------------------------------------------------------------------

def address(c: Ctx, f: dict[str, int], mode: str, scale: int) -> tuple[int, int | None]:
    """(register holding the access address, register holding the written-back base or None)."""
    base = c.get(f["Rn"], True, sp=True)
    if mode == "uimm":
        a = c.tmp()
        c.lea(True, a, Mem(base, -1, 1, f["imm12"] * scale, 0))
        return a, None
    if mode in ("unscaled", "pre", "post"):
        off = sext(f["imm9"], 9)
        a = c.tmp()
        c.lea(True, a, Mem(base, -1, 1, off, 0))
        if mode == "unscaled":
            return a, None
        return (a, a) if mode == "pre" else (base, a)
    if mode == "roff":
        idx = c.get(f["Rm"], True)
        size, signed = EXTEND[f["option"]]
        c.extend(idx, idx, size, signed)
        if f["S"] and scale == 16:            # q registers: lea scales by 8 at most
            c.shift("shl", True, idx, 4)
            scale = 1
        a = c.tmp()
        c.lea(True, a, Mem(base, idx, scale if f["S"] else 1, 0, 0))
        return a, None
    raise AssertionError(mode)


# ---- immediates ------------------------------------------------------------------------------------

def vfp_expand(imm8: int, bits: int) -> int:
    """VFPExpandImm: the 8-bit float immediate of fmov as a 32- or 64-bit value."""
    a, b, cd, efgh = imm8 >> 7, (imm8 >> 6) & 1, (imm8 >> 4) & 3, imm8 & 0xF
    if bits == 32:
        return (a << 31) | ((b ^ 1) << 30) | ((0x1F if b else 0) << 25) | (cd << 23) | (efgh << 19)
    return (a << 63) | ((b ^ 1) << 62) | ((0xFF if b else 0) << 54) | (cd << 52) | (efgh << 48)
