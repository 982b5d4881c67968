"""The emulation alone, without process start-up: vm's Machine.run against bench/bare_unicorn.py's
emu_start on the same bench image, in one process, alternating; CPU time of the run only.

    python bench/emulation_bench.py [ARCH]      (default: all three)
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import bare_unicorn  # noqa: E402

from vmcli.machine.devices.device import Console  # noqa: E402
from vmcli.machine.launch import boot  # noqa: E402


def measure(arch: str, repeats: int = 3) -> tuple[float, float]:
    image = str(ROOT / "guest-images" / "bin" / f"bench-{arch}.elf")
    null = os.open(os.devnull, os.O_WRONLY)
    vm_times, bare_times = [], []
    for _ in range(repeats):
        machine = boot(image, console=Console(null, None, null))
        start = time.process_time()
        machine.run()
        vm_times.append(time.process_time() - start)
        saved = os.dup(1)
        os.dup2(null, 1)                       # the bare harness prints to fd 1
        try:
            start = time.process_time()
            bare_unicorn.main(image)
            bare_times.append(time.process_time() - start)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
    os.close(null)
    return statistics.median(vm_times), statistics.median(bare_times)


def main() -> None:
    print("| image | vm Machine.run | bare emu_start | ratio |\n|---|---|---|---|")
    for arch in sys.argv[1:] or ["arm64", "riscv64", "x86_64"]:
        vm_s, bare_s = measure(arch)
        print(f"| bench-{arch} | {vm_s:.2f} s | {bare_s:.2f} s | {vm_s / bare_s:.3f} |", flush=True)


if __name__ == "__main__":
    main()
