"""The AArch64 encodings of the supported subset, as a table in Arm ARM notation.

Each encoding is written as in the Arm ARM (DDI 0487, C4 "A64 Instruction Set Encoding"): fixed
bits and named fields, most significant first, e.g. `sf op S 100010 sh imm12:12 Rn:5 Rd:5`
(a bare name is one bit wide). A variant is an encoding with some fields fixed (`sf`, or `size:Q`
for vectors); a form is one variant of one encoding. `valid` rejects the reserved or
UNPREDICTABLE corners of an encoding. The decoder (decoder.py) decodes every encoding here; the
AArch64 -> x86-64 rules are keyed by Enc.name, and `group` names the expected-code file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

Fields = dict[str, int]


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

# hints without architectural effect on a single thread
enc("nop", "11010101000000110010 0000 000 11111", "nop", NONE)
enc("prfm", "11 111 0 01 10 imm12:12 Rn:5 Rt:5", "prfm op, [xn|sp, #uimm]", NONE)

# acquire/release accesses and barriers (ordering kept by construction, see rules)
_ACQREL = (_v("b_w", size=0), _v("h_w", size=1), _v("_w", size=2), _v("_x", size=3))
enc("ldar", "size:2 001000 110 11111 111111 Rn:5 Rt:5", "ldar<T> <R>t, [xn|sp]", _ACQREL)
enc("stlr", "size:2 001000 100 11111 111111 Rn:5 Rt:5", "stlr<T> <R>t, [xn|sp]", _ACQREL)
enc("dmb", "11010101000000110011 CRm:4 1 01 11111", "dmb option", NONE)
enc("dsb", "11010101000000110011 CRm:4 1 00 11111", "dsb option", NONE)
enc("isb", "11010101000000110011 CRm:4 1 10 11111", "isb", NONE)

# ldnp/stnp: pairs with a non-temporal hint, same effect as ldp/stp (signed offset)
enc("ldstnp", "opc:2 101 0 000 L imm7:7 Rt2:5 Rn:5 Rt:5", "<T> <R>t, <R>t2, [xn|sp, #imm]",
    (_v("stnp_w", opc=0, L=0), _v("ldnp_w", opc=0, L=1), _v("stnp_x", opc=2, L=0), _v("ldnp_x", opc=2, L=1)), _pair)
enc("vldstnp", "opc:2 101 1 000 L imm7:7 Rt2:5 Rn:5 Rt:5", "<T> <R>t, <R>t2, [xn|sp, #imm]",
    (_v("stnp_s", opc=0, L=0), _v("ldnp_s", opc=0, L=1), _v("stnp_d", opc=1, L=0), _v("ldnp_d", opc=1, L=1),
     _v("stnp_q", opc=2, L=0), _v("ldnp_q", opc=2, L=1)), lambda f: not (f["L"] and f["Rt"] == f["Rt2"]),
    group="neon-mem")
# the flags as a system register
enc("mrs_nzcv", "1101010100 1 1 1 011 0100 0010 000 Rt:5", "mrs xt, nzcv", NONE)
enc("msr_nzcv", "1101010100 0 1 1 011 0100 0010 000 Rt:5", "msr nzcv, xt", NONE)
# the other system registers user code reads or writes (op0 3, op1 3): the thread pointer, the FP
# control and status registers, and two ID registers
for _name, _crn, _crm, _op2, _w in (("tpidr_el0", "1101", "0000", "010", True), ("fpcr", "0100", "0100", "000", True),
                                    ("fpsr", "0100", "0100", "001", True), ("dczid_el0", "0000", "0000", "111", False),
                                    ("ctr_el0", "0000", "0000", "001", False)):
    enc(f"mrs_{_name}", f"1101010100 1 1 1 011 {_crn} {_crm} {_op2} Rt:5", f"mrs xt, {_name}", NONE)
    if _w:
        enc(f"msr_{_name}", f"1101010100 0 1 1 011 {_crn} {_crm} {_op2} Rt:5", f"msr {_name}, xt", NONE)
# the rest of the hint space (yield, wfe, sev, bti, paciasp, autiasp, xpaclri ...): no-ops on a CPU
# without their feature, as the translation's host is
enc("hint", "11010101000000110010 CRm:4 op2:3 11111", "hint #imm", NONE, lambda f: (f["CRm"], f["op2"]) != (0, 0))
enc("dc_zva", "11010101000010110111010000 1 Rt:5", "dc zva, xt", NONE)
enc("clrex", "11010101000000110011 CRm:4 010 11111", "clrex", NONE)
# exclusives (the monitor is in the env block) and the LSE atomics (ARMv8.1)
_SIZES4 = (_v("b_w", size=0), _v("h_w", size=1), _v("_w", size=2), _v("_x", size=3))
enc("ldxr", "size:2 001000 0 1 0 11111 o0 11111 Rn:5 Rt:5", "ld[a]xr<T> <R>t, [xn|sp]", _SIZES4)
enc("stxr", "size:2 001000 0 0 0 Rs:5 o0 11111 Rn:5 Rt:5", "st[l]xr<T> ws, <R>t, [xn|sp]", _SIZES4,
    lambda f: f["Rs"] != f["Rt"] and (f["Rs"] != f["Rn"] or f["Rn"] == 31))
enc("cas", "size:2 001000 1 A 1 Rs:5 R 11111 Rn:5 Rt:5", "cas[a][l]<T> <R>s, <R>t, [xn|sp]", _SIZES4)
for _opc, _m in ((0, "ldadd"), (1, "ldclr"), (2, "ldeor"), (3, "ldset")):
    enc(_m, f"size:2 111 0 00 A R 1 Rs:5 0 {_opc:03b} 00 Rn:5 Rt:5", f"{_m}[a][l]<T> <R>s, <R>t, [xn|sp]", _SIZES4)
enc("swp", "size:2 111 0 00 A R 1 Rs:5 1 000 00 Rn:5 Rt:5", "swp[a][l]<T> <R>s, <R>t, [xn|sp]", _SIZES4)

# ---- branches and traps (end the block) --------------------------------------------------------------
enc("svc", "11010100 000 imm16:16 000 01", "svc #imm16", NONE, group="branch")
enc("brk", "11010100 001 imm16:16 000 00", "brk #imm16", NONE, group="branch")
enc("hlt", "11010100 010 imm16:16 000 00", "hlt #imm16", NONE, group="branch")
enc("udf", "0000000000000000 imm16:16", "udf #imm16", NONE, group="branch")
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


# ---- Advanced SIMD (NEON) ---------------------------------------------------------------------------
_ARR = {"8b": (0, 0), "16b": (0, 1), "4h": (1, 0), "8h": (1, 1), "2s": (2, 0), "4s": (2, 1), "2d": (3, 1)}


def arr(*labels: str) -> tuple[Variant, ...]:
    return tuple(_v(a, size=_ARR[a][0], Q=_ARR[a][1]) for a in labels)


ALL7 = arr("8b", "16b", "4h", "8h", "2s", "4s", "2d")
BHS = arr("8b", "16b", "4h", "8h", "2s", "4s")
BH = arr("8b", "16b", "4h", "8h")
B = arr("8b", "16b")
FARR = (_v("2s", sz=0, Q=0), _v("4s", sz=0, Q=1), _v("2d", sz=1, Q=1))
Q2 = (_v("8b", Q=0), _v("16b", Q=1))
_3SAME = "0 Q {u} 01110 size:2 1 Rm:5 {op:05b} 1 Rn:5 Rd:5"

for _m, _u, _op, _nv0 in (("add", 0, 0b10000, ALL7), ("sub", 1, 0b10000, ALL7),
                           ("mul", 0, 0b10011, BHS),
                           ("cmeq", 1, 0b10001, ALL7), ("cmgt", 0, 0b00110, ALL7), ("cmhi", 1, 0b00110, ALL7),
                           ("cmge", 0, 0b00111, ALL7), ("cmhs", 1, 0b00111, ALL7), ("cmtst", 0, 0b10001, ALL7),
                           ("sqadd", 0, 0b00001, ALL7), ("uqadd", 1, 0b00001, BHS), ("sqsub", 0, 0b00101, ALL7),
                           ("uqsub", 1, 0b00101, BHS), ("smax", 0, 0b01100, BHS), ("smin", 0, 0b01101, BHS),
                           ("umax", 1, 0b01100, BHS), ("umin", 1, 0b01101, BHS)):
    enc(f"{_m}_v", _3SAME.format(u=_u, op=_op), f"{_m} vd.<T>, vn.<T>, vm.<T>", _nv0, group="neon")
for _u, _size, _m in ((0, 0, "and"), (0, 1, "bic"), (0, 2, "orr"), (0, 3, "orn"), (1, 0, "eor"), (1, 1, "bsl"),
                      (1, 2, "bit"), (1, 3, "bif")):
    enc(f"{_m}_v", f"0 Q {_u} 01110 {_size:02b} 1 Rm:5 00011 1 Rn:5 Rd:5", f"{_m} vd.<T>, vn.<T>, vm.<T>", Q2,
        group="neon")
for _opc, _m in ((1, "uzp1"), (2, "trn1"), (3, "zip1"), (5, "uzp2"), (6, "trn2"), (7, "zip2")):
    enc(f"{_m}_v", f"0 Q 0 01110 size:2 0 Rm:5 0 {_opc:03b} 10 Rn:5 Rd:5", f"{_m} vd.<T>, vn.<T>, vm.<T>", ALL7,
        group="neon")
enc("ext_v", "0 Q 10 1110 000 Rm:5 0 imm4:4 0 Rn:5 Rd:5", "ext vd.<T>, vn.<T>, vm.<T>, #index", Q2,
    valid=lambda f: f["Q"] == 1 or f["imm4"] < 8, group="neon")
_2MISC = "0 Q {u} 01110 size:2 10000 {op:05b} 10 Rn:5 Rd:5"
for _m, _u, _op, _nv1 in (("rev64", 0, 0, BHS), ("rev32", 1, 0, BH), ("rev16", 0, 1, B), ("cnt", 0, 0b00101, B),
                           ("not", 1, 0b00101, B), ("abs", 0, 0b01011, ALL7), ("neg", 1, 0b01011, ALL7),
                           ("cmgt0", 0, 0b01000, ALL7), ("cmeq0", 0, 0b01001, ALL7), ("cmlt0", 0, 0b01010, ALL7),
                           ("cmge0", 1, 0b01000, ALL7), ("cmle0", 1, 0b01001, ALL7),
                           ("clz", 1, 0b00100, BHS), ("cls", 0, 0b00100, BHS)):
    _syn = f"{_m} vd.<T>, vn.<T>" + (", #0" if _m.endswith("0") else "")
    enc(f"{_m}_v", _2MISC.format(u=_u, op=_op), _syn.replace(f"{_m} ", f"{_m.removesuffix('0')} "), _nv1,
        group="neon")
_IMM5 = {"b": "idx:4 1", "h": "idx:3 10", "s": "idx:2 100", "d": "idx:1 1000"}
for _e, _imm5 in _IMM5.items():
    _arrs = {"b": Q2, "h": (_v("4h", Q=0), _v("8h", Q=1)), "s": (_v("2s", Q=0), _v("4s", Q=1)),
             "d": (_v("2d", Q=1),)}[_e]
    enc(f"dup_elem_{_e}", f"0 Q 0 01110000 {_imm5} 0 0000 1 Rn:5 Rd:5", f"dup vd.<T>, vn.{_e}[i]", _arrs, group="neon")
    enc(f"dup_scalar_{_e}", f"01 0 11110000 {_imm5} 0 0000 1 Rn:5 Rd:5", f"mov {_e}d, vn.{_e}[i]", NONE,
        group="neon")
    enc(f"dup_gen_{_e}", f"0 Q 0 01110000 {_imm5} 0 0001 1 Rn:5 Rd:5", f"dup vd.<T>, {'x' if _e == 'd' else 'w'}n",
        _arrs, group="neon")
    enc(f"ins_gen_{_e}", f"0 1 0 01110000 {_imm5} 0 0011 1 Rn:5 Rd:5",
        f"ins vd.{_e}[i], {'x' if _e == 'd' else 'w'}n", NONE, group="neon")
    _src = {"b": "src:4", "h": "src:3 u", "s": "src:2 u:2", "d": "src:1 u:3"}[_e]
    enc(f"ins_elem_{_e}", f"0 1 1 01110000 {_imm5} 0 {_src} 1 Rn:5 Rd:5", f"ins vd.{_e}[i], vn.{_e}[j]", NONE,
        group="neon")
    enc(f"umov_{_e}", f"0 {int(_e == 'd')} 0 01110000 {_imm5} 0 0111 1 Rn:5 Rd:5",
        f"umov {'x' if _e == 'd' else 'w'}d, vn.{_e}[i]", NONE, group="neon")
    if _e != "d":
        _smov = (_v("w", Q=0), _v("x", Q=1)) if _e != "s" else (_v("x", Q=1),)
        enc(f"smov_{_e}", f"0 Q 0 01110000 {_imm5} 0 0101 1 Rn:5 Rd:5", f"smov <R>d, vn.{_e}[i]", _smov,
            group="neon")
enc("tbl_v", "0 Q 001110 000 Rm:5 0 00 0 00 Rn:5 Rd:5", "tbl vd.<T>, {vn.16b}, vm.<T>", Q2, group="neon")
for _m, _u, _op, _nv2 in (("addv", 0, 0b11011, arr("8b", "16b", "4h", "8h", "4s")),
                           ("umaxv", 1, 0b01010, arr("8b", "16b", "4h", "8h", "4s")),
                           ("uminv", 1, 0b11010, arr("8b", "16b", "4h", "8h", "4s")),
                           ("smaxv", 0, 0b01010, arr("8b", "16b", "4h", "8h", "4s")),
                           ("sminv", 0, 0b11010, arr("8b", "16b", "4h", "8h", "4s"))):
    enc(f"{_m}_v", f"0 Q {_u} 01110 size:2 11000 {_op:05b} 10 Rn:5 Rd:5", f"{_m} <e>d, vn.<T>", _nv2,
        group="neon")
# shifts by immediate: immh:immb holds the lane size and the amount
_SHIFT_ARR = {"8b": (1, 0), "16b": (1, 1), "4h": (2, 0), "8h": (2, 1), "2s": (4, 0), "4s": (4, 1), "2d": (8, 1)}


def _sharr(*labels: str) -> tuple[Variant, ...]:
    """Arrangements of a shift: immh's leading one gives the lane size (immh = 0001 b, 001x h ...)."""
    out = []
    for a in labels:
        top, q = _SHIFT_ARR[a]
        bit = top.bit_length() - 1
        out.append(_v(a, Q=q, **{f"h{bit}": 1}, **{f"h{j}": 0 for j in range(bit + 1, 4)}))
    return tuple(out)


def _shift_ok(f: Fields) -> bool:
    immh = (f["h3"] << 3) | (f["h2"] << 2) | (f["h1"] << 1) | f["h0"]
    return immh != 0 and not (immh >> 3 and not f["Q"])


for _m, _u, _op, _nv3 in (("shl", 0, 0b01010, tuple(_SHIFT_ARR)), ("ushr", 1, 0, tuple(_SHIFT_ARR)),
                           ("sshr", 0, 0, tuple(_SHIFT_ARR)), ("usra", 1, 0b00010, tuple(_SHIFT_ARR)),
                           ("ssra", 0, 0b00010, tuple(_SHIFT_ARR)), ("sli", 1, 0b01010, tuple(_SHIFT_ARR)),
                           ("sri", 1, 0b01000, tuple(_SHIFT_ARR))):
    enc(f"{_m}_v", f"0 Q {_u} 011110 h3 h2 h1 h0 immb:3 {_op:05b} 1 Rn:5 Rd:5", f"{_m} vd.<T>, vn.<T>, #shift",
        _sharr(*_nv3), valid=_shift_ok, group="neon")
# the scalar forms, on a D register (immh 1xxx; the others are reserved or not in the table)
for _m, _u, _op in (("shl", 0, 0b01010), ("ushr", 1, 0), ("sshr", 0, 0), ("usra", 1, 0b00010), ("ssra", 0, 0b00010),
                    ("sli", 1, 0b01010), ("sri", 1, 0b01000)):
    enc(f"{_m}_d", f"01 {_u} 111110 h3 h2 h1 h0 immb:3 {_op:05b} 1 Rn:5 Rd:5", f"{_m} dd, dn, #shift",
        (_v("d", h3=1),), group="neon")
# narrowing shifts: immh gives the narrow lane size, the source lanes are twice as wide
_SHRN = (_v("8b", Q=0, h0=1, h1=0, h2=0, h3=0), _v("16b", Q=1, h0=1, h1=0, h2=0, h3=0),
         _v("4h", Q=0, h1=1, h2=0, h3=0), _v("8h", Q=1, h1=1, h2=0, h3=0),
         _v("2s", Q=0, h2=1, h3=0), _v("4s", Q=1, h2=1, h3=0))
for _m, _op in (("shrn", 0b10000), ("rshrn", 0b10001)):
    enc(f"{_m}_v", f"0 Q 0 011110 h3 h2 h1 h0 immb:3 {_op:05b} 1 Rn:5 Rd:5", f"{_m}{{2}} vd.<T>, vn.(2x), #shift",
        _SHRN, group="neon")
# widening shifts (sxtl/uxtl are sshll/ushll #0) and narrowing (xtn, xtn2)
_WIDE = []
for _from, _bit in (("b", 0), ("h", 1), ("s", 2)):
    _dst = {"b": "8h", "h": "4s", "s": "2d"}[_from]
    for _q, _narrow in ((0, {"b": "8b", "h": "4h", "s": "2s"}[_from]), (1, {"b": "16b", "h": "8h", "s": "4s"}[_from])):
        _WIDE.append(_v(f"{'2' if _q else ''} vd.{_dst}, vn.{_narrow}", Q=_q, **{f"h{_bit}": 1},
                        **{f"h{j}": 0 for j in range(_bit + 1, 4)}))
for _m, _u in (("sshll", 0), ("ushll", 1)):
    enc(f"{_m}_v", f"0 Q {_u} 011110 h3 h2 h1 h0 immb:3 10100 1 Rn:5 Rd:5", f"{_m}<T>, #shift", tuple(_WIDE),
        group="neon")
enc("xtn_v", "0 Q 0 01110 size:2 10000 10010 10 Rn:5 Rd:5", "xtn{2} vd.<T>, vn.(2x)", BHS, group="neon")

# three different: long (widening) arithmetic, Vd.<2T> from the low (or, '2', high) halves
_LONG = []
for _sz, (_d, _lo, _hi) in enumerate((("8h", "8b", "16b"), ("4s", "4h", "8h"), ("2d", "2s", "4s"))):
    _LONG.append(_v(f" vd.{_d}, vn.{_lo}, vm.{_lo}", size=_sz, Q=0))
    _LONG.append(_v(f"2 vd.{_d}, vn.{_hi}, vm.{_hi}", size=_sz, Q=1))
for _m, _u, _op in (("saddl", 0, 0b0000), ("uaddl", 1, 0b0000), ("ssubl", 0, 0b0010), ("usubl", 1, 0b0010),
                    ("smlal", 0, 0b1000), ("umlal", 1, 0b1000), ("smlsl", 0, 0b1010), ("umlsl", 1, 0b1010),
                    ("smull", 0, 0b1100), ("umull", 1, 0b1100)):
    enc(f"{_m}_v", f"0 Q {_u} 01110 size:2 1 Rm:5 {_op:04b} 00 Rn:5 Rd:5", f"{_m}<T>", tuple(_LONG), group="neon")
_WIDEW = []
for _sz, (_d, _lo, _hi) in enumerate((("8h", "8b", "16b"), ("4s", "4h", "8h"), ("2d", "2s", "4s"))):
    _WIDEW.append(_v(f" vd.{_d}, vn.{_d}, vm.{_lo}", size=_sz, Q=0))
    _WIDEW.append(_v(f"2 vd.{_d}, vn.{_d}, vm.{_hi}", size=_sz, Q=1))
for _m, _u, _op in (("saddw", 0, 0b0001), ("uaddw", 1, 0b0001), ("ssubw", 0, 0b0011), ("usubw", 1, 0b0011)):
    enc(f"{_m}_v", f"0 Q {_u} 01110 size:2 1 Rm:5 {_op:04b} 00 Rn:5 Rd:5", f"{_m}<T>", tuple(_WIDEW), group="neon")
# pairwise
for _m, _u, _op, _nv5 in (("addp", 0, 0b10111, ALL7), ("smaxp", 0, 0b10100, BHS), ("sminp", 0, 0b10101, BHS),
                          ("umaxp", 1, 0b10100, BHS), ("uminp", 1, 0b10101, BHS)):
    enc(f"{_m}_v", _3SAME.format(u=_u, op=_op), f"{_m} vd.<T>, vn.<T>, vm.<T>", _nv5, group="neon")
enc("faddp_v", "0 Q 1 01110 0 sz 1 Rm:5 11010 1 Rn:5 Rd:5", "faddp vd.<T>, vn.<T>, vm.<T>", FARR, group="neon-fp")
enc("addp_s", "01 0 11110 11 11000 11011 10 Rn:5 Rd:5", "addp dd, vn.2d", NONE, group="neon")
enc("faddp_s", "01 1 11110 0 sz 11000 01101 10 Rn:5 Rd:5", "faddp <T>", (_v("sd, vn.2s", sz=0), _v("dd, vn.2d", sz=1)),
    group="neon-fp")
# modified immediate (AdvSIMDExpandImm): movi, mvni, orr, bic, fmov
_MODIMM = "0 Q {op} 0111100000 a b c {cmode} 0 1 d e f g h Rd:5"
for _m, _op, _cmode, _vars6, _syn in (
        ("movi_32", 0, "0 sh:2 0", arr("2s", "4s"), "movi vd.<T>, #imm8, lsl #8*sh"),
        ("movi_16", 0, "10 sh 0", arr("4h", "8h"), "movi vd.<T>, #imm8, lsl #8*sh"),
        ("movi_msl", 0, "110 sh", arr("2s", "4s"), "movi vd.<T>, #imm8, msl #8*(sh+1)"),
        ("movi_8", 0, "1110", Q2, "movi vd.<T>, #imm8"),
        ("movi_64", 1, "1110", (_v("d", Q=0), _v("2d", Q=1)), "movi vd.<T>, #bytemask"),
        ("mvni_32", 1, "0 sh:2 0", arr("2s", "4s"), "mvni vd.<T>, #imm8, lsl #8*sh"),
        ("mvni_16", 1, "10 sh 0", arr("4h", "8h"), "mvni vd.<T>, #imm8, lsl #8*sh"),
        ("mvni_msl", 1, "110 sh", arr("2s", "4s"), "mvni vd.<T>, #imm8, msl #8*(sh+1)"),
        ("orri_32", 0, "0 sh:2 1", arr("2s", "4s"), "orr vd.<T>, #imm8, lsl #8*sh"),
        ("orri_16", 0, "10 sh 1", arr("4h", "8h"), "orr vd.<T>, #imm8, lsl #8*sh"),
        ("bici_32", 1, "0 sh:2 1", arr("2s", "4s"), "bic vd.<T>, #imm8, lsl #8*sh"),
        ("bici_16", 1, "10 sh 1", arr("4h", "8h"), "bic vd.<T>, #imm8, lsl #8*sh"),
        ("fmovi_s", 0, "1111", arr("2s", "4s"), "fmov vd.<T>, #fpimm"),
        ("fmovi_d", 1, "1111", (_v("2d", Q=1),), "fmov vd.<T>, #fpimm")):
    _fixed = tuple(Variant(v.label, tuple((k, x) for k, x in v.fixed if k == "Q")) for v in _vars6)
    enc(_m, _MODIMM.format(op=_op, cmode=_cmode), _syn, _fixed, group="neon")

# saturating narrows (QC is not modelled, see docs)
_NARROW = (_v("8b", size=0, Q=0), _v("16b", size=0, Q=1), _v("4h", size=1, Q=0), _v("8h", size=1, Q=1))
for _m, _u, _op in (("sqxtn", 0, 0b10100), ("uqxtn", 1, 0b10100), ("sqxtun", 1, 0b10010)):
    enc(f"{_m}_v", _2MISC.format(u=_u, op=_op), f"{_m}{{2}} vd.<T>, vn.(2x)", _NARROW, group="neon")

# floating point, vector
_3F = "0 Q {u} 01110 {a} sz 1 Rm:5 {op:05b} 1 Rn:5 Rd:5"
for _m, _u, _a, _op in (("fadd", 0, 0, 0b11010), ("fsub", 0, 1, 0b11010), ("fmul", 1, 0, 0b11011),
                        ("fdiv", 1, 0, 0b11111), ("fmax", 0, 0, 0b11110), ("fmin", 0, 1, 0b11110),
                        ("fcmeq", 0, 0, 0b11100), ("fcmge", 1, 0, 0b11100), ("fcmgt", 1, 1, 0b11100)):
    enc(f"{_m}_v", _3F.format(u=_u, a=_a, op=_op), f"{_m} vd.<T>, vn.<T>, vm.<T>", FARR, group="neon-fp")
_2F = "0 Q {u} 01110 {a} sz 10000 {op:05b} 10 Rn:5 Rd:5"
for _m, _u, _a, _op, _nv4 in (("fabs", 0, 1, 0b01111, FARR), ("fneg", 1, 1, 0b01111, FARR),
                               ("fsqrt", 1, 1, 0b11111, FARR), ("scvtf", 0, 0, 0b11101, FARR),
                               ("fcvtzs", 0, 1, 0b11011, FARR)):
    enc(f"{_m}_v", _2F.format(u=_u, a=_a, op=_op), f"{_m} vd.<T>, vn.<T>", _nv4, group="neon-fp")

# floating point, scalar (an S or D result clears the rest of the V register)
SD = (_v("s", ftype=0), _v("d", ftype=1))
for _op, _m in ((0, "fmul"), (1, "fdiv"), (2, "fadd"), (3, "fsub"), (4, "fmax"), (5, "fmin")):
    enc(f"{_m}_s", f"00011110 ftype:2 1 Rm:5 {_op:04b} 10 Rn:5 Rd:5", f"{_m} <T>d, <T>n, <T>m", SD, group="fp")
for _op, _m in ((0, "fmov"), (1, "fabs"), (2, "fneg"), (3, "fsqrt")):
    enc(f"{_m}_s", f"00011110 ftype:2 1 0000 {_op:02b} 10000 Rn:5 Rd:5", f"{_m} <T>d, <T>n", SD, group="fp")
for _op, _m, _syn in ((0, "fcmp", "<T>n, <T>m"), (0b10000, "fcmpe", "<T>n, <T>m"), (0b01000, "fcmp0", "<T>n, #0.0"),
                      (0b11000, "fcmpe0", "<T>n, #0.0")):
    _rm = "00000" if _op & 0b01000 else "Rm:5"
    enc(f"{_m}_s", f"00011110 ftype:2 1 {_rm} 00 1000 Rn:5 {_op:05b}", f"{_m.removesuffix('0')} {_syn}", SD,
        group="fp")
enc("fcvt_s", "00011110 ftype:2 1 0001 opc:2 10000 Rn:5 Rd:5", "fcvt <T>", (_v("dd, sn", ftype=0, opc=1),
    _v("sd, dn", ftype=1, opc=0)), group="fp")
_GEN_FP = (_v("sd, wn", sf=0, ftype=0), _v("sd, xn", sf=1, ftype=0), _v("dd, wn", sf=0, ftype=1),
           _v("dd, xn", sf=1, ftype=1))
enc("scvtf_s", "sf 00 11110 ftype:2 1 00 010 000000 Rn:5 Rd:5", "scvtf <T>", _GEN_FP, group="fp")
enc("ucvtf_s", "sf 00 11110 ftype:2 1 00 011 000000 Rn:5 Rd:5", "ucvtf <T>", _GEN_FP, group="fp")
enc("fcvtzu_s", "sf 00 11110 ftype:2 1 11 001 000000 Rn:5 Rd:5", "fcvtzu <T>",
    (_v("wd, sn", sf=0, ftype=0), _v("xd, sn", sf=1, ftype=0), _v("wd, dn", sf=0, ftype=1),
     _v("xd, dn", sf=1, ftype=1)), group="fp")
_FP_GEN = (_v("wd, sn", sf=0, ftype=0), _v("xd, sn", sf=1, ftype=0), _v("wd, dn", sf=0, ftype=1),
           _v("xd, dn", sf=1, ftype=1))
for _rmode, _opc3, _m in ((3, 0, "fcvtzs"), (0, 0, "fcvtns"), (1, 0, "fcvtps"), (2, 0, "fcvtms"), (0, 4, "fcvtas")):
    enc(f"{_m}_s", f"sf 00 11110 ftype:2 1 {_rmode:02b} {_opc3:03b} 000000 Rn:5 Rd:5", f"{_m} <T>", _FP_GEN,
        group="fp")
for _op, _m in ((0, "fccmp"), (1, "fccmpe")):
    enc(f"{_m}_s", f"00011110 ftype:2 1 Rm:5 cond:4 01 Rn:5 {_op} nzcv:4", f"{_m} <T>n, <T>m, #nzcv, cond", SD,
        group="fp")
enc("fmov_top", "1 00 11110 10 1 01 11 op 000000 Rn:5 Rd:5", "fmov <T>",
    (_v("xd, vn.d[1]", op=0), _v("vd.d[1], xn", op=1)), group="fp")
enc("fmov_gen", "sf 00 11110 ftype:2 1 00 11 op 000000 Rn:5 Rd:5", "fmov <T>",
    (_v("wd, sn", sf=0, ftype=0, op=0), _v("sd, wn", sf=0, ftype=0, op=1), _v("xd, dn", sf=1, ftype=1, op=0),
     _v("dd, xn", sf=1, ftype=1, op=1)), group="fp")

enc("fmovi_sd", "00011110 ftype:2 1 a b c d e f g h 100 00000 Rd:5", "fmov <T>d, #fpimm", SD, group="fp")
enc("fcsel", "00011110 ftype:2 1 Rm:5 cond:4 11 Rn:5 Rd:5", "fcsel <T>d, <T>n, <T>m, cond", SD, group="fp")

for _rmode, _m in ((0, "frintn"), (1, "frintp"), (2, "frintm"), (3, "frintz"), (6, "frintx"), (7, "frinti")):
    enc(f"{_m}_s", f"00011110 ftype:2 1 001 {_rmode:03b} 10000 Rn:5 Rd:5", f"{_m} <T>d, <T>n", SD, group="fp")

# vector rounding, multiply-accumulate and by-element forms
for _m, _u, _a, _op in (("frintn", 0, 0, 0b11000), ("frintm", 0, 0, 0b11001), ("frintp", 0, 1, 0b11000),
                        ("frintz", 0, 1, 0b11001), ("frintx", 1, 0, 0b11001), ("frinti", 1, 1, 0b11001)):
    enc(f"{_m}_v", _2F.format(u=_u, a=_a, op=_op), f"{_m} vd.<T>, vn.<T>", FARR, group="neon-fp")
enc("mla_v", _3SAME.format(u=0, op=0b10010), "mla vd.<T>, vn.<T>, vm.<T>", BHS, group="neon")
enc("mls_v", _3SAME.format(u=1, op=0b10010), "mls vd.<T>, vn.<T>, vm.<T>", BHS, group="neon")
for _m, _u, _opbits in (("mul", 0, "1000"), ("mla", 1, "0000"), ("mls", 1, "0100")):
    enc(f"{_m}_elem_h", f"0 Q {_u} 01111 01 L M Rm:4 {_opbits} H 0 Rn:5 Rd:5", f"{_m} vd.<T>, vn.<T>, vm.h[i]",
        (_v("4h", Q=0), _v("8h", Q=1)), group="neon")
    enc(f"{_m}_elem_s", f"0 Q {_u} 01111 10 L M Rm:4 {_opbits} H 0 Rn:5 Rd:5", f"{_m} vd.<T>, vn.<T>, vm.s[i]",
        (_v("2s", Q=0), _v("4s", Q=1)), group="neon")
enc("fmul_elem", "0 Q 0 01111 1 sz L M Rm:4 1001 H 0 Rn:5 Rd:5", "fmul vd.<T>, vn.<T>, vm.<e>[i]", FARR,
    valid=lambda f: f["sz"] == 0 or f["L"] == 0, group="neon-fp")

# fused multiply-add, single precision only (exact through double precision, see rules)
for _o1, _o0, _m in ((0, 0, "fmadd"), (0, 1, "fmsub"), (1, 0, "fnmadd"), (1, 1, "fnmsub")):
    enc(f"{_m}_s", f"00011111 00 {_o1} Rm:5 {_o0} Ra:5 Rn:5 Rd:5", f"{_m} sd, sn, sm, sa", NONE, group="fp")
enc("fmla_v", "0 Q 0 01110 0 0 1 Rm:5 11001 1 Rn:5 Rd:5", "fmla vd.<T>, vn.<T>, vm.<T>", (_v("2s", Q=0), _v("4s", Q=1)),
    group="neon-fp")
enc("fmls_v", "0 Q 0 01110 1 0 1 Rm:5 11001 1 Rn:5 Rd:5", "fmls vd.<T>, vn.<T>, vm.<T>", (_v("2s", Q=0), _v("4s", Q=1)),
    group="neon-fp")
enc("fmla_elem", "0 Q 0 01111 1 0 L M Rm:4 0001 H 0 Rn:5 Rd:5", "fmla vd.<T>, vn.<T>, vm.s[i]",
    (_v("2s", Q=0), _v("4s", Q=1)), group="neon-fp")
enc("fmls_elem", "0 Q 0 01111 1 0 L M Rm:4 0101 H 0 Rn:5 Rd:5", "fmls vd.<T>, vn.<T>, vm.s[i]",
    (_v("2s", Q=0), _v("4s", Q=1)), group="neon-fp")

# number-preferring max/min and round-half-away
for _a, _m in ((0, "fmaxnm"), (1, "fminnm")):
    enc(f"{_m}_v", f"0 Q 0 01110 {_a} sz 1 Rm:5 11000 1 Rn:5 Rd:5", f"{_m} vd.<T>, vn.<T>, vm.<T>", FARR,
        group="neon-fp")
    enc(f"{_m}_s", f"00011110 ftype:2 1 Rm:5 011{_a} 10 Rn:5 Rd:5", f"{_m} <T>d, <T>n, <T>m", SD, group="fp")
enc("frinta_v", _2F.format(u=1, a=0, op=0b11000), "frinta vd.<T>, vn.<T>", FARR, group="neon-fp")
# scvtf / fcvtzs on an integer in an S or D register (the vector forms' lane 0)
for _m, _a, _op in (("scvtf", 0, 0b11101), ("fcvtzs", 1, 0b11011)):
    enc(f"{_m}_sv", f"01 0 11110 {_a} sz 10000 {_op:05b} 10 Rn:5 Rd:5", f"{_m} <T>d, <T>n",
        (_v("s", sz=0), _v("d", sz=1)), group="neon-fp")
enc("frinta_s", "00011110 ftype:2 1 001 100 10000 Rn:5 Rd:5", "frinta <T>d, <T>n", SD, group="fp")

# more lane arithmetic: absolute differences, halving adds, float compares with zero or magnitudes
for _m, _u, _op in (("uabd", 1, 0b01110), ("sabd", 0, 0b01110), ("uaba", 1, 0b01111), ("saba", 0, 0b01111),
                    ("uhadd", 1, 0b00000), ("shadd", 0, 0b00000), ("urhadd", 1, 0b00010), ("srhadd", 0, 0b00010)):
    enc(f"{_m}_v", _3SAME.format(u=_u, op=_op), f"{_m} vd.<T>, vn.<T>, vm.<T>", BHS, group="neon")
enc("fabd_v", _3F.format(u=1, a=1, op=0b11010), "fabd vd.<T>, vn.<T>, vm.<T>", FARR, group="neon-fp")
enc("fabd_s", "01 1 11110 1 sz 1 Rm:5 11010 1 Rn:5 Rd:5", "fabd <T>d, <T>n, <T>m",
    (_v("s", sz=0), _v("d", sz=1)), group="fp")
enc("facge_v", _3F.format(u=1, a=0, op=0b11101), "facge vd.<T>, vn.<T>, vm.<T>", FARR, group="neon-fp")
enc("facgt_v", _3F.format(u=1, a=1, op=0b11101), "facgt vd.<T>, vn.<T>, vm.<T>", FARR, group="neon-fp")
for _m, _u, _op in (("fcmgt0", 0, 0b01100), ("fcmeq0", 0, 0b01101), ("fcmlt0", 0, 0b01110), ("fcmge0", 1, 0b01100),
                    ("fcmle0", 1, 0b01101)):
    enc(f"{_m}_v", _2F.format(u=_u, a=1, op=_op), f"{_m[:-1]} vd.<T>, vn.<T>, #0.0", FARR, group="neon-fp")
enc("fnmul_s", "00011110 ftype:2 1 Rm:5 1000 10 Rn:5 Rd:5", "fnmul <T>d, <T>n, <T>m", SD, group="fp")
for _m, _u in (("uaddlv", 1), ("saddlv", 0)):
    enc(f"{_m}_v", f"0 Q {_u} 01110 size:2 11000 00011 10 Rn:5 Rd:5", f"{_m} <e>d, vn.<T>",
        arr("8b", "16b", "4h", "8h", "4s"), group="neon")

enc("ucvtf_v", _2F.format(u=1, a=0, op=0b11101), "ucvtf vd.<T>, vn.<T>", (_v("2s", sz=0, Q=0), _v("4s", sz=0, Q=1)),
    group="neon-fp")
enc("fcvtzu_v", _2F.format(u=1, a=1, op=0b11011), "fcvtzu vd.<T>, vn.<T>", (_v("2s", sz=0, Q=0), _v("4s", sz=0, Q=1)),
    group="neon-fp")

# SIMD&FP loads and stores: s, d and q registers
_VLDST = (_v("str_s", size=2, opc=0), _v("ldr_s", size=2, opc=1), _v("str_d", size=3, opc=0),
          _v("ldr_d", size=3, opc=1), _v("str_q", size=0, opc=2), _v("ldr_q", size=0, opc=3))
for _mode, (_pat, _syn) in _MODES.items():
    _vvalid: Callable[[Fields], bool] | None = _roff if _mode == "roff" else None
    enc(f"vldst_{_mode}", _pat.replace("111 0", "111 1"), f"<T> <R>t, {_syn}", _VLDST, _vvalid, group="neon-mem")
_VPAIR = (_v("stp_s", opc=0, L=0), _v("ldp_s", opc=0, L=1), _v("stp_d", opc=1, L=0), _v("ldp_d", opc=1, L=1),
          _v("stp_q", opc=2, L=0), _v("ldp_q", opc=2, L=1))
for _mode, _bits, _syn in (("post", "001", "[xn|sp], #imm"), ("off", "010", "[xn|sp, #imm]"),
                           ("pre", "011", "[xn|sp, #imm]!")):
    enc(f"vldstp_{_mode}", f"opc:2 101 1 {_bits} L imm7:7 Rt2:5 Rn:5 Rt:5", f"<T> <R>t, <R>t2, {_syn}", _VPAIR,
        lambda f: not (f["L"] and f["Rt"] == f["Rt2"]), group="neon-mem")
_LD1 = tuple(_v(a, size=_ARR[a][0], Q=_ARR[a][1]) for a in ("8b", "16b", "4h", "8h", "2s", "4s", "2d")) + (
    _v("1d", size=3, Q=0),)
for _l, _m in ((0, "st1"), (1, "ld1")):
    # one to four consecutive registers (opcode 0111, 1010, 0110, 0010)
    for _regs, _opcode in ((1, "0111"), (2, "1010"), (3, "0110"), (4, "0010")):
        _name = _m if _regs == 1 else f"{_m}x{_regs}"
        _list = ", ".join(f"vt{'+' + str(i) if i else ''}.<T>" for i in range(_regs))
        enc(f"{_name}_v", f"0 Q 0011000 {_l} 000000 {_opcode} size:2 Rn:5 Rt:5", f"{_m} {{{_list}}}, [xn|sp]", _LD1,
            group="neon-mem")
        enc(f"{_name}_post", f"0 Q 0011001 {_l} 0 Rm:5 {_opcode} size:2 Rn:5 Rt:5",
            f"{_m} {{{_list}}}, [xn|sp], #imm|xm", _LD1, group="neon-mem")
# ld2..ld4 / st2..st4: interleaved structures of 2-4 consecutive registers
for _l, _m in ((0, "st"), (1, "ld")):
    for _regs, _opcode in ((2, "1000"), (3, "0100"), (4, "0000")):
        _list = ", ".join(f"vt{'+' + str(i) if i else ''}.<T>" for i in range(_regs))
        enc(f"{_m}{_regs}_v", f"0 Q 0011000 {_l} 000000 {_opcode} size:2 Rn:5 Rt:5",
            f"{_m}{_regs} {{{_list}}}, [xn|sp]", ALL7, group="neon-mem")
        enc(f"{_m}{_regs}_post", f"0 Q 0011001 {_l} 0 Rm:5 {_opcode} size:2 Rn:5 Rt:5",
            f"{_m}{_regs} {{{_list}}}, [xn|sp], #imm|xm", ALL7, group="neon-mem")
# ld1/st1 of one lane: the index is spread over Q, S and size
_LANE_ENC = {"b": "000 S size:2", "h": "010 S sz1 0", "s": "100 S 00", "d": "100 0 01"}
for _l, _m in ((0, "st1"), (1, "ld1")):
    for _e, _bits in _LANE_ENC.items():
        enc(f"{_m}_lane_{_e}", f"0 Q 0011010 {_l} 0 00000 {_bits} Rn:5 Rt:5", f"{_m} {{vt.{_e}}}[i], [xn|sp]", NONE,
            group="neon-mem")
        enc(f"{_m}_lane_{_e}_post", f"0 Q 0011011 {_l} 0 Rm:5 {_bits} Rn:5 Rt:5",
            f"{_m} {{vt.{_e}}}[i], [xn|sp], #imm|xm", NONE, group="neon-mem")
enc("ld1r_v", "0 Q 0011010 1 0 00000 110 0 size:2 Rn:5 Rt:5", "ld1r {vt.<T>}, [xn|sp]", ALL7 + (_v("1d", size=3, Q=0),),
    group="neon-mem")
enc("ld1r_post", "0 Q 0011011 1 0 Rm:5 110 0 size:2 Rn:5 Rt:5", "ld1r {vt.<T>}, [xn|sp], #imm|xm",
    ALL7 + (_v("1d", size=3, Q=0),), group="neon-mem")


def sext(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) & 1 else value


# ---- the PC-relative encodings (b, bl, b.cond, cbz/cbnz, tbz/tbnz, adr, adrp): their offset fields,
# and the address they name (kernels in a64_to_x86 mirror pc_relative_mask and pc_target)

def pc_relative_mask(word: int) -> int:
    """The bits of `word` that hold its PC-relative offset (0 when it has none)."""
    if word & 0x7C000000 == 0x14000000:                 # b, bl: imm26
        return 0x03FFFFFF
    if word & 0xFF000010 == 0x54000000 or word & 0x7E000000 == 0x34000000:   # b.cond, cbz/cbnz: imm19
        return 0x00FFFFE0
    if word & 0x7E000000 == 0x36000000:                 # tbz/tbnz: imm14
        return 0x0007FFE0
    if word & 0x1F000000 == 0x10000000:                 # adr, adrp: immhi:immlo
        return 0x60FFFFE0
    return 0


def pc_target(word: int, pc: int) -> int:
    """The address a PC-relative word at `pc` names (its branch target, or adr/adrp's value)."""
    if word & 0x7C000000 == 0x14000000:
        return pc + 4 * sext(word & 0x03FFFFFF, 26)
    if word & 0xFF000010 == 0x54000000 or word & 0x7E000000 == 0x34000000:
        return pc + 4 * sext((word >> 5) & 0x7FFFF, 19)
    if word & 0x7E000000 == 0x36000000:
        return pc + 4 * sext((word >> 5) & 0x3FFF, 14)
    assert word & 0x1F000000 == 0x10000000, hex(word)
    imm = sext(((word >> 5) & 0x7FFFF) << 2 | (word >> 29) & 3, 21)
    return (pc & ~0xFFF) + (imm << 12) if word >> 31 else pc + imm
