"""The plain `vm run` path stays free of observability costs: no per-instruction or per-block hook
outside vmcli/debug, and no numba import unless --trace, --stats or --max-insns ask for it."""

from __future__ import annotations

import re
import subprocess
import sys

from debug_helpers import IMAGES, ROOT


def test_no_code_or_block_hooks_outside_vmcli_debug() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "vmcli").rglob("*.py")
                 if "debug" not in p.relative_to(ROOT / "vmcli").parts
                 and re.search(r"UC_HOOK_(CODE|BLOCK)\b", p.read_text())]
    assert offenders == []


def test_plain_run_imports_neither_numba_nor_the_debug_package() -> None:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "vmcli", "run", str(IMAGES / "hello-arm64.elf")],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "Hello from arm64\n"
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert not any(name.split(".")[0] in ("numba", "llvmlite") or name.startswith("vmcli.debug") for name in imported)
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "vmcli", "run", str(IMAGES / "hello-arm64.elf"),
                           "--stats"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert "numba" in proc.stderr                    # the check above can fail
