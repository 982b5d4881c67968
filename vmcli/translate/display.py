"""Disassembly for display (capstone) and the register-access facts the JSON `state` needs."""

from __future__ import annotations

from functools import lru_cache

import capstone

_GPR = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"] + [f"r{i}" for i in range(8, 16)]
_ALIASES: dict[str, str] = {}
for _i, _n in enumerate(["a", "c", "d", "b"]):
    for _form in (f"{_n}l", f"{_n}h", f"{_n}x", f"e{_n}x", f"r{_n}x"):
        _ALIASES[_form] = _GPR[_i]
for _i, _n in enumerate(["sp", "bp", "si", "di"]):
    for _form in (_n, f"{_n}l", f"e{_n}", f"r{_n}"):
        _ALIASES[_form] = _GPR[4 + _i]
for _i in range(8, 16):
    for _suffix in ("", "d", "w", "b"):
        _ALIASES[f"r{_i}{_suffix}"] = f"r{_i}"
_ALIASES["rflags"] = "rflags"
for _i in range(16):
    _ALIASES[f"xmm{_i}"] = f"xmm{_i}"


@lru_cache(maxsize=1)
def _x86() -> capstone.Cs:
    return capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)


@lru_cache(maxsize=1)
def _x86_detail() -> capstone.Cs:
    cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    cs.detail = True
    return cs


@lru_cache(maxsize=1)
def _a64() -> capstone.Cs:
    return capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)


def disasm_source(code: bytes, address: int) -> tuple[bytes, str]:
    """(bytes, text) of the first x86-64 instruction, or (b"", "(bad)") when undecodable."""
    for _addr, size, mnemonic, op_str in _x86().disasm_lite(code[:15], address, 1):
        return bytes(code[:size]), f"{mnemonic} {op_str}".strip()
    return b"", "(bad)"


def disasm_target(raw: bytes, address: int) -> str:
    for _addr, _size, mnemonic, op_str in _a64().disasm_lite(raw, address, 1):
        return f"{mnemonic} {op_str}".strip()
    return "(bad)"


def x86_regs_accessed(code: bytes, address: int) -> set[str]:
    """Guest registers (64-bit names, xmm, rflags) that the instructions read or write."""
    names: set[str] = set()
    cs = _x86_detail()
    for insn in cs.disasm(code, address):
        read, written = insn.regs_access()
        for reg in list(read) + list(written):
            name = _ALIASES.get(insn.reg_name(reg))
            if name is not None:
                names.add(name)
    return names


# ---- rich views ---------------------------------------------------------------------------------

def _console():
    """A console as wide as the terminal, or 160 columns when writing to a file or pipe."""
    import sys

    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 160)


def render(tr) -> None:
    """Side by side: each source instruction next to the target instructions it became."""
    if tr.target_arch == "x86_64":
        from vmcli.translate.pipeline_a64 import render_x86

        return render_x86(tr)
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{tr.source_arch} -> {tr.target_arch} at {tr.address:#x}", show_lines=True,
                  title_justify="left")
    for col in ("address", "source bytes", "source", "target bytes", "target"):
        table.add_column(col, overflow="fold")
    offset = 0
    for si in tr.insns:
        if not si.supported:
            table.add_row(f"{si.address:#x}", si.raw.hex(), si.text, "",
                          Text(f"unsupported: {si.reason}", style="bold red"))
            continue
        tb, tt = [], []
        for word in si.target:
            raw = word.to_bytes(4, "little")
            tb.append(raw.hex())
            tt.append(disasm_target(raw, offset))
            offset += 4
        table.add_row(f"{si.address:#x}", si.raw.hex(), si.text, "\n".join(tb), "\n".join(tt))
    console = _console()
    console.print(table)
    state = ", ".join(f"{g}={loc['reg']}" for g, loc in tr.state.items())
    console.print(f"state: {state or '-'}; guest_base 0; env_reg none"
                  + (f"; exit address in {tr.exit_reg}" if tr.exit_reg else ""))
    console.print(f"{sum(s.supported for s in tr.insns)}/{len(tr.insns)} instructions -> "
                  f"{len(tr.code) // 4} AArch64 instructions ({len(tr.code)} bytes)")


def render_checks(checks) -> None:
    from rich.table import Table

    style = {"pass": "green", "fail": "bold red", "unsupported": "yellow", "skipped": "yellow"}
    from rich.markup import escape

    table = Table(title="differential check on Unicorn (source vs translation, same guest state)")
    for col in ("address", "instruction", "result", "runs", "detail"):
        table.add_column(col)
    for c in checks:
        table.add_row(f"{c.address:#x}", escape(c.text), f"[{style[c.status]}]{c.status}[/]", str(c.runs),
                      escape(c.detail))
    _console().print(table)


def render_forms(arch: str, forms) -> None:
    from rich.table import Table

    console = _console()
    if not forms:
        console.print(f"no verified forms from {arch} yet")
        return
    table = Table(title=f"{len(forms)} verified forms from {arch}")
    table.add_column("extension")
    table.add_column("form")
    for f in forms:
        table.add_row(f.extension, f.name)
    console.print(table)
