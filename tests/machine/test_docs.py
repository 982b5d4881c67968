"""Human-readable tables in docs/ are generated from the code: they must stay the same."""

from __future__ import annotations

import re
from pathlib import Path

from vmcli.machine.boards import markdown_tables
from vmcli.machine.devices.semihosting import OPS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_board_tables_in_docs_are_current() -> None:
    text = (DOCS / "running.md").read_text()
    section = re.search(r"<!-- boards:begin -->\n(.*)<!-- boards:end -->", text, re.S)
    assert section is not None
    assert section.group(1) == markdown_tables(), "run `vm boards --markdown` and paste it into docs/running.md"


def test_every_semihosting_operation_is_documented() -> None:
    text = (DOCS / "running.md").read_text()
    for number, (name, _) in OPS.items():
        assert f"| 0x{number:02X} | SYS_{name.upper()} |" in text, name
