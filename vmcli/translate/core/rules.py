"""The rule record of both translation directions, and the table rules register in.

A rule turns one decoded source instruction into target code through its direction's builder
(the rule context, `C`). Rules are registered by name (an x86 mnemonic, an AArch64 encoding) with
the facts the verifier and the docs need: which operand sizes and kinds the rule handles, and which
flags the source architecture leaves undefined (never compared).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

C = TypeVar("C")


@dataclass(frozen=True)
class Rule(Generic[C]):
    mnemonic: str
    emit: Callable[[C], None]
    sizes: tuple[int, ...] | None = None     # operand sizes (bytes) handled; None = all
    kinds: str = "rm"                         # r: register form, m: memory form
    undefined: int | Callable[[Any, dict[str, int]], int] = 0  # flags left undefined
    aligned: bool = False                     # memory operand must be 16-byte aligned (movaps ...)
    imms: tuple[int, ...] | None = None       # immediates the form accepts (None: any)
    rm_regs: tuple[int, ...] | None = None    # the only registers its ModRM.rm may name (None: any)
    mem_with_imm: bool = False                # a memory form only with an immediate (bt m, r is a bit string)
    accepts: Callable[[Any], bool] | None = None  # rejects instances outside the verified ones
    implicit: tuple[tuple[str, int], ...] = ()    # registers the rule names itself (rax for mul ...)
    data_imm: bool = False                    # an imm8 is data (patched), not a shape (shift count ...)
    stack: bool = False                       # uses the stack at rsp (the verifier points rsp at data)
    note: str = ""


class RuleTable(Generic[C]):
    """name -> Rule; `table(*names, **facts)` is the decorator that registers an emit function."""

    def __init__(self) -> None:
        self.rules: dict[str, Rule[C]] = {}

    def __call__(self, *names: str, **facts: Any) -> Callable[[Callable[[C], None]], Callable[[C], None]]:
        def register(fn: Callable[[C], None]) -> Callable[[C], None]:
            for name in names:
                assert name not in self.rules, name
                self.rules[name] = Rule(name, fn, **facts)
            return fn
        return register

    def get(self, name: str) -> Rule[C] | None:
        return self.rules.get(name)
