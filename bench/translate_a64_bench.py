"""Translation throughput of `vm translate --from arm64` (AArch64 -> x86-64).

Baseline, measured in the same run: a Python loop that only decodes the same words with capstone
in detail mode. Reported: medians of --repeat runs and their ratios to the baseline, in-process for
the Python path (a64_to_x86/frontend.py, one block at a time) and for the numba path
(a64_to_x86/fast.py, all blocks in one call, as `vm translate --from arm64 --input-file ... --output ...` runs it):
  - cold: empty caches (every instruction decoded and its x86 code built by its rule),
  - warm: instruction code cached (level 2), blocks not,
  - hot: whole blocks cached (level 3);
and whole processes: `vm translate --from arm64 --input-file F --output O` against a process running
the decode-only loop over the same file: the first run (empty on-disk template cache), runs with
the disk cache off (-j 1, and -j 2: two worker processes run the rules), then with the templates
on disk.

The workload: blocks of 16 instructions drawn from a pool of 4,096 random instances of the verified
forms (branches left out, so blocks run to 16 instructions).

    python bench/translate_a64_bench.py [--insns 200000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import decode_only  # noqa: E402  (bench/, beside this file)


def workload(insns: int, seed: int = 1) -> list[bytes]:
    from vmcli.translate.a64_to_x86.check import instance
    from vmcli.translate.a64_to_x86.forms import all_forms as a64_forms

    rng = random.Random(seed)
    forms = [f for f in a64_forms() if f.enc.group != "branch"]
    pool = [instance(rng.choice(forms), rng)[0].to_bytes(4, "little") for _ in range(4096)]
    return [b"".join(rng.choice(pool) for _ in range(16)) for _ in range(insns // 16)]


def translate_rate(blocks: list[bytes], clear: str) -> float:
    from vmcli.translate import translate
    from vmcli.translate.core import cache

    if clear == "all":
        cache.clear()
    elif clear == "blocks":
        cache.BLOCKS.clear()
    t0 = time.perf_counter()
    n = 0
    for i, b in enumerate(blocks):
        n += len(translate(b, 0x1000 * i, "arm64").insns)
    return n / (time.perf_counter() - t0)


def fast_rate(blocks: list[bytes], clear: str) -> float:
    from vmcli.translate.a64_to_x86 import fast as fast_a64
    from vmcli.translate.core import cache

    if clear == "all":
        cache.clear()
        fast_a64.reset()
    elif clear == "blocks":
        cache.BLOCKS.clear()
    batch = [(b, 0x1000 * i) for i, b in enumerate(blocks)]
    t0 = time.perf_counter()
    out = fast_a64.translate_fast(batch)
    elapsed = time.perf_counter() - t0
    n = sum(r[1] for r in out)
    assert n == 16 * len(blocks) and not any(r[2] for r in out)
    return n / elapsed


def processes(blocks: list[bytes], repeat: int) -> dict[str, float]:
    """Whole-process seconds (medians) over the same blocks written to a file."""
    def timed(cmd: list[str], times: int, env: dict[str, str]) -> float:
        runs = []
        for _ in range(times):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
            runs.append(time.perf_counter() - t0)
        return statistics.median(runs)

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "blocks.txt"
        src.write_text("".join(b.hex() + "\n" for b in blocks))
        env = dict(os.environ, PYTHONPATH=str(ROOT), VM_CACHE_DIR=str(Path(tmp) / "cache"))
        vm = [sys.executable, "-m", "vmcli", "translate", "--from", "arm64", "--input-file", str(src),
              "--output", str(Path(tmp) / "o")]
        nodisk = dict(env, VM_TRANSLATE_NO_DISK_CACHE="1")
        return {"decode-only loop": timed([sys.executable, "-c", decode_only.script("arm64"), str(src)], repeat, env),
                "first run": timed(vm, 1, env),                    # fills the on-disk template cache
                "no disk cache": timed(vm, repeat, nodisk),
                "no disk cache, -j 2": timed([*vm, "-j", "2"], repeat, nodisk),
                "templates on disk": timed(vm, repeat, env)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--insns", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-processes", action="store_true", help="in-process figures only")
    args = ap.parse_args()
    blocks = workload(args.insns)
    from vmcli.translate import translate
    from vmcli.translate.a64_to_x86 import fast as fast_a64
    from vmcli.translate.core import cache

    fast_a64.translate_fast([(blocks[0], 0)])       # numba: load the cached kernels (or compile once)
    runs: dict[str, list[float]] = {"capstone decode-only": [], "cold": [], "warm": [], "hot": [],
                                    "fast cold": [], "fast warm": [], "fast hot": []}
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        count = decode_only.decode(blocks, "arm64")
        runs["capstone decode-only"].append(count / (time.perf_counter() - t0))
        runs["cold"].append(translate_rate(blocks, "all"))
        runs["warm"].append(translate_rate(blocks, "blocks"))
        # hot: the same blocks at the same addresses again
        cache.BLOCKS.capacity = max(cache.BLOCKS.capacity, 2 * len(blocks))
        for i, b in enumerate(blocks):
            translate(b, 0x1000 * i, "arm64")
        runs["hot"].append(translate_rate(blocks, "none"))
        runs["fast cold"].append(fast_rate(blocks, "all"))
        runs["fast warm"].append(fast_rate(blocks, "blocks"))
        fast_rate(blocks, "none")
        runs["fast hot"].append(fast_rate(blocks, "none"))
    base = statistics.median(runs["capstone decode-only"])
    result = {k: {"insns_per_s": statistics.median(v), "ratio": statistics.median(v) / base} for k, v in runs.items()}
    procs = {} if args.no_processes else processes(blocks, args.repeat)
    if args.json:
        print(json.dumps({"insns": len(blocks) * 16, "repeat": args.repeat, "results": result, "process_s": procs}))
        return
    print(f"{len(blocks) * 16} AArch64 instructions in blocks of 16, median of {args.repeat}")
    for k, r in result.items():
        print(f"  {k:22s} {r['insns_per_s']:>12,.0f} insn/s   x{r['ratio']:.2f} of capstone decode-only")
    if procs:
        print("whole processes (ratio: decode-only process time / this time)")
        for k, t in procs.items():
            print(f"  {k:22s} {t:8.2f} s   x{procs['decode-only loop'] / t:.2f}")


if __name__ == "__main__":
    main()
