"""Translation throughput of `vm translate` on ~1M SSE-heavy x86-64 instructions.

Baseline, measured in the same run: a Python loop that only decodes the same bytes with capstone
in detail mode. Reported: medians of --repeat runs and their ratios to the baseline, for
  - the translator in-process: cold (empty caches), warm (templates cached), hot (blocks cached),
  - whole processes: `vm translate --input-file F --output O` against a process running the
    decode-only loop over the same file: the first run (empty on-disk template cache), a run with
    the disk cache off, then -j 1 and -j 2 with the templates on disk.

The workload: blocks of 16 instructions drawn from a pool of random instances of the verified
forms (80% SSE..SSE4.1, 20% integer; random registers, addressing modes and immediates).

    python bench/translate_bench.py [--insns 1000000] [--repeat 3] [--json]
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
    from vmcli.translate.x86_to_a64.check import instance
    from vmcli.translate.x86_to_a64.forms import all_forms

    rng = random.Random(seed)
    forms = [f for f in all_forms() if not f.spec.mnemonic.startswith("j") and not f.rule.stack]
    sse = [f for f in forms if f.spec.is_sse]
    integer = [f for f in forms if not f.spec.is_sse]
    pool = [instance(rng.choice(sse) if rng.random() < 0.8 else rng.choice(integer), rng, 0)[0]
            for _ in range(min(100_000, insns))]
    return [b"".join(rng.choice(pool) for _ in range(16)) for _ in range(insns // 16)]


def timed(fn, repeat: int) -> tuple[float, object]:
    times = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--insns", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args()

    from vmcli.translate.core import cache
    from vmcli.translate.x86_to_a64 import fast

    t0 = time.perf_counter()
    blocks = workload(args.insns)
    n = 16 * len(blocks)
    print(f"workload: {n:,} instructions in {len(blocks):,} blocks (generated in {time.perf_counter() - t0:.1f} s)")

    t0 = time.perf_counter()
    fast.translate_fast([(blocks[0], 0)])   # load (or compile) numba's cached kernels
    print(f"numba kernels ready in {time.perf_counter() - t0:.2f} s (cache=True; first ever run compiles)")

    pairs = [(b, 0) for b in blocks]
    base, count = timed(lambda: decode_only.decode(blocks, "x86_64"), args.repeat)
    assert count == n, count

    def cold() -> object:
        cache.clear()
        fast._TRANSLATOR = None
        return fast.translate_fast(pairs)

    def warm() -> object:
        cache.BLOCKS.clear()
        return fast.translate_fast(pairs)

    t_cold, out = timed(cold, args.repeat)
    assert sum(r[1] for r in out) == n and not any(r[2] for r in out)   # type: ignore[union-attr]
    t_warm, _ = timed(warm, args.repeat)
    t_hot, _ = timed(lambda: fast.translate_fast(pairs), args.repeat)
    rates = {"capstone decode-only (detail)": n / base, "translate cold": n / t_cold,
             "translate warm": n / t_warm, "translate hot (block cache)": n / t_hot}
    hits = {level.name: f"{level.hit_rate:.1%}" for level in cache.LEVELS}

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "blocks.txt"
        src.write_text("".join(b.hex() + "\n" for b in blocks))
        env = dict(os.environ, PYTHONPATH=str(ROOT))

        env["VM_CACHE_DIR"] = str(Path(tmp) / "cache")   # start from an empty template cache

        def proc(cmd: list[str], repeat: int = args.repeat, **extra: str) -> float:
            e = dict(env, **extra)
            t, _ = timed(lambda: subprocess.run(cmd, check=True, env=e, stdout=subprocess.DEVNULL), repeat)
            return t

        p_decode = proc([sys.executable, "-c", decode_only.script("x86_64"), str(src)])
        vm = [sys.executable, "-m", "vmcli", "translate", "--input-file", str(src), "--output", str(Path(tmp) / "o")]
        p_first = proc(vm + ["-j", "1"], 1)            # fills the on-disk template cache
        p_nodisk = proc(vm + ["-j", "1"], 1, VM_TRANSLATE_NO_DISK_CACHE="1")
        p_j1 = proc(vm + ["-j", "1"])
        p_j2 = proc(vm + ["-j", "2"])

    print(f"\nin-process, median of {args.repeat} ({n:,} instructions):")
    print(f"  {'path':32} {'instructions/s':>15} {'x capstone':>11}")
    for name, rate in rates.items():
        print(f"  {name:32} {rate:15,.0f} {rate / rates['capstone decode-only (detail)']:10.2f}x")
    print(f"  cache hit rates after the runs: {hits}")
    print(f"\nwhole process, median of {args.repeat}:")
    print(f"  {'decode-only loop process':32} {p_decode:8.2f} s")
    print(f"  {'vm translate, first run':32} {p_first:8.2f} s   ({p_decode / p_first:.2f}x; empty template cache)")
    print(f"  {'vm translate, no disk cache':32} {p_nodisk:8.2f} s   ({p_decode / p_nodisk:.2f}x)")
    print(f"  {'vm translate -j 1':32} {p_j1:8.2f} s   ({p_decode / p_j1:.2f}x the decode-only process)")
    print(f"  {'vm translate -j 2':32} {p_j2:8.2f} s   ({p_decode / p_j2:.2f}x; -j 2 vs -j 1: {p_j1 / p_j2:.2f}x)")
    if args.json:
        print(json.dumps({"instructions": n, "rates": rates, "hit_rates": hits,
                          "process_s": {"decode_only": p_decode, "first": p_first, "no_disk_cache": p_nodisk,
                                        "j1": p_j1, "j2": p_j2}}))


if __name__ == "__main__":
    main()
