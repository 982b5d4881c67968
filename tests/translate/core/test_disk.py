"""The on-disk template cache is named by a hash of the translator package's own files."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmcli.translate.core import disk


def test_the_digest_follows_every_python_file(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "a.py").write_text("A = 1\n")
    (tmp_path / "rules" / "b.py").write_text("B = 2\n")
    first = disk.digest(tmp_path)
    (tmp_path / "notes.txt").write_text("not code")
    assert disk.digest(tmp_path) == first
    (tmp_path / "rules" / "b.py").write_text("B = 3\n")              # a changed rule
    changed = disk.digest(tmp_path)
    assert changed != first
    (tmp_path / "rules" / "b.py").rename(tmp_path / "rules" / "c.py")  # a renamed file
    assert disk.digest(tmp_path) not in (first, changed)
    (tmp_path / "rules" / "d.py").write_text("")                      # a new one
    assert len({first, changed, disk.digest(tmp_path)}) == 3


def test_the_package_digest_names_the_cache_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VM_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("VM_TRANSLATE_NO_DISK_CACHE", raising=False)
    assert disk.source_digest() == disk.digest(Path(disk.__file__).parents[1])
    assert disk.path("templates") == tmp_path / "translate" / f"templates-{disk.source_digest()}.pickle"
    monkeypatch.setenv("VM_TRANSLATE_NO_DISK_CACHE", "1")
    assert disk.path("templates") is None


def test_save_replaces_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "cache.pickle"
    assert disk.save(target, lambda tmp: tmp.write_bytes(b"one"))
    assert disk.save(target, lambda tmp: tmp.write_bytes(b"two"))
    assert target.read_bytes() == b"two" and sorted(p.name for p in target.parent.iterdir()) == ["cache.pickle"]
    (tmp_path / "file").write_text("")
    assert not disk.save(tmp_path / "file" / "x.pickle", lambda tmp: tmp.write_bytes(b""))   # no directory


def test_one_process_translating_both_ways_saves_each_directions_own(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    """Cache level 2 holds both directions' code: each saves only its own."""
    import vmcli.translate as api
    from vmcli.translate.core import cache

    monkeypatch.setenv("VM_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("VM_TRANSLATE_NO_DISK_CACHE", raising=False)
    cache.clear()
    api.translate_blocks([(bytes.fromhex("1f2003d5"), 0)], "arm64")      # nop, through the Python path
    assert api.translate_bulk([(bytes.fromhex("4801c8"), 0)], "x86_64")[0][0][1] == 1   # add rax, rcx
    assert (tmp_path / "translate" / f"templates-{disk.source_digest()}.pickle").exists()
