"""Every x86-64 instruction the AArch64 -> x86-64 builder emits, round-tripped through capstone (one
instruction, exactly its bytes) and keystone (capstone's text assembles back to the same
instruction); which of them write the flags, as capstone says."""

from __future__ import annotations

import functools
import random

import capstone
import pytest
from capstone import x86_const

from vmcli.translate.a64_to_x86.builder import writes_flags
from vmcli.translate.a64_to_x86.check import instance
from vmcli.translate.a64_to_x86.forms import all_forms
from vmcli.translate.a64_to_x86.frontend import translate
from vmcli.translate.core.blocks import Stop
from vmcli.translate.verify.runners import A64_CODE


@functools.cache
def _chunks() -> set[bytes]:
    """Every form's instructions alone, and in pairs after a flag writer (cmp: the flag contexts'
    variants, FLAGS_IN for readers) and before one (NO_STORE for writers)."""
    rng = random.Random(13)
    out: set[bytes] = set()
    cmp = bytes.fromhex("3f0001eb")                         # cmp x1, x1
    for form in all_forms():
        for _ in range(3):
            word = instance(form, rng)[0].to_bytes(4, "little")
            for code in (word, cmp + word, word + cmp):
                for si in translate(code, A64_CODE).insns:
                    if si.stop is Stop.AFTER_EXIT:
                        continue
                    assert si.supported, (form.name, si.reason)
                    out.update(si.target)
    return out


_ARITHMETIC = ("CF", "PF", "AF", "ZF", "SF", "OF")
_WRITTEN = sum(getattr(x86_const, f"X86_EFLAGS_{how}_{flag}", 0) for flag in _ARITHMETIC
               for how in ("MODIFY", "RESET", "SET", "UNDEFINED"))


def test_which_instructions_write_the_flags_agrees_with_capstone() -> None:
    """builder.writes_flags decides where the host flags still hold NZCV: held to capstone's
    account of each emitted instruction."""
    cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    cs.detail = True
    for chunk in _chunks():
        insn = next(cs.disasm(chunk, 0))
        # capstone 5 gives the SSE compares (cmpps, cmpunordpd ...) flag effects they do not have
        # (the SDM: "Flags Affected: None"), and `test` with a memory operand none
        sse_compare = insn.mnemonic.startswith("cmp") and insn.mnemonic[-2:] in ("ps", "pd")
        said = bool(insn.eflags & _WRITTEN) and not sse_compare or insn.mnemonic == "test"
        assert writes_flags(chunk) == said, (chunk.hex(), insn.mnemonic, insn.op_str)


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
