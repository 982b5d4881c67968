"""Translation throughput of `vm translate --from arm64` (AArch64 -> x86-64), in-process.

Baseline, measured in the same run: a Python loop that only decodes the same words with capstone
in detail mode. Reported: medians of --repeat runs and their ratios to the baseline, for the
Python pipeline (pipeline_a64, one block at a time) and for the numba path (fast_a64, all blocks
in one call, as `vm translate --from arm64 --input-file ... --output ...` runs it):
  - cold: empty caches (every instruction decoded and its x86 code built by its rule),
  - warm: instruction code cached (level 2), blocks not,
  - hot: whole blocks cached (level 3).

The workload: blocks of 16 instructions drawn from a pool of random instances of the verified
forms (branches left out, so blocks run to 16 instructions).

    python bench/translate_a64_bench.py [--insns 200000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def workload(insns: int, seed: int = 1) -> list[bytes]:
    from vmcli.translate.pipeline_a64 import a64_forms
    from vmcli.translate.verify_a64 import instance

    rng = random.Random(seed)
    forms = [f for f in a64_forms() if f.enc.group != "branch"]
    pool = [instance(rng.choice(forms), rng)[0].to_bytes(4, "little") for _ in range(4096)]
    return [b"".join(rng.choice(pool) for _ in range(16)) for _ in range(insns // 16)]


def capstone_decode(blocks: list[bytes]) -> float:
    import capstone

    cs = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    cs.detail = True
    t0 = time.perf_counter()
    n = 0
    for b in blocks:
        for _ in cs.disasm(b, 0):
            n += 1
    return n / (time.perf_counter() - t0)


def translate_rate(blocks: list[bytes], clear: str) -> float:
    from vmcli.translate import cache
    from vmcli.translate.pipeline import translate

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
    from vmcli.translate import cache, fast_a64

    if clear == "all":
        cache.clear()
        fast_a64.reset()
    elif clear == "blocks":
        cache.BLOCKS.clear()
    batch = [(b, 0x1000 * i) for i, b in enumerate(blocks)]
    t0 = time.perf_counter()
    n = sum(r[1] for r in fast_a64.translate_fast(batch))
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--insns", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    blocks = workload(args.insns)
    runs: dict[str, list[float]] = {"capstone decode-only": [], "cold": [], "warm": [], "hot": [],
                                    "fast cold": [], "fast warm": [], "fast hot": []}
    from vmcli.translate import fast_a64

    fast_a64.translate_fast([(blocks[0], 0)])       # numba: load the cached kernels (or compile once)
    for _ in range(args.repeat):
        runs["capstone decode-only"].append(capstone_decode(blocks))
        runs["cold"].append(translate_rate(blocks, "all"))
        runs["warm"].append(translate_rate(blocks, "blocks"))
        # hot: the same blocks at the same addresses again
        from vmcli.translate import cache
        from vmcli.translate.pipeline import translate

        cache.BLOCKS.capacity = max(cache.BLOCKS.capacity, len(blocks))
        for i, b in enumerate(blocks):
            translate(b, 0x1000 * i, "arm64")
        runs["hot"].append(translate_rate(blocks, "none"))
        runs["fast cold"].append(fast_rate(blocks, "all"))
        runs["fast warm"].append(fast_rate(blocks, "blocks"))
        fast_rate(blocks, "none")
        runs["fast hot"].append(fast_rate(blocks, "none"))
    base = statistics.median(runs["capstone decode-only"])
    result = {k: {"insns_per_s": statistics.median(v), "ratio": statistics.median(v) / base} for k, v in runs.items()}
    if args.json:
        print(json.dumps({"insns": len(blocks) * 16, "repeat": args.repeat, "results": result}))
        return
    print(f"{len(blocks) * 16} AArch64 instructions in blocks of 16, median of {args.repeat}")
    for k, r in result.items():
        print(f"  {k:22s} {r['insns_per_s']:>12,.0f} insn/s   x{r['ratio']:.2f} of capstone decode-only")


if __name__ == "__main__":
    main()
