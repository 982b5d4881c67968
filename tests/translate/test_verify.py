"""The core of the suite: every supported form of every direction, run on Unicorn from random states
with edge values next to its translation on the target's Unicorn; registers, flags, the exit
address and memory must match bit for bit.

The default run uses helpers.STATES random states per form; VM_TRANSLATE_FULL=1 runs 1,000.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from translate.helpers import STATES
from vmcli.translate.core.direction import SOURCES, direction
from vmcli.translate.verify import native
from vmcli.translate.verify.harness import verify_form

# per direction, the forms grouped by the rule that translates them
GROUPS: dict[str, dict[str, list[Any]]] = {}
for _arch in SOURCES:
    for _form in direction(_arch).forms():
        GROUPS.setdefault(_arch, {}).setdefault(_form.rule_name, []).append(_form)


@pytest.fixture(scope="module")
def checkers() -> dict[str, Any]:
    """One checker per direction for the whole module (each keeps its CPUs between runs)."""
    return {}


@pytest.mark.parametrize(("arch", "rule"), [(a, r) for a in SOURCES for r in sorted(GROUPS[a])])
def test_forms_match_source_bit_for_bit(arch: str, rule: str, checkers: dict[str, Any]) -> None:
    if any(getattr(getattr(f, "spec", None), "x87", False) for f in GROUPS[arch][rule]) and not native.available():
        pytest.skip("the x87 forms are verified against the host CPU: the host is not x86-64 Linux")
    checker = checkers.setdefault(arch, direction(arch).checker())
    rng = random.Random(rule)
    for form in GROUPS[arch][rule]:
        result = verify_form(form, checker, rng, states=STATES)
        assert not result.mismatches, (form.name, result.mismatches[0].diffs)
        assert result.runs >= STATES * 0.9, (form.name, result.runs)
