"""Dead-flag elimination within a block: an instruction leaves out the flags a later one always
overwrites before anything reads them. The block's final state still matches Unicorn running
the x86 code bit for bit, flags included, and the fast path gives the same bytes."""

from __future__ import annotations

import random
import re

import capstone
import pytest

from vmcli.translate.core import cache
from vmcli.translate.isa.x86.conditions import CC
from vmcli.translate.isa.x86.decoder import decode
from vmcli.translate.isa.x86.flags import AF, CF, OF, PF, SF, STATUS, ZF
from vmcli.translate.verify.runners import X86_CODE
from vmcli.translate.x86_to_a64 import fast
from vmcli.translate.x86_to_a64.check import Verifier, block_states, instance
from vmcli.translate.x86_to_a64.forms import Form, all_forms
from vmcli.translate.x86_to_a64.frontend import dead_flags, template_for, translate
from vmcli.translate.x86_to_a64.rules import FLAG_FREE, FLAG_WRITES

_CS = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
_FLAGS_REG = re.compile(r"\b[wx]2[01]\b|nzcv")
_BRANCH = re.compile(r"^(b|b\..*|cbz|cbnz|tbz|tbnz|br|ret)$")


def _template_text(form: Form, rng: random.Random | bytes, dead: int = 0) -> list[tuple[str, str]]:
    code = rng if isinstance(rng, bytes) else instance(form, rng, X86_CODE)[0]
    insn = decode(code, X86_CODE)
    assert insn is not None
    words = template_for(insn, dead=dead).words
    raw = b"".join(w.to_bytes(4, "little") for w in words)
    out = [(i.mnemonic, i.op_str) for i in _CS.disasm(raw, 0)]
    assert len(out) == len(words)
    return out


def test_flag_free_rules_never_touch_the_flags() -> None:
    """Their code names neither PF_RES nor AF_SRC, and sets no condition flags (NZCV holds the guest's)."""
    rng = random.Random(1)
    forms = [f for f in all_forms() if f.spec.mnemonic in FLAG_FREE]
    assert len(forms) > 200
    cs = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    cs.detail = True
    for form in forms:
        code, _ = instance(form, rng, X86_CODE)
        insn = decode(code, X86_CODE)
        assert insn is not None
        raw = b"".join(w.to_bytes(4, "little") for w in template_for(insn).words)
        for i in cs.disasm(raw, 0):
            written = {i.reg_name(r) for r in i.regs_access()[1]}
            assert not _FLAGS_REG.search(i.op_str) and "nzcv" not in written, (form.name, i.mnemonic, i.op_str)


def test_flag_writers_drop_dead_flags_in_straight_line_code() -> None:
    rng = random.Random(2)
    for form in (f for f in all_forms() if f.spec.mnemonic in FLAG_WRITES):
        code = instance(form, rng, X86_CODE)[0]
        full = _template_text(form, code)
        lean = _template_text(form, code, dead=STATUS)
        # bsf/bsr and cmpxchg compare for their own result whatever is live
        assert len(lean) < len(full) or form.spec.mnemonic in ("bsf", "bsr", "cmpxchg"), form.name
        assert len(lean) <= len(full), form.name
        assert not any(_BRANCH.match(m) for m, _ in full), form.name   # every write unconditional


def _asm(*hexes: str) -> bytes:
    return b"".join(bytes.fromhex(h) for h in hexes)


ADD_RAX_RBX, SUB_RCX_RDX, XOR_ESI_EDI, CMP_R8_R9 = "4801d8", "4829d1", "31fe", "4d39c8"
CMOVE_RAX_RCX, INC_EAX, MOVAPS = "480f44c1", "ffc0", "0f28c1"


def test_liveness_of_a_block() -> None:
    insns = [decode(bytes.fromhex(h), 0) for h in (ADD_RAX_RBX, MOVAPS, XOR_ESI_EDI, INC_EAX, CMOVE_RAX_RCX,
                                                    SUB_RCX_RDX, CMP_R8_R9)]
    assert all(insns)
    dead = dead_flags(insns)  # type: ignore[arg-type]
    assert dead[0] == STATUS                           # xor, then inc (AF) rewrite all of add's
    assert dead[1] == 0                                # movaps: its code has nothing to do with flags
    assert dead[2] == PF | AF | ZF | SF | OF           # inc keeps CF, which cmove reads
    assert dead[3] == 0                                # cmove reads everything
    assert dead[4] == 0                                # cmove's code is the same whatever is live
    assert dead[5] == STATUS and dead[6] == 0          # sub: cmp rewrites all; cmp ends the block


def _check_block(code: bytes, states: int, rng: random.Random) -> None:
    tr = translate(code, X86_CODE)
    assert not tr.unsupported
    n, bad = Verifier().check(code, tr.code, {}, block_states(code, rng, states), lambda regs: 0, rng)
    assert n == states and not bad, [si.text for si in tr.insns] + bad[0].diffs


def test_a_block_gets_shorter_and_still_verifies() -> None:
    code = _asm(ADD_RAX_RBX, MOVAPS, XOR_ESI_EDI, SUB_RCX_RDX, CMP_R8_R9)
    tr = translate(code, X86_CODE)
    alone = sum(len(translate(si.raw, X86_CODE).code) for si in tr.insns)
    assert len(tr.code) < alone - 4 * 8                 # PF and AF of add, xor and sub: not made
    _check_block(code, 100, random.Random(3))
    # the numba path makes the same code
    cache.clear()
    fast._TRANSLATOR = None
    assert bytes(fast.translate_fast([(code, X86_CODE)])[0][0]) == tr.code


@pytest.mark.parametrize("seed", range(4))
def test_random_blocks_verify(seed: int) -> None:
    """Register forms of the flag writers, flag readers (cmov, setcc, adc, sbb) and flag-free
    instructions in random order; the last instruction defines every flag, so all are compared."""
    rng = random.Random(seed)
    pool = [f for f in all_forms() if f.kind != "m" and (
        (f.spec.mnemonic in FLAG_WRITES and f.rule.undefined == 0)
        or f.spec.mnemonic in ("adc", "sbb", "mov", "not", "xchg", "paddd", "pxor")
        or f.spec.mnemonic.startswith(("cmov", "set")))]
    last = [f for f in pool if f.spec.mnemonic in ("add", "sub", "cmp", "neg")]
    for _ in range(12):
        forms = [rng.choice(pool) for _ in range(rng.randint(2, 8))] + [rng.choice(last)]
        _check_block(b"".join(instance(f, rng, X86_CODE)[0] for f in forms), 25, rng)


def test_every_flag_read_after_every_writer() -> None:
    """add; W; set<cc>; add for each flag writer W and condition: set<cc> sees whatever W left
    in the flags (W's own or, for the flags W keeps, add's), so every fact in FLAG_WRITES shows."""
    rng = random.Random(7)
    forms = all_forms()

    def pick(mnemonic: str) -> Form:
        return rng.choice([f for f in forms if f.spec.mnemonic == mnemonic and f.kind in "r-"])

    for writer in sorted(w for w in FLAG_WRITES if pick(w).rule.undefined == 0):   # no undefined flag to read
        for cc in CC:
            block = [pick("add"), pick(writer), pick(f"set{cc}"), pick("add")]
            _check_block(b"".join(instance(f, rng, X86_CODE)[0] for f in block), 6, rng)


def test_flags_are_the_six_status_bits() -> None:
    assert STATUS == CF | PF | AF | ZF | SF | OF
