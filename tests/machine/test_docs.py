"""Human-readable tables in docs/ are generated from the code: they must stay the same."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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


def test_every_exit_status_is_documented() -> None:
    """README's table and `vm run --help` name every status vm itself exits with."""
    import subprocess
    import sys

    from vmcli.errors import ExitStatus
    readme = (DOCS.parent / "README.md").read_text()
    help_text = subprocess.run([sys.executable, "-m", "vmcli", "run", "--help"], capture_output=True, text=True,
                               check=True).stdout
    help_text = " ".join(help_text.split())
    for status in ExitStatus:
        if status == ExitStatus.OK:
            continue
        assert f"| {int(status)} |" in readme, status
        assert f" {int(status)} " in help_text, status


@pytest.mark.parametrize("arch", ["arm64", "riscv64", "x86_64"])
def test_bench_instruction_counts_in_docs(arch: str) -> None:
    import json
    import subprocess
    import sys

    text = (DOCS / "guest-images.md").read_text()
    row = re.search(rf"\| bench-{arch}\.elf \| (\d+) \(", text)
    assert row is not None
    proc = subprocess.run([sys.executable, "-m", "vmcli", "run", f"bench-{arch}", "--stats", "--json"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stderr)["instructions"] == int(row.group(1))
