"""Interrupts: what the slicing machinery costs and what it delivers.

    python bench/interrupt_bench.py [--repeats N] [--baseline DIR]

- the bench images (no interrupt source) under this `vm run` and, with --baseline DIR (a checkout of
  an earlier vm, e.g. before interrupts existed), under that one: the cost of the machinery when
  nothing interrupts (target: within 1.10x);
- bench-tick-ARCH (the same CRC-32 work with a 1 kHz timer interrupt running) against bench-ARCH
  under this vm (target: within 1.25x), and the timer interrupts it took per second;
- Linux-style latency is not measured here (docs/running.md has the Linux boot figures).
Medians of whole-process wall time, runs interleaved.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "guest-images" / "bin"


def wall(cmd: list[str], cwd: Path) -> float:
    """Seconds; NaN when the guest did not finish correctly (printed: a 1 kHz timer run can be hit by
    Unicorn's inexact asynchronous stop, docs/running.md "Where Unicorn stops you")."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, check=False, stdin=subprocess.DEVNULL, cwd=cwd)
    if proc.returncode != 0:
        print(f"  ({Path(cmd[-1]).name}: status {proc.returncode}: "
              f"{proc.stderr.decode(errors='replace').splitlines()[0] if proc.stderr else ''})", flush=True)
        return float("nan")
    return time.perf_counter() - start


def ticks_per_second(arch: str) -> tuple[int, float]:
    sys.path.insert(0, str(ROOT))
    from vmcli.machine.devices.device import Console
    from vmcli.machine.launch import boot

    null = os.open(os.devnull, os.O_WRONLY)
    machine = boot(str(BIN / f"bench-tick-{arch}.elf"), console=Console(null, None, null))
    result = machine.run()
    os.close(null)
    taken = getattr(machine.intc, "taken", 0)
    return taken, taken / result.wall_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="a checkout of another vm to compare with")
    parser.add_argument("--arch", action="append", choices=["arm64", "riscv64"])
    args = parser.parse_args()
    vm = [sys.executable, "-m", "vmcli", "run"]
    print(f"# interrupts: medians of {args.repeats} interleaved runs (whole-process wall time)\n")
    print("| arch | bench (this vm) | bench (baseline vm) | this / baseline | bench-tick 1 kHz | tick / bench |"
          " timer interrupts/s |")
    print("|---|---|---|---|---|---|---|")
    for arch in args.arch or ["arm64", "riscv64"]:
        runs: dict[str, list[float]] = {"bench": [], "baseline": [], "tick": []}
        for _ in range(args.repeats):
            runs["bench"].append(wall([*vm, str(BIN / f"bench-{arch}.elf")], ROOT))
            if args.baseline is not None:
                runs["baseline"].append(wall([*vm, str(BIN / f"bench-{arch}.elf")], args.baseline))
            runs["tick"].append(wall([*vm, str(BIN / f"bench-tick-{arch}.elf")], ROOT))
        med = {k: statistics.median([x for x in v if x == x] or [float("nan")]) for k, v in runs.items() if v}
        base = f"{med['baseline']:.2f} s" if "baseline" in med else "n/a"
        ratio = f"{med['bench'] / med['baseline']:.3f}" if "baseline" in med else "n/a"
        try:
            taken, rate = ticks_per_second(arch)
        except Exception as exc:   # noqa: BLE001 - a benchmark reports, it does not stop
            taken, rate = 0, float("nan")
            print(f"  (in-process bench-tick-{arch}: {exc})")
        print(f"| {arch} | {med['bench']:.2f} s | {base} | {ratio} | {med['tick']:.2f} s | "
              f"{med['tick'] / med['bench']:.3f} | {rate:.0f} ({taken} taken) |", flush=True)


if __name__ == "__main__":
    main()
