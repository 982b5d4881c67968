"""AArch64 -> x86-64 expected code per encoding group (base, branch, neon, neon-fp, neon-mem), as
FEX-Emu's InstructionCountCI: each form's canonical instance and the exact x86-64 it becomes, so a
diff in tests/translate/expected/a64_to_x86_*.json shows when a translation changes or grows.
Regenerate with VM_TRANSLATE_REGEN=1 after an intended change.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from vmcli.translate.pipeline import translate
from vmcli.translate.pipeline_a64 import a64_forms
from vmcli.translate.verify_a64 import A64_CODE, instance

EXPECTED = Path(__file__).parent / "expected"


def _current() -> dict[str, dict[str, dict[str, object]]]:
    groups: dict[str, dict[str, dict[str, object]]] = {}
    for form in a64_forms():
        word, _ = instance(form, random.Random(form.name))
        j = translate(word.to_bytes(4, "little"), A64_CODE, "arm64").to_json()
        groups.setdefault(form.enc.group.replace("-", "_"), {})[form.name] = {
            "arm64": j["source"][0]["text"], "bytes": j["source"][0]["bytes"], "count": len(j["target"]),
            "x86": [t["text"] for t in j["target"]],
        }
    return groups


def test_expected_code_per_group() -> None:
    current = _current()
    if os.environ.get("VM_TRANSLATE_REGEN"):
        EXPECTED.mkdir(exist_ok=True)
        for name, forms in current.items():
            (EXPECTED / f"a64_to_x86_{name}.json").write_text(json.dumps(forms, indent=1, sort_keys=True) + "\n")
    files = sorted(EXPECTED.glob("a64_to_x86_*.json"))
    assert {f.stem.removeprefix("a64_to_x86_") for f in files} == set(current), "run with VM_TRANSLATE_REGEN=1"
    for f in files:
        want = json.loads(f.read_text())
        got = current[f.stem.removeprefix("a64_to_x86_")]
        assert set(want) == set(got), f"{f.name}: forms added or removed (VM_TRANSLATE_REGEN=1)"
        for form, entry in want.items():
            if entry != got[form]:
                pytest.fail(f"{f.name}: {form}: expected {entry['count']} instructions, now {got[form]['count']}:"
                            f"\n  want {entry['x86']}\n  got  {got[form]['x86']}")


def test_docs_list_the_supported_forms() -> None:
    import re

    from vmcli.translate.pipeline_a64 import forms_markdown

    doc = Path(__file__).parents[2] / "docs" / "translator-arm64.md"
    text = doc.read_text()
    section = re.search(r"<!-- forms:begin -->\n(.*)\n<!-- forms:end -->", text, re.S)
    assert section is not None
    if os.environ.get("VM_TRANSLATE_REGEN"):
        doc.write_text(text.replace(section.group(1), forms_markdown()))
        return
    assert section.group(1) == forms_markdown(), "run with VM_TRANSLATE_REGEN=1"
