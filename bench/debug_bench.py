"""What --stats and --trace cost: `vm run` of the bench images with and without them, in one run.

    .venv/bin/python bench/debug_bench.py [--arch ARCH ...] [--repeats N] [--trace-insns N] [--json]

Every figure is the median of --repeats whole-process wall times (`vm run` as a subprocess, so
start-up is included), the runs of a figure and of its baseline alternating.
- stats: `vm run bench-<arch>.elf --stats --json` against `vm run bench-<arch>.elf`. Guest
  instructions/s = the instructions --stats counted / the --stats run's wall time.
- trace: `vm run bench-<arch>.elf --max-insns N --trace FILE` against the same run without
  --trace (a whole bench run would write ~150 GB of text). Instructions/s = N / wall time. FILE is
  on /dev/shm when there is one, so the figure is vm's, not the disk's; the file is deleted after
  each run.
- with --gdb, also the gdb stub's execution control, in-process (vmcli.debug.control, what `continue`
  runs): the bench image to its end with one breakpoint, and with a breakpoint and a watchpoint,
  both on addresses the guest never reaches, against Machine.run; once per arch (a watched run
  takes tens of seconds).
Targets (issue): --stats counting >= 100 M guest instructions/s, --trace >= 5 M instructions/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
IMAGES = ROOT / "guest-images" / "bin"
VM = [sys.executable, "-m", "vmcli", "run"]


def wall(args: list[str]) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    start = time.perf_counter()
    proc = subprocess.run([*VM, *args], capture_output=True, cwd=ROOT, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 125):         # 125: --max-insns reached, as asked
        raise SystemExit(f"vm run {' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode()}")
    return elapsed, proc


def trace_dir() -> str:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()


def traced_wall(args: list[str]) -> float:
    fd, path = tempfile.mkstemp(prefix="vm-trace-", suffix=".txt", dir=trace_dir())
    os.close(fd)
    try:
        return wall([*args, "--trace", path])[0]
    finally:
        os.unlink(path)


def bench_arch(arch: str, repeats: int, trace_insns: int, mem_insns: int) -> dict[str, object]:
    image = str(IMAGES / f"bench-{arch}.elf")
    plain, stats, counted = [], [], 0
    for _ in range(repeats):
        plain.append(wall([image])[0])
        seconds, proc = wall([image, "--stats", "--json"])
        stats.append(seconds)
        counted = json.loads(proc.stderr)["instructions"]
    base, traced, mem_base, mem_traced = [], [], [], []
    limit = ["--max-insns", str(trace_insns)]
    mem_limit = ["--max-insns", str(mem_insns)]
    for _ in range(repeats):
        base.append(wall([image, *limit])[0])
        traced.append(traced_wall([image, *limit]))
        mem_base.append(wall([image, *mem_limit])[0])
        mem_traced.append(traced_wall([image, *mem_limit, "--trace-mem"]))
    m = statistics.median
    return {
        "arch": arch,
        "plain_s": round(m(plain), 3),
        "stats_s": round(m(stats), 3),
        "stats_ratio": round(m(stats) / m(plain), 3),
        "stats_insns": counted,
        "stats_minsns_per_s": round(counted / m(stats) / 1e6, 1),
        "trace_insns": trace_insns,
        "trace_base_s": round(m(base), 3),
        "trace_s": round(m(traced), 3),
        "trace_ratio": round(m(traced) / m(base), 3),
        "trace_minsns_per_s": round(trace_insns / m(traced) / 1e6, 2),
        "trace_mem_insns": mem_insns,
        "trace_mem_base_s": round(m(mem_base), 3),
        "trace_mem_s": round(m(mem_traced), 3),
        "trace_mem_minsns_per_s": round(mem_insns / m(mem_traced) / 1e6, 2),
    }


def bench_gdb(arch: str) -> dict[str, object]:
    from vmcli.debug.control import Debugger
    from vmcli.machine.devices.device import Console
    from vmcli.machine.launch import boot

    null = os.open(os.devnull, os.O_WRONLY)

    def timed(breakpoint: bool, watchpoint: bool) -> float:
        m = boot(str(IMAGES / f"bench-{arch}.elf"), console=Console(out_fd=null, in_fd=None))
        unreached = m.board.ram_base + m.mem_size - 0x1000
        debugger = Debugger(m)
        if breakpoint:
            debugger.add_breakpoint(unreached)
        if watchpoint:
            debugger.add_watchpoint("awatch", unreached, 8)
        start = time.perf_counter()
        if breakpoint or watchpoint:
            event = debugger.cont()
            assert event.kind == "exit", event
        else:
            m.run()
        return time.perf_counter() - start

    plain, bp, watched = timed(False, False), timed(True, False), timed(True, True)
    return {"arch": arch, "run_s": round(plain, 2), "breakpoint_s": round(bp, 2),
            "breakpoint_ratio": round(bp / plain, 2), "watchpoint_s": round(watched, 2),
            "watchpoint_ratio": round(watched / plain, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", action="append", choices=["arm64", "riscv64", "x86_64"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trace-insns", type=int, default=20_000_000)
    parser.add_argument("--trace-mem-insns", type=int, default=2_000_000)
    parser.add_argument("--gdb", action="store_true", help="also time the gdb stub's continue (slow)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    arches = args.arch or ["arm64", "riscv64", "x86_64"]
    rows = [bench_arch(arch, args.repeats, args.trace_insns, args.trace_mem_insns) for arch in arches]
    gdb_rows = [bench_gdb(arch) for arch in arches] if args.gdb else []
    if args.json:
        print(json.dumps({"observe": rows, "gdb": gdb_rows}, indent=2))
        return
    print(f"median of {args.repeats}, whole-process wall time; trace: first {args.trace_insns:,} instructions "
          f"to a file in {trace_dir()}")
    print(f"{'arch':8} {'plain':>7} {'--stats':>8} {'ratio':>6} {'M insn/s':>9} | "
          f"{'base':>6} {'--trace':>8} {'ratio':>6} {'M insn/s':>9}")
    for r in rows:
        print(f"{r['arch']:8} {r['plain_s']:>6.2f}s {r['stats_s']:>7.2f}s {r['stats_ratio']:>6.2f} "
              f"{r['stats_minsns_per_s']:>9.1f} | {r['trace_base_s']:>5.2f}s {r['trace_s']:>7.2f}s "
              f"{r['trace_ratio']:>6.2f} {r['trace_minsns_per_s']:>9.2f}")
    print(f"\n--trace --trace-mem, first {args.trace_mem_insns:,} instructions")
    print(f"{'arch':8} {'base':>7} {'traced':>8} {'M insn/s':>9}")
    for r in rows:
        print(f"{r['arch']:8} {r['trace_mem_base_s']:>6.2f}s {r['trace_mem_s']:>7.2f}s "
              f"{r['trace_mem_minsns_per_s']:>9.2f}")
    if gdb_rows:
        print("\ngdb stub, continue to the end, in-process, one run each")
        print(f"{'arch':8} {'run':>7} {'+break':>8} {'ratio':>6} {'+watch':>8} {'ratio':>6}")
        for r in gdb_rows:
            print(f"{r['arch']:8} {r['run_s']:>6.2f}s {r['breakpoint_s']:>7.2f}s {r['breakpoint_ratio']:>6.2f} "
                  f"{r['watchpoint_s']:>7.2f}s {r['watchpoint_ratio']:>6.2f}")


if __name__ == "__main__":
    main()
