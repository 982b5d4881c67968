"""AArch64 -> x86-64's verifier: the target it is held to, that it catches wrong code, AArch64 facts
it must reproduce, random blocks where NZCV flows between instructions, and what is refused (every
form of every direction is verified in tests/translate/test_verify.py).
"""

from __future__ import annotations

import random
import struct

import capstone
import pytest

from translate.helpers import STATES
from vmcli.translate import translate
from vmcli.translate.a64_to_x86.check import Verifier, instance, random_state
from vmcli.translate.a64_to_x86.forms import all_forms as a64_forms
from vmcli.translate.verify.runners import A64_CODE


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return Verifier()


def test_counts_meet_the_target() -> None:
    assert len(a64_forms()) >= 150


def _asm(text: str) -> bytes:
    keystone = pytest.importorskip("keystone")
    ks = keystone.Ks(keystone.KS_ARCH_ARM64, keystone.KS_MODE_LITTLE_ENDIAN)
    return bytes(ks.asm(text.replace(";", "\n"), A64_CODE)[0])


def test_verifier_catches_a_wrong_translation(verifier: Verifier) -> None:
    """Mutation check: subs with the carry inverted must be caught (the host flags keep NOT C,
    which x86's borrow already is)."""
    code = _asm("subs x0, x1, x2")
    tr = translate(code, A64_CODE, "arm64")
    lahf = b"\x9f"
    assert tr.code.count(lahf) == 1
    bad = tr.code.replace(lahf, b"\xf5" + lahf)              # cmc before lahf: CF = C
    rng = random.Random(1)
    _, mismatches = verifier.check(code, bad, (random_state(rng) for _ in range(50)), rng)
    assert mismatches and "nzcv" in mismatches[0].diffs[0]
    # and a value error: add instead of sub
    tr = translate(_asm("sub x0, x1, x2"), A64_CODE, "arm64")
    sub_rr = next(i for i in range(len(tr.code) - 2) if tr.code[i + 1] == 0x29 and tr.code[i] & 0xF8 == 0x48)
    bad = tr.code[:sub_rr + 1] + b"\x01" + tr.code[sub_rr + 2:]
    _, mismatches = verifier.check(_asm("sub x0, x1, x2"), bad, (random_state(rng) for _ in range(20)), rng)
    assert mismatches and mismatches[0].diffs[0].startswith("x0")


def _run(code: bytes, regs: dict[str, int], verifier: Verifier) -> dict[str, int]:
    rng = random.Random(0)
    st = random_state(rng, regs)
    tr = translate(code, A64_CODE, "arm64")
    got = verifier.host.run(tr.code, st, rng)
    assert not isinstance(got, str)
    return got[0]


def test_aarch64_facts(verifier: Verifier) -> None:
    # division by zero gives 0, INT_MIN / -1 gives INT_MIN (x86 would trap on both)
    assert _run(_asm("udiv x0, x1, x2"), {"x1": 5, "x2": 0}, verifier)["x0"] == 0
    assert _run(_asm("sdiv w0, w1, w2"), {"x1": 0x80000000, "x2": 0xFFFFFFFF}, verifier)["x0"] == 0x80000000
    assert _run(_asm("sdiv x0, x1, x2"), {"x1": 1 << 63, "x2": (1 << 64) - 1}, verifier)["x0"] == 1 << 63
    # subs: C is NOT borrow; 2 - 1 sets C, 1 - 2 clears it and sets N
    assert _run(_asm("subs x0, x1, x2"), {"x1": 2, "x2": 1}, verifier)["nzcv"] == 0x20000000
    assert _run(_asm("subs x0, x1, x2"), {"x1": 1, "x2": 2}, verifier)["nzcv"] == 0x80000000
    # a W write zero-extends
    assert _run(_asm("add w0, w1, w2"), {"x0": (1 << 64) - 1, "x1": 1 << 40, "x2": 3}, verifier)["x0"] == 3


def test_fused_multiply_add_rounds_once(verifier: Verifier) -> None:
    """n*m + 1.0 = 1 + 2^-24 + 2^-54: rounding to double first lands on the tie 1 + 2^-24, which
    then rounds to 1.0; the fused result (one rounding) is 1 + 2^-23."""
    def f32(x: float) -> int:
        return struct.unpack("<I", struct.pack("<f", x))[0]

    n, m = 162565 * 2.0**-27, 6605 * 2.0**-27          # n*m = 2^-24 + 2^-54, both exact floats
    assert f32(float(struct.unpack("<f", struct.pack("<f", n * m + 1.0))[0])) == 0x3F800000
    code = _asm("fmadd s0, s1, s2, s3")
    rng = random.Random(4)
    st = random_state(rng, {"v1": f32(n), "v2": f32(m), "v3": f32(1.0)})
    want = verifier.src.run(code, st)
    assert not isinstance(want, str) and want[0]["v0"] == 0x3F800001
    assert _run(code, {"v1": f32(n), "v2": f32(m), "v3": f32(1.0)}, verifier)["v0"] == 0x3F800001


@pytest.mark.parametrize("word, mnemonic", [
    (0xF8408400, "(bad)"),                           # ldr x0, [x0], #8: writeback into Rt, UNPREDICTABLE
    (0xD5380000, "mrs"),                             # mrs x0, midr_el1 (EL1's register)
    (0xC87F0440, "ldxp"), (0xD9600000, "ldg"),       # exclusive pairs; MTE
    (0x2598E3E0, "ptrue"), (0x04603000, "mov")])     # SVE (mov z0.d, z0.d)
def test_unsupported_is_reported_not_translated(word: int, mnemonic: str) -> None:
    code = word.to_bytes(4, "little") + bytes.fromhex("00040091")     # + add x0, x0, #1
    tr = translate(code, 0, "arm64")
    assert [u.text.split()[0] for u in tr.unsupported] == [mnemonic, "add"]
    assert tr.code == b"" and tr.unsupported[0].reason in ("not in the supported subset", "undecodable bytes")


def test_instances_decode_as_capstone_does() -> None:
    cs = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    rng = random.Random(3)
    for form in a64_forms():
        for _ in range(4):
            word, _regs = instance(form, rng)
            got = list(cs.disasm(word.to_bytes(4, "little"), A64_CODE))
            assert got and got[0].size == 4, (form.name, hex(word))


# memory operands; FPCR changes how later float instructions round on the source; FPSR collects
# their flags there, not in the translation (docs: exceptions), so reading it back differs too
NOT_IN_RANDOM_BLOCKS = {"ldxr", "stxr", "cas", "ldadd", "ldclr", "ldeor", "ldset", "swp", "dc_zva", "msr_fpcr",
                        "msr_fpsr", "mrs_fpsr"}


def test_random_blocks(verifier: Verifier) -> None:
    """Straight-line blocks mixing integer, flag-setting, conditional and NEON forms (NZCV flows
    from one instruction to the next), some ending in a branch."""
    rng = random.Random(99)
    body = [f for f in a64_forms() if f.enc.group in ("base", "neon", "neon-fp")
            and not f.enc.name.startswith(("ldst", "adr", "ldar", "stlr"))     # no memory operands
            and f.enc.name not in NOT_IN_RANDOM_BLOCKS]
    branches = [f for f in a64_forms() if f.enc.group == "branch" and f.enc.name not in ("br", "blr", "ret")]
    for _ in range(40 if STATES < 1000 else 300):
        chosen = [rng.choice(body) for _ in range(rng.randint(2, 8))]
        if rng.random() < 0.3:
            chosen.append(rng.choice(branches))
        words = [instance(f, rng, A64_CODE + 4 * i)[0] for i, f in enumerate(chosen)]
        code = b"".join(w.to_bytes(4, "little") for w in words)
        tr = translate(code, A64_CODE, "arm64")
        assert not tr.unsupported
        runs, bad = verifier.check(code, tr.code, (random_state(rng) for _ in range(10)), rng,
                                   branch=tr.exit_reg is not None, count=len(words))
        assert runs == 10 and not bad, ([si.text for si in tr.insns], bad[0].diffs)


def test_branch_ends_the_block_and_the_rest_is_listed() -> None:
    code = _asm("add x0, x0, #1; cbz x0, #0x40; sub x1, x1, #1")
    tr = translate(code, A64_CODE, "arm64")
    assert tr.exit_reg == "r14" and [si.supported for si in tr.insns] == [True, True, False]
    assert tr.unsupported[0].text == "sub x1, x1, #1" and "exit branch" in tr.unsupported[0].reason


def test_exclusive_pairs_and_atomics_store_as_the_cpu_does(verifier: Verifier) -> None:
    """A load exclusive, an update and a store exclusive to the same address succeed (status 0) and
    store; to another address, or with no load before, the store exclusive fails (status 1, memory
    kept); LSE atomics return the old value. Checked against Unicorn (its monitor cleared first)."""
    rng = random.Random(4)
    words = {
        "success": [0x885FFC20, 0x11000400, 0x8802FC20],    # ldaxr w0, [x1]; add w0, w0, #1; stlxr w2, w0, [x1]
        "other address": [0x885F7C20, 0x11000400, 0x88027C60],   # ldxr w0, [x1]; add; stxr w2, w0, [x3]
        "no load": [0x11000400, 0x88027C20],                # add; stxr w2, w0, [x1]
        "atomics": [0xB8E20020, 0xF8A28060, 0x88E2FC20],    # ldaddal w2, w0, [x1]; swpa x2, x0, [x3]; casal
    }
    for name, ws in words.items():
        code = struct.pack(f"<{len(ws)}I", *ws)
        tr = translate(code, A64_CODE, "arm64")
        assert not tr.unsupported, (name, [u.text for u in tr.unsupported])
        sts = [random_state(rng, {"x1": 0x200040, "x3": 0x200080}) for _ in range(20)]
        runs, bad = verifier.check(code, tr.code, sts, rng)
        assert runs == 20 and not bad, (name, bad[0].diffs if bad else "")
        if name == "success":
            got = verifier.host.run(tr.code, sts[0], rng)
            assert not isinstance(got, str) and got[0]["x2"] == 0
        elif name != "atomics":
            got = verifier.host.run(tr.code, sts[0], rng)
            assert not isinstance(got, str) and got[0]["x2"] == 1
