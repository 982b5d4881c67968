"""x86-64 -> AArch64's verifier: the targets it is held to, that it catches wrong code, random
blocks where flags flow between instructions, and x86 facts it must reproduce (every form of
every direction is verified in tests/translate/test_verify.py).
"""

from __future__ import annotations

import random

import pytest
from unicorn import x86_const

from translate.helpers import STATES
from vmcli.translate.isa.a64.encoder import addsub
from vmcli.translate.isa.x86.flags import STATUS
from vmcli.translate.verify.runners import X86_CODE as CODE_ADDRESS
from vmcli.translate.x86_to_a64.check import Verifier, block_states, instance, random_state
from vmcli.translate.x86_to_a64.forms import all_forms
from vmcli.translate.x86_to_a64.frontend import translate
from vmcli.translate.x86_to_a64.oracle import CORRECTED


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return Verifier()


def test_counts_meet_the_targets() -> None:
    forms = all_forms()
    assert len(forms) >= 250
    assert sum(f.spec.is_sse for f in forms) >= 250


def test_verifier_catches_a_wrong_translation(verifier: Verifier) -> None:
    """Mutation check: the same verifier must reject code that is almost right."""
    code = bytes.fromhex("4801c8")  # add rax, rcx
    tr = translate(code, CODE_ADDRESS)
    words = [int.from_bytes(tr.code[i:i + 4], "little") for i in range(0, len(tr.code), 4)]
    at = words.index(addsub("adds", 64, 0, 0, 1))
    words[at] = addsub("subs", 64, 0, 0, 1)
    bad = b"".join(w.to_bytes(4, "little") for w in words)
    rng = random.Random(1)
    runs, mismatches = verifier.check(code, bad, {}, (random_state(rng) for _ in range(20)), lambda r: 0, rng)
    assert mismatches and any("rax" in d for d in mismatches[0].diffs)
    # and a flag-only error: drop the copy of the result PF comes from
    tr2 = translate(bytes.fromhex("4821c8"), CODE_ADDRESS)  # and rax, rcx
    text = [t["text"] for t in tr2.to_json()["target"]]
    cut = text.index("mov x20, x0")
    words = [int.from_bytes(tr2.code[i:i + 4], "little") for i in range(0, len(tr2.code), 4)]
    del words[cut]
    bad = b"".join(w.to_bytes(4, "little") for w in words)
    runs, mismatches = verifier.check(bytes.fromhex("4821c8"), bad, {}, (random_state(rng) for _ in range(40)),
                                      lambda r: 0x10, rng)
    assert mismatches and "rflags" in mismatches[0].diffs[0]


def test_random_blocks_of_register_forms(verifier: Verifier) -> None:
    """Straight-line blocks mixing integer and SSE forms: flags flow between instructions."""
    rng = random.Random(99)
    # forms whose oracle needs a per-instruction correction (oracle.py) are checked alone
    # and forms leaving flags other than AF undefined are left out: a later setcc/cmov/adc would
    # carry the undefined value into a register (nothing here reads AF)
    forms = [f for f in all_forms() if f.kind != "m" and not f.spec.ends_block and not f.rule.stack
             and f.spec.mnemonic not in CORRECTED and isinstance(f.rule.undefined, int)
             and not f.rule.undefined & ~0x10]
    for _ in range(60 if STATES < 1000 else 400):
        chosen = [rng.choice(forms) for _ in range(rng.randint(2, 8))]
        code = b"".join(instance(f, rng, CODE_ADDRESS)[0] for f in chosen)
        tr = translate(code, CODE_ADDRESS)
        assert not tr.unsupported
        undefined = 0
        for f in chosen:
            u = f.rule.undefined
            undefined |= u if isinstance(u, int) else STATUS
        n, bad = verifier.check(code, tr.code, {}, block_states(code, rng, 10), lambda r, u=undefined: u, rng)
        assert not bad, ([si.text for si in tr.insns], bad[0].diffs)


def test_sse_nan_rule_is_the_hardware_one(verifier: Verifier) -> None:
    """Two NaN operands: the SDM returns the first operand quieted (Unicorn's softfloat does not)."""
    code = bytes.fromhex("0f58c1")  # addps xmm0, xmm1
    tr = translate(code)
    rng = random.Random(3)
    st = random_state(rng)
    st.regs["xmm0"] = 0x7F812345_7FC00001_FFC00000_7FA00000   # SNaN, QNaN, -QNaN, SNaN
    st.regs["xmm1"] = 0x7FC00000_7FE00000_7F800001_7FC00000
    got = verifier.a64.run(tr.code, {"xmm0": "v0", "xmm1": "v1"}, st.regs, st.memory, rng)
    assert not isinstance(got, str)
    assert got[0]["xmm0"] == 0x7FC12345_7FC00001_FFC00000_7FE00000
    oracle = verifier.x86.run(code, st)
    assert not isinstance(oracle, str)
    assert verifier.x86.uc.reg_read(x86_const.UC_X86_REG_XMM0) != got[0]["xmm0"]  # the documented gap


def test_x86_facts_from_the_anchors(verifier: Verifier) -> None:
    rng = random.Random(5)
    cases = [
        ("0f5cc0", {"xmm0": 0x7F800000}, 0xFFC00000),                      # inf - inf: default NaN negative
        ("f30f5bc1", {"xmm1": 0x4F000000_CF000001_7FC00000_7F800000},      # cvttps2dq out of range
         0x80000000_80000000_80000000_80000000),
        ("0f5dc1", {"xmm0": 0x80000000, "xmm1": 0x00000000}, 0x00000000),  # minps(-0, +0) = second
    ]
    for hexcode, regs, low32 in cases:
        code = bytes.fromhex(hexcode)
        tr = translate(code)
        st = random_state(rng, regs)
        got = verifier.a64.run(tr.code, {"xmm0": "v0", "xmm1": "v1"}, st.regs, st.memory, rng)
        assert not isinstance(got, str)
        mask = (1 << 128) - 1 if hexcode == "f30f5bc1" else 0xFFFFFFFF
        assert got[0]["xmm0"] & mask == low32 & mask, hexcode
    # sub's CF is a borrow: 1 - 2 sets CF
    tr = translate(bytes.fromhex("4829c8"))  # sub rax, rcx
    st = random_state(rng, {"rax": 1, "rcx": 2, "rflags": 2})
    got = verifier.a64.run(tr.code, {"rax": "x0", "rcx": "x1", "rflags": "x20"}, st.regs, st.memory, rng)
    assert not isinstance(got, str) and got[0]["rflags"] & 1
