"""The x86-64 decoder and encoder, round-tripped through capstone for every form."""

from __future__ import annotations

import random

import capstone

from vmcli.translate.isa.x86.decoder import decode
from vmcli.translate.verify.runners import X86_CODE as CODE_ADDRESS
from vmcli.translate.x86_to_a64.check import instance
from vmcli.translate.x86_to_a64.forms import all_forms

# capstone spells some forms differently: the REX.W variants and the implicit-predicate compares
ALIASES = {"movd": {"movq"}, "pextrd": {"pextrq"}, "pinsrd": {"pinsrq"}, "mov": {"movabs"},
           "cbw": {"cwde", "cdqe"}, "cwd": {"cdq", "cqo"}, "endbr64": {"endbr32"},
           "fucomip": {"fucompi"}, "fcomip": {"fcompi"}}          # capstone spells them so
_PRED = ["eq", "lt", "le", "unord", "neq", "nlt", "nle", "ord"]


def _names(mnemonic: str) -> set[str]:
    names = {mnemonic} | ALIASES.get(mnemonic, set())
    if mnemonic in ("cmpps", "cmppd", "cmpss", "cmpsd", "vcmpps", "vcmppd", "vcmpss", "vcmpsd"):
        names |= {f"{mnemonic[:-2]}{p}{mnemonic[-2:]}" for p in _PRED}
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
            assert got[0].mnemonic.removeprefix("lock ") in _names(form.spec.mnemonic), (form.name, got[0].mnemonic)
            checked += 1
    assert checked == 8 * len(all_forms())


def test_undecodable_and_unsupported_bytes_are_refused() -> None:
    for code in ("0fa2", "f7f1", "f04801c8", "f0480308", "62f1fd4858c1", "c4e27940c1", "66c5f958c1", "8ae0",
                 "646548010425000000", "c4e179", "c5f9"):
        # cpuid, div, lock add to a register, lock add from memory, vaddpd zmm (EVEX), vpmulld (VEX,
        # not in the table), vaddpd after a 66 prefix, mov ah-form, two segment overrides, VEX prefixes
        # the bytes end in
        assert decode(bytes.fromhex(code)) is None, code
