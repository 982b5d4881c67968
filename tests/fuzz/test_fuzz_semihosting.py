"""Fuzzed semihosting calls: random operations with parameter blocks full of random pointers, lengths,
modes and handles, straight into the device. Every call returns a number (the guest sees -1 and an
errno for what it got wrong); nothing is opened, created or written outside the granted root; the
host's descriptors stay bounded by the handle cap."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest
from fuzz_helpers import corpus, edge_u64, fuzz_settings
from hypothesis import given
from hypothesis import strategies as st

from vmcli.machine.devices.device import Console, Host, Stop
from vmcli.machine.devices.semihosting import MAX_HANDLES, OPS, Semihosting
from vmcli.machine.memory import GuestMemory

RAM_BASE, RAM_SIZE = 0x4000_0000, 1 << 16
NAMES = [b":tt", b":semihosting-features", b"in.txt", b"out.txt", b"../outside.txt", b"/in.txt", b"sub",
         b"sub/../in.txt", b"link-out", b"fifo", b"..", b"", b"a" * 300]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    top = tmp_path_factory.mktemp("semihosting")
    root = top / "root"
    (root / "sub").mkdir(parents=True)
    (root / "in.txt").write_bytes(b"0123456789" * 10)
    (top / "outside.txt").write_bytes(b"outside")
    os.symlink(top / "outside.txt", root / "link-out")
    os.mkfifo(root / "fifo")
    return root


# A parameter block of up to four words, each a pointer into RAM (at a name, or anywhere), an edge
# value, a small number (a handle, a mode, a length) or random.
word = st.one_of(st.integers(RAM_BASE, RAM_BASE + RAM_SIZE + 16), edge_u64, st.integers(0, 16),
                 st.integers(0, 300))


@st.composite
def call(draw: st.DrawFn) -> tuple[int, int, list[int], bytes]:
    """(op, param, the four words at param, the name at RAM_BASE + 0x40). Half the blocks are well
    formed (a real name, mode, handle, buffer and length), so calls get past the first checks and
    open, read, write, seek and close real files."""
    # mostly operations that exist, blocks where the guest put them, well-formed words
    op = draw(st.sampled_from(sorted(OPS)) if draw(st.integers(0, 9)) < 8 else
              st.one_of(st.integers(0, 0x40), edge_u64))
    param = RAM_BASE + 0x100 if draw(st.integers(0, 9)) < 7 else draw(
        st.one_of(st.integers(RAM_BASE - 8, RAM_BASE + RAM_SIZE + 8), edge_u64))
    name = draw(st.sampled_from(NAMES))
    if draw(st.integers(0, 9)) < 7:
        words = [RAM_BASE + 0x40, draw(st.integers(0, 11)), len(name), 0]
        if op in (0x02, 0x05, 0x06, 0x09, 0x0A, 0x0C):              # handle-first calls
            words = [draw(st.integers(1, 6)), RAM_BASE + 0x800, draw(st.integers(0, 4096)), 0]
    else:
        words = draw(st.lists(word, min_size=4, max_size=4))
    return op, param, words, name



def make_device(root: Path) -> tuple[Semihosting, GuestMemory, list[Stop]]:
    ram = np.zeros(RAM_SIZE, np.uint8)
    memory = GuestMemory(RAM_BASE, ram)
    null = os.open(os.devnull, os.O_RDWR)
    stops: list[Stop] = []
    console = Console(out_fd=null, err_fd=null, in_fd=None)
    device = Semihosting("semihosting", Host(console, stops.append), memory, root=str(root), cmdline="a b",
                         heap=(RAM_BASE + 0x8000, RAM_BASE + RAM_SIZE))
    device._null = null  # type: ignore[attr-defined]   # closed with the device below
    return device, memory, stops


OPENED: set[str] = set()          # handle kinds the fuzzer reached, checked below


def snapshot(top: Path) -> dict[str, bytes]:
    """Every regular file outside the root, with its contents."""
    return {str(p): p.read_bytes() for p in top.rglob("*") if p.is_file() and not p.is_symlink()
            and "root" not in p.relative_to(top).parts}


@fuzz_settings(100)
@given(st.lists(call(), min_size=10, max_size=60))
def test_random_calls_stay_inside(sandbox: Path, calls: list[tuple[int, int, list[int], bytes]]) -> None:
    device, memory, stops = make_device(sandbox)
    OPENED.update(h.kind for h in device.handles.values())
    before = snapshot(sandbox.parent)
    fds_before = len(os.listdir("/proc/self/fd"))
    try:
        for op, param, words, name in calls:
            memory.write(RAM_BASE + 0x40, name + b"\0")      # a name the words may point at
            if memory.contains(param, 32):
                memory.write(param, struct.pack("<4Q", *(w & (2**64 - 1) for w in words)))
            result = device.call(op & 0xFFFF_FFFF, param)
            assert isinstance(result, int) and -(1 << 63) <= result < 1 << 64
            assert len(device.handles) <= MAX_HANDLES
            OPENED.update(h.kind for h in device.handles.values())
    finally:
        device.close_all()
        os.close(device._null)  # type: ignore[attr-defined]
    assert len(os.listdir("/proc/self/fd")) <= fds_before
    assert snapshot(sandbox.parent) == before
    assert all(stop.reason == "exit" for stop in stops)


@pytest.mark.parametrize("path", corpus("semihosting"), ids=lambda p: p.name)
def test_semihosting_corpus(sandbox: Path, path: Path) -> None:
    """Saved call sequences that once broke the device: 48-byte records (op, param, the four words at
    param), with "in.txt" as the name at RAM_BASE + 0x40."""
    data = path.read_bytes()
    device, memory, _ = make_device(sandbox)
    memory.write(RAM_BASE + 0x40, b"in.txt\0")
    try:
        for at in range(0, len(data) - 47, 48):
            op, param, *words = struct.unpack_from("<QQ4Q", data, at)
            if memory.contains(param, 32):
                memory.write(param, struct.pack("<4Q", *words))
            assert isinstance(device.call(op & 0xFFFF_FFFF, param), int)
    finally:
        device.close_all()
        os.close(device._null)  # type: ignore[attr-defined]


def test_the_fuzzer_reaches_files_and_the_console(sandbox: Path) -> None:
    """Runs after the fuzz test (file order): it must have opened host files, not only been refused."""
    assert {"file", "stdin"} <= OPENED, OPENED
