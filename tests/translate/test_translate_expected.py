"""Expected code per opcode map, as FEX-Emu's InstructionCountCI: each form's canonical instance
and the exact AArch64 it becomes. A diff in tests/translate/expected/ shows when a translation
changes or grows. Regenerate with VM_TRANSLATE_REGEN=1 after an intended change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from translate_helpers import CODE_ADDRESS, canonical, opcode_map

from vmcli.translate.forms import all_forms
from vmcli.translate.pipeline import translate

EXPECTED = Path(__file__).parent / "expected"


def _current() -> dict[str, dict[str, dict[str, object]]]:
    maps: dict[str, dict[str, dict[str, object]]] = {}
    for form in all_forms():
        code = canonical(form)
        tr = translate(code, CODE_ADDRESS)
        j = tr.to_json()
        maps.setdefault(opcode_map(form), {})[form.name] = {
            "x86": j["source"][0]["text"], "bytes": code.hex(), "count": len(j["target"]),
            "arm64": [t["text"] for t in j["target"]],
        }
    return maps


def test_expected_code_per_opcode_map() -> None:
    current = _current()
    if os.environ.get("VM_TRANSLATE_REGEN"):
        EXPECTED.mkdir(exist_ok=True)
        for name, forms in current.items():
            (EXPECTED / f"x86_to_a64_{name}.json").write_text(json.dumps(forms, indent=1, sort_keys=True) + "\n")
    files = sorted(EXPECTED.glob("x86_to_a64_*.json"))
    assert {f.stem.removeprefix("x86_to_a64_") for f in files} == set(current), "run with VM_TRANSLATE_REGEN=1"
    for f in files:
        want = json.loads(f.read_text())
        got = current[f.stem.removeprefix("x86_to_a64_")]
        assert set(want) == set(got), f"{f.name}: forms added or removed (VM_TRANSLATE_REGEN=1)"
        for form, entry in want.items():
            if entry != got[form]:
                pytest.fail(f"{f.name}: {form}: expected {entry['count']} instructions, now {got[form]['count']}:"
                            f"\n  want {entry['arm64']}\n  got  {got[form]['arm64']}")
