"""The x86-64 -> AArch64 rule table: mnemonic -> Rule (core/rules.py), filled by the extension
modules of this package as they are imported."""

from __future__ import annotations

from vmcli.translate.core.rules import RuleTable
from vmcli.translate.x86_to_a64.builder import Ctx

RULES: RuleTable[Ctx] = RuleTable()
