"""The persistent program cache: compiled binaries on disk, keyed by source, options and device.

A key is the SHA-256 of (device identity, options, source); the file holds the driver's binary (an
OpenCL program binary, later a CUBIN). Writes go to a temporary name and are renamed into place, so
two processes building the same program never see half a file. A binary the driver rejects (a newer
driver, a truncated file) is dropped and rebuilt from source.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vmcli.cachedir import cache_root


def program_key(identity: str, source: str, options: Sequence[str]) -> str:
    h = hashlib.sha256()
    for part in (identity, "\0".join(options), source):
        h.update(part.encode())
        h.update(b"\x00\x01")
    return h.hexdigest()


@dataclass
class ProgramCache:
    """Binaries under `root/gpu/`; `hits`/`misses` count lookups in this process."""

    root: Path = field(default_factory=lambda: cache_root() / "gpu")
    hits: int = 0
    misses: int = 0

    def path(self, key: str) -> Path:
        return self.root / f"{key}.bin"

    def load(self, key: str) -> bytes | None:
        try:
            data = self.path(key).read_bytes()
        except OSError:
            self.misses += 1
            return None
        self.hits += 1
        return data

    def store(self, key: str, binary: bytes) -> None:
        # A read-only or full cache directory only costs a rebuild next time: not an error.
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(binary)
            os.replace(tmp, self.path(key))
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def drop(self, key: str) -> None:
        with contextlib.suppress(OSError):
            self.path(key).unlink()
