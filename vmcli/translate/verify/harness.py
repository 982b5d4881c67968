"""The verification harness both directions plug into: random instances of a form run over random
states (verify_form, the test suite's per-form check), and each instruction of a translated block
checked alone (verify_translation, `vm translate --verify`).

A direction plugs in a Checker (its check.py): the CPU running its translations with its host-state
layout, random instances of its forms, where their memory operands point, and the corrections its
oracle needs. The harness finds it through the registry.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from vmcli.translate.core.blocks import Translation
from vmcli.translate.core.direction import Form, direction
from vmcli.translate.verify.compare import Mismatch
from vmcli.translate.verify.state import GuestState

CheckStatus = Literal["pass", "fail", "unsupported", "skipped"]
F = TypeVar("F", bound=Form, contravariant=True)


@dataclass
class InsnCheck:
    address: int
    text: str
    status: CheckStatus
    runs: int = 0
    detail: str = ""


@dataclass
class FormResult:
    name: str
    runs: int
    mismatches: list[Mismatch]
    source: list[str]


class Checker(Protocol[F]):
    source_arch: str
    code_address: int                # where instances are made and their translations run

    def sample(self, form: F, rng: random.Random) -> tuple[bytes, dict[str, int]]:
        """A random instruction of `form` at code_address, and register values it needs."""

    def random_state(self, rng: random.Random, fixed: dict[str, int] | None = None) -> GuestState:
        """A random source state, `fixed` registers set."""

    def check_instance(self, form: F, code: bytes, tr: Translation, fixed: dict[str, int], states: int,
                       rng: random.Random) -> tuple[int, list[Mismatch]]:
        """(runs, mismatches) of one instance of `form` and its translation over `states` states."""

    def check_alone(self, raw: bytes, states: int, rng: random.Random) -> tuple[int, list[Mismatch], str]:
        """One instruction translated alone at code_address over `states` states: (runs,
        mismatches, why it was skipped, or "")."""


def verify_form(form: F, checker: Checker[F], rng: random.Random, states: int = 200,
                instances: int | None = None) -> FormResult:
    """Random instructions of one form, each run over random states against its translation."""
    translate = direction(checker.source_arch).translate
    n_inst = instances or max(4, states // 25)
    per = max(1, states // n_inst)
    runs = 0
    bad: list[Mismatch] = []
    texts: list[str] = []
    for _ in range(n_inst):
        code, fixed = checker.sample(form, rng)
        tr = translate(code, checker.code_address)
        if tr.unsupported:
            bad.append(Mismatch(checker.random_state(rng), [f"{tr.unsupported[0].text}: {tr.unsupported[0].reason}"]))
            break
        n, mismatches = checker.check_instance(form, code, tr, fixed, per, rng)
        runs += n
        for m in mismatches:
            m.diffs.insert(0, tr.insns[0].text)
        bad += mismatches
        texts.append(tr.insns[0].text)
        if bad:
            break
    return FormResult(form.name, runs, bad, texts)


def verify_translation(tr: Translation, states: int = 200, seed: int = 0) -> list[InsnCheck]:
    """--verify: each translated instruction, run alone at the checker's code address."""
    checker: Checker[Form] = direction(tr.source_arch).checker()
    rng = random.Random(seed)
    out: list[InsnCheck] = []
    for si in tr.insns:
        if not si.supported:
            out.append(InsnCheck(si.address, si.text, "unsupported", detail=si.reason))
            continue
        runs, mismatches, skipped = checker.check_alone(si.raw, states, rng)
        if skipped:
            out.append(InsnCheck(si.address, si.text, "skipped", 0, skipped))
        elif mismatches:
            out.append(InsnCheck(si.address, si.text, "fail", runs, "; ".join(mismatches[0].diffs)))
        else:
            out.append(InsnCheck(si.address, si.text, "pass", runs))
    return out
