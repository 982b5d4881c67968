"""The AArch64 decoder: an instruction word -> its encoding, variant and fields (encodings.TABLE).

It decodes every encoding of the table and knows nothing of rules. Anything else, and the reserved
or UNPREDICTABLE corners of an encoding (Enc.valid), decodes to None, which the translator reports
as unsupported (capstone gives the text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from vmcli.translate.isa.a64.encodings import TABLE, Enc, Fields, Variant


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


class Pattern(NamedTuple):
    """One variant of one encoding as a single bit pattern: the encoding's fixed bits and the
    variant's fixed fields together."""

    mask: int
    value: int
    enc: Enc
    variant: Variant
    fields: tuple[tuple[str, int, int], ...]    # (name, lsb, mask) of each field, in the encoding's order


def _pattern(e: Enc, v: Variant) -> Pattern:
    mask, value = e.mask, e.value
    for name, fixed in v.fixed:
        lsb, width = e.fields[name]
        mask |= ((1 << width) - 1) << lsb
        value |= fixed << lsb
    return Pattern(mask, value, e, v, tuple((n, lsb, (1 << w) - 1) for n, (lsb, w) in e.fields.items()))


# every (encoding, variant) in table order: the first that matches is the decoder's answer
PATTERNS = [_pattern(e, v) for e in TABLE for v in e.variants]


def _by_top() -> list[list[Pattern]]:
    """PATTERNS split by the word's top byte (each list in table order, so the first match is the
    same): decode looks at a few patterns instead of all of them."""
    out: list[list[Pattern]] = [[] for _ in range(256)]
    for p in PATTERNS:
        free = ~(p.mask >> 24) & 0xFF
        sub = free
        while True:                            # every top byte the pattern's fixed bits allow
            out[(p.value >> 24) | sub].append(p)
            if not sub:
                break
            sub = (sub - 1) & free
    return out


BY_TOP = _by_top()


def match(word: int) -> Pattern | None:
    """The first pattern `word` matches (before Enc.valid), or None."""
    for p in BY_TOP[(word >> 24) & 0xFF]:
        if word & p.mask == p.value:
            return p
    return None


def decode(word: int, address: int = 0) -> Insn | None:
    """The instruction `word` at `address`, or None when it is outside the table."""
    p = match(word)
    if p is None:
        return None
    return decode_as(p, word, address)


def decode_as(p: Pattern, word: int, address: int = 0) -> Insn | None:
    """The instruction `word` at `address` whose first matching pattern is `p` (the numba path
    finds it: a64_to_x86/kernels.keys_and_patterns), or None for a reserved corner of it."""
    f = tuple([(n, (word >> lsb) & m) for n, lsb, m in p.fields])
    if p.enc.valid is not None and not p.enc.valid(dict(f)):
        return None
    return Insn(address, word, p.enc, p.variant, f)
