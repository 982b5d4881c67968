"""Code compiled by Debian's gcc (both architectures) through `vm translate`: x86-64 ELF symbols
cut into blocks and verified, and AArch64 functions and the cross toolchain's glibc .text giving the
same bytes on the numba path as on the Python path."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from elftools.elf.elffile import ELFFile
from toolcheck import IN_CI, require_tool

from translate.helpers import FULL
from vmcli.cli import vm
from vmcli.translate.a64_to_x86 import fast as fast_a64
from vmcli.translate.a64_to_x86.frontend import split_blocks
from vmcli.translate.a64_to_x86.frontend import translate as translate_a64
from vmcli.translate.core import cache
from vmcli.translate.inputs import read_image


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(vm, ["translate", *args])
    return result.exit_code, result.stdout, result.stderr


def test_x86_image_elf_symbols_compiled_by_gcc(tmp_path: Path) -> None:
    require_tool("gcc")
    c = tmp_path / "f.c"
    c.write_text("#include <smmintrin.h>\n"
                 "long f(long a, long b) { return a * b + (a ^ b); }\n"
                 "float dot(const float *a, const float *b, int n) {\n"
                 "  __m128 s = _mm_setzero_ps();\n"
                 "  for (int i = 0; i + 4 <= n; i += 4)\n"
                 "    s = _mm_add_ps(s, _mm_mul_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i)));\n"
                 "  s = _mm_hadd_ps(s, s); s = _mm_hadd_ps(s, s);\n"
                 "  return _mm_cvtss_f32(s);\n"
                 "}\n")
    elf = tmp_path / "f.o"
    subprocess.run(["gcc", "-O2", "-msse4.1", "-c", "-fno-asynchronous-unwind-tables", "-o", str(elf), str(c)],
                   check=True)
    code, out, _ = run("--image", str(elf), "--symbol", "f", "--json")
    objs = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and objs[-1]["source"][-1]["text"] == "ret"
    assert not any(o["unsupported"] for o in objs) and objs[-1]["exit_reg"] == "x18"
    # a compiled SSE loop: cut into blocks at its branches, every instruction translated and verified
    code, out, _ = run("--image", str(elf), "--symbol", "dot", "--verify", "--states", "40", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) > 10 and {r["status"] for r in rows} == {"pass"}
    assert any(r["text"].startswith("haddps") for r in rows) and any(r["text"] == "ret" for r in rows)


GCC_SOURCE = r"""
long walk(const long *p, long n, long k) {
    long s = 0;
    for (long i = 0; i < n; i++) { s += p[i] * k; if (s > 1000) s -= p[i] >> 2; else s ^= i; }
    return s;
}
void saxpy(float *y, const float *x, float a, int n) { for (int i = 0; i < n; i++) y[i] += a * x[i]; }
int pick(int a, int b, int c) { return a > b ? (b > c ? b : c) : (a > c ? a : c) / (b | 1); }
"""


@pytest.mark.parametrize("opt", ["-O2", "-O3"])
def test_arm64_compiled_code_same_bytes_on_both_paths(opt: str, tmp_path: Path) -> None:
    """gcc's code: a block from each instruction of each function to its next branch, and the
    function's rest, at its own address and at low addresses where backward branches go below 0."""
    require_tool("aarch64-linux-gnu-gcc")
    (tmp_path / "f.c").write_text(GCC_SOURCE)
    obj = tmp_path / "f.o"
    subprocess.run(["aarch64-linux-gnu-gcc", opt, "-c", "-fno-asynchronous-unwind-tables", "-o", str(obj),
                    str(tmp_path / "f.c")], check=True)
    blocks = []
    for name in ("walk", "saxpy", "pick"):
        fn = read_image(str(obj), None, None, name, "arm64")
        for start in range(0, len(fn.code), 4):
            for base in (fn.address + 0x40_0000, 0, 0xFFFF_FFF0):
                blocks.append(split_blocks(fn.code[start:], base + start)[0])
                blocks.append((fn.code[start:], base + start))
    cache.clear()
    fast_a64.reset()
    got = fast_a64.translate_fast(blocks)
    assert fast_a64._TRANSLATOR is not None and fast_a64._TRANSLATOR.fallbacks == 0
    for (code, address), (x86, n, unsupported) in zip(blocks, got, strict=True):
        tr = translate_a64(code, address)
        assert bytes(x86) == tr.code and n == len(tr.insns) and unsupported == len(tr.unsupported), hex(address)


def test_arm64_glibc_text_same_bytes_on_both_paths() -> None:
    """The cross toolchain's glibc .text, cut into blocks at its branches (every 8th block; all of
    them with VM_TRANSLATE_FULL=1): real code at its own addresses, unsupported words included."""
    require_tool("aarch64-linux-gnu-gcc")
    path = subprocess.run(["aarch64-linux-gnu-gcc", "-print-file-name=libc.so.6"], capture_output=True, text=True,
                          check=True).stdout.strip()
    if not Path(path).is_file():
        reason = f"no AArch64 glibc next to aarch64-linux-gnu-gcc ({path}; Debian libc6-arm64-cross)"
        (pytest.fail if IN_CI else pytest.skip)(reason)
    with open(path, "rb") as fh:
        text = ELFFile(fh).get_section_by_name(".text")
        blocks = split_blocks(text.data(), text["sh_addr"])[:: 1 if FULL else 8]
    cache.clear()
    fast_a64.reset()
    got = fast_a64.translate_fast(blocks)
    for (code, address), (x86, n, unsupported) in zip(blocks, got, strict=True):
        tr = translate_a64(code, address)
        assert bytes(x86) == tr.code and n == len(tr.insns) and unsupported == len(tr.unsupported), hex(address)
    assert fast_a64._TRANSLATOR is not None and fast_a64._TRANSLATOR.fallbacks == 0
