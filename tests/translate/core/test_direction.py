"""The registry: architecture names, and directions found (and imported) by their source."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vmcli.errors import BadInput
from vmcli.translate.core.direction import SOURCES, direction, source_arch


@pytest.mark.parametrize(("name", "arch"), [("x86_64", "x86_64"), ("X86-64", "x86_64"), ("amd64", "x86_64"),
                                            ("x64", "x86_64"), ("arm64", "arm64"), ("AArch64", "arm64")])
def test_the_project_aliases_name_a_source(name: str, arch: str) -> None:
    assert source_arch(name) == arch


@pytest.mark.parametrize("name", ["riscv64", "mips", ""])
def test_other_architectures_are_bad_input(name: str) -> None:
    with pytest.raises(BadInput, match="unknown architecture .* \\(use x86_64 or arm64\\)"):
        source_arch(name)


def test_each_direction_translates_from_its_source() -> None:
    for source in SOURCES:
        d = direction(source)
        assert d.source_arch == source and d.target_arch != source
        assert d.forms() and all(f.rule_name and f.name for f in d.forms())


def test_a_direction_is_imported_when_first_asked_for() -> None:
    code = ("import sys\n"
            "from vmcli.translate import translate\n"
            "translate(bytes.fromhex('4801c8'))\n"
            "assert 'vmcli.translate.x86_to_a64' in sys.modules\n"
            "assert not any(m.startswith('vmcli.translate.a64_to_x86') for m in sys.modules)\n"
            "assert not any(m in sys.modules for m in ('numba', 'unicorn', 'rich'))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
