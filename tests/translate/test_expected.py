"""Expected code, as FEX-Emu's InstructionCountCI: each form's canonical instance and the exact
target code it becomes, one file per x86 opcode map or AArch64 encoding group, for every direction
of the registry. A diff in tests/translate/expected/ shows when a translation changes or grows.
Regenerate with VM_TRANSLATE_REGEN=1 after an intended change.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vmcli.translate.core.direction import SOURCES, direction

EXPECTED = Path(__file__).parent / "expected"
FILES = {"x86_64": "x86_to_a64_", "arm64": "a64_to_x86_"}
SHORT = {"x86_64": "x86", "arm64": "arm64"}       # the entries' keys for source and target text


def _opcode_map(form: Any) -> str:
    """FEX-style grouping: one expected-code file per x86 opcode map."""
    spec = form.spec
    esc = {0: "", 1: "0f", 2: "0f38", 3: "0f3a"}[spec.map]
    if spec.map == 0:
        return "base"
    prefix = {0: "", 0x66: "66_", 0xF2: "f2_", 0xF3: "f3_"}[spec.prefix]
    return ("vex_" if spec.vex else "") + prefix + esc


GROUP: dict[str, Callable[[Any], str]] = {"x86_64": _opcode_map,
                                          "arm64": lambda form: form.extension.replace("-", "_")}


def _current(arch: str) -> dict[str, dict[str, dict[str, object]]]:
    d = direction(arch)
    checker = d.checker()
    groups: dict[str, dict[str, dict[str, object]]] = {}
    for form in d.forms():
        code, _ = checker.sample(form, random.Random(form.name))      # the form's canonical instance
        j = d.translate(code, checker.code_address).to_json()
        groups.setdefault(GROUP[arch](form), {})[form.name] = {
            SHORT[arch]: j["source"][0]["text"], "bytes": j["source"][0]["bytes"], "count": len(j["target"]),
            SHORT[d.target_arch]: [t["text"] for t in j["target"]],
        }
    return groups


@pytest.mark.parametrize("arch", list(SOURCES))
def test_expected_code_per_group(arch: str) -> None:
    current = _current(arch)
    prefix = FILES[arch]
    if os.environ.get("VM_TRANSLATE_REGEN"):
        EXPECTED.mkdir(exist_ok=True)
        for name, forms in current.items():
            (EXPECTED / f"{prefix}{name}.json").write_text(json.dumps(forms, indent=1, sort_keys=True) + "\n")
    files = sorted(EXPECTED.glob(f"{prefix}*.json"))
    assert {f.stem.removeprefix(prefix) for f in files} == set(current), "run with VM_TRANSLATE_REGEN=1"
    target = SHORT[direction(arch).target_arch]
    for f in files:
        want = json.loads(f.read_text())
        got = current[f.stem.removeprefix(prefix)]
        assert set(want) == set(got), f"{f.name}: forms added or removed (VM_TRANSLATE_REGEN=1)"
        for form, entry in want.items():
            if entry != got[form]:
                pytest.fail(f"{f.name}: {form}: expected {entry['count']} instructions, now {got[form]['count']}:"
                            f"\n  want {entry[target]}\n  got  {got[form][target]}")
