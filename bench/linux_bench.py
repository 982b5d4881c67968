"""Linux user mode speed: a compute-bound program, system calls per second, a static hello world, a
store-bound program (bench/linux/stores.c) and the cost of an mmap and munmap pair
(bench/linux/mmaps.c), under `vm run`, under qemu-user and (compute only) under bare Unicorn
(bench/bare_linux.py), runs interleaved, medians of whole-process wall time and ratios from the
same run.

    python bench/linux_bench.py [--repeats N] [--arch ARCH ...] [--rounds R]

Targets: compute within 1.5x of qemu-user (goal 1.2x); >= 500,000 getpid/s and >= 250,000 one-byte
writes to /dev/null per second; a static hello world under 0.25 s.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent / "linux"
VM = [sys.executable, "-m", "vmcli", "run"]
CC = {"arm64": "aarch64-linux-gnu-gcc", "riscv64": "riscv64-linux-gnu-gcc", "x86_64": "gcc"}
QEMU = {"arm64": "qemu-aarch64", "riscv64": "qemu-riscv64", "x86_64": "qemu-x86_64"}
SYSCALLS = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = atol(argv[2]);
    int fd = open("/dev/null", O_WRONLY);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        if (argv[1][0] == 'p') syscall(SYS_getpid); else write(fd, "x", 1);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.0f\n", n / ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9));
    return 0;
}
"""
HELLO = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'


def build(out: Path, arch: str, rounds: int) -> dict[str, Path]:
    cc = CC[arch]
    progs = {"compute": out / f"compute-{arch}", "syscalls": out / f"syscalls-{arch}", "hello": out / f"hello-{arch}",
             "stores": out / f"stores-{arch}", "mmaps": out / f"mmaps-{arch}"}
    subprocess.run([cc, "-O2", "-static", "-nostdlib", "-fno-builtin", f"-DROUNDS={rounds}", "-o",
                    str(progs["compute"]), str(HERE / "compute.c")], check=True)
    for name, source in (("syscalls", SYSCALLS), ("hello", HELLO)):
        src = out / f"{name}.c"
        src.write_text(source)
        subprocess.run([cc, "-O2", "-static", "-o", str(progs[name]), str(src)], check=True)
    for name in ("stores", "mmaps"):
        subprocess.run([cc, "-O2", "-static", "-o", str(progs[name]), str(HERE / f"{name}.c")], check=True)
    return progs


def wall(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    return time.perf_counter() - start, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--arch", action="append", choices=list(CC))
    parser.add_argument("--rounds", type=int, default=60000, help="compute rounds (60000: ~1 s under qemu)")
    parser.add_argument("--calls", type=int, default=500000)
    args = parser.parse_args()
    arches = [a for a in args.arch or list(CC) if shutil.which(CC[a]) and shutil.which(QEMU[a])]
    with tempfile.TemporaryDirectory() as tmp:
        print("| arch | compute: vm | qemu-user | bare Unicorn | vm / qemu | vm / Unicorn | getpid/s vm (qemu) "
              "| writes/s vm (qemu) | hello vm (qemu) | stores vm (qemu) | mmap+munmap vm (qemu) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for arch in arches:
            progs = build(Path(tmp), arch, args.rounds)
            times: dict[str, list[float]] = {"vm": [], "qemu": [], "bare": [], "hello-vm": [], "hello-qemu": [],
                                             "stores-vm": [], "stores-qemu": []}
            rates: dict[str, list[float]] = {"p-vm": [], "p-qemu": [], "w-vm": [], "w-qemu": [], "m-vm": [],
                                             "m-qemu": []}
            for _ in range(args.repeats):
                times["vm"].append(wall([*VM, "--user", str(progs["compute"])])[0])
                times["qemu"].append(wall([QEMU[arch], str(progs["compute"])])[0])
                times["bare"].append(wall([sys.executable, str(ROOT / "bench" / "bare_linux.py"),
                                           str(progs["compute"])])[0])
                times["hello-vm"].append(wall([*VM, str(progs["hello"])])[0])
                times["hello-qemu"].append(wall([QEMU[arch], str(progs["hello"])])[0])
                times["stores-vm"].append(wall([*VM, str(progs["stores"])])[0])
                times["stores-qemu"].append(wall([QEMU[arch], str(progs["stores"])])[0])
                for who, cmd in (("vm", [*VM, str(progs["mmaps"])]), ("qemu", [QEMU[arch], str(progs["mmaps"])])):
                    rates[f"m-{who}"].append(float(wall(cmd)[1] or "nan"))
                for kind in "pw":
                    for who, cmd in (("vm", [*VM, str(progs["syscalls"]), "--"]), ("qemu", [QEMU[arch],
                                                                                            str(progs["syscalls"])])):
                        out = wall([*cmd, kind, str(args.calls)])[1]
                        match = re.search(r"(\d+)", out)
                        rates[f"{kind}-{who}"].append(float(match.group(1)) if match else 0.0)
            m = {k: statistics.median(v) for k, v in times.items()}
            r = {k: statistics.median(v) for k, v in rates.items()}
            print(f"| {arch} | {m['vm']:.2f} s | {m['qemu']:.2f} s | {m['bare']:.2f} s | {m['vm'] / m['qemu']:.2f} "
                  f"| {m['vm'] / m['bare']:.2f} | {r['p-vm']:,.0f} ({r['p-qemu']:,.0f}) "
                  f"| {r['w-vm']:,.0f} ({r['w-qemu']:,.0f}) | {m['hello-vm']:.2f} s ({m['hello-qemu']:.2f} s) "
                  f"| {m['stores-vm']:.2f} s ({m['stores-qemu']:.2f} s) | {r['m-vm']:.0f} us ({r['m-qemu']:.0f} us) |",
                  flush=True)


if __name__ == "__main__":
    main()
