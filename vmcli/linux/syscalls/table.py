"""The system call table of docs/linux-user.md, generated from the handlers and the per-arch number
tables: `python -m vmcli.linux.syscalls.table` prints it (a test keeps the docs equal to it)."""

from __future__ import annotations

from vmcli.linux.syscalls import HANDLERS, load_all
from vmcli.linux.syscalls.numbers import NUMBERS

ARCHES = ("arm64", "riscv64", "x86_64")


def markdown() -> str:
    load_all()
    names = sorted({name for table in NUMBERS.values() for name in table.values()})
    by_arch = {arch: {name: nr for nr, name in NUMBERS[arch].items()} for arch in ARCHES}
    done = sum(1 for n in names if n in HANDLERS)
    lines = [f"{done} of the {len(names)} system calls these arches define are implemented; every other "
             "number returns -ENOSYS (and is counted by `--stats`).", "",
             "| system call | arm64 | riscv64 | x86_64 | vm |", "|---|---|---|---|---|"]
    for name in names:
        numbers = [str(by_arch[a][name]) if name in by_arch[a] else "" for a in ARCHES]
        lines.append(f"| {name} | {' | '.join(numbers)} | {'yes' if name in HANDLERS else 'ENOSYS'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
