"""Click parameter types shared by commands: sizes ("128M", "1GiB") and addresses ("0x40080000")."""

from __future__ import annotations

import re
from typing import Any

import click

SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
SIZE_RE = re.compile(r"^\s*(0x[0-9a-f]+|\d+)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)


class Size(click.ParamType):
    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        m = SIZE_RE.match(str(value))
        if not m:
            self.fail(f"{value!r} is not a size (examples: 128M, 1G, 65536)", param, ctx)
        return int(m.group(1), 0) * SIZE_UNITS[m.group(2).lower()]


class Address(click.ParamType):
    name = "address"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            number = int(str(value).replace("_", ""), 0)
        except ValueError:
            self.fail(f"{value!r} is not an address (example: 0x40080000)", param, ctx)
        if not 0 <= number < 1 << 64:
            self.fail(f"{value!r} is outside the 64-bit address space", param, ctx)
        return number


SIZE = Size()
ADDRESS = Address()
