"""Encoders and the decoder, round-tripped through capstone (and keystone) for every form."""

from __future__ import annotations

import random

import capstone
import pytest
from translate_helpers import CODE_ADDRESS

from vmcli.translate.decode_x86 import decode
from vmcli.translate.forms import all_forms, instance
from vmcli.translate.pipeline import translate

# capstone spells some forms differently: the REX.W variants and the implicit-predicate compares
ALIASES = {"movd": {"movq"}, "pextrd": {"pextrq"}, "pinsrd": {"pinsrq"}, "mov": {"movabs"},
           "cbw": {"cwde", "cdqe"}, "cwd": {"cdq", "cqo"}}
_PRED = ["eq", "lt", "le", "unord", "neq", "nlt", "nle", "ord"]


def _names(mnemonic: str) -> set[str]:
    names = {mnemonic} | ALIASES.get(mnemonic, set())
    if mnemonic in ("cmpps", "cmppd", "cmpss", "cmpsd"):
        names |= {f"cmp{p}{mnemonic[3:]}" for p in _PRED}
    return names


def test_decoder_and_x86_encoder_agree_with_capstone() -> None:
    cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    rng = random.Random(7)
    checked = 0
    for form in all_forms():
        for _ in range(8):
            code, _regs = instance(form, rng, CODE_ADDRESS)
            insn = decode(code, CODE_ADDRESS)
            assert insn is not None, (form.name, code.hex())
            assert insn.raw == code and insn.spec.id == form.spec.id, form.name
            got = list(cs.disasm(code, CODE_ADDRESS))
            assert got and got[0].size == len(code), (form.name, code.hex())
            assert got[0].mnemonic in _names(form.spec.mnemonic), (form.name, got[0].mnemonic)
            checked += 1
    assert checked == 8 * len(all_forms())


def test_every_emitted_aarch64_word_round_trips_through_capstone_and_keystone() -> None:
    keystone = pytest.importorskip("keystone")
    ks = keystone.Ks(keystone.KS_ARCH_ARM64, keystone.KS_MODE_LITTLE_ENDIAN)
    a64 = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    rng = random.Random(11)
    words: set[int] = set()
    for form in all_forms():
        for _ in range(3):
            code, _regs = instance(form, rng, CODE_ADDRESS)
            for si in translate(code, CODE_ADDRESS).insns:
                assert si.supported, (form.name, si.reason)
                words.update(si.target)
    assert len(words) > 1000
    for word in words:
        raw = word.to_bytes(4, "little")
        dis = list(a64.disasm(raw, 0))
        assert dis, f"capstone cannot decode {word:#010x}"
        text = f"{dis[0].mnemonic} {dis[0].op_str}"
        encoding, _ = ks.asm(text, 0)
        assert bytes(encoding) == raw, (text, f"{word:#010x}", bytes(encoding).hex())


def test_undecodable_and_unsupported_bytes_are_refused() -> None:
    for code in ("0fa2", "f7f1", "f0480108", "c5f958c1", "8ae0", "6548010425000000"):
        # cpuid, div, lock add, vaddpd (VEX), mov ah-form, gs-prefixed add
        assert decode(bytes.fromhex(code)) is None, code
