"""The AArch64 decoder against capstone, for every form: instances decode back to their form, and
capstone names each as its encoding; reserved and UNPREDICTABLE encodings are refused."""

from __future__ import annotations

import random
import re

import capstone

from vmcli.translate.a64_to_x86.check import instance
from vmcli.translate.a64_to_x86.forms import all_forms as a64_forms
from vmcli.translate.a64_to_x86.rules import RULES
from vmcli.translate.isa.a64.decoder import decode
from vmcli.translate.isa.a64.encodings import TABLE
from vmcli.translate.verify.runners import A64_CODE


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
           "ldar": {"ldarb", "ldarh"}, "stlr": {"stlrb", "stlrh"}, "dc": {"dc"}}
# the exclusives and atomics: their acquire/release and byte/halfword spellings, and the st* aliases of
# an atomic whose result goes to xzr
for _root, _forms in (("ldxr", ("ld", "xr")), ("stxr", ("st", "xr"))):
    ALIASES[_root] = {f"{_forms[0]}{o}{_forms[1]}{s}" for o in ("", "a" if _root == "ldxr" else "l") for s in
                      ("", "b", "h")}
for _root in ("cas", "ldadd", "ldclr", "ldeor", "ldset", "swp"):
    ALIASES[_root] = {f"{m}{o}{s}" for m in (_root, "st" + _root[2:]) for o in ("", "a", "l", "al")
                      for s in ("", "b", "h")}
HINTS = {"hint", "yield", "wfe", "wfi", "sev", "sevl", "dgh", "esb", "psb", "tsb", "csdb", "bti", "xpaclri"}


def test_capstone_names_each_form_as_its_encoding() -> None:
    """A pattern too loose would decode some other instruction as this one: capstone's mnemonic for
    every instance must be the encoding's (or one of its aliases)."""
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
            if name == "hint":          # the hint space has names of its own (pointer authentication ...)
                assert got in HINTS or got.startswith(("pac", "aut")), (hex(word), got)
                continue
            assert got in ok or (name == "b_cond" and got.startswith("b.")), (form.name, hex(word), got)


def test_every_encoding_has_a_rule() -> None:
    """The decoder decodes the whole table; the translator has a rule for each encoding."""
    assert {e.name for e in TABLE} == set(RULES.rules)
