"""AArch64 condition names, in encoding order (Arm ARM C1.2.4)."""

from __future__ import annotations

COND = ["eq", "ne", "hs", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al", "nv"]
# the encoder's names: `nv` is not written (it behaves as `al`)
COND_CODE = {name: code for code, name in enumerate(COND[:15])}
