"""The supported-forms lists of the docs are generated from the rule tables and must be current."""

from __future__ import annotations

import pytest

from vmcli.translate.core.direction import SOURCES, direction
from vmcli.translate.present import listing


@pytest.mark.parametrize("arch", list(SOURCES))
def test_forms_list_in_docs_is_current(arch: str) -> None:
    text = listing.DOC[arch].read_text()
    assert listing.current_block(text) == listing.render_block(arch), "run: python -m vmcli.translate.present.listing"


def test_docs_name_every_mnemonic() -> None:
    block = listing.render_block("x86_64")
    for form in direction("x86_64").forms():
        assert f"`{form.rule_name}`" in block
