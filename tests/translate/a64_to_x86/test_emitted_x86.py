"""Every x86-64 instruction the AArch64 -> x86-64 builder emits, round-tripped through capstone (one
instruction, exactly its bytes) and keystone (capstone's text assembles back to the same
instruction)."""

from __future__ import annotations

import random

import capstone
import pytest

from vmcli.translate.a64_to_x86.check import instance
from vmcli.translate.a64_to_x86.forms import all_forms
from vmcli.translate.a64_to_x86.frontend import translate
from vmcli.translate.verify.runners import A64_CODE


def _chunks() -> set[bytes]:
    rng = random.Random(13)
    out: set[bytes] = set()
    for form in all_forms():
        for _ in range(3):
            word, _regs = instance(form, rng)
            for si in translate(word.to_bytes(4, "little"), A64_CODE).insns:
                assert si.supported, (form.name, si.reason)
                out.update(si.target)
    return out


def test_every_emitted_x86_instruction_round_trips_through_capstone_and_keystone() -> None:
    keystone = pytest.importorskip("keystone")
    ks = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_64)
    cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    chunks = _chunks()
    assert len(chunks) > 1000
    for chunk in chunks:
        got = list(cs.disasm(chunk, 0))
        assert len(got) == 1 and got[0].size == len(chunk), chunk.hex()
        text = f"{got[0].mnemonic} {got[0].op_str}"
        encoding, _ = ks.asm(text, 0)
        again = list(cs.disasm(bytes(encoding), 0))
        assert len(again) == 1 and f"{again[0].mnemonic} {again[0].op_str}" == text, (chunk.hex(), text)
