"""`vm run` speed: each bundled bench image under vm, under bare Unicorn (bench/bare_unicorn.py) and
under QEMU where installed, interleaved in one run; medians of whole-process wall time and ratios.

    python bench/run_bench.py [--repeats N] [--arch ARCH ...]

Targets (issue "vm run"): vm / bare Unicorn <= 1.10, vm / QEMU <= 1.30, hello image < 0.5 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "guest-images" / "bin"
QEMU = {
    "arm64": ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72", "-m", "128M", "-display", "none",
              "-monitor", "none", "-serial", "stdio", "-semihosting-config", "enable=on,target=native", "-kernel"],
    "riscv64": ["qemu-system-riscv64", "-M", "virt", "-bios", "none", "-m", "128M", "-display", "none",
                "-monitor", "none", "-serial", "stdio", "-semihosting-config", "enable=on,target=native", "-kernel"],
}


def wall(cmd: list[str]) -> tuple[float, bytes]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, check=False, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with {proc.returncode}: {proc.stderr.decode(errors='replace')}")
    return elapsed, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--arch", action="append", choices=["arm64", "riscv64", "x86_64"])
    args = parser.parse_args()
    vm = [sys.executable, "-m", "vmcli", "run"]
    bare = [sys.executable, str(ROOT / "bench" / "bare_unicorn.py")]

    print(f"# vm run speed: medians of {args.repeats} interleaved runs (whole-process wall time)\n")
    print("| image | vm run | bare Unicorn | QEMU | vm / Unicorn | vm / QEMU |")
    print("|---|---|---|---|---|---|")
    for arch in args.arch or ["arm64", "riscv64", "x86_64"]:
        image = str(BIN / f"bench-{arch}.elf")
        runners = {"vm": [*vm, image], "bare": [*bare, image]}
        if arch in QEMU and shutil.which(QEMU[arch][0]):
            runners["qemu"] = [*QEMU[arch], image]
        times: dict[str, list[float]] = {name: [] for name in runners}
        outputs = set()
        for _ in range(args.repeats):
            for name, cmd in runners.items():
                seconds, out = wall(cmd)
                times[name].append(seconds)
                outputs.add(out)
        if len(outputs) != 1:
            raise SystemExit(f"bench-{arch}: the runners disagree on the output: {outputs}")
        med = {name: statistics.median(ts) for name, ts in times.items()}
        q = f"{med['qemu']:.2f} s" if "qemu" in med else "n/a"
        q_ratio = f"{med['vm'] / med['qemu']:.2f}" if "qemu" in med else "n/a"
        print(f"| bench-{arch} | {med['vm']:.2f} s | {med['bare']:.2f} s | {q} | {med['vm'] / med['bare']:.2f} | "
              f"{q_ratio} |", flush=True)

    hello = [wall([*vm, str(BIN / "hello-arm64.elf")])[0] for _ in range(args.repeats)]
    print(f"\n`vm run hello-arm64.elf`, whole process: median {statistics.median(hello):.3f} s "
          f"(min {min(hello):.3f} s)")


if __name__ == "__main__":
    main()
