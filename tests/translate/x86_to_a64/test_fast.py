"""x86-64 -> AArch64: the numba path gives the same bytes as the Python path, and its caches count."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from vmcli.cli import vm
from vmcli.translate.core import cache
from vmcli.translate.x86_to_a64 import fast
from vmcli.translate.x86_to_a64.check import instance
from vmcli.translate.x86_to_a64.forms import all_forms
from vmcli.translate.x86_to_a64.frontend import translate


def _blocks(seed: int, n: int) -> list[tuple[bytes, int]]:
    rng = random.Random(seed)
    forms = all_forms()
    out = []
    for _ in range(n):
        code = b"".join(instance(rng.choice(forms), rng, 0x110000)[0] for _ in range(rng.randint(1, 10)))
        r = rng.random()
        if r < 0.08:
            code += bytes.fromhex("0fa2")                # cpuid: unsupported, the block falls back
        elif r < 0.12:
            code = bytes.fromhex("f7f1") + code          # div at the start
        out.append((code, rng.choice([0, 0x110000, 0x7FFF0000])))
    return out


def test_fast_path_equals_python_path() -> None:
    blocks = _blocks(1, 1500)
    got = fast.translate_fast(blocks)
    for (code, address), (words, n, unsupported) in zip(blocks, got, strict=True):
        tr = translate(code, address)
        assert words == tr.code, [si.text for si in tr.insns]
        assert n == len(tr.insns) and unsupported == len(tr.unsupported)


def test_decoder_resumes_and_cuts_at_block_ends() -> None:
    """One-byte instructions overflow the kernel's first row estimate (it resumes with more room),
    and an instruction split over two blocks is not taken from level 1 whole: its 15-byte window
    was seen before, in one piece."""
    x = bytes.fromhex("660f3a0fc107")                    # palignr xmm0, xmm1, 7
    y = bytes.fromhex("4801c8")
    blocks = [(bytes.fromhex("90" * 60 + "99" * 20 + "4898"), 0) for _ in range(300)]
    blocks += [(x + y, 0), (x[:3], 0), (x[3:] + y, 0), (x + y, 0x1000)]
    cache.clear()
    fast._TRANSLATOR = None
    for (code, address), (words, n, unsupported) in zip(blocks, fast.translate_fast(blocks), strict=True):
        tr = translate(code, address)
        assert words == tr.code and n == len(tr.insns) and unsupported == len(tr.unsupported)
    assert cache.DECODED.hits > 0


def test_caches_count_hits() -> None:
    cache.clear()
    blocks = _blocks(2, 200)
    fast.translate_fast(blocks)
    first = {level.name: (level.hits, level.misses) for level in cache.LEVELS}
    assert first["translated blocks"][0] == 0 and first["translated blocks"][1] > 0
    fast.translate_fast(blocks)                           # every block again: level 3 hits
    assert cache.BLOCKS.hits >= len(blocks) - 1
    assert cache.TEMPLATES.hits > 0 and cache.TEMPLATES.misses > 0
    assert cache.DECODED.hits + cache.DECODED.misses > 0


def test_bulk_cli_writes_the_same_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VM_CACHE_DIR", str(tmp_path / "cache"))
    cache.clear()
    fast._TRANSLATOR = None
    blocks = [(c, 0) for c, _ in _blocks(3, 200)]
    src = tmp_path / "in.txt"
    src.write_text("".join(c.hex() + "\n" for c, _ in blocks))
    out = tmp_path / "out.bin"
    result = CliRunner().invoke(vm, ["translate", "--input-file", str(src), "--output", str(out), "--stats"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == b"".join(translate(c, a).code for c, a in blocks)
    assert "instructions/s" in result.stderr and "cache decoded encodings" in result.stderr
    out2 = tmp_path / "out2.bin"
    result = CliRunner().invoke(vm, ["translate", "--input-file", str(src), "--output", str(out2), "-j", "2"])
    assert result.exit_code == 0 and out2.read_bytes() == out.read_bytes()
    # the templates persisted: a fresh process state loads them instead of running the rules
    assert list((tmp_path / "cache").glob("translate/templates-*.pickle"))
    cache.clear()
    fast._TRANSLATOR = None
    assert fast.load_templates() > 0
    # the numba path's level 2 came back too: no shape is decoded or built again in Python
    assert fast._TRANSLATOR is not None and fast._TRANSLATOR.level2.count > 0
    again = fast.translate_fast(blocks)
    assert b"".join(bytes(code) for code, _, _ in again) == out.read_bytes()
    assert cache.TEMPLATES.misses == 0 and cache.TEMPLATES.hits > 0


def test_numba_is_imported_only_by_the_bulk_path(tmp_path: Path) -> None:
    code = ("import sys\n"
            "from click.testing import CliRunner\n"
            "from vmcli.cli import vm\n"
            "r = CliRunner().invoke(vm, ['translate', '--hex', '4801c8', '--json'])\n"
            "assert r.exit_code == 0, r.output\n"
            "assert 'numba' not in sys.modules\n"
            f"r = CliRunner().invoke(vm, ['translate', '--input-file', {str(tmp_path / 'in.txt')!r}, '--output',"
            f" {str(tmp_path / 'o.bin')!r}])\n"
            "assert r.exit_code == 0, r.output\n"
            "assert 'numba' in sys.modules\n")
    (tmp_path / "in.txt").write_text("4801c8\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "VM_CACHE_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr


def test_jobs_after_an_in_process_translation_do_not_hang(tmp_path: Path) -> None:
    """The parent runs the parallel kernel, then forks -j workers that run it too: under GNU OpenMP
    the workers would abort and the pool wait forever (vmcli/translate/core/parallel.py). The workers'
    cache lookups add to the parent's as many as a serial run's (not the parent's counts again;
    hits and misses split differently, as two workers may both build a template)."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    results = []
    for jobs in (2, 1):
        code = ("import sys\n"
                "sys.path.insert(0, 'tests')\n"
                "from translate.x86_to_a64.test_fast import _blocks\n"
                "from vmcli.translate.x86_to_a64 import fast\n"
                "blocks = _blocks(5, 600)\n"
                "fast.translate_fast(blocks[:300])\n"
                "before = [level.hits + level.misses for level in fast.cache.LEVELS]\n"
                f"got = fast.translate_fast_jobs(blocks[300:], {jobs})\n"
                "after = [level.hits + level.misses for level in fast.cache.LEVELS]\n"
                "print([(bytes(c), n, u) for c, n, u in got] == [(bytes(c), n, u) for c, n, u in"
                " fast.translate_fast(blocks[300:])], [b - a for a, b in zip(before, after)])\n")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                              cwd=Path(__file__).resolve().parents[3],
                              env={**env, "VM_CACHE_DIR": str(tmp_path / str(jobs))})
        assert proc.returncode == 0, proc.stderr
        results.append(proc.stdout)
    assert results[0].startswith("True ") and results[0] == results[1]
