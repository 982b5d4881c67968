"""x86-64 -> AArch64: the numba path gives the same bytes as the Python path, and its caches count."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from toolcheck import IN_CI

from translate import libc
from vmcli.cli import vm
from vmcli.translate.core import cache
from vmcli.translate.isa.x86.decoder import HIGH_BYTE_FORMS
from vmcli.translate.isa.x86.opcodes import SPECS
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


def _same_as_python(blocks: list[tuple[bytes, int]]) -> fast.FastTranslator:
    """A fresh translator over the blocks, block by block against the Python path."""
    translator = fast.FastTranslator()
    for (code, address), (words, n, unsupported) in zip(blocks, translator.translate(blocks), strict=True):
        tr = translate(code, address)
        assert words == tr.code, [si.text for si in tr.insns]
        assert n == len(tr.insns) and unsupported == len(tr.unsupported)
    return translator


# the forms the kernel decodes besides the legacy ones: VEX (AVX, AVX2, FMA3, BMI1/2), x87, and the
# ones that take ah..bh (check.instance picks a high-byte register for those 40% of the time)
_WIDER = [f for f in all_forms() if f.spec.vex or f.spec.x87 or f.spec.syntax() in HIGH_BYTE_FORMS]


# encodings at the edges of what the decoder takes (it takes some, refuses the others): REX, 66, F3 and
# LOCK on x87 forms; ah..bh where only and/or/xor/test Eb,Ib take them, spl with REX; VEX after 66,
# F3 or LOCK, with a VEX.vvvv that names nothing, a map that does not exist, the other VEX.L or VEX.W,
# an imm8 outside the verified range, after segment and ignored prefixes; and VEX cut by the block's end
_EDGE_HEX = (
    "41d9c9 66d9c9 48dd00 66dd00 48dd40f8 9b 669b f0d9c9 f3d9c9 d9c7 d9c6 dfe0 48dfe0 66dfe0 d9e8 dbe9 ddd9"
    " f6c445 80e4fe 80cc0c 80f401 4080e4fe 80c401 88e0 8ae0 f6c745 f6c345 41f6c445 f6442445"
    " c5f9efc0 c5f1efc0 c57dd4c8 c5f877 c5fc77 c5f077 66c5f9efc0 f3c5f9efc0 f0c5f9efc0 c4e179efc0 c4e1f9efc0"
    " c4e079efc0 c4e479efc0 c4e1f96ec0 c4e1796ec0 c4e17d6ec0 c5f8c2c108 c5f8c2c107 c4e3714ac230 c4e3f14ac230"
    " c4e36d4bcb40 c4e270f2c2 c4e2f0f2c2 c4e37bf0c105 c4e272f7c2 c4e270f3ca c5f658c2 64c5f81000 2ec5f9efc0"
    " c4e2f9a9c1 c4e279a9c1 c4627db8c1 c5fd6f00 c5fd7f4010 c5f9d7c1 c5fdd7c1")
_EDGES = [bytes.fromhex(h) for h in _EDGE_HEX.split()]


def test_vex_x87_and_high_byte_forms_take_the_kernel() -> None:
    """Random blocks of those forms (among others) and of the edge encodings: the same bytes as the
    Python path, and not one block handed to it."""
    rng = random.Random(7)
    forms = all_forms()
    blocks = []
    for _ in range(1500):
        code = b"".join(instance(rng.choice(_WIDER if rng.random() < 0.7 else forms), rng, 0x110000)[0]
                        for _ in range(rng.randint(1, 8)))
        if rng.random() < 0.3:
            code += rng.choice(_EDGES)
        blocks.append((code, rng.choice([0, 0x110000, 0x7FFF0000])))
    blocks += [(edge + b"\x90", 0) for edge in _EDGES] + [(edge[:cut], 0) for edge in _EDGES
                                                          for cut in range(1, len(edge))]
    assert _same_as_python(blocks).fallbacks == 0


def test_libc_and_libm_take_the_kernel_whole() -> None:
    """Every block of Debian's x86-64 libc and libm through the kernel without one handed to the
    Python path; the blocks with VEX, x87 or Eb,Ib forms among them (a sample) give its bytes."""
    wider = np.zeros(len(SPECS), np.bool_)
    wider[[s.id for s in SPECS if s.vex or s.x87 or s.syntax() in HIGH_BYTE_FORMS]] = True
    for name in libc.LIBS:
        try:
            blocks = libc.blocks("x86_64", name)
        except libc.Unavailable as exc:
            (pytest.fail if IN_CI else pytest.skip)(f"Debian's x86-64 {name}: {exc}")
        translator = fast.FastTranslator()
        translator.translate(blocks)
        assert translator.fallbacks == 0
        # the blocks whose translated instructions include one of those forms, as the kernel decoded them
        data = np.frombuffer(b"".join(c for c, _ in blocks) + b"\0" * 32, np.uint8)
        starts = np.concatenate([[0], np.cumsum([len(c) for c, _ in blocks])]).astype(np.int64)
        rows, _, _, _, _, counts = translator._decode(data, starts, np.array([a for _, a in blocks], np.int64))
        block_of = np.repeat(np.arange(len(blocks)), counts)
        chosen = np.unique(block_of[wider[rows[:, fast.R_SPEC]]]).tolist()
        assert len(chosen) > 200
        _same_as_python([blocks[b] for b in random.Random(11).sample(chosen, min(600, len(chosen)))])


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


@pytest.mark.parametrize("content", [b"", b"not a zip file", b"PK\x03\x04" + bytes(64)])
def test_an_unreadable_kernel_table_only_costs_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    content: bytes) -> None:
    """A damaged fast-*.npz next to good templates is passed by: the tables are made again."""
    from vmcli.translate.core import disk

    monkeypatch.setenv("VM_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("VM_TRANSLATE_NO_DISK_CACHE", raising=False)
    blocks = _blocks(5, 50)
    cache.clear()
    monkeypatch.setattr(fast, "_TRANSLATOR", None)
    monkeypatch.setattr(fast, "_LOADED", 0)
    want = [bytes(code) for code, _, _ in fast.translate_fast(blocks)]
    fast.save_templates()
    tables = disk.path("fast", ".npz")
    assert tables is not None and tables.exists()
    tables.write_bytes(content)
    cache.clear()
    monkeypatch.setattr(fast, "_TRANSLATOR", None)
    assert fast.load_templates() > 0
    assert [bytes(code) for code, _, _ in fast.translate_fast(blocks)] == want
