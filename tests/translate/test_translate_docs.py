"""docs/translator.md's supported-forms list is generated from the rule tables and must be current."""

from __future__ import annotations

from vmcli.translate import listing


def test_forms_list_in_docs_is_current() -> None:
    text = listing.DOC.read_text()
    assert listing.current_block(text) == listing.render_block(), "run: python -m vmcli.translate.listing"


def test_docs_name_every_mnemonic() -> None:
    from vmcli.translate.forms import all_forms

    block = listing.render_block()
    for form in all_forms():
        assert f"`{form.spec.mnemonic}`" in block
