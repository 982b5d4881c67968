"""vm's binary translator, x86-64 <-> AArch64: the public API.

    translate(code, address, source_arch)        one block -> Translation (core/blocks.py)
    translate_blocks(blocks, source_arch, jobs)  many, in `jobs` processes (0: one per CPU for many)
    translate_bulk(blocks, source_arch, jobs)    many, code only, through the numba fast path (jobs 0:
                                                 as many as pay off in that direction)
    split_blocks(code, address, source_arch)     an image cut into blocks after each branch
    supported_forms(source_arch)                 the verified forms
    verify_translation(tr, states)               each instruction checked against the source
    host_instructions(code, source_arch)         how many target instructions translated code holds
    bulk_run()                                   around a one-shot bulk run: no cyclic collector

How the package is built (isa/ below core/ below one package per direction, verify/ and present/
reaching directions through core/direction.py) is in docs/translator.md.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from vmcli.translate.core import cache
from vmcli.translate.core.blocks import SourceInsn, Stop, Translation
from vmcli.translate.core.direction import SOURCES, Form, Result, direction, source_arch
from vmcli.translate.core.disk import no_cyclic_gc
from vmcli.translate.core.jobs import cpus, fork_map, split
from vmcli.translate.isa import disasm
from vmcli.translate.verify.harness import InsnCheck, verify_translation

__all__ = ["CACHE_LEVELS", "SOURCES", "Form", "InsnCheck", "Result", "SourceInsn", "Stop", "Translation",
           "bulk_run", "host_instructions", "source_arch", "split_blocks", "supported_forms", "translate",
           "translate_blocks", "translate_bulk", "verify_translation"]

CACHE_LEVELS = cache.LEVELS


def bulk_run() -> no_cyclic_gc:
    """Around reading and translating many blocks in a one-shot process: the blocks, numba's modules
    and the templates are many objects and no cycles, which the cyclic collector would only walk
    again and again; what lives at the end is frozen out of its sight."""
    return no_cyclic_gc(freeze=True)


def translate(code: bytes, address: int = 0, source: str = "x86_64") -> Translation:
    """Translate one block (cache level 3 keyed by bytes, address and direction)."""
    return direction(source_arch(source)).translate(code, address)


def _translate_part(args: tuple[Sequence[tuple[bytes, int]], str]) -> list[Translation]:
    blocks, source = args
    return [translate(code, address, source) for code, address in blocks]


# --jobs 0 forks for the Python path from this many blocks on (a fork and sending the results back
# cost about as much as translating a few hundred blocks)
AUTO_BLOCKS = 512


def translate_blocks(blocks: list[tuple[bytes, int]], source: str = "x86_64", jobs: int = 1) -> list[Translation]:
    """Translate many blocks, in `jobs` processes when there are enough of them (0: one per CPU
    from AUTO_BLOCKS blocks on)."""
    if jobs == 0:
        jobs = cpus() if len(blocks) >= AUTO_BLOCKS else 1
    if jobs <= 1 or len(blocks) < 2 * jobs:
        return [translate(code, address, source) for code, address in blocks]
    parts = fork_map(_translate_part, [(part, source) for part in split(blocks, jobs)])
    return [tr for part in parts for tr in part]


def translate_bulk(blocks: list[tuple[bytes, int]], source: str = "x86_64",
                   jobs: int = 1) -> tuple[list[Result], float]:
    """(code, instructions, unsupported) of many blocks through the numba fast path (the same code
    as translate()), with the templates kept on disk between processes; and the seconds spent
    loading them and translating (saving them afterwards is not counted)."""
    d = direction(source_arch(source))
    t0 = time.perf_counter()
    d.load_templates()
    results = d.translate_bulk(blocks, jobs)
    elapsed = time.perf_counter() - t0
    d.save_templates()
    return results, elapsed


def split_blocks(code: bytes, address: int, source: str = "x86_64") -> list[tuple[bytes, int]]:
    """Cut code into blocks after each branch; each is translated on its own (images)."""
    return direction(source_arch(source)).split_blocks(code, address)


def supported_forms(source: str = "x86_64") -> Sequence[Form]:
    return direction(source_arch(source)).forms()



def host_instructions(code: bytes, source: str = "x86_64") -> int:
    """Target instructions in code translated from `source` (the expansion --stats reports)."""
    return disasm.count(direction(source_arch(source)).target_arch, code)
