"""The translator's three cache levels, each a bounded dict that counts its hits.

  DECODED    level 1: instruction bytes -> decoded instruction
  TEMPLATES  level 2: instruction shape (opcode, size, registers, addressing) -> code template
  BLOCKS     level 3: (block bytes, address, direction) -> whole translation
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any


class Level:
    def __init__(self, name: str, capacity: int) -> None:
        self.name = name
        self.capacity = capacity
        self.data: OrderedDict[Any, Any] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Any) -> Any:
        value = self.data.get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def put(self, key: Any, value: Any) -> None:
        self.data[key] = value
        if len(self.data) > self.capacity:
            self.data.popitem(last=False)

    def put_many(self, items: Iterable[tuple[Any, Any]]) -> None:
        self.data.update(items)
        for _ in range(len(self.data) - self.capacity):
            self.data.popitem(last=False)

    def count(self, hits: int, misses: int) -> None:
        """Account lookups made outside Python (the numba path keeps its own table)."""
        self.hits += hits
        self.misses += misses

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def clear(self) -> None:
        self.data.clear()
        self.hits = self.misses = 0


DECODED = Level("decoded encodings", 1 << 16)
TEMPLATES = Level("instruction templates", 1 << 16)
BLOCKS = Level("translated blocks", 1 << 17)
LEVELS = (DECODED, TEMPLATES, BLOCKS)


def clear() -> None:
    for level in LEVELS:
        level.clear()
