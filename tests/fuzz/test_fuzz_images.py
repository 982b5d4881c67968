"""Fuzzed images: the bundled ELFs with header fields set to edge values, bytes flipped and files cut
short, and raw images with odd options. Loading, placing and running them (briefly) may end in
BadInput or in any guest outcome, never in another exception; through the command line, never in
status 70 or a traceback, and never past its --timeout."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from fuzz_helpers import IMAGES, ROOT, corpus, edge_u64, fuzz_settings
from hypothesis import given
from hypothesis import strategies as st

from vmcli.errors import BadInput, ExitStatus
from vmcli.machine.devices.compute import ComputeOptions
from vmcli.machine.devices.device import Console
from vmcli.machine.launch import boot

ELF_SEEDS = [IMAGES / f"{p}-{a}.elf" for p in ("hello", "exit") for a in ("arm64", "riscv64", "x86_64")]
# ELF64 header fields (offset, size) and the first program header's (at e_phoff = 64 in the seeds)
HEADER_FIELDS = [(0x04, 1), (0x05, 1), (0x10, 2), (0x12, 2), (0x18, 8), (0x20, 8), (0x28, 8), (0x36, 2),
                 (0x38, 2), (0x3A, 2), (0x3C, 2), (0x3E, 2)]
PHDR_FIELDS = [(0, 4), (4, 4), (8, 8), (16, 8), (24, 8), (32, 8), (40, 8), (48, 8)]


@st.composite
def mutated_elf(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(ELF_SEEDS)).read_bytes())
    phoff, phentsize, phnum = struct.unpack_from("<QHH", data, 0x20)[0], 56, struct.unpack_from("<H", data, 0x38)[0]
    fields = HEADER_FIELDS + [(phoff + i * phentsize + off, size) for i in range(phnum) for off, size in PHDR_FIELDS]
    for _ in range(draw(st.integers(1, 4))):
        what = draw(st.sampled_from(["field", "field", "byte", "cut"]))
        if what == "field":
            at, size = draw(st.sampled_from(fields))
            value = draw(edge_u64) & ((1 << (8 * size)) - 1)
            if at + size <= len(data):
                data[at:at + size] = value.to_bytes(size, "little")
        elif what == "byte" and data:
            at = draw(st.integers(0, min(len(data), 0x300) - 1))
            data[at] = draw(st.integers(0, 255))
        elif what == "cut" and len(data) > 1:
            del data[draw(st.integers(1, len(data) - 1)):]
    return bytes(data)


NULL = os.open(os.devnull, os.O_RDWR)          # one descriptor for every quiet console of the run


def quiet_console() -> Console:
    return Console(out_fd=NULL, err_fd=NULL, in_fd=None)


def load_and_run(data: bytes, **options: object) -> None:
    """Boot `data` in-process and run it for a moment: BadInput or a result, nothing else."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "image"
        path.write_bytes(data)
        try:
            machine = boot(str(path), console=quiet_console(), compute=ComputeOptions(gpu="none"),
                           **options)  # type: ignore[arg-type]
        except BadInput:
            return
        result = machine.run(timeout=0.05)
        assert 0 <= result.status <= 255
        if result.reason != "exit":
            assert result.status in {int(s) for s in ExitStatus}


@fuzz_settings(300)
@given(mutated_elf(), st.sampled_from([None, "arm64", "riscv64", "x86_64"]),
       st.sampled_from([None, 4096, 1 << 20, 128 << 20]))
def test_mutated_elfs_load_or_are_refused(data: bytes, arch: str | None, mem: int | None) -> None:
    load_and_run(data, arch=arch, mem=mem)


@fuzz_settings(150)
@given(st.binary(min_size=1, max_size=256), st.sampled_from(["arm64", "riscv64", "x86_64"]),
       st.one_of(st.none(), edge_u64), st.one_of(st.none(), edge_u64), st.sampled_from([None, 4096, 1 << 20]))
def test_raw_images_with_odd_options(data: bytes, arch: str, load_addr: int | None, entry: int | None,
                                     mem: int | None) -> None:
    load_and_run(data, arch=arch, load_addr=load_addr, entry=entry, mem=mem)


@pytest.mark.parametrize("path", corpus("image"), ids=lambda p: p.name)
def test_image_corpus(path: Path) -> None:
    """Inputs that once ended in an internal error: each must now load or be refused cleanly."""
    arch = path.name.split("-")[1] if path.name.count("-") >= 2 else None
    load_and_run(path.read_bytes(), arch=arch if arch in ("arm64", "riscv64", "x86_64") else None)


@fuzz_settings(12)
@given(mutated_elf(), st.sampled_from([[], ["--mem", "4096"], ["--arch", "riscv64"], ["--entry", "0xffffffffffffffff"],
                                       ["--stats"], ["--max-insns", "1000"]]))
def test_the_command_line_never_ends_in_an_internal_error(data: bytes, options: list[str]) -> None:
    """`vm run` and `vm disasm` on the same inputs, as processes: a documented status, no traceback."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "image.elf"
        path.write_bytes(data)
        for command in (["run", str(path), "--timeout", "2", *options], ["disasm", str(path), "--count", "64"]):
            proc = subprocess.run([sys.executable, "-m", "vmcli", *command], capture_output=True, text=True,
                                  timeout=60, cwd=ROOT, check=False, stdin=subprocess.DEVNULL)
            assert proc.returncode != ExitStatus.INTERNAL and "Traceback" not in proc.stderr, (command, proc.stderr)
