"""Debian arm64 packages for the tests: downloaded with `apt-get download` and unpacked with
`dpkg-deb -x` into a cache folder, never installed. Offline outside CI, the tests skip."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from linux_helpers import CACHE
from toolcheck import IN_CI, require_tool


def unpacked(packages: list[str], arch: str = "arm64") -> Path:
    """A folder with the packages unpacked into it (one folder per set of packages)."""
    require_tool("apt-get", "dpkg-deb")
    root = CACHE / ("root-" + "-".join(sorted(packages)) + f"-{arch}")
    if (root / ".done").exists():
        return root
    debs = CACHE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    names = [f"{p}:{arch}" for p in packages]
    got = subprocess.run(["apt-get", "download", *names], cwd=debs, capture_output=True, text=True)
    if got.returncode != 0:
        reason = f"cannot download {' '.join(names)} (offline, or no `dpkg --add-architecture {arch}`): " \
                 f"{got.stderr.strip().splitlines()[-1] if got.stderr.strip() else got.returncode}"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    root.mkdir(parents=True, exist_ok=True)
    for package in packages:
        for deb in sorted(debs.glob(f"{package}_*_{arch}.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    (root / ".done").touch()
    return root
