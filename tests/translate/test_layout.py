"""How the translator is built (docs/translator.md): modules import at their top, except the heavy
modules loaded only on the paths that need them. (The layers are import-linter's, in `make lint`.)"""

from __future__ import annotations

import ast
from pathlib import Path

import vmcli.commands.translate
import vmcli.translate

# modules a function may import when it first needs them: numba behind the fast paths, unicorn behind
# the verifier plug-ins, keystone for --asm, pyelftools for ELF images, rich for the tables, capstone
# for listings (the bulk path never disassembles)
LAZY = {"keystone", "capstone", "elftools.common.exceptions", "elftools.elf.elffile", "rich.console", "rich.markup",
        "rich.table", "rich.text",
        "vmcli.translate.x86_to_a64.fast", "vmcli.translate.x86_to_a64.check",
        "vmcli.translate.a64_to_x86.fast", "vmcli.translate.a64_to_x86.check"}


def _local_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    out = []
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    out += [(node.lineno, alias.name) for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    out += [(node.lineno, f"{node.module}.{alias.name}" if node.module in (
                        "vmcli.translate.x86_to_a64", "vmcli.translate.a64_to_x86") else str(node.module))
                            for alias in node.names]
    return out


def test_function_local_imports_only_for_heavy_modules() -> None:
    files = sorted(Path(vmcli.translate.__file__).parent.rglob("*.py")) + [Path(vmcli.commands.translate.__file__)]
    found = [f"{path}:{line}: {name}" for path in files for line, name in _local_imports(path) if name not in LAZY]
    assert not found, "\n".join(found)
