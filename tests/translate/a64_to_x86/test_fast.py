"""AArch64 -> x86-64: the numba path gives the same bytes as the Python path, and its caches count.
VM_TRANSLATE_FULL=1 compares 20,000 random blocks instead of 2,000."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from translate.helpers import FULL
from vmcli.cli import vm
from vmcli.translate.a64_to_x86 import fast as fast_a64
from vmcli.translate.a64_to_x86.check import instance
from vmcli.translate.a64_to_x86.forms import all_forms as a64_forms
from vmcli.translate.a64_to_x86.frontend import translate as translate_a64
from vmcli.translate.core import cache

# addresses where patched values cross the ends of the imm32 encodings (below 0, past 4 GiB)
_ADDRESSES = (0, 0x1000, 0x40_0000, 0x8000_0000, 0xFFFF_F000, 0x1_0000_0000, 0x7FFF_FFF0_0000)


def _blocks(seed: int, n: int) -> list[tuple[bytes, int]]:
    """Random blocks of the verified forms at random addresses (the PC-relative ones' values fall
    in all three of mov_imm's encodings), with branches inside and at the end, unsupported words
    and partial words."""
    rng = random.Random(seed)
    forms = a64_forms()
    straight = [f for f in forms if f.enc.group != "branch"]
    branches = [f for f in forms if f.enc.group == "branch"]
    pcrel = [f for f in forms if f.enc.name in ("adr", "adrp")]
    out = []
    for _ in range(n):
        words = [instance(rng.choice(pcrel if rng.random() < 0.1 else straight), rng)[0]
                 for _ in range(rng.randint(0, 12))]
        r = rng.random()
        if r < 0.35:
            words.append(instance(rng.choice(branches), rng)[0])            # the block's exit
        elif r < 0.40:
            words.insert(rng.randrange(len(words) + 1), instance(rng.choice(branches), rng)[0])
        elif r < 0.45:
            words.insert(rng.randrange(len(words) + 1), 0xD4000001)       # svc #0: unsupported
        code = b"".join(w.to_bytes(4, "little") for w in words)
        if rng.random() < 0.02:
            code += b"\x1f\x20"                                          # a partial word
        out.append((code, rng.choice(_ADDRESSES) + 4 * rng.randrange(1 << 16)))
    return out


def test_fast_path_equals_python_path() -> None:
    cache.clear()
    fast_a64.reset()
    blocks = _blocks(1, 20_000 if FULL else 2000)
    got = fast_a64.translate_fast(blocks)
    for (code, address), (x86, n, unsupported) in zip(blocks, got, strict=True):
        tr = translate_a64(code, address)
        assert bytes(x86) == tr.code, (hex(address), [si.text for si in tr.insns])
        assert n == len(tr.insns) and unsupported == len(tr.unsupported)
    translator = fast_a64._TRANSLATOR
    assert translator is not None and any(r[4] for r in translator.records)   # address-patched templates
    assert translator.fallbacks == 0                   # every block went the numba way


def test_addresses_beyond_the_kernels_go_through_python() -> None:
    fast_a64.reset()
    blocks = [(bytes.fromhex("2000028b10000014"), (1 << 64) - 8), (bytes.fromhex("10000014"), 1 << 62)]
    got = fast_a64.translate_fast(blocks)
    assert [bytes(c) for c, _, _ in got] == [translate_a64(code, a).code for code, a in blocks]
    assert fast_a64._TRANSLATOR is not None and fast_a64._TRANSLATOR.fallbacks == 2


@pytest.mark.parametrize(("word", "templates"), [(0x14000010, 1),      # b .+0x40: one template
                                                  (0x17FFFFF0, 2)])     # b .-0x40: and a negative target
def test_one_branch_template_serves_every_address(word: int, templates: int) -> None:
    cache.clear()
    fast_a64.reset()
    blocks = [(word.to_bytes(4, "little"), 4 * i) for i in range(500)]
    got = fast_a64.translate_fast(blocks)
    assert [bytes(c) for c, _, _ in got] == [translate_a64(code, a).code for code, a in blocks]
    assert fast_a64._TRANSLATOR is not None and len(fast_a64._TRANSLATOR.records) == templates
    assert fast_a64._TRANSLATOR.fallbacks == 0


def test_caches_count_hits() -> None:
    cache.clear()
    fast_a64.reset()
    blocks = _blocks(2, 200)
    fast_a64.translate_fast(blocks)
    assert cache.BLOCKS.hits == 0 and cache.BLOCKS.misses >= len(set(blocks))
    assert cache.TEMPLATES.misses > 0 and cache.DECODED.misses > 0
    fast_a64.translate_fast(blocks)                      # every block again: level 3 hits
    assert cache.BLOCKS.hits >= len(blocks)
    cache.BLOCKS.clear()
    fast_a64.translate_fast(blocks)                      # blocks again, templates known: level 2 hits
    assert cache.TEMPLATES.hits > 0


def test_bulk_cli_writes_the_same_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VM_CACHE_DIR", str(tmp_path / "cache"))
    cache.clear()
    fast_a64.reset()
    blocks = [(c, 0) for c, _ in _blocks(3, 200)]
    src = tmp_path / "in.txt"
    src.write_text("".join(c.hex() + "\n" for c, _ in blocks if c))
    want = b"".join(translate_a64(c, 0).code for c, _ in blocks if c)
    out = tmp_path / "out.bin"
    args = ["translate", "--from", "arm64", "--input-file", str(src), "--output", str(out)]
    result = CliRunner().invoke(vm, [*args, "--stats"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == want
    assert "instructions/s" in result.stderr and "cache instruction templates" in result.stderr
    assert list((tmp_path / "cache").glob("translate/a64-templates-*.npz"))
    # a fresh process state loads the templates instead of running the rules, and they are the same
    saved = fast_a64._TRANSLATOR.records if fast_a64._TRANSLATOR else []
    cache.clear()
    fast_a64.reset()
    assert fast_a64.load_templates() == len(saved) > 0
    assert set(fast_a64._translator().records) == set(saved)    # in another order: heads first
    # -j 2 from nothing: a forked worker builds half of the new words' templates
    monkeypatch.setattr(fast_a64, "PER_JOB", 16)
    monkeypatch.setenv("VM_CACHE_DIR", str(tmp_path / "cache2"))
    cache.clear()
    fast_a64.reset()
    fast_a64.translate_fast(blocks[:10])                 # counted before the workers fork
    before = cache.BLOCKS.hits + cache.BLOCKS.misses
    out.unlink()
    result = CliRunner().invoke(vm, [*args, "-j", "2", "--stats"])
    assert result.exit_code == 0 and out.read_bytes() == want
    line = next(x for x in result.stderr.splitlines() if x.startswith("cache translated blocks"))
    assert line.endswith(f"/{before + sum(1 for c, _ in blocks if c)})"), line
    line = next(x for x in result.stderr.splitlines() if x.startswith("cache decoded encodings"))
    assert int(line.rsplit("/", 1)[1].rstrip(")")) > 128, line     # the workers' decodes, counted once


def test_numba_is_imported_only_by_the_bulk_path(tmp_path: Path) -> None:
    code = ("import sys\n"
            "from click.testing import CliRunner\n"
            "from vmcli.cli import vm\n"
            "r = CliRunner().invoke(vm, ['translate', '--from', 'arm64', '--hex', '2000028b', '--json'])\n"
            "assert r.exit_code == 0, r.output\n"
            "assert 'numba' not in sys.modules\n"
            f"r = CliRunner().invoke(vm, ['translate', '--from', 'arm64', '--input-file',"
            f" {str(tmp_path / 'in.txt')!r}, '--output', {str(tmp_path / 'o.bin')!r}])\n"
            "assert r.exit_code == 0, r.output\n"
            "assert 'numba' in sys.modules\n")
    (tmp_path / "in.txt").write_text("2000028b\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "VM_CACHE_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o.bin").read_bytes() == translate_a64(bytes.fromhex("2000028b")).code


def _key(word: int) -> int:
    """The template key's first word: without the PC-relative offset, or without the immediate
    field of an encoding keyed by shape (the decoder's first match) and tagged."""
    from vmcli.translate.a64_to_x86 import kernels
    from vmcli.translate.a64_to_x86.shapes import ENV_REGS, HOST_CLASS, SHAPES
    from vmcli.translate.isa.a64.decoder import match
    from vmcli.translate.isa.a64.encodings import pc_relative_mask

    if pc_relative_mask(word):
        return word & ~pc_relative_mask(word)
    p = match(word)
    if p is None or p.enc.name not in SHAPES:
        return word
    shape = SHAPES[p.enc.name]
    if shape.field is not None:
        lsb, width = p.enc.fields[shape.field]
        word &= ~(((1 << width) - 1) << lsb)
    def cls(r: int) -> int | None:
        if r in ENV_REGS:
            return int(r >= 16)
        return 2 + HOST_CLASS[r] if r in HOST_CLASS else None

    names: dict[int, int] = {}                   # renamed register -> its name in the key
    for field in shape.regs:
        lsb = p.enc.fields[field][0]
        r = (word >> lsb) & 31
        c = cls(r)
        if c is not None:
            names.setdefault(r, kernels.CLASS_NAMES[c] + sum(1 for q in names if cls(q) == c))
            word = word & ~(31 << lsb) | names[r] << lsb
    return word | int(kernels.SHAPED)


def test_kernels_name_the_pc_relative_fields_as_the_isa_does() -> None:
    """kernels.keys_of and kernels._target (numba) against isa.a64.encodings' pc_relative_mask and
    pc_target and the decoder's patterns, on every PC-relative form, every form keyed by shape and
    random words, at addresses across the range."""
    import numpy as np

    from vmcli.translate.a64_to_x86 import kernels
    from vmcli.translate.a64_to_x86.shapes import SHAPES
    from vmcli.translate.isa.a64.encodings import pc_relative_mask, pc_target

    rng = random.Random(7)
    forms = [f for f in a64_forms() if f.enc.name in ("b", "bl", "b_cond", "cbz", "cbnz", "tbz", "tbnz", "adr",
                                                     "adrp", *SHAPES)]
    words = [instance(rng.choice(forms), rng)[0] for _ in range(3000)] + [rng.getrandbits(32) for _ in range(3000)]
    got = kernels.keys_of(np.array(words, np.int64)).tolist()
    assert got == [_key(w) for w in words]
    assert sum(k != w for k, w in zip(got, words, strict=True)) > 1000
    for w in words:
        if pc_relative_mask(w):
            pc = rng.choice(_ADDRESSES) + 4 * rng.randrange(1 << 10)
            assert kernels._target(np.int64(w), np.int64(pc)) == pc_target(w, pc)


def test_the_kernels_match_the_decoders_pattern() -> None:
    """kernels.keys_and_patterns finds each word's first matching pattern as decoder.match does, so
    decoding a new word from it (decoder.decode_as) is decoding it."""
    import numpy as np

    from vmcli.translate.a64_to_x86 import kernels
    from vmcli.translate.isa.a64.decoder import decode, decode_as, match

    rng = random.Random(11)
    forms = a64_forms()
    words = [instance(rng.choice(forms), rng)[0] for _ in range(4000)] + [rng.getrandbits(32) for _ in range(4000)]
    keys, patterns = kernels.keys_and_patterns(np.array(words, np.int64))
    assert keys.tolist() == kernels.keys_of(np.array(words, np.int64)).tolist()
    found = [kernels.PATTERN_LIST[p] if p >= 0 else None for p in patterns.tolist()]
    assert found == [match(w) for w in words]
    assert sum(p is None for p in found) > 100                       # random words outside the table
    for w, p in zip(words, found, strict=True):
        if p is not None:
            assert decode_as(p, w, 0x1000) == decode(w, 0x1000)


@pytest.mark.parametrize("content", [b"", b"not a zip file", b"PK\x03\x04" + bytes(64)])
def test_an_unreadable_template_file_only_costs_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     content: bytes) -> None:
    """A damaged table on disk is passed by (the rules make the templates again) and replaced."""
    from vmcli.translate.core import disk

    monkeypatch.setenv("VM_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("VM_TRANSLATE_NO_DISK_CACHE", raising=False)
    path = disk.path("a64-templates", ".npz")
    assert path is not None
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    cache.clear()
    fast_a64.reset()
    assert fast_a64.load_templates() == 0
    code = bytes.fromhex("2000028b")                    # add x0, x1, x2
    assert bytes(fast_a64.translate_fast([(code, 0)])[0][0]) == translate_a64(code, 0).code
    fast_a64.save_templates()
    fast_a64.reset()
    assert fast_a64.load_templates() >= 1
