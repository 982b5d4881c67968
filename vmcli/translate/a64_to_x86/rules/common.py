"""What rules of several groups share: extended registers, load/store addresses, VFPExpandImm."""

from __future__ import annotations

from vmcli.translate.a64_to_x86.builder import SCRATCH, Ctx
from vmcli.translate.isa.a64.encodings import sext
from vmcli.translate.isa.x86.decoder import Mem

EXTEND = {0: (1, False), 1: (2, False), 2: (4, False), 3: (8, False), 4: (1, True), 5: (2, True),
          6: (4, True), 7: (8, True)}


# ---- loads and stores ----------------------------------------------------------------------------

def address(c: Ctx, f: dict[str, int], mode: str, scale: int, size: int) -> tuple[Mem, int | None]:
    """The access's memory operand (`size` bytes), with the base read where it lives, and the
    displacement written back to the base after the access (pre/post-index) or None."""
    base = c.reg(f["Rn"], True, sp=True)
    if mode == "uimm":
        return Mem(base, -1, 1, f["imm12"] * scale, size), None
    if mode in ("unscaled", "pre", "post"):
        off = sext(f["imm9"], 9)
        return Mem(base, -1, 1, 0 if mode == "post" else off, size), None if mode == "unscaled" else off
    if mode == "roff":
        option, shift = f["option"], scale if f["S"] else 1
        if option in (3, 7):                   # lsl / sxtx: the whole register
            idx = c.reg(f["Rm"], True)
        else:                                  # uxtw / sxtw
            idx = c.tmp()
            src = c.operand(f["Rm"], False)
            if isinstance(src, Mem):
                c.load(idx, src, 4, signed=option == 6)
            elif src is None:
                c.mov_imm(idx, 0)
            else:
                c.extend(idx, src, 4, option == 6)
        if shift == 16:                        # q registers: lea scales by 8 at most
            if idx not in SCRATCH:             # a guest register's own: shift a copy
                t = c.tmp()
                c.mov(True, t, idx)
                idx = t
            c.shift("shl", True, idx, 4)
            shift = 1
        return Mem(base, idx, shift, 0, size), None
    raise AssertionError(mode)


# ---- immediates ------------------------------------------------------------------------------------

def vfp_expand(imm8: int, bits: int) -> int:
    """VFPExpandImm: the 8-bit float immediate of fmov as a 32- or 64-bit value."""
    a, b, cd, efgh = imm8 >> 7, (imm8 >> 6) & 1, (imm8 >> 4) & 3, imm8 & 0xF
    if bits == 32:
        return (a << 31) | ((b ^ 1) << 30) | ((0x1F if b else 0) << 25) | (cd << 23) | (efgh << 19)
    return (a << 63) | ((b ^ 1) << 62) | ((0xFF if b else 0) << 54) | (cd << 52) | (efgh << 48)
