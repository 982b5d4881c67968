"""vmcli/linux/syscalls/numbers.py is what the generator makes from the cross toolchains' headers."""

from __future__ import annotations

from linux_helpers import COMPILERS, require_tool

from vmcli.linux.syscalls import generate
from vmcli.linux.syscalls.numbers import NUMBERS


def test_numbers_match_the_headers() -> None:
    require_tool(*COMPILERS.values())
    for arch, compiler in generate.COMPILERS.items():
        assert generate.table(compiler) == NUMBERS[arch], f"{arch}: python -m vmcli.linux.syscalls.generate"
