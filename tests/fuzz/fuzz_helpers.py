"""Shared by the fuzz tests: settings that make each run the same (seeded, bounded), values that sit at
the edges of ranges, and the corpus of inputs that once broke vm (replayed by every fuzz test)."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "guest-images" / "bin"
CORPUS = Path(__file__).resolve().parent / "corpus"

# Derandomized: the same examples on every run, so CI is repeatable; VM_FUZZ_EXAMPLES scales a run
# up by hand (e.g. VM_FUZZ_EXAMPLES=20 for twenty times as many) when hunting.
SCALE = int(os.environ.get("VM_FUZZ_EXAMPLES", "1"))


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=examples * SCALE, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


EDGES_64 = [0, 1, 4, 8, 0x7F, 0x80, 0xFF, 0x1000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 1 << 32,
            (1 << 63) - 1, 1 << 63, (1 << 64) - 8, (1 << 64) - 1]
edge_u64 = st.one_of(st.sampled_from(EDGES_64), st.integers(0, (1 << 64) - 1))


def corpus(kind: str) -> list[Path]:
    """The saved inputs of one kind (corpus/<kind>-*.bin), sorted by name."""
    return sorted(CORPUS.glob(f"{kind}-*.bin"))
