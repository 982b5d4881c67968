"""Shared pieces of the translator tests."""

from __future__ import annotations

import os
import random

from vmcli.translate.forms import Form, all_forms, instance

FULL = os.environ.get("VM_TRANSLATE_FULL", "") not in ("", "0")
# random states per form: the issue's >= 1,000 in the full run, fewer by default (2-core budget)
STATES = 1000 if FULL else 200
CODE_ADDRESS = 0x110000


def opcode_map(form: Form) -> str:
    """FEX-style grouping: one expected-code file per opcode map."""
    spec = form.spec
    esc = {0: "", 1: "0f", 2: "0f38", 3: "0f3a"}[spec.map]
    if spec.map == 0:
        return "base"
    prefix = {0: "", 0x66: "66_", 0xF2: "f2_", 0xF3: "f3_"}[spec.prefix]
    return prefix + esc


def canonical(form: Form) -> bytes:
    """A fixed instance of the form (seeded by its name) for the expected-code files."""
    code, _ = instance(form, random.Random(form.name), CODE_ADDRESS)
    return code


def forms_by_mnemonic() -> dict[str, list[Form]]:
    groups: dict[str, list[Form]] = {}
    for f in all_forms():
        groups.setdefault(f.spec.mnemonic, []).append(f)
    return groups
