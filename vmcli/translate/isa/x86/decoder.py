"""Table-driven x86-64 decoder for the supported subset (opcodes.SPECS).

It recognises exactly the encodings the rule table can translate and answers None for anything
else (the translator then reports the instruction as unsupported, with capstone's text). The fs
and gs segment overrides add their base to a memory operand (Mem.seg); the cs, ds, es and ss
overrides have no effect in 64-bit mode and are accepted anywhere (as branch hints, `notrack`, nop
padding). LOCK is accepted on the read-modify-write forms of a memory destination (Insn.lock). REP
on non-SSE opcodes, address-size overrides, VEX/EVEX and legacy high-byte registers (ah/ch/dh/bh;
but in HIGH_BYTE_FORMS) are outside the subset.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmcli.translate.isa.x86.opcodes import SPECS, OpSpec

RIP = 16  # Mem.base value meaning RIP-relative
# the forms that take a legacy high-byte register (ah, ch, dh, bh) in ModRM.rm: what code around the
# x87's status and control words does with them (fnstsw ax; test ah, 0x45 / fnstcw; or ah, 0xc)
HIGH_BYTE_FORMS = frozenset(("and Eb,Ib", "or Eb,Ib", "xor Eb,Ib", "test Eb,Ib"))
FS, GS = 1, 2  # Mem.seg: the segment whose base the operand adds
SEGMENT_PREFIX = {0x64: FS, 0x65: GS}
IGNORED_PREFIXES = (0x26, 0x2E, 0x36, 0x3E)   # es cs ss ds: no effect in 64-bit mode


@dataclass(frozen=True)
class Reg:
    kind: str   # "gpr", "xmm" or "st" (x87: st(num), relative to the stack's top)
    num: int    # 0..15 (st: 0..7)
    size: int   # bytes: 1, 2, 4, 8 (gpr), 16 (xmm) or 10 (st)
    high: bool = False   # ah, ch, dh, bh: bits 15:8 of gpr num (0..3)


@dataclass(frozen=True)
class Mem:
    base: int    # -1 none, 0..15, RIP
    index: int   # -1 none
    scale: int
    disp: int
    size: int    # bytes accessed
    seg: int = 0  # 0, FS or GS: the segment base added to the address


@dataclass(frozen=True)
class Imm:
    value: int   # sign- or zero-extended as the instruction defines, as a Python int
    size: int    # bytes in the encoding


Operand = Reg | Mem | Imm


@dataclass(frozen=True)
class Insn:
    address: int
    raw: bytes
    spec: OpSpec
    opsize: int                      # operand size in bytes for v/y/z operands
    operands: tuple[Operand, ...]
    lock: bool = False               # the LOCK prefix (on a read-modify-write of memory)
    vex_l: int = 0                   # VEX.L: 256-bit vectors

    @property
    def length(self) -> int:
        return len(self.raw)

    @property
    def next_ip(self) -> int:
        return self.address + len(self.raw)


# (map, prefix, opcode) -> specs sharing that slot
_TABLE: dict[tuple[int, int, int], list[OpSpec]] = {}
# VEX: (map, implied prefix, opcode) -> specs
_VEX_TABLE: dict[tuple[int, int, int], list[OpSpec]] = {}
for _s in SPECS:
    if _s.vex:
        _VEX_TABLE.setdefault((_s.map, _s.prefix, _s.opcode), []).append(_s)
    elif _s.plus_r:
        for _r in range(8):
            _TABLE.setdefault((_s.map, _s.prefix, _s.opcode + _r), []).append(_s)
    else:
        _TABLE.setdefault((_s.map, _s.prefix, _s.opcode), []).append(_s)

_SIZES = {"b": 1, "w": 2, "d": 4, "q": 8, "x": 16, "t": 10}


def operand_size(code: str, opsize: int, rex_w: bool) -> int:
    """Bytes of an operand code's size letter(s)."""
    fixed = {"AL": 1, "CL": 1, "1": 1, "X0": 16, "rAX": opsize, "AX": 2, "ST": 10, "ST0": 10}
    if code in fixed:
        return fixed[code]
    letters = code.lstrip("EGWVUMZIJHBL")
    if letters in ("v", "z"):
        return opsize if letters == "v" else min(opsize, 4)
    if letters == "y":
        return 8 if rex_w else 4
    if letters == "l":
        return opsize                # VEX: the vector length
    if letters == "bs":
        return 1
    if letters == "":
        return 16 if code[0] in "WVUM" else opsize
    return _SIZES[letters]


def decode(code: bytes, address: int = 0) -> Insn | None:
    """Decode one instruction at the start of `code`, or None when it is outside the subset."""
    pos = 0
    opsize_prefix = False
    rep = 0
    rex = 0
    seg = 0
    n = len(code)
    lock = False
    while pos < n and code[pos] in (0x66, 0xF2, 0xF3, 0xF0, 0x64, 0x65, *IGNORED_PREFIXES):
        byte = code[pos]
        if byte == 0x66:
            opsize_prefix = True
        elif byte == 0xF0:
            lock = True
        elif byte in SEGMENT_PREFIX:
            if seg:
                return None          # two segment overrides: the last wins on some CPUs only
            seg = SEGMENT_PREFIX[byte]
        elif byte in (0xF2, 0xF3):
            rep = byte
        pos += 1
    vex: tuple[int, int] | None = None           # (vvvv, L) of a VEX prefix
    if pos + 2 < n and code[pos] in (0xC4, 0xC5):
        if opsize_prefix or rep or lock:
            return None                           # a legacy prefix before VEX is #UD
        if code[pos] == 0xC5:
            b1 = code[pos + 1]
            rex = 0x40 | (0 if b1 & 0x80 else 4)
            mapno, b2 = 1, b1
            pos += 2
        else:
            b1, b2 = code[pos + 1], code[pos + 2]
            mapno = b1 & 0x1F
            if mapno not in (1, 2, 3):
                return None
            rex = 0x40 | (0 if b1 & 0x80 else 4) | (0 if b1 & 0x40 else 2) | (0 if b1 & 0x20 else 1) | (b2 & 0x80) >> 4
            pos += 3
            if pos >= n:
                return None                       # cut before its opcode
        vex = ((~b2 >> 3) & 15, (b2 >> 2) & 1)
        implied = (0, 0x66, 0xF3, 0xF2)[b2 & 3]
        opcode = code[pos]
        pos += 1
        fitting = [c for c in _VEX_TABLE.get((mapno, implied, opcode), [])
                   if c.vex_l in (-1, vex[1]) and c.vex_w in (-1, (rex >> 3) & 1)]
        if not fitting:
            return None
        return _operands(code, pos, address, fitting, mapno, opcode, rex, (16, 32)[vex[1]], seg, False, vex)
    if pos < n and 0x40 <= code[pos] <= 0x4F:
        rex = code[pos]
        pos += 1
    if pos >= n:
        return None
    mapno = 0
    if code[pos] == 0x0F:
        pos += 1
        mapno = 1
        if pos < n and code[pos] in (0x38, 0x3A):
            mapno = 2 if code[pos] == 0x38 else 3
            pos += 1
    if pos >= n:
        return None
    opcode = code[pos]
    pos += 1
    # the mandatory prefix: F2/F3 win over 66; one-byte opcodes take none
    candidates: list[OpSpec] = []
    used_prefix = 0
    if mapno:
        for prefix in ((rep,) if rep else ()) + ((0x66,) if opsize_prefix else ()) + (0,):
            candidates = _TABLE.get((mapno, prefix, opcode), [])
            if candidates:
                used_prefix = prefix
                break
    else:
        if rep:
            return None
        candidates = _TABLE.get((0, 0, opcode), [])
    if not candidates:
        return None
    if used_prefix == 0x66:
        opsize_prefix = False
    opsize = 8 if rex & 8 else (2 if opsize_prefix else 4)
    return _operands(code, pos, address, candidates, mapno, opcode, rex, opsize, seg, lock, None)


def _operands(code: bytes, pos: int, address: int, candidates: list[OpSpec], mapno: int, opcode: int, rex: int,
              opsize: int, seg: int, lock: bool, vex: tuple[int, int] | None) -> Insn | None:
    """The rest of an instruction from its ModRM byte on: the spec that fits and its operands
    (opsize: the operand size, or for VEX the vector length; vex: its vvvv and L)."""
    n = len(code)
    rex_w, rex_r, rex_x, rex_b = bool(rex & 8), (rex >> 2) & 1, (rex >> 1) & 1, rex & 1
    first = candidates[0]
    mod = reg = rm = 0
    mem: Mem | None = None
    if first.has_modrm:
        if pos >= n:
            return None
        modrm = code[pos]
        pos += 1
        mod, reg, rm = modrm >> 6, (modrm >> 3) & 7, modrm & 7
        if mod != 3:
            base, index, scale, disp = rm | (rex_b << 3), -1, 1, 0
            if rm == 4:
                if pos >= n:
                    return None
                sib = code[pos]
                pos += 1
                scale = 1 << (sib >> 6)
                idx = ((sib >> 3) & 7) | (rex_x << 3)
                index = -1 if idx == 4 else idx
                base = (sib & 7) | (rex_b << 3)
                if (sib & 7) == 5 and mod == 0:
                    base = -1
                    if pos + 4 > n:
                        return None
                    disp = int.from_bytes(code[pos:pos + 4], "little", signed=True)
                    pos += 4
            elif rm == 5 and mod == 0:
                base = RIP
                if pos + 4 > n:
                    return None
                disp = int.from_bytes(code[pos:pos + 4], "little", signed=True)
                pos += 4
            if mod == 1:
                if pos >= n:
                    return None
                disp = int.from_bytes(code[pos:pos + 1], "little", signed=True)
                pos += 1
            elif mod == 2:
                if pos + 4 > n:
                    return None
                disp = int.from_bytes(code[pos:pos + 4], "little", signed=True)
                pos += 4
            mem = Mem(base, index, scale, disp, 0, seg)
    spec = None
    for cand in candidates:
        if cand.digit >= 0 and cand.digit != reg:
            continue
        if cand.x87 and (mod == 3) != (cand.rm >= 0 or "ST" in cand.operands):
            continue                 # x87: a register form (mod 3) or a memory form
        if cand.rm >= 0 and rm != cand.rm:
            continue
        if cand.mnemonic == "nop" and mapno == 0 and rex_b:
            continue                 # 41 90 is xchg r8d, eax
        if mod == 3 and any(o[0] == "M" for o in cand.operands):
            continue
        if mod != 3 and any(o[0] == "U" for o in cand.operands):
            continue
        spec = cand
        break
    if spec is None:
        return None
    if lock and not (spec.lockable and mod != 3):
        return None                  # LOCK on anything else is #UD
    if vex is not None and not spec.uses_vvvv and vex[0]:
        return None                  # VEX.vvvv must be 1111 when it names nothing
    if vex is not None and not any(o.endswith("l") for o in spec.operands):
        opsize = 8 if rex_w else 4   # VEX without vectors of VEX.L's length: W sizes its operands
    if (spec.is_sse or spec.stack64) and opsize == 2:
        return None
    if spec.stack64:
        opsize = 8
    if spec.x87 and (opsize == 2 or (mod == 3 and rex)):
        return None                  # 66, or a REX prefix on a stack-register form: outside the subset
    operands: list[Operand] = []
    for code_ in spec.operands:
        kind = code_[0]
        size = operand_size(code_, opsize, rex_w)
        if code_ in ("AL", "rAX"):
            operands.append(Reg("gpr", 0, 1 if code_ == "AL" else opsize))
        elif code_ == "CL":
            operands.append(Reg("gpr", 1, 1))
        elif code_ == "1":
            operands.append(Imm(1, 0))
        elif code_ == "X0":
            operands.append(Reg("xmm", 0, 16))
        elif code_ == "AX":
            operands.append(Reg("gpr", 0, 2))
        elif code_ in ("ST", "ST0"):
            operands.append(Reg("st", rm if code_ == "ST" else 0, 10))
        elif kind == "G":
            if size == 1 and not rex and reg >= 4:
                return None  # ah/ch/dh/bh
            operands.append(Reg("gpr", reg | (rex_r << 3), size))
        elif kind == "V":
            operands.append(Reg("xmm", reg | (rex_r << 3), size if vex else 16))
        elif kind == "H":
            assert vex is not None
            operands.append(Reg("xmm", vex[0], size))
        elif kind == "B":
            assert vex is not None
            operands.append(Reg("gpr", vex[0], size))
        elif kind == "L":                   # a vector register in the immediate byte's bits 7:4 (/is4)
            if pos >= n:
                return None
            operands.append(Reg("xmm", code[pos] >> 4, size))
            pos += 1
        elif kind == "Z":
            r = (opcode & 7) | (rex_b << 3)
            if size == 1 and not rex and r >= 4:
                return None
            operands.append(Reg("gpr", r, size))
        elif kind in "EWUM":
            if mod == 3:
                if kind == "E":
                    if size == 1 and not rex and rm >= 4:
                        if spec.syntax() not in HIGH_BYTE_FORMS:
                            return None
                        operands.append(Reg("gpr", rm - 4, 1, high=True))
                        continue
                    operands.append(Reg("gpr", rm | (rex_b << 3), size))
                else:
                    operands.append(Reg("xmm", rm | (rex_b << 3), size if vex and size > 16 else 16))
            else:
                assert mem is not None
                operands.append(Mem(mem.base, mem.index, mem.scale, mem.disp, size, mem.seg))
        elif kind in "IJ":
            letters = code_[1:]
            nbytes = {"b": 1, "bs": 1, "w": 2, "z": 2 if opsize == 2 else 4, "v": opsize}[letters]
            if pos + nbytes > n:
                return None
            signed = letters in ("bs", "z") or kind == "J"
            value = int.from_bytes(code[pos:pos + nbytes], "little", signed=signed)
            pos += nbytes
            operands.append(Imm(value, nbytes))
        else:  # pragma: no cover - table error
            raise AssertionError(code_)
    return Insn(address, bytes(code[:pos]), spec, opsize, tuple(operands), lock, vex[1] if vex else 0)
