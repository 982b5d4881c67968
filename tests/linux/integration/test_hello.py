"""Static and dynamic hello world for each arch: vm's output and status against qemu-user (arm64,
riscv64) and the host (x86_64)."""

from __future__ import annotations

import os

import pytest
from linux_helpers import build, reference, vm

ARCHES = ["arm64", "riscv64", "x86_64"]


@pytest.mark.parametrize("linkage", ["static", "dynamic"])
@pytest.mark.parametrize("arch", ARCHES)
def test_hello_matches_reference(arch: str, linkage: str) -> None:
    prog = build("hello", arch, linkage)
    env = dict(os.environ, VM_TEST_VALUE="x y")
    got = vm(prog, "a b", "", "c", env=env)
    want = reference(arch, prog, "a b", "", "c", linkage=linkage, env=env)
    assert got.stderr == b""
    assert (got.status, got.stdout) == (want.status, want.stdout)
    assert got.status == 44
