"""Debian packages as test inputs (firmware, kernels, busybox): fetched with `apt-get download` and
unpacked with `dpkg-deb -x` into a cache folder, never installed. Without the network (or apt) a test
skips with the reason; under CI=true it fails instead.

    root = debian_package("u-boot-qemu")                 # -> Path of the unpacked tree
    image = root / "usr/lib/u-boot/qemu_arm64/u-boot.bin"

The cache is $VM_TEST_DEBS, else ~/.cache/vmcli-tests/debs; each package unpacks into its own folder
named after the .deb, so a newer version unpacks beside the old one.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

import pytest
from toolcheck import IN_CI, require_tool


def cache_dir() -> Path:
    root = os.environ.get("VM_TEST_DEBS") or os.path.join(os.path.expanduser("~"), ".cache", "vmcli-tests", "debs")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"cannot fetch a Debian package under CI: {reason}")
    pytest.skip(reason)


def debian_package(name: str, arch: str | None = None, *, only: str | None = None) -> Path:
    """The unpacked tree of Debian package `name` (`arch`: e.g. "arm64" for a foreign one); with
    `only` (a path pattern such as "./boot/vmlinuz-*"), just the files that match it."""
    require_tool("apt-get", "dpkg-deb")
    spec = f"{name}:{arch}" if arch else name
    cache = cache_dir()
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)                     # tests running side by side share the cache
        debs = sorted(cache.glob(f"{name}_*_{arch or '*'}.deb"))
        if not debs:
            proc = subprocess.run(["apt-get", "download", "-q", spec], cwd=cache, capture_output=True, text=True,
                                  timeout=600, check=False)
            debs = sorted(cache.glob(f"{name}_*_{arch or '*'}.deb"))
            if proc.returncode != 0 or not debs:
                _unavailable(f"apt-get download {spec} failed: {(proc.stderr or proc.stdout).strip()[-300:]}")
        deb = debs[-1]
        tree = cache / deb.stem
        if not (tree / ".unpacked").exists():
            if only is None:
                subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True, timeout=600)
            else:                                        # e.g. the kernel without its 300 MB of modules
                tree.mkdir(exist_ok=True)
                payload = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
                subprocess.run(["tar", "-x", "-C", str(tree), "--wildcards", only], stdin=payload.stdout,
                               check=True, timeout=600)
                payload.wait(timeout=600)
            (tree / ".unpacked").touch()
        return tree


def depends(name: str, arch: str | None = None) -> list[str]:
    """The package names in the Depends field of a downloaded package (e.g. a kernel metapackage's)."""
    debian_package(name, arch)                           # downloads it
    deb = sorted(cache_dir().glob(f"{name}_*_{arch or '*'}.deb"))[-1]
    field = subprocess.run(["dpkg-deb", "-f", str(deb), "Depends"], capture_output=True, text=True, check=True,
                           timeout=60).stdout
    return [part.split()[0].split(":")[0] for part in field.split(",") if part.strip()]
