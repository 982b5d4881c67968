"""Deliberate one-line bugs, each of which some test must catch: a check that the tests test.

    .venv/bin/python tests/mutants.py            # every mutant
    .venv/bin/python tests/mutants.py pl011-txfe # some of them, by name

Each mutant is applied to a fresh copy of the tree (never to this one), and the tests named for it
run there; a mutant the tests do not kill is listed as surviving and the script exits 1. Add a mutant
when a class of bug has slipped past the tests once.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str           # file to change, relative to the tree
    old: str            # text that must be there exactly once
    new: str
    tests: tuple[str, ...]


MUTANTS = [
    Mutant("sandbox-beneath", "vmcli/hostfs.py", "RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)", "RESOLVE_NO_MAGICLINKS)",
           ("tests/test_hostfs.py", "tests/machine/test_semihosting.py")),
    Mutant("sandbox-walk-dotdot", "vmcli/hostfs.py", "                if len(stack) == 1:\n",
           "                if len(stack) == 0:\n", ("tests/test_hostfs.py",)),
    Mutant("pl011-txfe", "vmcli/machine/devices/pl011.py", "return FR_TXFE | (0 if", "return (0 if",
           ("tests/machine/test_devices.py",)),
    Mutant("pl011-periph-id0", "vmcli/machine/devices/pl011.py", "ID_REGS = {0xFE0: 0x11,", "ID_REGS = {0xFE0: 0x12,",
           ("tests/machine/test_devices.py",)),
    Mutant("ns16550-lsr-temt", "vmcli/machine/devices/ns16550.py", "return LSR_THRE | LSR_TEMT |", "return LSR_THRE |",
           ("tests/machine/test_devices.py",)),
    Mutant("gdb-any-checksum", "vmcli/debug/gdbstub.py", "good = sent.lower() == checksum(data)", "good = True",
           ("tests/debug/test_gdbstub.py",)),
    Mutant("gdb-no-resend", "vmcli/debug/gdbstub.py", "                    self.sock.sendall(packet)\n",
           "                    pass\n", ("tests/debug/test_gdbstub.py",)),
    Mutant("gdb-signed-numbers", "vmcli/debug/gdbstub.py", "    if not HEX.match(text):", "    if False:",
           ("tests/debug/test_gdbstub.py",)),
    Mutant("gdb-lost-ctrl-c", "vmcli/debug/gdbstub.py",
           "            interrupted = self._take_interrupt()\n            while",
           "            interrupted = False\n            while", ("tests/debug/test_gdbstub.py",)),
    Mutant("semihosting-seek-range", "vmcli/machine/devices/semihosting.py", "if position > MAX_OFFSET:",
           "if position > (1 << 64):", ("tests/machine/test_semihosting.py",)),
    Mutant("semihosting-handle-cap", "vmcli/machine/devices/semihosting.py", "if len(self.handles) >= MAX_HANDLES:",
           "if len(self.handles) >= 10 * MAX_HANDLES:", ("tests/machine/test_semihosting.py",)),
    Mutant("compute-buffer-in-ram", "vmcli/machine/devices/compute.py",
           "        if not self.memory.contains(addr, length):\n            raise CommandError(Error.BAD_BUFFER",
           "        if False:\n            raise CommandError(Error.BAD_BUFFER",
           ("tests/machine/test_compute_device.py",)),
    Mutant("compute-doorbell-high-half", "vmcli/machine/devices/compute.py", "size == 4 and self._doorbell_low:",
           "size == 4 and False:", ("tests/machine/test_compute_guests.py",)),
    Mutant("status-70", "vmcli/cli.py", "        sys.exit(ExitStatus.INTERNAL)",
           "        sys.exit(ExitStatus.BAD_INPUT)", ("tests/machine/test_cli_run.py",)),
    Mutant("console-deadline", "vmcli/machine/machine.py", "        self.host.console.deadline = deadline",
           "        self.host.console.deadline = None", ("tests/machine/test_cli_run.py",)),
    Mutant("stdout-stand-in", "vmcli/stdio.py", "    for fd, flags in STAND_IN.items():",
           "    for fd, flags in {}.items():", ("tests/test_stdio.py",)),
    Mutant("elf-phoff-range", "vmcli/machine/loader.py", "    if phoff + phnum * phentsize > len(data):",
           "    if False:", ("tests/machine/test_cli_run.py", "tests/fuzz/test_fuzz_images.py")),
    Mutant("flash-rom-segments", "vmcli/machine/loader.py", "        if region is not None and not seg.writable:",
           "        if False:", ("tests/integration/test_differential.py",)),
    Mutant("exit-checks-left-on", "vmcli/machine/stops.py", "        set_exit_checks(uc, False)\n",
           "        set_exit_checks(uc, True)\n", ("tests/machine/test_stops.py",)),
    Mutant("wfi-at-physical-pc", "vmcli/machine/system.py",
           "word = fetch_virtual(self.uc, pc - self.wfi_size, 4)",
           "word = bytes(self.uc.mem_read(pc - 4, 4)) if any(b <= pc - 4 <= e for b, e, _ in "
           "self.uc.mem_regions()) else None",
           ("tests/machine/test_system_cpu.py",)),
    Mutant("fault-hooks-inside-ram", "vmcli/machine/engine.py", "        ranges.append((0, ram_base - 1))",
           "        ranges.append((0, ram_base + ram_size - 1))", ("tests/machine/test_stops.py",)),
    Mutant("timer-shown-stale", "vmcli/machine/devices/arm_timer.py", "            if shown != comp.shown:",
           "            if comp.shown is None:", ("tests/machine/test_system_devices.py",)),
]


def run(mutant: Mutant, python: str) -> bool:
    """True when the tests kill `mutant`."""
    with tempfile.TemporaryDirectory(prefix="vm-mutant-") as tmp:
        tree = Path(tmp) / "tree"
        shutil.copytree(ROOT, tree, symlinks=True,
                        ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.nbi", "*.nbc", ".*_cache"))
        target = tree / mutant.path
        text = target.read_text()
        if text.count(mutant.old) != 1:
            raise SystemExit(f"{mutant.name}: {mutant.path} does not hold its text exactly once (update the mutant)")
        target.write_text(text.replace(mutant.old, mutant.new))
        proc = subprocess.run([python, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *mutant.tests],
                              cwd=tree, capture_output=True, text=True, check=False)
        return proc.returncode != 0


def main(names: list[str]) -> int:
    chosen = [m for m in MUTANTS if not names or m.name in names]
    survivors = []
    for mutant in chosen:
        killed = run(mutant, sys.executable)
        print(f"{'killed  ' if killed else 'SURVIVED'} {mutant.name:28} {' '.join(mutant.tests)}", flush=True)
        if not killed:
            survivors.append(mutant.name)
    print(f"{len(chosen) - len(survivors)} of {len(chosen)} mutants killed")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
