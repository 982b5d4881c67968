"""Table-driven AArch64 decoder for the supported subset (the AArch64 -> x86-64 direction).

Each encoding is written as in the Arm ARM (DDI 0487, C4 "A64 Instruction Set Encoding"): fixed
bits and named fields, most significant first, e.g. `sf op S 100010 sh imm12:12 Rn:5 Rd:5`
(a bare name is one bit wide). A variant is an encoding with some fields fixed (`sf`, or `size:Q`
for vectors); a form is one variant of one encoding, and only encodings with a rule are decoded.
Anything else - and the reserved or UNPREDICTABLE corners of a supported encoding - decodes to
None, which the pipeline reports as unsupported (capstone gives the text).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

Fields = dict[str, int]

COND = ["eq", "ne", "hs", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al", "nv"]


@dataclass(frozen=True)
class Variant:
    label: str                 # "w"/"x" register width, or a vector arrangement
    fixed: tuple[tuple[str, int], ...]


@dataclass
class Enc:
    name: str                  # rule key, e.g. "add_imm"
    pattern: str
    syntax: str                # assembly form; <R> is the variant's register letter
    variants: tuple[Variant, ...]
    valid: Callable[[Fields], bool] | None = None   # rejects reserved / UNPREDICTABLE encodings
    group: str = "base"
    mask: int = 0
    value: int = 0
    fields: dict[str, tuple[int, int]] = field(default_factory=dict)   # name -> (lsb, width)

    def __post_init__(self) -> None:
        pos = 32
        for token in self.pattern.split():
            if set(token) <= {"0", "1"}:
                pos -= len(token)
                self.mask |= ((1 << len(token)) - 1) << pos
                self.value |= int(token, 2) << pos
            else:
                name, _, width = token.partition(":")
                pos -= int(width or 1)
                self.fields[name] = (pos, int(width or 1))
        assert pos == 0, (self.name, pos)

    def extract(self, word: int) -> Fields:
        return {n: (word >> lsb) & ((1 << w) - 1) for n, (lsb, w) in self.fields.items()}

    def build(self, f: Fields) -> int:
        word = self.value
        for n, (lsb, w) in self.fields.items():
            word |= (f.get(n, 0) & ((1 << w) - 1)) << lsb
        return word

    def form_name(self, variant: Variant) -> str:
        label = variant.label
        if "_" in label:                       # "ldr_x": mnemonic and register letter
            mnemonic, letter = label.split("_")
            return self.syntax.replace("<T>", mnemonic).replace("<R>", letter)
        letter = label if label in ("w", "x") else ""
        return self.syntax.replace("<R>", letter).replace("<T>", label)


@dataclass(frozen=True)
class Insn:
    address: int
    word: int
    enc: Enc
    variant: Variant
    f: tuple[tuple[str, int], ...]

    @property
    def fields(self) -> Fields:
        return dict(self.f)

    @property
    def raw(self) -> bytes:
        return self.word.to_bytes(4, "little")

    @property
    def sf(self) -> bool:
        """64-bit (X register) form."""
        return self.variant.label.endswith("x")


W_X = (Variant("w", (("sf", 0),)), Variant("x", (("sf", 1),)))
X_ONLY = (Variant("x", (("sf", 1),)),)
W_ONLY = (Variant("w", (("sf", 0),)),)
NONE = (Variant("", ()),)


def _v(label: str, **fixed: int) -> Variant:
    return Variant(label, tuple(sorted(fixed.items())))


def bit_masks(n: int, imms: int, immr: int, bits: int) -> tuple[int, int] | None:
    """DecodeBitMasks(N, imms, immr, immediate=TRUE) -> (wmask, tmask), or None when reserved."""
    combined = (n << 6) | (~imms & 0x3F)
    if combined == 0:
        return None
    length = combined.bit_length() - 1
    if length < 1 or (1 << length) > bits:
        return None
    levels = (1 << length) - 1
    s, r = imms & levels, immr & levels
    if s == levels:
        return None
    esize = 1 << length
    welem = (1 << (s + 1)) - 1
    d = (s - r) & levels
    telem = (1 << (d + 1)) - 1
    emask = (1 << esize) - 1
    welem = ((welem >> r) | (welem << (esize - r))) & emask
    wmask = tmask = 0
    for i in range(0, bits, esize):
        wmask |= welem << i
        tmask |= telem << i
    return wmask, tmask


def logic_imm_value(f: Fields, bits: int) -> int | None:
    m = bit_masks(f["N"], f["imms"], f["immr"], bits)
    return None if m is None else m[0]


def _sf_imm6(f: Fields) -> bool:
    return f["sf"] == 1 or f["imm6"] < 32


def _logical_imm(f: Fields) -> bool:
    return (f["sf"] == 1 or f["N"] == 0) and logic_imm_value(f, 64 if f["sf"] else 32) is not None


def _bitfield(f: Fields) -> bool:
    return f["N"] == f["sf"] and (f["sf"] == 1 or (f["immr"] < 32 and f["imms"] < 32))


def _ldst_wb(f: Fields) -> bool:
    """Writeback with Rt == Rn is CONSTRAINED UNPREDICTABLE (Arm ARM K1.2.7): not translated."""
    return f["Rt"] != f["Rn"] or f["Rn"] == 31


def _pair(f: Fields) -> bool:
    """ldp with Rt == Rt2 is UNPREDICTABLE."""
    return not (f["L"] and f["Rt"] == f["Rt2"])


def _pair_wb(f: Fields) -> bool:
    return _pair(f) and ((f["Rt"] != f["Rn"] and f["Rt2"] != f["Rn"]) or f["Rn"] == 31)


def _roff(f: Fields) -> bool:
    return f["option"] in (2, 3, 6, 7)


_SHIFTED = "shift:2 0 Rm:5 imm6:6 Rn:5 Rd:5"

TABLE: list[Enc] = []


def enc(name: str, pattern: str, syntax: str, variants: tuple[Variant, ...] = W_X,
        valid: Callable[[Fields], bool] | None = None, group: str = "base") -> None:
    TABLE.append(Enc(name, pattern, syntax, variants, valid, group))


# ---- data processing: immediate ----------------------------------------------------------------
for _op, _s, _m in ((0, 0, "add"), (0, 1, "adds"), (1, 0, "sub"), (1, 1, "subs")):
    enc(f"{_m}_imm", f"sf {_op} {_s} 100010 sh imm12:12 Rn:5 Rd:5", f"{_m} <R>d, <R>n, #imm12{{, lsl #12}}")
for _opc, _m in enumerate(("and", "orr", "eor", "ands")):
    enc(f"{_m}_limm", f"sf {_opc:02b} 100100 N immr:6 imms:6 Rn:5 Rd:5", f"{_m} <R>d, <R>n, #bitmask",
        valid=_logical_imm)
for _opc, _m in ((0, "movn"), (2, "movz"), (3, "movk")):
    enc(_m, f"sf {_opc:02b} 100101 hw:2 imm16:16 Rd:5", f"{_m} <R>d, #imm16, lsl #hw",
        valid=lambda f: f["sf"] == 1 or f["hw"] < 2)
for _opc, _m in ((0, "sbfm"), (1, "bfm"), (2, "ubfm")):
    enc(_m, f"sf {_opc:02b} 100110 N immr:6 imms:6 Rn:5 Rd:5", f"{_m} <R>d, <R>n, #immr, #imms", valid=_bitfield)
enc("extr", "sf 00 100111 N 0 Rm:5 imms:6 Rn:5 Rd:5", "extr <R>d, <R>n, <R>m, #lsb",
    valid=lambda f: f["N"] == f["sf"] and (f["sf"] == 1 or f["imms"] < 32))
enc("adr", "0 immlo:2 10000 immhi:19 Rd:5", "adr xd, label", NONE)
enc("adrp", "1 immlo:2 10000 immhi:19 Rd:5", "adrp xd, label", NONE)

# ---- data processing: register -----------------------------------------------------------------
for _op, _s, _m in ((0, 0, "add"), (0, 1, "adds"), (1, 0, "sub"), (1, 1, "subs")):
    enc(f"{_m}_sreg", f"sf {_op} {_s} 01011 {_SHIFTED}", f"{_m} <R>d, <R>n, <R>m{{, lsl|lsr|asr #a}}",
        valid=lambda f: f["shift"] != 3 and _sf_imm6(f))
    enc(f"{_m}_ereg", f"sf {_op} {_s} 01011 00 1 Rm:5 option:3 imm3:3 Rn:5 Rd:5",
        f"{_m} <R>d, <R>n, <R>m, extend #a", valid=lambda f: f["imm3"] <= 4)
    enc(f"{'adc' if _op == 0 else 'sbc'}{'s' if _s else ''}", f"sf {_op} {_s} 11010000 Rm:5 000000 Rn:5 Rd:5",
        f"{'adc' if _op == 0 else 'sbc'}{'s' if _s else ''} <R>d, <R>n, <R>m")
for _opc, _n, _m in ((0, 0, "and"), (0, 1, "bic"), (1, 0, "orr"), (1, 1, "orn"), (2, 0, "eor"), (2, 1, "eon"),
                     (3, 0, "ands"), (3, 1, "bics")):
    enc(f"{_m}_sreg", f"sf {_opc:02b} 01010 shift:2 {_n} Rm:5 imm6:6 Rn:5 Rd:5",
        f"{_m} <R>d, <R>n, <R>m{{, shift #a}}", valid=_sf_imm6)
for _op, _m in ((0, "ccmn"), (1, "ccmp")):
    enc(f"{_m}_reg", f"sf {_op} 1 11010010 Rm:5 cond:4 0 0 Rn:5 0 nzcv:4", f"{_m} <R>n, <R>m, #nzcv, cond")
    enc(f"{_m}_imm", f"sf {_op} 1 11010010 imm5:5 cond:4 1 0 Rn:5 0 nzcv:4", f"{_m} <R>n, #imm5, #nzcv, cond")
for _op, _o2, _m in ((0, 0, "csel"), (0, 1, "csinc"), (1, 0, "csinv"), (1, 1, "csneg")):
    enc(_m, f"sf {_op} 0 11010100 Rm:5 cond:4 0 {_o2} Rn:5 Rd:5", f"{_m} <R>d, <R>n, <R>m, cond")
for _opc, _m in ((0b000010, "udiv"), (0b000011, "sdiv"), (0b001000, "lslv"), (0b001001, "lsrv"),
                 (0b001010, "asrv"), (0b001011, "rorv")):
    enc(_m, f"sf 0 0 11010110 Rm:5 {_opc:06b} Rn:5 Rd:5", f"{_m} <R>d, <R>n, <R>m")
for _opc, _m, _vars in ((0, "rbit", W_X), (1, "rev16", W_X), (2, "rev32", X_ONLY), (4, "clz", W_X),
                        (5, "cls", W_X)):
    enc(_m, f"sf 1 0 11010110 00000 {_opc:06b} Rn:5 Rd:5", f"{_m} <R>d, <R>n", _vars)
enc("rev_w", "sf 1 0 11010110 00000 000010 Rn:5 Rd:5", "rev wd, wn", W_ONLY)
enc("rev_x", "sf 1 0 11010110 00000 000011 Rn:5 Rd:5", "rev xd, xn", X_ONLY)
for _op31, _o0, _m, _vars in ((0, 0, "madd", W_X), (0, 1, "msub", W_X), (1, 0, "smaddl", X_ONLY),
                              (1, 1, "smsubl", X_ONLY), (5, 0, "umaddl", X_ONLY), (5, 1, "umsubl", X_ONLY)):
    _syn = f"{_m} <R>d, <R>n, <R>m, <R>a" if _op31 == 0 else f"{_m} xd, wn, wm, xa"
    enc(_m, f"sf 00 11011 {_op31:03b} Rm:5 {_o0} Ra:5 Rn:5 Rd:5", _syn, _vars)
enc("smulh", "sf 00 11011 010 Rm:5 0 11111 Rn:5 Rd:5", "smulh xd, xn, xm", X_ONLY)
enc("umulh", "sf 00 11011 110 Rm:5 0 11111 Rn:5 Rd:5", "umulh xd, xn, xm", X_ONLY)

# ---- loads and stores ----------------------------------------------------------------------------
# (size, opc) -> mnemonic, for the single-register forms
LDST = {(0, 0): "strb w", (0, 1): "ldrb w", (0, 2): "ldrsb x", (0, 3): "ldrsb w",
        (1, 0): "strh w", (1, 1): "ldrh w", (1, 2): "ldrsh x", (1, 3): "ldrsh w",
        (2, 0): "str w", (2, 1): "ldr w", (2, 2): "ldrsw x",
        (3, 0): "str x", (3, 1): "ldr x"}
_MODES = {"uimm": ("size:2 111 0 01 opc:2 imm12:12 Rn:5 Rt:5", "[xn|sp, #uimm]"),
          "unscaled": ("size:2 111 0 00 opc:2 0 imm9:9 00 Rn:5 Rt:5", "[xn|sp, #simm9] (ldur/stur)"),
          "post": ("size:2 111 0 00 opc:2 0 imm9:9 01 Rn:5 Rt:5", "[xn|sp], #simm9"),
          "pre": ("size:2 111 0 00 opc:2 0 imm9:9 11 Rn:5 Rt:5", "[xn|sp, #simm9]!"),
          "roff": ("size:2 111 0 00 opc:2 1 Rm:5 option:3 S 10 Rn:5 Rt:5", "[xn|sp, xm|wm, extend #s]")}


def _ldst_variants() -> tuple[Variant, ...]:
    out = []
    for (size, opc), m in LDST.items():
        out.append(_v(m.replace(" ", "_"), size=size, opc=opc))
    return tuple(out)


for _mode, (_pat, _syn) in _MODES.items():
    _valid: Callable[[Fields], bool] | None = None
    if _mode in ("post", "pre"):
        _valid = _ldst_wb
    elif _mode == "roff":
        _valid = _roff
    enc(f"ldst_{_mode}", _pat, f"<T> <R>t, {_syn}", _ldst_variants(), _valid)

_PAIR_VARIANTS = (_v("stp_w", opc=0, L=0), _v("ldp_w", opc=0, L=1), _v("stp_x", opc=2, L=0),
                  _v("ldp_x", opc=2, L=1), _v("ldpsw_x", opc=1, L=1))
for _mode, _bits, _syn, _wb in (("post", "001", "[xn|sp], #imm", True), ("off", "010", "[xn|sp, #imm]", False),
                                ("pre", "011", "[xn|sp, #imm]!", True)):
    enc(f"ldstp_{_mode}", f"opc:2 101 0 {_bits} L imm7:7 Rt2:5 Rn:5 Rt:5", f"<T> <R>t, <R>t2, {_syn}",
        _PAIR_VARIANTS, _pair_wb if _wb else _pair)

# ---- branches (end the block) ---------------------------------------------------------------------
enc("b", "0 00101 imm26:26", "b label", NONE, group="branch")
enc("bl", "1 00101 imm26:26", "bl label", NONE, group="branch")
enc("b_cond", "01010100 imm19:19 0 cond:4", "b.cond label", NONE, group="branch")
enc("cbz", "sf 011010 0 imm19:19 Rt:5", "cbz <R>t, label", group="branch")
enc("cbnz", "sf 011010 1 imm19:19 Rt:5", "cbnz <R>t, label", group="branch")
enc("tbz", "b5 011011 0 b40:5 imm14:14 Rt:5", "tbz <R>t, #bit, label", NONE, group="branch")
enc("tbnz", "b5 011011 1 b40:5 imm14:14 Rt:5", "tbnz <R>t, #bit, label", NONE, group="branch")
enc("br", "1101011 0000 11111 000000 Rn:5 00000", "br xn", NONE, group="branch")
enc("blr", "1101011 0001 11111 000000 Rn:5 00000", "blr xn", NONE, group="branch")
enc("ret", "1101011 0010 11111 000000 Rn:5 00000", "ret xn", NONE, group="branch")


def sext(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) & 1 else value


_ACTIVE: list[Enc] | None = None


def active() -> list[Enc]:
    """The encodings a rule covers (the rules module registers by Enc.name)."""
    global _ACTIVE
    if _ACTIVE is None:
        from vmcli.translate.rules_a64_to_x86 import rule

        _ACTIVE = [e for e in TABLE if rule.get(e.name) is not None]
    return _ACTIVE


def decode(word: int, address: int = 0) -> Insn | None:
    """The instruction `word` at `address`, or None when it is outside the supported subset."""
    for e in active():
        if word & e.mask != e.value:
            continue
        f = e.extract(word)
        for v in e.variants:
            if all(f[k] == val for k, val in v.fixed):
                if e.valid is not None and not e.valid(f):
                    return None
                return Insn(address, word, e, v, tuple(f.items()))
    return None
