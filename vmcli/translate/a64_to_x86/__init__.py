"""AArch64 -> x86-64: the guest's state in an env block (host.py), one rule per encoding in one
module per encoding group (rules/), the Python path for one block (frontend.py) and the numba path
for many (fast.py, kernels.py), the verified forms (forms.py), and its plug-in to the verifier
(check.py). DIRECTION is what the registry (core/direction.py) hands out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vmcli.translate.a64_to_x86 import forms, frontend
from vmcli.translate.core.blocks import Translation
from vmcli.translate.core.direction import Result


class A64ToX86:
    source_arch = "arm64"
    target_arch = "x86_64"
    target_name = "x86-64"

    def translate(self, code: bytes, address: int) -> Translation:
        return frontend.translate(code, address)

    def split_blocks(self, code: bytes, address: int) -> list[tuple[bytes, int]]:
        return frontend.split_blocks(code, address)

    def forms(self) -> Sequence[forms.Form]:
        return forms.all_forms()

    def forms_markdown(self) -> str:
        return forms.forms_markdown()

    def state_line(self, tr: Translation) -> str:
        state = ", ".join(f"{g}={loc['reg']}" if "reg" in loc else f"{g}=env+{loc['env']:#x}"
                          for g, loc in tr.state.items())
        return (f"state: {state or '-'}; env_reg {tr.env_reg}; guest_base 0"
                + (f"; exit address in {tr.exit_reg}" if tr.exit_reg else ""))

    # the numba path and the verifier load lazily: numba, and unicorn, are heavy to import

    def load_templates(self) -> int:
        from vmcli.translate.a64_to_x86 import fast

        return fast.load_templates()

    def translate_bulk(self, blocks: list[tuple[bytes, int]], jobs: int) -> list[Result]:
        from vmcli.translate.a64_to_x86 import fast

        return fast.translate_fast_jobs(blocks, jobs)

    def save_templates(self) -> None:
        from vmcli.translate.a64_to_x86 import fast

        fast.save_templates()

    def checker(self) -> Any:
        from vmcli.translate.a64_to_x86 import check

        return check.Verifier()


DIRECTION = A64ToX86()
