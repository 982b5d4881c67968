"""AArch64 register names; register 31 is the zero register or sp, as the encoding says."""

from __future__ import annotations

ZR = 31
XREGS = [f"x{i}" for i in range(31)]
VREGS = [f"v{i}" for i in range(32)]
