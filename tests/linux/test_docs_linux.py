"""docs/linux-user.md's system call table is the generated one."""

from __future__ import annotations

from pathlib import Path

from vmcli.linux.syscalls.table import markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "linux-user.md"


def test_syscall_table_is_current() -> None:
    text = DOC.read_text()
    begin, end = "<!-- syscall-table:begin -->\n", "<!-- syscall-table:end -->"
    assert text[text.index(begin) + len(begin):text.index(end)] == markdown(), \
        "regenerate with: python -m vmcli.linux.syscalls.table"
