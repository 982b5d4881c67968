"""AArch64 -> x86-64 rules, one per encoding of isa/a64/encodings.TABLE (keyed by Enc.name), in one
module per encoding group, as the expected-code files are (base, branch, fp, neon, neon_fp,
neon_mem; system: the system instructions of the base group); what several groups share is in
common.py, lanes.py and floats.py.
"""

from __future__ import annotations

from vmcli.translate.a64_to_x86.rules import base, branch, fp, neon, neon_fp, neon_mem, system  # noqa: F401  (they register)
from vmcli.translate.a64_to_x86.rules.table import RULES

__all__ = ["RULES"]
