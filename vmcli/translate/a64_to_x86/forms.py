"""Forms: one variant (register width, arrangement) of one encoding with a rule. The supported-forms
list (`vm translate --from arm64 --list-supported`, docs/translator-arm64.md) and the verifier's
per-form runs are both generated from here."""

from __future__ import annotations

from dataclasses import dataclass

from vmcli.translate.a64_to_x86.rules import RULES
from vmcli.translate.isa.a64.encodings import TABLE, Enc, Variant


@dataclass(frozen=True)
class Form:
    enc: Enc
    variant: Variant

    @property
    def name(self) -> str:
        return self.enc.form_name(self.variant)

    @property
    def extension(self) -> str:
        return self.enc.group

    @property
    def rule_name(self) -> str:
        return self.enc.name


def encodings() -> list[Enc]:
    """The encodings a rule covers, in table order."""
    return [e for e in TABLE if e.name in RULES.rules]


def all_forms() -> list[Form]:
    return [Form(e, v) for e in encodings() for v in e.variants]


def forms_markdown() -> str:
    """The supported forms as a markdown table, one row per encoding (docs/translator-arm64.md)."""
    rows = ["| group | encoding | variants (each one a verified form) |", "|---|---|---|"]
    for e in encodings():
        variants = " ".join(v.label for v in e.variants) or "-"
        syntax = e.syntax.replace("|", "\\|")
        rows.append(f"| {e.group} | `{syntax}` | {variants} |")
    rows.append(f"\n{len(all_forms())} forms in {len(encodings())} encodings.")
    return "\n".join(rows)
