"""x86-64 -> AArch64 rules, one per mnemonic, in one module per extension (base, sse, sse2, sse3,
ssse3, sse41, x87); the forms each covers come from the opcode map (isa/x86/opcodes.py). A mnemonic is
registered in the extension that introduced it; a rule shared by several extensions (addps in SSE,
addpd in SSE2) is written once in vector.py and registered by each.
"""

from __future__ import annotations

from vmcli.translate.x86_to_a64.rules import avx, base, sse, sse2, sse3, sse41, ssse3, x87, x87_arith  # noqa: F401
from vmcli.translate.x86_to_a64.rules.effects import FLAG_FREE, FLAG_WRITES, flag_effect, liveness_shaped
from vmcli.translate.x86_to_a64.rules.table import RULES

__all__ = ["FLAG_FREE", "FLAG_WRITES", "RULES", "flag_effect", "liveness_shaped"]
