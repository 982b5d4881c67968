"""The C programs in tests/linux/programs, built with Debian's cross gcc, under vm against qemu-user
(arm64, riscv64) and the host (x86_64): same output, same exit status (or the same fatal signal).
Each program covers one part of the checklist (files, memory, signals, processes, threads, /proc,
sockets)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from linux_helpers import build, reference, vm

ARCHES = ["arm64", "riscv64", "x86_64"]
# name -> (arguments, whether the reference is the host build for every arch: qemu-user cannot run
# a guest execve of /proc/self/exe, and qemu-aarch64 7.2 hangs in futex.c)
PROGRAMS = {
    "files": (["{dir}"], False),
    "memory": ([], False),
    "signals": ([], False),
    "threads": ([], False),
    "proc": (["x"], False),
    "sockets": ([], False),
    "procs": ([], True),
    "traps": ([], False),
    "futex": ([], True),
}
# Where qemu-user differs from Linux (and vm follows Linux): qemu-aarch64 reports an undefined
# instruction as ILL_ILLOPN (2); arm64 Linux reports ILL_ILLOPC (1) (arch/arm64/kernel/traps.c).
QEMU_DIFFERS = {("traps", "arm64"): ("signal 4 code 2", "signal 4 code 1")}


def _run_both(name: str, arch: str, linkage: str, tmp_path: Path) -> None:
    args, native_reference = PROGRAMS[name]
    prog = build(name, arch, linkage)
    env = dict(os.environ, PROC_TEST="yes")
    dirs = [tmp_path / "vm", tmp_path / "ref"]
    for d in dirs:
        d.mkdir()
    got = vm(prog, *[a.format(dir=dirs[0]) for a in args], env=env)
    ref_args = [a.format(dir=dirs[1]) for a in args]
    if native_reference:
        want = reference("x86_64", build(name, "x86_64", "static"), *ref_args, env=env)
    else:
        want = reference(arch, prog, *ref_args, linkage=linkage, env=env)
    expected = want.stdout.decode(errors="replace")
    if (name, arch) in QEMU_DIFFERS:
        expected = expected.replace(*QEMU_DIFFERS[(name, arch)])
    assert got.stdout.decode(errors="replace") == expected
    assert got.status == want.status


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_matches_reference(name: str, arch: str, tmp_path: Path) -> None:
    _run_both(name, arch, "static", tmp_path)


@pytest.mark.parametrize("name", ["threads", "signals", "files"])
def test_dynamic_program_matches_reference(name: str, tmp_path: Path) -> None:
    _run_both(name, "arm64", "dynamic", tmp_path)
