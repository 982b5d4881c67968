"""The x86_64 board against the real CPU: this host is x86-64, so the same C source is built twice,
once as a pc-flat guest (Debian's cross gcc, freestanding, as docs/guest-images.md builds guests)
and once as a host program (the host's gcc, its board header swapped for one on stdio), and both must
print the same and exit the same: `vm run` on Unicorn against the machine itself.

The program exercises what compiled code leans on: 64-bit and 128-bit multiplication, signed and
unsigned division by values only known at run time, shifts and rotates of every width, bit counts,
byte swaps, sign and zero extension, carries, comparisons feeding selects, and the bench image's
CRC loop."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from toolcheck import require_tool

ROOT = Path(__file__).resolve().parents[2]
GUEST = ROOT / "guest-images"

PROGRAM = r"""
#include "guest.h"

static uint64_t state = 0x243f6a8885a308d3u;

static uint64_t next(void)      /* splitmix64: values across the whole 64-bit range */
{
    uint64_t z = (state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t hash;
static void mix(uint64_t v) { hash = (hash ^ v) * 0x100000001b3u; hash ^= hash >> 29; }

static void report(const char *name)
{
    print(name);
    print(" ");
    print_hex(hash, 16);
    print("\n");
    hash = 0;
}

static volatile uint64_t sink;  /* keeps divisors opaque to the compiler */

int main(void)
{
    for (int i = 0; i < 2000; i++) {
        uint64_t a = next(), b = next();
        unsigned __int128 p = (unsigned __int128)a * b;
        __int128 sp = (__int128)(int64_t)a * (int64_t)b;
        mix(a * b); mix((uint64_t)(p >> 64)); mix((uint64_t)(sp >> 64)); mix((uint32_t)a * (uint32_t)b);
        mix((uint64_t)((int64_t)(int32_t)a * (int64_t)(int32_t)b));
    }
    report("mul");
    for (int i = 0; i < 2000; i++) {
        uint64_t a = next(), b = next() >> (next() & 63);
        sink = b ? b : 1;
        uint64_t d = sink;
        int64_t sa = (int64_t)a, sd = (int64_t)d;
        mix(a / d); mix(a % d);
        if (!(sa == INT64_MIN && sd == -1)) { mix((uint64_t)(sa / sd)); mix((uint64_t)(sa % sd)); }
        uint32_t a32 = (uint32_t)a, d32 = (uint32_t)d ? (uint32_t)d : 7;
        mix(a32 / d32); mix(a32 % d32);
        int32_t s32 = (int32_t)a32, t32 = (int32_t)d32;
        if (!(s32 == INT32_MIN && t32 == -1)) { mix((uint32_t)(s32 / t32)); mix((uint32_t)(s32 % t32)); }
        unsigned __int128 n = ((unsigned __int128)(a >> 1) << 64) | next();
        mix((uint64_t)(n / d)); mix((uint64_t)(n % d));
    }
    report("div");
    for (int i = 0; i < 2000; i++) {
        uint64_t a = next();
        unsigned s = (unsigned)(next() & 63), s32 = s & 31, s16 = s & 15, s8 = s & 7;
        mix(a << s); mix(a >> s); mix((uint64_t)((int64_t)a >> s));
        mix((a << s) | (a >> ((64 - s) & 63))); mix((a >> s) | (a << ((64 - s) & 63)));
        uint32_t w = (uint32_t)a;
        mix(w << s32); mix(w >> s32); mix((uint32_t)((int32_t)w >> s32)); mix((w << s32) | (w >> ((32 - s32) & 31)));
        uint16_t h = (uint16_t)a;
        mix((uint16_t)(h << s16)); mix((uint16_t)((h >> s16) | (h << ((16 - s16) & 15))));
        uint8_t c = (uint8_t)a;
        mix((uint8_t)(c << s8)); mix((uint8_t)((int8_t)c >> s8));
    }
    report("shift");
    for (int i = 0; i < 2000; i++) {
        uint64_t a = next() >> (next() & 63);
        mix((uint64_t)__builtin_popcountll(a)); mix(__builtin_bswap64(a)); mix(__builtin_bswap32((uint32_t)a));
        mix(__builtin_bswap16((uint16_t)a));
        if (a) { mix((uint64_t)__builtin_clzll(a)); mix((uint64_t)__builtin_ctzll(a)); }
        mix((uint64_t)(int64_t)(int8_t)a); mix((uint64_t)(int64_t)(int16_t)a); mix((uint64_t)(int64_t)(int32_t)a);
        mix((uint8_t)a); mix((uint16_t)a); mix((uint32_t)a);
    }
    report("bits");
    for (int i = 0; i < 2000; i++) {
        uint64_t a = next(), b = next(), c = next();
        unsigned __int128 s = (unsigned __int128)a + b + (c & 1);
        mix((uint64_t)s); mix((uint64_t)(s >> 64));
        unsigned __int128 t = (((unsigned __int128)a << 64) | b) - (((unsigned __int128)b << 64) | c);
        mix((uint64_t)t); mix((uint64_t)(t >> 64));
        int64_t x = (int64_t)a, y = (int64_t)b;
        mix(x < y); mix(a < b); mix(x <= y ? a : c); mix(a > b ? b : c); mix((uint32_t)a < (uint32_t)b);
        mix((int32_t)a < (int32_t)b ? (uint64_t)x : (uint64_t)y);
        mix((uint64_t)(x > 0) - (uint64_t)(x < 0));
        uint64_t r;
        mix(__builtin_add_overflow(x, y, (int64_t *)&r)); mix(r);
        mix(__builtin_mul_overflow(x, y, (int64_t *)&r)); mix(r);
        mix(__builtin_sub_overflow(a, b, &r)); mix(r);
    }
    report("carry");
    return (int)(next() & 0x3f) + 3;
}
"""

HOST_BOARD = r"""
/* The host stand-in for x86_64-pc-flat.h: the console is stdio. */
#ifndef X86_64_PC_FLAT_H
#define X86_64_PC_FLAT_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#define BOARD_ARCH "x86_64"
static inline void uart_putc(char c) { putchar(c); }
static inline int uart_try_getc(void) { return -1; }
static inline int uart_getc(void) { return getchar(); }
static inline void board_exit(int status) { fflush(stdout); exit(status); }
#endif
"""

GUEST_FLAGS = ["-O2", "-ffreestanding", "-nostdlib", "-static", "-no-pie", "-mgeneral-regs-only", "-mno-red-zone"]


def build_both(source: str, tmp_path: Path, defines: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """(the pc-flat guest, the host program) built from `source`."""
    require_tool("x86_64-linux-gnu-gcc", "gcc")
    (tmp_path / "prog.c").write_text(source)
    guest = tmp_path / "guest.elf"
    subprocess.run(["x86_64-linux-gnu-gcc", *GUEST_FLAGS, *defines, f"-I{GUEST / 'include'}", "-T",
                    str(GUEST / "arch" / "x86_64" / "image.ld"), str(GUEST / "arch" / "x86_64" / "start.S"),
                    str(GUEST / "src" / "crt.c"), str(tmp_path / "prog.c"), "-lgcc", "-o", str(guest)],
                   check=True, capture_output=True)
    host_include = tmp_path / "host-include"
    host_include.mkdir()
    shutil.copy(GUEST / "include" / "guest.h", host_include)          # its board include finds the stand-in
    (host_include / "x86_64-pc-flat.h").write_text(HOST_BOARD)
    host = tmp_path / "host"
    subprocess.run(["gcc", "-O2", *defines, f"-I{host_include}", str(tmp_path / "prog.c"), "-o", str(host)],
                   check=True, capture_output=True)
    return guest, host


def both_runs(guest: Path, host: Path) -> tuple[tuple[bytes, int], tuple[bytes, int]]:
    native = subprocess.run([str(host)], capture_output=True, timeout=120, check=False)
    vm = subprocess.run([sys.executable, "-m", "vmcli", "run", str(guest)], capture_output=True, timeout=300,
                        check=False, cwd=ROOT)
    assert vm.stderr == b"", vm.stderr
    return (vm.stdout, vm.returncode), (native.stdout, native.returncode)


def test_integer_semantics_match_the_host_cpu(tmp_path: Path) -> None:
    guest, host = build_both(PROGRAM, tmp_path)
    vm, native = both_runs(guest, host)
    assert vm == native
    assert native[0].count(b"\n") == 5 and native[1] >= 3      # five reports, then its own status


@pytest.mark.parametrize("rounds", [1, 37])
def test_bench_source_matches_the_host_cpu(tmp_path: Path, rounds: int) -> None:
    guest, host = build_both((GUEST / "src" / "bench.c").read_text(), tmp_path, (f"-DBENCH_ROUNDS={rounds}u",))
    vm, native = both_runs(guest, host)
    assert vm == native and native[0].startswith(f"bench: rounds={rounds} ".encode())
