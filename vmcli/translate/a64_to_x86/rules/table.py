"""The AArch64 -> x86-64 rule table: encoding name (isa/a64/encodings.py) -> Rule (core/rules.py),
filled by the group modules of this package as they are imported."""

from __future__ import annotations

from vmcli.translate.a64_to_x86.builder import Ctx
from vmcli.translate.core.rules import RuleTable

RULES: RuleTable[Ctx] = RuleTable()
