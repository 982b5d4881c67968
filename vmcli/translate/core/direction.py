"""Translation directions: what each one offers (the Direction protocol) and the registry that
finds one by its source architecture.

A direction is a package (x86_to_a64, a64_to_x86) whose DIRECTION object implements the protocol.
It is imported when first asked for, so a process translating from one architecture never loads
the other. The public API, verify/ and present/ reach a direction only through direction().
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from functools import cache
from typing import Any, Protocol

from vmcli.arches import canonical
from vmcli.errors import BadInput
from vmcli.translate.core.blocks import Translation

# source architecture -> the package of its direction
SOURCES = {"x86_64": "vmcli.translate.x86_to_a64", "arm64": "vmcli.translate.a64_to_x86"}

Result = tuple[bytes | memoryview, int, int]   # the fast paths' (code, instructions, unsupported)


class Form(Protocol):
    """One verified form: an encoding (or opcode-table line) in one of its variants."""

    @property
    def name(self) -> str: ...           # how the docs and --list-supported write it

    @property
    def extension(self) -> str: ...      # the group it is listed under (SSE2, neon-fp ...)

    @property
    def rule_name(self) -> str: ...      # the rule that translates it


class Direction(Protocol):
    source_arch: str
    target_arch: str
    target_name: str                     # the target's name in prose ("AArch64")

    def translate(self, code: bytes, address: int) -> Translation:
        """One block (cache level 3 keyed by bytes and address)."""

    def split_blocks(self, code: bytes, address: int) -> list[tuple[bytes, int]]:
        """Code cut into blocks after each branch (images)."""

    def forms(self) -> Sequence[Form]:
        """The verified forms, in table order."""

    def forms_markdown(self) -> str:
        """The forms as the docs list them."""

    def state_line(self, tr: Translation) -> str:
        """One line on where the block's code keeps the guest state (the side-by-side view)."""

    def load_templates(self) -> int:
        """The fast path's level 2 from disk; how many templates came."""

    def translate_bulk(self, blocks: list[tuple[bytes, int]], jobs: int) -> list[Result]:
        """Many blocks through the numba fast path: the same bytes as translate(); `jobs`
        processes, 0 for as many as pay off (AArch64: one per CPU building new templates; x86-64:
        one, as a worker of its would repeat numba's start-up and the template lookups)."""

    def save_templates(self) -> None:
        """The fast path's level 2 to disk, when it grew."""

    def checker(self) -> Any:
        """The direction's verification plug-in (a verify.harness.Checker; verify sits below the
        directions, so it is typed there)."""


def source_arch(name: str) -> str:
    """The canonical name of a source architecture the translator knows."""
    arch = canonical(name)
    if arch not in SOURCES:
        raise BadInput(f"unknown architecture {name!r} (use {' or '.join(SOURCES)})")
    return arch


@cache
def direction(source: str) -> Direction:
    """The direction translating from `source` (a canonical name, see source_arch)."""
    found: Direction = importlib.import_module(SOURCES[source]).DIRECTION
    return found
