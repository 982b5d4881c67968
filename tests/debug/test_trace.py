"""--trace: the recorded instructions, blocks and memory accesses against Unicorn's own Python hooks
on the same image, the disassembly against capstone, and the formats and range filter end to end."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import capstone
import pytest
from debug_helpers import IMAGES, ROOT, python_hook_run, quiet_machine

from vmcli.debug.trace import Tracer
from vmcli.machine.cpu import ARCHES

CASES = ["hello-arm64.elf", "hello-riscv64.elf", "hello-x86_64.elf", "libc-riscv64.elf", "fault-x86_64.elf"]


def traced(image: str, **options: object) -> str:
    m = quiet_machine(IMAGES / image)
    out = io.BytesIO()
    tracer = Tracer(m.cpu, out, capacity=64, **options)      # small ring: many drains during the run
    m.pause_handlers.append(tracer.paused)
    result = m.run(timeout=30)
    tracer.close(m.cpu.pc, ran_stop_pc=result.reason != "insn-limit")
    return out.getvalue().decode()


@pytest.mark.parametrize("image", CASES)
def test_instruction_trace_matches_unicorn_and_capstone(image: str) -> None:
    oracle = python_hook_run(IMAGES / image)
    lines = traced(image).splitlines()
    addresses = [int(line.split(":")[0], 16) for line in lines]
    assert addresses == oracle["insns"]
    spec = ARCHES[image.split("-")[1].removesuffix(".elf")]
    md = capstone.Cs(spec.cs_arch, spec.cs_mode)
    m = quiet_machine(IMAGES / image)
    for line in lines[:50]:
        address_text, rest = line.split(": ", 1)
        code_hex, text = rest.split("  ", 1)
        code = bytes(m.uc.mem_read(int(address_text, 16), len(code_hex) // 2))
        insn = next(md.disasm(code, int(address_text, 16)))
        assert (insn.bytes.hex(), f"{insn.mnemonic} {insn.op_str}".strip()) == (code_hex, text)


@pytest.mark.parametrize("image", CASES)
def test_block_and_memory_trace_match_unicorn(image: str) -> None:
    oracle = python_hook_run(IMAGES / image)
    records = [json.loads(line) for line in traced(image, blocks=True, memory=True, fmt="jsonl").splitlines()]
    blocks = [(int(r["block"], 16), r["size"]) for r in records if "block" in r]
    assert blocks == oracle["blocks"]
    mem = [(r["mem"], int(r["addr"], 16), r["size"], int(r["value"], 16)) for r in records if "mem" in r]
    assert len(mem) == len(oracle["mem"])
    for got, want in zip(mem, oracle["mem"], strict=True):
        assert got[:3] == want[:3]
        assert want[3] is None or got[3] == want[3]


def test_trace_range_and_cli(tmp_path: Path) -> None:
    image = IMAGES / "hello-arm64.elf"
    oracle = python_hook_run(image)
    lo, hi = 0x40080070, 0x400800b0                    # main
    trace = tmp_path / "t.txt"
    proc = subprocess.run([sys.executable, "-m", "vmcli", "run", str(image), "--trace", str(trace),
                           "--trace-range", f"{lo:#x}:{hi:#x}", "--trace-mem"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "Hello from arm64\n"
    lines = trace.read_text().splitlines()
    insns = [int(line.split(":")[0], 16) for line in lines if not line.startswith(" ")]
    assert insns == [a for a in oracle["insns"] if lo <= a < hi]
    # the UART is written once per character from main: its stores are in the trace
    uart_writes = [line for line in lines if re.match(r"\s+write 0x9000000 \[4\]", line)]
    assert len(uart_writes) == len("Hello from arm64\n")


@pytest.mark.parametrize("image", ["libc-arm64.elf", "hello-x86_64.elf", "fault-riscv64.elf"])
def test_stats_stay_exact_while_a_trace_stops_the_guest_to_drain(image: str) -> None:
    from vmcli.debug.stats import BlockCounter
    oracle = python_hook_run(IMAGES / image)
    m = quiet_machine(IMAGES / image)
    out = io.BytesIO()
    tracer = Tracer(m.cpu, out, capacity=50, memory=True)    # stops the guest mid-block, again and again
    counter = BlockCounter(m.cpu)
    m.pause_handlers += [tracer.paused, counter.paused]
    result = m.run(timeout=30)
    tracer.close(m.cpu.pc, ran_stop_pc=result.reason != "insn-limit")
    assert len([line for line in out.getvalue().decode().splitlines() if line[0] != " "]) == len(oracle["insns"])
    assert counter.instructions(m.cpu.pc) == len(oracle["insns"])
    assert counter.blocks == len(oracle["blocks"])


def test_max_insns_with_trace_traces_exactly_that_many(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    proc = subprocess.run([sys.executable, "-m", "vmcli", "run", str(IMAGES / "bench-arm64.elf"), "--max-insns",
                           "200000", "--trace", str(trace), "--trace-format", "jsonl", "--stats", "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 125
    assert len(trace.read_text().splitlines()) == 200000
    stats, _ = json.JSONDecoder().raw_decode(proc.stderr[proc.stderr.index("{"):])
    assert stats["instructions"] == 200000


def test_cli_block_trace_jsonl(tmp_path: Path) -> None:
    image = IMAGES / "hello-x86_64.elf"
    oracle = python_hook_run(image)
    trace = tmp_path / "blocks.jsonl"
    proc = subprocess.run([sys.executable, "-m", "vmcli", "run", str(image), "--trace", str(trace), "--trace-blocks",
                           "--trace-format", "jsonl"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "Hello from x86_64\n"
    blocks = [json.loads(line) for line in trace.read_text().splitlines()]
    assert [(int(b["block"], 16), b["size"]) for b in blocks] == oracle["blocks"]
