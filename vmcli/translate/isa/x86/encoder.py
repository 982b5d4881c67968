"""x86-64 encoder for the opcode table in opcodes.py (the inverse of decoder.decode).

It builds the instances the verifier runs for each form and is the encoder the AArch64 -> x86-64
rules emit through; tests round-trip it through capstone and through decoder.py.
"""

from __future__ import annotations

from functools import lru_cache

from vmcli.translate.isa.x86.decoder import FS, RIP, Imm, Mem, Operand, Reg, operand_size
from vmcli.translate.isa.x86.opcodes import OpSpec


def encode(spec: OpSpec, opsize: int, operands: tuple[Operand, ...], lock: bool = False) -> bytes:
    """Machine code for `spec` with `operands` (same shapes decode() produces), LOCK-prefixed.
    For a VEX spec, opsize is the vector length (16 or 32)."""
    if spec.vex:
        return _encode_vex(spec, opsize, operands)
    rex_w = opsize == 8 and not spec.is_sse and not spec.stack64 and not spec.x87 or _needs_w(spec, operands)
    rex_r = rex_x = rex_b = 0
    force_rex = False
    reg_field = spec.digit if spec.digit >= 0 else 0
    rm_reg: Reg | None = None
    mem: Mem | None = None
    imms: list[tuple[int, int]] = []
    opcode = spec.opcode
    for code, op in zip(spec.operands, operands, strict=True):
        kind = code[0]
        if code in ("AL", "rAX", "CL", "1", "X0", "AX", "ST0"):
            continue
        if code == "ST":
            assert isinstance(op, Reg)
            rm_reg = op
            continue
        if kind in "GV":
            assert isinstance(op, Reg)
            reg_field = op.num & 7
            rex_r = op.num >> 3
            force_rex |= op.kind == "gpr" and op.size == 1 and op.num >= 4
        elif kind == "Z":
            assert isinstance(op, Reg)
            opcode += op.num & 7
            rex_b = op.num >> 3
            force_rex |= op.size == 1 and op.num >= 4
        elif kind in "EWUM":
            if isinstance(op, Reg):
                rm_reg = op
                rex_b = op.num >> 3
                force_rex |= op.kind == "gpr" and op.size == 1 and op.num >= 4
            else:
                assert isinstance(op, Mem)
                mem = op
        elif kind in "IJ":
            assert isinstance(op, Imm)
            letters = code[1:]
            nbytes = {"b": 1, "bs": 1, "w": 2, "z": 2 if opsize == 2 else 4, "v": opsize}[letters]
            imms.append((op.value, nbytes))
    modrm_sib_disp = b""
    if spec.rm >= 0:
        modrm_sib_disp = bytes([0xC0 | (reg_field << 3) | spec.rm])
    elif spec.has_modrm:
        if rm_reg is not None:
            modrm_sib_disp = bytes([0xC0 | (reg_field << 3) | (rm_reg.num + 4 * rm_reg.high & 7)])
        else:
            assert mem is not None
            modrm_sib_disp, x, bb = _memory(reg_field, mem)
            rex_x, rex_b = x, bb
    out = bytearray(b"\xf0" if lock else b"")
    if mem is not None and mem.seg:
        out.append(0x64 if mem.seg == FS else 0x65)
    if opsize == 2 and not spec.is_sse:
        out.append(0x66)
    if spec.prefix:
        out.append(spec.prefix)
    rex = 0x40 | (int(rex_w) << 3) | (rex_r << 2) | (rex_x << 1) | rex_b
    if rex != 0x40 or force_rex:
        out.append(rex)
    out += spec.opcode_bytes()[:-1] + bytes([opcode])
    out += modrm_sib_disp
    for value, nbytes in imms:
        out += (value & ((1 << (8 * nbytes)) - 1)).to_bytes(nbytes, "little")
    return bytes(out)


def _encode_vex(spec: OpSpec, vl: int, operands: tuple[Operand, ...]) -> bytes:
    """A VEX instruction: the two-byte prefix where it can say everything, else the three-byte one."""
    reg_field = spec.digit if spec.digit >= 0 else 0
    rex_r = rex_x = rex_b = 0
    vvvv = 0
    rm_reg: Reg | None = None
    mem: Mem | None = None
    imms: list[tuple[int, int]] = []
    w = spec.vex_w if spec.vex_w >= 0 else int(_needs_w(spec, operands))
    for code, op in zip(spec.operands, operands, strict=True):
        kind = code[0]
        if kind in "GV":
            assert isinstance(op, Reg)
            reg_field, rex_r = op.num & 7, op.num >> 3
        elif kind in "HB":
            assert isinstance(op, Reg)
            vvvv = op.num
        elif kind in "EWUM":
            if isinstance(op, Reg):
                rm_reg, rex_b = op, op.num >> 3
            else:
                assert isinstance(op, Mem)
                mem = op
        elif kind == "I":
            assert isinstance(op, Imm)
            imms.append((op.value, 1))
        elif kind == "L":
            assert isinstance(op, Reg)
            imms.append((op.num << 4, 1))
    if rm_reg is not None:
        tail = bytes([0xC0 | (reg_field << 3) | (rm_reg.num & 7)])
    elif mem is not None:
        tail, rex_x, rex_b = _memory(reg_field, mem)
    else:
        tail = b""                                  # vzeroupper, vzeroall
    pp = {0: 0, 0x66: 1, 0xF3: 2, 0xF2: 3}[spec.prefix]
    vex_l = spec.vex_l if spec.vex_l >= 0 else int(vl == 32)
    last = (w << 7) | ((~vvvv & 15) << 3) | (vex_l << 2) | pp
    out = bytearray(b"\x64" if mem is not None and mem.seg == FS else b"\x65" if mem is not None and mem.seg else b"")
    if spec.map == 1 and not (w or rex_x or rex_b):
        out += bytes([0xC5, ((rex_r ^ 1) << 7) | (last & 0x7F)])
    else:
        out += bytes([0xC4, ((rex_r ^ 1) << 7) | ((rex_x ^ 1) << 6) | ((rex_b ^ 1) << 5) | spec.map, last])
    out += bytes([spec.opcode]) + tail
    for value, nbytes in imms:
        out += (value & ((1 << (8 * nbytes)) - 1)).to_bytes(nbytes, "little")
    return bytes(out)


def _needs_w(spec: OpSpec, operands: tuple[Operand, ...]) -> bool:
    """SSE forms with a `y` operand (movd/movq, cvtsi2ss, pextrd/q ...) take REX.W for 64 bits."""
    for code, op in zip(spec.operands, operands, strict=True):
        if code.endswith("y") and isinstance(op, Reg | Mem) and op.size == 8:
            return True
    return False


def _memory(reg_field: int, mem: Mem) -> tuple[bytes, int, int]:
    """ModRM + SIB + displacement for a memory operand; returns (bytes, REX.X, REX.B)."""
    if mem.base == RIP:
        return bytes([(reg_field << 3) | 5]) + (mem.disp & 0xFFFFFFFF).to_bytes(4, "little"), 0, 0
    rex_x = mem.index >> 3 if mem.index >= 0 else 0
    rex_b = mem.base >> 3 if mem.base >= 0 else 0
    if mem.base < 0:
        mod, disp = 0, (mem.disp & 0xFFFFFFFF).to_bytes(4, "little")
    elif mem.disp == 0 and (mem.base & 7) != 5:
        mod, disp = 0, b""
    elif -128 <= mem.disp < 128:
        mod, disp = 1, (mem.disp & 0xFF).to_bytes(1, "little")
    else:
        mod, disp = 2, (mem.disp & 0xFFFFFFFF).to_bytes(4, "little")
    need_sib = mem.index >= 0 or mem.base < 0 or (mem.base & 7) == 4
    if not need_sib:
        return bytes([(mod << 6) | (reg_field << 3) | (mem.base & 7)]) + disp, rex_x, rex_b
    scale_bits = {1: 0, 2: 1, 4: 2, 8: 3}[mem.scale]
    index = (mem.index & 7) if mem.index >= 0 else 4
    base = (mem.base & 7) if mem.base >= 0 else 5
    sib = (scale_bits << 6) | (index << 3) | base
    return bytes([(mod << 6) | (reg_field << 3) | 4, sib]) + disp, rex_x, rex_b


def operand_sizes(spec: OpSpec, opsize: int, rex_w: bool = False) -> list[int]:
    return [operand_size(code, opsize, rex_w) for code in spec.operands]


# ---- raw forms for the AArch64 -> x86-64 builder (a64_to_x86/builder.py) --------------------------
# The builder emits instructions outside the decoder's subset (div, bsr, sahf, ...); these encode any
# ModRM or opcode+register instruction from its opcode bytes. tests/translate/a64_to_x86/test_emitted_x86.py
# round-trips every instruction the builder emits through capstone and keystone.

@lru_cache(maxsize=1 << 14)          # the rules encode the same few operand combinations again and again
def encode_modrm(opcode: bytes, reg: int, rm: int | Mem, w: bool = False, prefix: bytes = b"",
                 imm: bytes = b"", byte_reg: bool = False, byte_rm: bool = False) -> bytes:
    """`prefix opcode ModRM [SIB disp] imm`: reg is a register number or a /digit, rm a register
    number or a memory operand. byte_reg/byte_rm: that operand is an 8-bit register (spl, bpl, sil
    and dil need a REX prefix to be told from ah..bh)."""
    rex_r = reg >> 3
    force = byte_reg and 4 <= reg < 8
    if isinstance(rm, Mem):
        tail, rex_x, rex_b = _memory(reg & 7, rm)
    else:
        tail, rex_x, rex_b = bytes([0xC0 | ((reg & 7) << 3) | (rm & 7)]), 0, rm >> 3
        force |= byte_rm and 4 <= rm < 8
    rex = 0x40 | (int(w) << 3) | (rex_r << 2) | (rex_x << 1) | rex_b
    out = bytearray(prefix)
    if rex != 0x40 or force:
        out.append(rex)
    return bytes(out + opcode + tail + imm)


def encode_opreg(opcode: bytes, reg: int, w: bool = False, imm: bytes = b"") -> bytes:
    """An opcode whose last byte carries the register (B8+r mov, 0F C8+r bswap)."""
    rex = 0x40 | (int(w) << 3) | (reg >> 3)
    out = bytearray([rex]) if rex != 0x40 else bytearray()
    return bytes(out + opcode[:-1] + bytes([opcode[-1] + (reg & 7)]) + imm)
