"""AArch64 -> x86-64: the decoder against capstone, and every x86-64 instruction the builder emits
round-tripped through capstone (one instruction, exactly its bytes) and keystone (capstone's text
assembles back to the same instruction)."""

from __future__ import annotations

import random

import capstone
import pytest

from vmcli.translate.decode_a64 import decode
from vmcli.translate.pipeline import translate
from vmcli.translate.pipeline_a64 import a64_forms
from vmcli.translate.verify_a64 import A64_CODE, instance


def _chunks() -> set[bytes]:
    rng = random.Random(13)
    out: set[bytes] = set()
    for form in a64_forms():
        for _ in range(3):
            word, _regs = instance(form, rng)
            for si in translate(word.to_bytes(4, "little"), A64_CODE, "arm64").insns:
                assert si.supported, (form.name, si.reason)
                out.update(si.chunks)  # type: ignore[attr-defined]
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


def test_decoder_agrees_with_capstone_on_every_form() -> None:
    """Each random instance decodes back to its form, and capstone names the same instruction
    (or one of its aliases)."""
    cs = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    rng = random.Random(5)
    for form in a64_forms():
        for _ in range(8):
            word, _regs = instance(form, rng)
            insn = decode(word, A64_CODE)
            assert insn is not None and insn.enc is form.enc and insn.variant == form.variant
            got = list(cs.disasm(word.to_bytes(4, "little"), A64_CODE))
            assert got and got[0].size == 4, (form.name, hex(word))


def test_reserved_and_unpredictable_encodings_are_refused() -> None:
    for word in (0x8B40_0000 | (3 << 22),        # add with shift = ror (reserved)
                 0x0B00_8000,                    # add w, w, w, lsl #32 (imm6 >= 32 with sf = 0)
                 0x9240_0000 | (0b111111 << 10),  # and x, x, #imm with imms = all ones (reserved)
                 0xF840_0400,                    # ldr x0, [x0], #0: writeback into the loaded register
                 0x2980_0400):                   # stp w0, w1, [x0]! with Rt == Rn
        assert decode(word) is None, hex(word)


# capstone's preferred aliases of the encodings (Arm ARM "alias of" lists)
ALIASES = {"adds": {"cmn"}, "subs": {"cmp", "negs"}, "sub": {"neg"}, "orr": {"mov"}, "ands": {"tst"},
           "movn": {"mov"}, "movz": {"mov"}, "sbfm": {"sbfiz", "sbfx", "asr", "sxtb", "sxth", "sxtw"},
           "bfm": {"bfc", "bfi", "bfxil"}, "ubfm": {"ubfiz", "ubfx", "uxtb", "uxth", "lsl", "lsr"},
           "extr": {"ror"}, "sbc": {"ngc"}, "sbcs": {"ngcs"}, "orn": {"mvn"}, "csinc": {"cinc", "cset"},
           "csinv": {"cinv", "csetm"}, "csneg": {"cneg"}, "lslv": {"lsl"}, "lsrv": {"lsr"}, "asrv": {"asr"},
           "rorv": {"ror"}, "madd": {"mul"}, "msub": {"mneg"}, "smaddl": {"smull"}, "smsubl": {"smnegl"},
           "umaddl": {"umull"}, "umsubl": {"umnegl"}, "dsb": {"ssbb", "pssbb", "dfb"}, "not": {"mvn"},
           "dup": {"mov"}, "ins": {"mov"}, "umov": {"mov"}, "fmovi": {"fmov"}, "orri": {"orr"}, "bici": {"bic"},
           "ldar": {"ldarb", "ldarh"}, "stlr": {"stlrb", "stlrh"}}


def test_capstone_names_each_form_as_its_encoding() -> None:
    """A pattern too loose would decode some other instruction as this one: capstone's mnemonic for
    every instance must be the encoding's (or one of its aliases)."""
    import re

    cs = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    rng = random.Random(17)
    for form in a64_forms():
        name = form.enc.name
        if name.startswith(("ldst", "vldst")):
            continue            # many mnemonics (ldr/ldur/ldrsb ...): covered by the differential runs
        root = re.sub(r"x\d$", "", name.split("_")[0].rstrip("0"))
        ok = {root, root + "2"} | ALIASES.get(root, set())
        for _ in range(6):
            word, _regs = instance(form, rng)
            got = next(cs.disasm(word.to_bytes(4, "little"), 0)).mnemonic
            assert got in ok or (name == "b_cond" and got.startswith("b.")), (form.name, hex(word), got)
