"""What the rules of every extension use."""

from __future__ import annotations

from typing import Any

from vmcli.translate.isa.x86.flags import STATUS
from vmcli.translate.x86_to_a64.builder import Ctx

ALL = STATUS


def operands(c: Ctx) -> tuple[Any, ...]:
    return c.insn.operands
