"""Templates keyed by shape (a64_to_x86/shapes.py): a template made from two words of a shape, its
derived values patched in, is the rule's own code for every word of its shape and classes, in
every flag context; and the numba path that keys by shape gives the Python path's bytes.
VM_TRANSLATE_FULL=1 tries 60 shapes of each encoding instead of 12."""

from __future__ import annotations

import random

import numpy as np
import pytest

from translate.helpers import FULL
from vmcli.translate.a64_to_x86 import fast, kernels
from vmcli.translate.a64_to_x86.builder import FLAGS_IN, NO_STORE
from vmcli.translate.a64_to_x86.check import instance
from vmcli.translate.a64_to_x86.forms import all_forms
from vmcli.translate.a64_to_x86.frontend import rule_code
from vmcli.translate.a64_to_x86.frontend import translate as translate_a64
from vmcli.translate.a64_to_x86.shapes import (
    ENV_REGS,
    FIELD_KIND,
    HOST_CLASS,
    HOST_LOW,
    REL_EQUAL,
    REL_FIELD,
    REL_REG,
    REL_WORD,
    SHAPES,
    derive_patches,
    field_value,
    value_class,
)
from vmcli.translate.core import cache
from vmcli.translate.isa.a64.decoder import decode

SHAPES_PER_ENCODING = 60 if FULL else 12
CONTEXTS = (0, FLAGS_IN, NO_STORE, FLAGS_IN | NO_STORE)
_FORMS = {name: [f for f in all_forms() if f.enc.name == name] for name in SHAPES}


def _with(word: int, lsb: int, width: int, value: int) -> int:
    return word & ~(((1 << width) - 1) << lsb) | (value & ((1 << width) - 1)) << lsb


def _values(width: int, rng: random.Random) -> list[int]:
    """Field values: the ends of the range and of the classes' usual edges, and random ones."""
    edges = {0, 1, 2, (1 << width) - 1, (1 << width) - 2, 1 << (width - 1), (1 << (width - 1)) - 1, 15, 16, 31,
             32, 63, 64, 127, 128, 255, 256}
    return sorted({v & ((1 << width) - 1) for v in edges} | {rng.getrandbits(width) for _ in range(40)})


def _patched(record: fast.Record, word: int) -> bytes:
    """record's code with `word`'s values written in (kernels._copy_block, in Python)."""
    out = bytearray(record[2])
    for offset, rel, value, kind in record[5]:
        assert rel in (REL_FIELD, REL_WORD, REL_EQUAL, REL_REG), rel
        if rel == REL_REG:
            out[offset] = out[offset] & ~(7 << kind) | HOST_LOW[(word >> value) & 31] << kind
        if rel == REL_FIELD:
            nbytes = (kind >> 3) & 15
            out[offset:offset + nbytes] = (field_value(word, value) & ((1 << 64) - 1)).to_bytes(8, "little")[:nbytes]
    return bytes(out)


def _shape_words(name: str, rng: random.Random) -> list[int]:
    """Words of one random key of encoding `name`: a random word with other immediates (every
    value it decodes with) and its env registers and renamable host registers renamed at random
    (within their class, keeping which fields name the same register)."""
    word = instance(rng.choice(_FORMS[name]), rng)[0]
    insn = decode(word)
    assert insn is not None
    shape, fields = SHAPES[name], insn.enc.fields
    values = _values(fields[shape.field][1], rng) if shape.field else [0] * 30

    def cls(r: int) -> int | None:
        if r in ENV_REGS:
            return int(r >= 16)
        return 2 + HOST_CLASS[r] if r in HOST_CLASS else None

    members = {c: [r for r in range(32) if cls(r) == c] for c in range(4)}
    if rng.random() < 0.5:           # words naming the host registers too, at random
        picks = [rng.choice([r for r in range(31) if cls(r) is not None]) for _ in shape.regs]
        for f, r in zip(shape.regs, picks, strict=True):
            if (word >> fields[f][0]) & 31 != 31 and rng.random() < 0.7:
                word = _with(word, fields[f][0], 5, r)
        if decode(word) is None:
            word = instance(rng.choice(_FORMS[name]), rng)[0]
    words = []
    for v in values:
        w = _with(word, *fields[shape.field], v) if shape.field else word
        regs = {(word >> fields[f][0]) & 31 for f in shape.regs}
        names = {c: rng.sample(members[c], len(members[c])) for c in members}
        rename = {r: names[c].pop() for r in regs if (c := cls(r)) is not None}
        for f in shape.regs:
            r = (word >> fields[f][0]) & 31
            w = _with(w, fields[f][0], 5, rename.get(r, r))
        words.append(w)
    return sorted({w for w in words if decode(w) is not None})


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_a_keys_words_decode_alike(name: str) -> None:
    """Every word of a key decodes, to its encoding, or none does (Enc.valid reads no immediate
    and only which registers are 31 or the same): its key may stand for an unsupported word."""
    rng = random.Random(name)
    for _ in range(50):
        word = instance(rng.choice(_FORMS[name]), rng)[0]
        words = _shape_words(name, random.Random(word))
        keys = set(kernels.keys_of(np.array(words, np.int64)).tolist())
        assert len(keys) == 1
        insns = [decode(w) for w in words]
        assert all(i is not None and i.enc.name == name for i in insns), [hex(w) for w in words]


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_patched_templates_are_the_rules_code(name: str) -> None:
    rng = random.Random(f"shape {name}")
    patched = 0
    for _ in range(SHAPES_PER_ENCODING):
        words = _shape_words(name, rng)
        context = rng.choice(CONTEXTS)
        rng.shuffle(words)
        records = fast._build_shape(words[0], 0x40_0000, context, tuple(words[1:]))
        for n, word in enumerate(words):
            if not any(fast._fits(r, 0x40_0000, word) for r in records):     # as FastA64._plan adds them
                records += fast._build_shape(word, 0x40_0000, context, tuple(words[n + 1:]))
            code = rule_code(decode(word), context)        # type: ignore[arg-type]
            for record in [r for r in records if fast._fits(r, 0x40_0000, word)]:
                assert _patched(record, word) == code.bytes, (hex(word), hex(record[0]))
                assert record[3] == int(code.exit) | code.nzcv
                patched += record[0] != word
    assert patched > SHAPES_PER_ENCODING           # most words were served by another word's template


def test_derive_patches_needs_the_values_in_both_codes() -> None:
    # mov esi, imm32 for values 0x10 and 0x2000: one window of 4 bytes
    assert derive_patches(b"\xbe\x10\x00\x00\x00", b"\xbe\x00\x20\x00\x00", [0x10], [0x2000]) == [(1, 0, 4)]
    # a byte that differs outside any value: no common template
    assert derive_patches(b"\x01\x10", b"\x02\x20", [0x10], [0x20]) is None
    assert derive_patches(b"\x10", b"\x10\x00", [0x10], [0x10]) is None      # another length
    assert [value_class(d) for d in (0, 1, -1, 128, -129, 1 << 31, 1 << 32, -(1 << 40))] == [0, 1, 2, 3, 4, 5, 6, 7]
    assert FIELD_KIND > 5                             # never one of builder's ADDR_* kinds


def test_fast_path_keys_by_shape_and_equals_python_path() -> None:
    """Blocks of many words of a few shapes each, between flag writers and readers (so that their
    templates are made from two of them, in each flag context), through the numba kernels."""
    rng = random.Random(7)
    cmp, beq, adds = 0xEB01001F, 0x54000040, 0xAB020020    # cmp x0, x1; b.eq .+8; adds x0, x1, x2
    blocks = []
    for name in sorted(SHAPES):
        for _ in range(3):
            words = _shape_words(name, rng)
            for w in words:
                before = rng.choice([[], [cmp], [adds]])
                after = rng.choice([[], [beq], [adds], [cmp, beq]])
                code = b"".join(x.to_bytes(4, "little") for x in [*before, w, *after])
                blocks.append((code, 4 * rng.randrange(1 << 20)))
    cache.clear()
    fast.reset()
    got = fast.translate_fast(blocks)
    for (code, address), (x86, n, unsupported) in zip(blocks, got, strict=True):
        tr = translate_a64(code, address)
        assert bytes(x86) == tr.code, (hex(address), code.hex())
        assert n == len(tr.insns) and unsupported == len(tr.unsupported)
    translator = fast._TRANSLATOR
    assert translator is not None
    shaped = sum(1 for r in translator.records if any(p[1] == REL_FIELD for p in r[5]))
    assert shaped > len(SHAPES)
    assert sum(1 for r in translator.records if any(p[1] == REL_REG for p in r[5])) > len(SHAPES) // 4
    assert len(translator.records) < len({code for code, _ in blocks})     # fewer templates than words


def test_host_registers_of_a_class_share_a_template() -> None:
    """add x0, x1, x19 and add x1, x0, x20 (rsi, rdi, r10 and rdi, rsi, r11): one key, one
    template whose register bits are patched; sp and x21 (rbx, rbp) stay in the key."""
    words = [0x8B130020, 0x8B140001]
    assert len(set(kernels.keys_of(np.array(words, np.int64)).tolist())) == 1
    records = fast._build_shape(words[0], 0x40_0000, 0, (words[1],))
    assert len(records) == 1 and any(p[1] == REL_REG for p in records[0][5])
    for word in words:
        assert _patched(records[0], word) == rule_code(decode(word), 0).bytes     # type: ignore[arg-type]
    x21 = 0x8B150020                                   # add x0, x1, x21
    assert kernels.keys_of(np.array([x21], np.int64))[0] != kernels.keys_of(np.array(words[:1], np.int64))[0]
