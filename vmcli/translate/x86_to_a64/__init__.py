"""x86-64 -> AArch64: the guest's registers in the host's (host.py), one rule per mnemonic in one
module per extension (rules/), the Python path for one block (frontend.py) and the numba path for
many (fast.py, kernels.py), the verified forms (forms.py), and its plug-in to the verifier
(check.py, oracle.py). DIRECTION is what the registry (core/direction.py) hands out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vmcli.translate.core.blocks import Translation
from vmcli.translate.core.direction import Result
from vmcli.translate.x86_to_a64 import forms, frontend


class X86ToA64:
    source_arch = "x86_64"
    target_arch = "arm64"
    target_name = "AArch64"

    def translate(self, code: bytes, address: int) -> Translation:
        return frontend.translate(code, address)

    def split_blocks(self, code: bytes, address: int) -> list[tuple[bytes, int]]:
        return frontend.split_blocks(code, address)

    def forms(self) -> Sequence[forms.Form]:
        return forms.all_forms()

    def forms_markdown(self) -> str:
        return forms.forms_markdown()

    def state_line(self, tr: Translation) -> str:
        state = ", ".join(f"{g}={loc['reg']}" if "reg" in loc else f"{g}=env+{loc['env']:#x}" if "env" in loc
                          else f"{g}=nzcv+{loc['pf']}+{loc['af']}" for g, loc in tr.state.items())
        return (f"state: {state or '-'}; guest_base 0; env_reg {tr.env_reg or 'none'}"
                + (f"; exit address in {tr.exit_reg}" if tr.exit_reg else ""))

    # the numba path and the verifier load lazily: numba, and unicorn, are heavy to import

    def load_templates(self) -> int:
        from vmcli.translate.x86_to_a64 import fast

        return fast.load_templates()

    def translate_bulk(self, blocks: list[tuple[bytes, int]], jobs: int) -> list[Result]:
        from vmcli.translate.x86_to_a64 import fast

        return fast.translate_fast_jobs(blocks, jobs)

    def save_templates(self) -> None:
        from vmcli.translate.x86_to_a64 import fast

        fast.save_templates()

    def checker(self) -> Any:
        from vmcli.translate.x86_to_a64 import check

        return check.Verifier()


DIRECTION = X86ToA64()
