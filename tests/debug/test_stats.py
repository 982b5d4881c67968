"""--stats: instruction and block counts from the compiled block counter, against Unicorn's own
per-instruction Python hook on the same image."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from debug_helpers import IMAGES, ROOT, python_hook_run, quiet_machine

from vmcli.debug.stats import BlockCounter

SMALL = [f"{name}-{arch}.elf" for name in ("hello", "exit", "fault") for arch in ("arm64", "riscv64", "x86_64")] + [
    "libc-arm64.elf", "libc-riscv64.elf"]


@pytest.mark.parametrize("image", SMALL)
def test_block_counter_counts_every_instruction(image: str) -> None:
    oracle = python_hook_run(IMAGES / image)
    m = quiet_machine(IMAGES / image)
    counter = BlockCounter(m.cpu, capacity=16)          # small: the table grows during the run
    m.pause_handlers.append(counter.paused)
    m.run(timeout=30)
    assert counter.instructions(m.cpu.pc) == len(oracle["insns"])
    assert counter.blocks == len(oracle["blocks"])


def test_vm_run_stats_json(tmp_path: Path) -> None:
    image = IMAGES / "libc-riscv64.elf"
    oracle = python_hook_run(image)
    # with a root, the program's failed fopen is the guest's business: stderr holds the JSON alone
    proc = subprocess.run([sys.executable, "-m", "vmcli", "run", str(image), "--stats", "--json",
                           "--semihosting-root", str(tmp_path)], input=b"", capture_output=True, cwd=ROOT, timeout=60)
    stats = json.loads(proc.stderr)
    assert stats["instructions"] == len(oracle["insns"])
    assert stats["blocks"] == len(oracle["blocks"])
    assert stats["exit_reason"] == "exit" and stats["exit_status"] == proc.returncode
    assert stats["semihosting_calls"]             # the libc program opens, writes, exits through semihosting
    assert stats["device_accesses"]["semihosting"] == sum(stats["semihosting_calls"].values())
    assert stats["wall_s"] >= 0
    mips = stats["instructions"] / stats["wall_s"] / 1e6 if stats["wall_s"] else 0   # both rounded in the JSON
    assert stats["mips"] == pytest.approx(mips, rel=1e-3, abs=1e-3)


def test_vm_run_stats_table_and_bad_options() -> None:
    vm = [sys.executable, "-m", "vmcli", "run", str(IMAGES / "hello-arm64.elf")]
    proc = subprocess.run([*vm, "--stats"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "Hello from arm64\n"
    assert "guest instructions" in proc.stderr and "uart0" in proc.stderr
    for bad in (["--json"], ["--trace-mem"], ["--trace", "/tmp/x", "--trace-range", "10"], ["--gdb", "99999"],
                ["--gdb", "1234", "--stats"]):
        proc = subprocess.run([*vm, *bad], capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert proc.returncode == 2, (bad, proc.stderr)
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
