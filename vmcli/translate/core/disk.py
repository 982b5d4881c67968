"""The on-disk template cache of the fast paths (cache level 2 kept between processes).

One-shot processes (`vm translate --input-file F --output O`) would otherwise run every rule again.
A cache file is named by a hash of the translator package's own source files, so any change to a
decoder, rule, encoder or file format starts a new file. VM_TRANSLATE_NO_DISK_CACHE=1 turns the
cache off. The files live in the translate/ folder of vm's one cache folder (vmcli/cachedir.py:
$VM_CACHE_DIR, else $XDG_CACHE_HOME/vmcli, else ~/.cache/vmcli).
"""

from __future__ import annotations

import gc
import hashlib
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from vmcli.cachedir import cache_root

PACKAGE = Path(__file__).resolve().parent.parent      # vmcli/translate


def digest(root: Path) -> str:
    """A hash of every Python file under `root`: their names and contents."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


@lru_cache(maxsize=1)
def source_digest() -> str:
    """The translator package's digest (computed once per process)."""
    return digest(PACKAGE)


def path(kind: str, suffix: str = ".pickle") -> Path | None:
    """Where the cache of `kind` lives, or None when the disk cache is off."""
    if os.environ.get("VM_TRANSLATE_NO_DISK_CACHE"):
        return None
    return cache_root() / "translate" / f"{kind}-{source_digest()}{suffix}"


def save(target: Path, write: Callable[[Path], object]) -> bool:
    """Write through a temporary file next to `target`, then move it in place (a reader never sees
    half a file). A failure only costs the next run time: it returns False."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.stem}.{os.getpid()}.tmp{target.suffix}")
        write(tmp)
        os.replace(tmp, target)
    except OSError:
        return False
    return True


class no_cyclic_gc:  # noqa: N801  (used as a function: `with no_cyclic_gc():`)
    """For code that makes many objects and no cycles (caches filled or loaded in bulk): the cyclic
    collector would only rescan the large caches again and again. Leaving it allocates nothing, so
    the collection it owes runs at the caller's next allocation, not here; with `freeze`, what
    lives then is moved out of the collector's sight (gc.freeze: objects still go when their last
    reference does), so it owes none (0.1 s after a bulk translation)."""

    def __init__(self, freeze: bool = False) -> None:
        self.freeze = freeze

    def __enter__(self) -> None:
        self.enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.freeze:
            gc.freeze()
        if self.enabled:
            gc.enable()
