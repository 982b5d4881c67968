"""Compiled AArch64 functions (aarch64-linux-gnu-gcc -O2/-O3) run to completion through translated
blocks: each block is translated at its guest address, run on Unicorn x86-64, and its exit address
picks the next block, until the function returns. The results must equal the C semantics."""

from __future__ import annotations

import json
import random
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from toolcheck import require_tool

from vmcli.cli import vm
from vmcli.translate import Stop, translate
from vmcli.translate.a64_to_x86.check import X86Target, random_state
from vmcli.translate.inputs import read_image
from vmcli.translate.verify.state import DATA, GuestState

SOURCE = r"""
long mix(long a, long b) {
    long s = 0;
    for (int i = 0; i < 5; i++) { s += a * b + (a ^ (b >> i)); a = (a << 3) | (b & 7); }
    return s;
}
int divs(int x, int y) { return x > y ? x / (y | 1) - y % 7 : (int)((unsigned)y / ((unsigned)x | 1)); }
long sum(const int *p, long n) { long s = 0; for (long i = 0; i < n; i++) s += p[i]; return s; }
void scale(float *d, const float *s, float k, long n) { for (long i = 0; i < n; i++) d[i] = s[i] * k + 1.0f; }
unsigned long bits(unsigned long x) { return __builtin_clzl(x | 1) + __builtin_bswap64(x) * 3; }
unsigned char clampsum(const unsigned char *a, const unsigned char *b, unsigned char *o, int n) {
    unsigned char m = 0;
    for (int i = 0; i < n; i++) { int v = a[i] + b[i]; o[i] = v > 255 ? 255 : v; m = o[i] > m ? o[i] : m; }
    return m;
}
"""
BASE = 0x400000
SENTINEL = 0x7770000
M64 = (1 << 64) - 1


@pytest.fixture(scope="module", params=["-O2", "-O3"])
def compiled(request, tmp_path_factory) -> Path:
    require_tool("aarch64-linux-gnu-gcc")
    d = tmp_path_factory.mktemp("a64")
    (d / "fns.c").write_text(SOURCE)
    obj = d / "fns.o"
    subprocess.run(["aarch64-linux-gnu-gcc", request.param, "-c", "-ffp-contract=off", "-fno-stack-protector",
                    "-fno-asynchronous-unwind-tables", "-o", str(obj), str(d / "fns.c")], check=True)
    return obj


def call(obj: Path, name: str, args: dict[str, int], memory: bytes = b"") -> GuestState:
    block = read_image(str(obj), None, None, name, "arm64")
    code = block.code
    rng = random.Random(name)
    st = random_state(rng, {**args, "x30": SENTINEL, "sp": DATA + 0x1F0})
    st = GuestState(st.regs, memory + st.memory[len(memory):])
    host = X86Target()
    pc = BASE
    for _ in range(20000):
        if pc == SENTINEL:
            return st
        tr = translate(code[pc - BASE:], pc, "arm64")
        bad = [u for u in tr.unsupported if u.stop is not Stop.AFTER_EXIT]
        assert not bad, f"{name}: {bad[0].text} ({bad[0].reason})"
        got = host.run(tr.code, st, rng)
        assert not isinstance(got, str), got
        regs, mem, exit_address = got
        st = GuestState(regs, mem)
        pc = exit_address if tr.exit_reg else pc + 4 * len(tr.insns)
    raise AssertionError("did not return")


def _c_long(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


def test_integer_loops_and_division(compiled: Path) -> None:
    rng = random.Random(1)
    for _ in range(20):
        a, b = rng.getrandbits(64), rng.getrandbits(64)
        s, aa = 0, _c_long(a)
        bb = _c_long(b)
        for i in range(5):
            s = _c_long(s + aa * bb + (aa ^ (bb >> i)))
            aa = _c_long((aa << 3) | (bb & 7))
        assert call(compiled, "mix", {"x0": a, "x1": b}).regs["x0"] == s & M64
        x, y = rng.choice([0, 1, -1, 7, -(1 << 31), rng.getrandbits(31)]), rng.getrandbits(32)
        xs, ys = _c_long(x) & 0xFFFFFFFF, y
        xi, yi = (xs ^ 0x80000000) - 0x80000000, (ys ^ 0x80000000) - 0x80000000
        want = _trunc_div(xi, yi | 1) - _c_rem(yi, 7) if xi > yi else ys // (xs | 1)
        got = call(compiled, "divs", {"x0": xs, "x1": ys}).regs["x0"]
        assert got == want & 0xFFFFFFFF, (xi, yi)
        v = rng.getrandbits(64)
        want_bits = (64 - (v | 1).bit_length() + int.from_bytes(v.to_bytes(8, "little"), "big") * 3) & M64
        assert call(compiled, "bits", {"x0": v}).regs["x0"] == want_bits


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    q = q if (a >= 0) == (b >= 0) else -q
    return ((q + (1 << 31)) % (1 << 32)) - (1 << 31)


def _c_rem(a: int, b: int) -> int:
    return a - b * _trunc_div(a, b)


def test_vectorized_array_loops(compiled: Path) -> None:
    rng = random.Random(2)
    for n in (0, 1, 3, 4, 7, 16, 33):
        ints = [rng.randrange(-(1 << 31), 1 << 31) for _ in range(n)]
        mem = struct.pack(f"<{n}i", *ints)
        assert call(compiled, "sum", {"x0": DATA, "x1": n}, mem).regs["x0"] == sum(ints) & M64
    for n in (1, 5, 8, 13, 24):
        src = np.array([rng.uniform(-100, 100) for _ in range(n)], np.float32)
        k = np.float32(rng.uniform(-3, 3))
        st = call(compiled, "scale", {"x0": DATA + 0x100, "x1": DATA, "v0": int(k.view(np.uint32)), "x2": n},
                  src.tobytes())
        got = np.frombuffer(st.memory[0x100:0x100 + 4 * n], np.float32)
        assert (got.view(np.uint32) == (src * k + np.float32(1.0)).view(np.uint32)).all()
    for n in (3, 16, 40):
        a = bytes(rng.getrandbits(8) for _ in range(n))
        b = bytes(rng.getrandbits(8) for _ in range(n))
        st = call(compiled, "clampsum", {"x0": DATA, "x1": DATA + 0x40, "x2": DATA + 0x80, "x3": n},
                  a + bytes(0x40 - n) + b)
        out = [min(255, x + y) for x, y in zip(a, b, strict=True)]
        assert st.memory[0x80:0x80 + n] == bytes(out) and st.regs["x0"] == max(out)


def test_image_symbol_is_cut_into_blocks_and_verified(compiled: Path) -> None:
    result = CliRunner().invoke(vm, ["translate", "--from", "arm64", "--image", str(compiled), "--symbol", "divs",
                                     "--verify", "--states", "50", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in result.stdout.splitlines()]
    assert rows and all(r["status"] == "pass" for r in rows), [r for r in rows if r["status"] != "pass"]
    assert rows[-1]["text"] == "ret"
