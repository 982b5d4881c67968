"""Architecture names: the canonical ones (arm64, riscv64, x86_64) and the aliases a user may type.

One table for the whole project: `vm run`'s CPU table and `vm translate --from` both read it.
"""

from __future__ import annotations

ARCH_ALIASES = {"aarch64": "arm64", "riscv": "riscv64", "rv64": "riscv64", "x86-64": "x86_64", "amd64": "x86_64",
                "x64": "x86_64"}


def canonical(name: str) -> str:
    """`name` with an alias replaced by its canonical name (unknown names come back lowercased)."""
    name = name.lower()
    return ARCH_ALIASES.get(name, name)
