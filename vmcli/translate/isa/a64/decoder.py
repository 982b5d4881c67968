"""The AArch64 decoder: an instruction word -> its encoding, variant and fields (encodings.TABLE).

It decodes every encoding of the table and knows nothing of rules. Anything else, and the reserved
or UNPREDICTABLE corners of an encoding (Enc.valid), decodes to None, which the translator reports
as unsupported (capstone gives the text).
"""

from __future__ import annotations

from dataclasses import dataclass

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


# the table split by the word's top byte (each list in table order, so the first match is the
# same): decode looks at a few encodings instead of all of them
_BY_TOP = [[e for e in TABLE if top & (e.mask >> 24) == e.value >> 24] for top in range(256)]


def decode(word: int, address: int = 0) -> Insn | None:
    """The instruction `word` at `address`, or None when it is outside the table."""
    for e in _BY_TOP[(word >> 24) & 0xFF]:
        if word & e.mask != e.value:
            continue
        f = e.extract(word)
        for v in e.variants:
            if all(f[k] == val for k, val in v.fixed):
                if e.valid is not None and not e.valid(f):
                    return None
                return Insn(address, word, e, v, tuple(f.items()))
    return None
