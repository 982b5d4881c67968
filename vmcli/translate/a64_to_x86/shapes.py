"""Templates keyed by shape: the encodings whose x86 code holds an immediate field's value, or
the env slot offset of a guest register (host.py: [r15 + 8 n] for each register not in a host
register), as bytes.

An offset or constant field (ldr's imm12, add's imm12, movz's imm16 ...) changes only bytes of the
code, as long as the values the rule makes of it (`derived`: the field, sign-extended or not,
shifted, negated, plus a constant) stay in the same classes (value_class: zero, imm8, imm32 of
either sign, u32, 64-bit), which is where the rule and the x86 encoders choose another form. So do
the register fields (`regs`) naming a register that lives in the env block: its slot's offset 8 n
is a disp8 for x4..x15 and a disp32 for x16..x30. So the numba path keys these words without the
immediate field and with their env registers renamed in order of first appearance within their
class (kernels.keys_of: the rule sees which fields name the same register), and makes one template
per key and class from two words of it: where their codes differ sit the derived values' bytes
(derive_patches), and kernels.emit writes each word's values there. A word alone in its key and
class gets a template of its own (REL_WORD: it serves that word only); a value the two words share
(REL_EQUAL) is one the template serves only. The host registers of HOST_CLASS are renamed in the
key by class as well, and a third word, the first with each of them flipped (HOST_FLIP), shows
where their numbers' low bits sit in the code (fast._register_patches; REL_REG patches).
tests/translate/a64_to_x86/test_shapes.py checks, for every encoding here, that the patched
templates are the rule's own code over many random words of each shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from vmcli.translate.a64_to_x86.host import HOST_REGS
from vmcli.translate.isa.a64.encodings import Fields

# how a patched value follows the word (fast.py's patch records; builder.REL_PC and REL_TARGET
# are 0 and 1): a derived value of a field (value: its descriptor), the whole word (value: the
# word; the template serves that word only), or a derived value the template serves one value of
# (value: its descriptor; offset: that value)
REL_FIELD, REL_WORD, REL_EQUAL = 2, 3, 4
# a host register field's patch: (byte offset, REL_REG, the field's lsb in the word, the x86
# register number's bit position in that byte): the low three bits of the x86 number of the
# host register the word's field names go there (HOST_LOW)
REL_REG = 5
# a field patch's kind: FIELD_KIND | bytes written << 3 | the value's class
FIELD_KIND = 128

Derived = tuple[int, int, int]         # (shift, negate, add): d = (-1 if negate else 1) * (v << shift) + add
# the guest registers that live in the env block (31 is sp or xzr, never renamed)
ENV_REGS = frozenset(n for n in range(31) if f"x{n}" not in HOST_REGS)
ENV_SLOT: Derived = (3, 0, 0)          # host.x_off: 8 n
# the guest registers in host registers that a template may rename, by class: within a class the
# x86 encodings differ only in the register number's low three bits (ModRM.reg/rm, SIB, opcode +r),
# never in REX or in length (rsi/rdi need REX for their low bytes alike; r8..r11 always need it;
# none is rsp/r12 or rbp/r13, which ModRM encodes apart); sp (rbx) and x21 (rbp) stay exact
HOST_CLASS = {0: 0, 1: 0, 2: 1, 3: 1, 19: 1, 20: 1}          # x0, x1 (rsi, rdi); x2, x3, x19, x20 (r8..r11)
HOST_LOW = tuple(HOST_REGS[f"x{n}"] & 7 if n in HOST_CLASS else 0 for n in range(32))
# a word whose host registers all differ from the model's in the lowest bit of their x86 number
# (rsi <-> rdi, r8 <-> r9, r10 <-> r11): where its code differs, a register field is
HOST_FLIP = {0: 1, 1: 0, 2: 3, 3: 2, 19: 20, 20: 19}


class Shape(NamedTuple):
    field: str | None                  # the immediate field, or None
    signed: bool
    derived: Callable[[Fields], tuple[Derived, ...]]     # from the word's other fields
    regs: tuple[str, ...]              # the general-purpose register fields


def _pair_size(f: Fields) -> int:
    return 3 if f["opc"] == 2 else 2


def _none(f: Fields) -> tuple[Derived, ...]:
    return ()


_DN, _DNM, _DNMA = ("Rd", "Rn"), ("Rd", "Rn", "Rm"), ("Rd", "Rn", "Rm", "Ra")
_IMM9 = Shape("imm9", True, lambda f: ((0, 0, 0),), ("Rt", "Rn"))
_PAIR = Shape("imm7", True, lambda f: ((_pair_size(f), 0, 0), (_pair_size(f), 0, 1 << _pair_size(f))),
              ("Rt", "Rt2", "Rn"))
_ADDSUB = Shape("imm12", False, lambda f: ((12 * f["sh"], 0, 0), (12 * f["sh"], 1, 0)), _DN)

SHAPES: dict[str, Shape] = {
    "ldst_uimm": Shape("imm12", False, lambda f: ((f["size"], 0, 0),), ("Rt", "Rn")),   # imm12 << size
    "ldst_unscaled": _IMM9, "ldst_pre": _IMM9, "ldst_post": _IMM9,
    "ldst_roff": Shape(None, False, _none, ("Rt", "Rn", "Rm")),
    "ldstp_off": _PAIR, "ldstnp": _PAIR, "ldstp_pre": _PAIR,                  # the two registers' offsets
    "ldstp_post": Shape("imm7", True, lambda f: ((_pair_size(f), 0, 0),), ("Rt", "Rt2", "Rn")),
    "add_imm": _ADDSUB, "adds_imm": _ADDSUB, "sub_imm": _ADDSUB, "subs_imm": _ADDSUB,   # +imm, -imm
    "movz": Shape("imm16", False, lambda f: ((16 * f["hw"], 0, 0),), ("Rd",)),
    "movn": Shape("imm16", False, lambda f: ((16 * f["hw"], 1, -1),), ("Rd",)),        # ~(imm16 << 16 hw)
    "movk": Shape("imm16", False, lambda f: ((0, 0, 0), (16 * f["hw"], 0, 0)), ("Rd",)),
    "ccmp_imm": Shape(None, False, _none, ("Rn",)), "ccmn_imm": Shape(None, False, _none, ("Rn",)),
    "ccmp_reg": Shape(None, False, _none, ("Rn", "Rm")), "ccmn_reg": Shape(None, False, _none, ("Rn", "Rm")),
}
for _name in ("and_limm", "orr_limm", "eor_limm", "ands_limm", "sbfm", "bfm", "ubfm", "rbit", "rev16", "rev32",
              "clz", "cls", "rev_w", "rev_x"):
    SHAPES[_name] = Shape(None, False, _none, _DN)
for _name in ("add_sreg", "adds_sreg", "sub_sreg", "subs_sreg", "add_ereg", "adds_ereg", "sub_ereg", "subs_ereg",
              "adc", "adcs", "sbc", "sbcs", "and_sreg", "bic_sreg", "orr_sreg", "orn_sreg", "eor_sreg", "eon_sreg",
              "ands_sreg", "bics_sreg", "csel", "csinc", "csinv", "csneg", "udiv", "sdiv", "lslv", "lsrv", "asrv",
              "rorv", "extr", "smulh", "umulh"):
    SHAPES[_name] = Shape(None, False, _none, _DNM)
for _name in ("madd", "msub", "smaddl", "smsubl", "umaddl", "umsubl"):
    SHAPES[_name] = Shape(None, False, _none, _DNMA)


def value_class(d: int) -> int:
    """Where the x86 encodings change form: 0; imm8 (positive, negative); imm32 (positive,
    negative); u32 (2^31 and up); 64-bit (positive, negative). kernels.value_class in numba."""
    if d == 0:
        return 0
    if -128 <= d < 128:
        return 1 if d > 0 else 2
    if -(1 << 31) <= d < (1 << 31):
        return 3 if d > 0 else 4
    if 0 < d < (1 << 32):
        return 5
    return 6 if d > 0 else 7


def descriptor(lsb: int, width: int, signed: bool, derived: Derived) -> int:
    """A derived value as one int64 for the kernels (kernels.field_value unpacks it)."""
    shift, negate, add = derived
    return lsb | width << 5 | int(signed) << 10 | shift << 11 | negate << 17 | (add & 0x1FF) << 18


def field_value(word: int, desc: int) -> int:
    """The derived value `desc` of `word` (kernels.field_value)."""
    lsb, width, signed, shift = desc & 31, (desc >> 5) & 31, (desc >> 10) & 1, (desc >> 11) & 63
    v = (word >> lsb) & ((1 << width) - 1)
    if signed and v >> (width - 1):
        v -= 1 << width
    v <<= shift
    add = (desc >> 18) & 0x1FF
    d = ((-v if (desc >> 17) & 1 else v) + (add - 0x200 if add & 0x100 else add)) & ((1 << 64) - 1)
    return d - (1 << 64) if d >> 63 else d           # as a signed 64-bit number, as in the kernels


def derive_patches(b0: bytes, b1: bytes, d0: list[int], d1: list[int]) -> list[tuple[int, int, int]] | None:
    """Where two words' codes (b0, b1) hold their derived values (d0, d1: in the same classes):
    (offset, value index, bytes) windows, left to right and apart, that cover every byte where the
    codes differ, each holding the value's little-endian bytes in both (the one value there); None
    when there are none."""
    if len(b0) != len(b1):
        return None
    mask = (1 << 64) - 1
    le = [((a & mask).to_bytes(8, "little"), (b & mask).to_bytes(8, "little")) for a, b in zip(d0, d1, strict=True)]

    def holds(o: int, width: int) -> list[int]:
        """The values whose bytes both codes hold at o."""
        return [j for j, (a, b) in enumerate(le) if b0[o:o + width] == a[:width] and b1[o:o + width] == b[:width]]

    firsts = {(a[0], b[0]) for a, b in le}     # a window starts with a value's lowest byte in both
    out: list[tuple[int, int, int]] = []
    end = 0
    for p in [i for i in range(len(b0)) if b0[i] != b1[i]]:
        if p < end:
            continue
        best = next(((o, width) for o in range(max(end, p - 7), p + 1) if (b0[o], b1[o]) in firsts
                     for width in (8, 4, 2, 1) if p < o + width <= len(b0) and holds(o, width)), None)
        if best is None:
            return None
        o, width = best
        if len({j for w in (8, 4, 2, 1) for j in holds(o, w)}) > 1:
            return None                        # two values there: whose is it?
        out.append((o, holds(o, width)[0], width))
        end = o + width
    return out
