"""lldb against `vm run --gdb` on every arch: attach, step, breakpoint, registers, run to the end."""

from __future__ import annotations

import re

import capstone
import pytest
from elftools.elf.elffile import ELFFile
from gdb_driver import ARCHES, IMAGES, entry, lldb_session, symbols

from vmcli.machine.cpu import ARCHES as SPECS


def first_insn_size(arch: str, image_path: str, address: int) -> int:
    with open(image_path, "rb") as f:
        seg = next(s for s in ELFFile(f).iter_segments("PT_LOAD")
                   if s["p_paddr"] <= address < s["p_paddr"] + s["p_filesz"])
        code = seg.data()[address - seg["p_paddr"]:][:16]
    spec = SPECS[arch]
    return int(next(capstone.Cs(spec.cs_arch, spec.cs_mode).disasm(code, address)).size)


@pytest.mark.parametrize("arch", ARCHES)
def test_lldb_steps_stops_at_a_breakpoint_and_runs_to_the_end(arch: str) -> None:
    image = IMAGES / f"hello-{arch}.elf"
    start, main = entry(image), symbols(image)["main"]
    s = lldb_session(image, ["register read pc", "si", "register read pc", f"breakpoint set -a {main:#x}", "c",
                             "register read pc", "c"])
    pcs = [int(v, 16) for v in re.findall(r"\b(?:pc|rip) = (0x[0-9a-f]+)", s.gdb)]
    assert pcs == [start, start + first_insn_size(arch, str(image), start), main], s.gdb
    assert "stop reason = breakpoint" in s.gdb
    assert "exited with status = 0" in s.gdb
    assert s.stdout == f"Hello from {arch}\n" and s.status == 0
