"""`vm translate` on real code: every unique basic block of Debian's libc and libm (both architectures).

For each library (tests/translate/libc.py cuts it into blocks with capstone, independently of the
translator, and writes them as `@ADDRESS HEX` lines):
  - coverage and expansion, from `vm translate --input-file F --output O --stats`: the share of
    source instructions translated and the host instructions per translated instruction;
  - speed, as whole processes over the same file, medians of --repeat: `vm translate --input-file F
    --output O` from an empty template cache (cold; its default --jobs 0, and with -j 1: one
    process) and with the templates on disk (warm), against a process that only decodes the same
    bytes with capstone in detail mode (bench/decode_only.py), all run in turn; ratio = translate
    time / decode-only time (below 1: faster than decoding);
  - with --table N: the N source mnemonics that cost the most host instructions (the Python path,
    which gives each source instruction its own target instructions), and the first unsupported
    instruction of the blocks that have one, by the instructions they leave untranslated.

    python bench/translate_libc_bench.py [--libs x86_64:libc,x86_64:libm,arm64:libc,arm64:libm]
                                         [--repeat 3] [--table 30] [--json]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import decode_only  # noqa: E402  (bench/, beside this file)
from translate import libc  # noqa: E402  (tests/translate/libc.py: the corpus)

DEFAULT_LIBS = "x86_64:libc,x86_64:libm,arm64:libc,arm64:libm"


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _median_times(decode: list[str], vm: list[str], env: dict[str, str], warm_env: dict[str, str], repeat: int,
                  fresh_cache: Path) -> tuple[float, float, float, float]:
    """Medians of the decode-only, cold, cold with -j 1 and warm processes, run in turn (decode,
    cold, cold -j 1, warm, decode ...) so that a change in the machine's load falls on all alike."""
    times: tuple[list[float], ...] = ([], [], [], [])
    for i in range(repeat):
        times[0].append(_timed(decode, env))
        times[1].append(_timed(vm, dict(env, VM_CACHE_DIR=str(fresh_cache / f"run{i}"))))  # an empty cache
        times[2].append(_timed(vm + ["-j", "1"], dict(env, VM_CACHE_DIR=str(fresh_cache / f"serial{i}"))))
        times[3].append(_timed(vm, warm_env))
    return (statistics.median(times[0]), statistics.median(times[1]), statistics.median(times[2]),
            statistics.median(times[3]))


def _stats(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    err = subprocess.run(cmd + ["--stats"], check=True, env=env, capture_output=True, text=True).stderr
    insns = re.search(r"instructions: (\d+) \((\d+) translated", err)
    host = re.search(r"host instructions: (\d+)", err)
    assert insns and host, err
    n, done, h = int(insns[1]), int(insns[2]), int(host[1])
    return {"instructions": n, "translated": done, "coverage": done / n, "host": h, "per_insn": h / done}


def _mnemonic(text: str) -> str:
    words = text.split()
    if not words:
        return "(bad)"
    return " ".join(words[:2]) if words[0] in ("lock", "rep", "repe", "repne", "bnd", "notrack") else words[0]


def _tables(arch: str, blocks: list[libc.Block]) -> dict[str, Any]:
    """Per source mnemonic: instructions and host instructions; per first unsupported mnemonic: blocks
    and instructions left untranslated (the Python path)."""
    from vmcli import translate as api

    cost: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    lost: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for code, address in blocks:
        tr = api.translate(code, address, arch)
        for si in tr.insns:
            if si.supported:
                entry = cost[_mnemonic(si.text)]
                entry[0] += 1
                entry[1] += len(si.target)
        if tr.unsupported:
            entry = lost[_mnemonic(tr.unsupported[0].text)]
            entry[0] += 1
            entry[1] += len(tr.unsupported)
    return {"cost": dict(cost), "lost": dict(lost)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--libs", default=DEFAULT_LIBS, help="arch:library pairs")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--table", type=int, default=0, help="rows of the per-mnemonic tables (0: none)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("VM_TRANSLATE_NO_DISK_CACHE", None)
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        for pair in args.libs.split(","):
            arch, name = pair.split(":")
            try:
                blocks = libc.blocks(arch, name)
            except libc.Unavailable as exc:
                print(f"{arch} {name}: skipped ({exc})")
                continue
            src = tmpdir / f"{arch}-{name}.txt"
            libc.write_input_file(src, blocks)
            out = tmpdir / "out.bin"
            vm = [sys.executable, "-m", "vmcli", "translate", "--from", arch, "--input-file", str(src),
                  "--output", str(out)]
            subprocess.run(vm[:-4] + ["--hex", "90" if arch == "x86_64" else "1f2003d5", "--output", str(out)],
                           check=True, env=env, stdout=subprocess.DEVNULL)   # numba's compiled kernels ready
            warm_env = dict(env, VM_CACHE_DIR=str(tmpdir / f"warm-{arch}-{name}"))
            subprocess.run(vm, check=True, env=warm_env, stdout=subprocess.DEVNULL)    # templates to disk
            decoder = [sys.executable, "-c", decode_only.script(arch), str(src)]
            decode, cold, serial, warm = _median_times(decoder, vm, env, warm_env, args.repeat,
                                                       tmpdir / f"cold-{arch}-{name}")
            stats = _stats(vm, dict(env, VM_CACHE_DIR=str(tmpdir / f"stats-{arch}-{name}")))
            row: dict[str, Any] = {"blocks": len(blocks), **stats, "decode_s": decode, "cold_s": cold,
                                   "serial_s": serial, "warm_s": warm, "cold_ratio": cold / decode,
                                   "serial_ratio": serial / decode, "warm_ratio": warm / decode}
            if args.table:
                row.update(_tables(arch, blocks))
            figures[f"{arch} {name}"] = row

    print(f"every unique basic block, `vm translate --input-file F --output O`; medians of {args.repeat}\n")
    print("| library | blocks | instructions | translated | host insns per translated insn "
          "| decode-only process | translate, cold | ratio | cold, -j 1 | ratio | translate, warm | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for lib, r in figures.items():
        print(f"| {lib} | {r['blocks']:,} | {r['instructions']:,} | {100 * r['coverage']:.2f}% | {r['per_insn']:.2f} "
              f"| {r['decode_s']:.2f} s | {r['cold_s']:.2f} s | {r['cold_ratio']:.2f}x | {r['serial_s']:.2f} s "
              f"| {r['serial_ratio']:.2f}x | {r['warm_s']:.2f} s | {r['warm_ratio']:.2f}x |")
    for lib, r in figures.items():
        if "cost" not in r:
            continue
        print(f"\n{lib}: host instructions per source mnemonic (the {args.table} costing most in all)\n")
        print("| mnemonic | instructions | host instructions | per instruction |")
        print("|---|---:|---:|---:|")
        for m, (n, h) in sorted(r["cost"].items(), key=lambda kv: -kv[1][1])[:args.table]:
            print(f"| `{m}` | {n:,} | {h:,} | {h / n:.2f} |")
        print(f"\n{lib}: first unsupported instruction of a block, by instructions left untranslated\n")
        print("| mnemonic | blocks | instructions left |")
        print("|---|---:|---:|")
        for m, (b, n) in sorted(r["lost"].items(), key=lambda kv: -kv[1][1])[:args.table]:
            print(f"| `{m}` | {b:,} | {n:,} |")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
