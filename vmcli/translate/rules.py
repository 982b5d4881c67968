"""The rule record shared by both translation directions, and the registry decorator.

A rule turns one decoded source instruction into target code through the direction's builder
(emit_a64.Ctx for x86-64 -> AArch64). Rules are registered by mnemonic with the facts the verifier
and the docs need: which opcode sizes and operand kinds the rule handles, and which flags the
source architecture leaves undefined (never compared).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Emit = Callable[[Any], None]


@dataclass(frozen=True)
class Rule:
    mnemonic: str
    emit: Callable[[Any], None]
    sizes: tuple[int, ...] | None = None     # operand sizes (bytes) handled; None = all
    kinds: str = "rm"                         # r: register form, m: memory form
    undefined: int | Callable[[Any, dict[str, int]], int] = 0  # flags left undefined
    aligned: bool = False                     # memory operand must be 16-byte aligned (movaps ...)
    imms: tuple[int, ...] | None = None       # immediates the form accepts (None: any)
    accepts: Callable[[Any], bool] | None = None  # rejects instances outside the verified ones
    implicit: tuple[tuple[str, int], ...] = ()    # registers the rule names itself (rax for mul ...)
    data_imm: bool = False                    # an imm8 is data (patched), not a shape (shift count ...)
    stack: bool = False                       # uses the stack at rsp (the verifier points rsp at data)
    note: str = ""


class RuleTable:
    def __init__(self) -> None:
        self.rules: dict[str, Rule] = {}

    def __call__(self, *mnemonics: str, **facts: Any) -> Callable[[Emit], Emit]:
        def register(fn: Emit) -> Emit:
            for m in mnemonics:
                assert m not in self.rules, m
                self.rules[m] = Rule(m, fn, **facts)
            return fn
        return register

    def get(self, mnemonic: str) -> Rule | None:
        return self.rules.get(mnemonic)
