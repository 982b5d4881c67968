"""Oracles for the trace and stats tests: Unicorn's own Python hooks on a second boot of the image."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import unicorn

from vmcli.machine.devices.device import Console
from vmcli.machine.launch import boot
from vmcli.machine.machine import Machine

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "guest-images" / "bin"


def quiet_machine(image: Path) -> Machine:
    null = os.open(os.devnull, os.O_WRONLY)
    return boot(str(image), console=Console(out_fd=null, err_fd=null, in_fd=None))


def python_hook_run(image: Path) -> dict[str, list[Any]]:
    """Run `image` with Python UC_HOOK_CODE/BLOCK/MEM hooks: what executed, in order."""
    m = quiet_machine(image)
    m.hooked = True                   # every instruction up to the stop, as a run with --stats sees them
    seen: dict[str, list[Any]] = {"insns": [], "blocks": [], "mem": []}
    m.uc.hook_add(unicorn.UC_HOOK_CODE, lambda uc, a, s, u: seen["insns"].append(a))
    m.uc.hook_add(unicorn.UC_HOOK_BLOCK, lambda uc, a, s, u: seen["blocks"].append((a, s)))

    ram = (m.board.ram_base, m.board.ram_base + m.mem_size)

    def on_mem(uc: Any, access: int, address: int, size: int, value: int, user: Any) -> None:
        if access == unicorn.UC_MEM_WRITE:
            seen["mem"].append(("write", address, size, value & ((1 << (8 * size)) - 1)))
        else:    # the Python binding has no READ_AFTER hook: the value a RAM read will get is there now
            inside = ram[0] <= address < ram[1]
            got = int.from_bytes(uc.mem_read(address, size), "little") if inside else None
            seen["mem"].append(("read", address, size, got))

    m.uc.hook_add(unicorn.UC_HOOK_MEM_READ, on_mem)
    m.uc.hook_add(unicorn.UC_HOOK_MEM_WRITE, on_mem)
    m.run(timeout=30)
    return seen
