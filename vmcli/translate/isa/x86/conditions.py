"""x86 condition codes, in encoding order: the low nibble of Jcc, SETcc and CMOVcc."""

from __future__ import annotations

CC = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"]
CC_CODE = {name: code for code, name in enumerate(CC)}
