"""The one folder where vm keeps what it builds and may build again (GPU program binaries, the
translator's tables): $VM_CACHE_DIR, else $XDG_CACHE_HOME/vmcli, else ~/.cache/vmcli. Each user of it
takes a subfolder of its own (gpu/, translate/)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    if os.environ.get("VM_CACHE_DIR"):
        return Path(os.environ["VM_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vmcli"
