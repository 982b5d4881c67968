"""Real code: blocks of Debian's libc (tests/translate/libc.py) through `vm translate`, both directions.

The x86-64 libc is the host's; the AArch64 one is fetched with apt-get (skipped with the reason when it
cannot be had, except under CI, where .ci/run makes it available and a skip is a failure).
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from toolcheck import IN_CI

from translate import libc
from vmcli import translate as api

SAMPLE = 1500           # blocks per direction
REAL_BLOCKS = 300       # blocks run on random states (those that translate whole)


def _blocks(arch: str, count: int = SAMPLE, name: str = "libc") -> list[libc.Block]:
    try:
        return libc.sample(arch, count, name)
    except libc.Unavailable as exc:
        (pytest.fail if IN_CI else pytest.skip)(f"Debian's {name} for {arch}: {exc}")
        raise


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_bulk_path_gives_the_python_paths_bytes_on_libc(arch: str, tmp_path: Path) -> None:
    """`--input-file ... --output` (the numba path) against the Python path, block by block, with
    `@ADDRESS` lines putting every block at its own address; --stats counts what the Python path does."""
    blocks = _blocks(arch)
    src = tmp_path / "blocks.txt"
    libc.write_input_file(src, blocks)
    out = tmp_path / "out.bin"
    proc = subprocess.run([sys.executable, "-m", "vmcli", "translate", "--from", arch, "--input-file", str(src),
                           "--output", str(out), "--stats"], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, VM_TRANSLATE_NO_DISK_CACHE="1"))
    assert proc.returncode == 0, proc.stderr
    translations = [api.translate(code, address, arch) for code, address in blocks]
    assert out.read_bytes() == b"".join(tr.code for tr in translations)
    n = sum(len(tr.insns) for tr in translations)
    done = sum(si.supported for tr in translations for si in tr.insns)
    host = sum(len(si.target) for tr in translations for si in tr.insns)
    got = re.search(r"instructions: (\d+) \((\d+) translated.*\n.*host instructions: (\d+)", proc.stderr)
    assert got is not None and tuple(map(int, got.groups())) == (n, done, host), proc.stderr


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_real_blocks_match_their_source_on_random_states(arch: str) -> None:
    """A differential run over libc blocks that translate whole, each at its own address: x86-64 on
    the host CPU against its translation on Unicorn AArch64, AArch64 on Unicorn against its translation
    on Unicorn x86-64. Registers point into a window of memory holding pointers into itself (and the
    pages RIP-relative operands and adrp reach are mapped), the same on both sides; registers, flags,
    every byte of that memory and the exit address are compared."""
    if arch == "x86_64":
        from vmcli.translate.verify import native

        if not native.available():
            pytest.skip("the x86-64 source runs on the host CPU: the host is not x86-64 Linux")
        from vmcli.translate.x86_to_a64.check import RealCode
    else:
        from vmcli.translate.a64_to_x86.check import RealCode  # type: ignore[assignment]
    checker = RealCode()
    rng = random.Random(21)
    blocks = _blocks(arch, REAL_BLOCKS)
    checked = runs = 0
    for code, address in blocks:
        got = checker.check(code, address, 4, rng)
        if got is None:
            continue
        n, _skipped, diffs = got
        assert not diffs, (hex(address), [si.text for si in api.translate(code, address, arch).insns], diffs)
        checked += 1
        runs += n
    assert checked > REAL_BLOCKS // 2 and runs > 2 * checked, (checked, runs)


def test_real_x87_blocks_of_libm_match_their_source() -> None:
    """libm's blocks with x87 instructions that translate whole, on the host CPU against their
    translation, from random x87 states under which the block meets no stack fault: the x87 state
    (control, status and tag words, the eight registers) is compared with everything else."""
    from vmcli.translate.verify import native

    if not native.available():
        pytest.skip("the x86-64 source runs on the host CPU: the host is not x86-64 Linux")
    from vmcli.translate.x86_to_a64.check import RealCode

    blocks = [b for b in _blocks("x86_64", 3000, "libm")
              if any(si.supported and si.text.startswith("f") for si in api.translate(*b, "x86_64").insns)]
    checker = RealCode()
    rng = random.Random(87)
    checked = 0
    for code, address in blocks[:120]:
        got = checker.check(code, address, 4, rng)
        if got is None:
            continue
        _n, _skipped, diffs = got
        assert not diffs, (hex(address), [si.text for si in api.translate(code, address, "x86_64").insns], diffs)
        checked += 1
    assert checked > 40, checked
