"""Debian's libc and libm as a corpus of real code: every unique basic block of their .text.

x86-64: the host's own (/lib/x86_64-linux-gnu). AArch64: `apt-get download libc6:arm64` (dpkg must
know the arm64 architecture: `dpkg --add-architecture arm64 && apt-get update`, which .ci/run does),
unpacked with `dpkg-deb -x` into vm's cache folder (translate/debian/), never installed. Blocks are
cut with capstone, independently of the translator: after every jump, call, return, branch,
system call and trap; a block whose bytes were seen before is left out (the first address is kept).

Used by tests/translate/test_libc.py and bench/translate_libc_bench.py.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import capstone
from elftools.elf.elffile import ELFFile

from vmcli.cachedir import cache_root

LIBS = ("libc", "libm")
HOST_DIR = {"x86_64": Path("/lib/x86_64-linux-gnu")}
MULTIARCH = {"x86_64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}
MODES = {"x86_64": (capstone.CS_ARCH_X86, capstone.CS_MODE_64),
         "arm64": (capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)}
ENDS = {capstone.CS_GRP_JUMP, capstone.CS_GRP_CALL, capstone.CS_GRP_RET, capstone.CS_GRP_BRANCH_RELATIVE,
        capstone.CS_GRP_INT}
# AArch64's permanently undefined instruction traps as svc and brk do (the translator ends a block
# there too), but capstone gives it no group; `udf #0` is also the zero padding between functions
TRAPS = {"udf"}

Block = tuple[bytes, int]


class Unavailable(Exception):
    """The library cannot be had here (no network, no arm64 in dpkg's architectures ...)."""


def _fetch(arch: str) -> Path:
    """Debian's libc6 for `arch`, unpacked into the cache folder (once)."""
    dest = cache_root() / "translate" / "debian" / f"libc6-{arch}"
    if (dest / "lib" / MULTIARCH[arch] / "libc.so.6").is_file():
        return dest
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise Unavailable("needs apt-get and dpkg-deb (Debian)")
    with tempfile.TemporaryDirectory() as tmp:
        got = subprocess.run(["apt-get", "download", f"libc6:{arch}"], cwd=tmp, capture_output=True, text=True)
        debs = list(Path(tmp).glob("*.deb"))
        if got.returncode or not debs:
            last = (got.stderr.strip().splitlines() or ["no package"])[-1]
            raise Unavailable(f"apt-get download libc6:{arch} failed: {last}")
        unpacked = Path(tmp) / "root"
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(unpacked)], check=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(dest, ignore_errors=True)
        shutil.move(str(unpacked), dest)
    return dest


def library(arch: str, name: str = "libc") -> Path:
    """The path of Debian's `name`.so.6 for `arch` (fetched when it is not the host's)."""
    root = HOST_DIR.get(arch) or _fetch(arch) / "lib" / MULTIARCH[arch]
    path = root / f"{name}.so.6"
    if not path.is_file():
        raise Unavailable(f"no {path}")
    return path


@cache
def blocks(arch: str, name: str = "libc") -> list[Block]:
    """Every unique basic block of the library's .text, in address order."""
    with open(library(arch, name), "rb") as fh:
        text = ELFFile(fh).get_section_by_name(".text")
        code, address = text.data(), text["sh_addr"]
    cs = capstone.Cs(*MODES[arch])
    cs.detail = True
    cs.skipdata = True
    seen: set[bytes] = set()
    out: list[Block] = []
    start = 0
    for insn in cs.disasm(code, address):
        end = insn.address - address + insn.size
        if insn.id and (ENDS & set(insn.groups) or insn.mnemonic in TRAPS):
            body = code[start:end]
            if body not in seen:
                seen.add(body)
                out.append((body, address + start))
            start = end
    return out


def sample(arch: str, count: int, name: str = "libc", seed: int = 13) -> list[Block]:
    """`count` blocks drawn at random (the same ones for the same seed), in address order."""
    every = blocks(arch, name)
    return sorted(random.Random(seed).sample(every, min(count, len(every))), key=lambda b: b[1])


def write_input_file(path: Path, chosen: list[Block]) -> None:
    """The blocks as `vm translate --input-file` reads them: `@ADDRESS HEX`, one per line."""
    path.write_text("".join(f"@{address:#x} {code.hex()}\n" for code, address in chosen))
