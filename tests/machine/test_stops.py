"""Exact stops (vmcli/machine/stops.py): Unicorn's per-access exit checks off, a stop from another
thread lands at a block start and nothing runs twice; a faulting store ends the slice at that store;
stepping counts one instruction at a time. Each check fails with the checks on (the engine as it comes)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import unicorn
from unicorn import arm64_const as a64
from unicorn import riscv_const as rv
from unicorn import x86_const as x86

from vmcli.machine.engine import FaultHooks, fault_ranges
from vmcli.machine.stops import check_free_stop

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "guest-images" / "bin"
BASE, MMIO, RO = 0x4000_0000, 0x0900_0000, 0x5000_0000


def engine(arch: str) -> unicorn.Uc:
    kind = {"arm64": (unicorn.UC_ARCH_ARM64, unicorn.UC_MODE_ARM),
            "riscv64": (unicorn.UC_ARCH_RISCV, unicorn.UC_MODE_RISCV64),
            "x86_64": (unicorn.UC_ARCH_X86, unicorn.UC_MODE_64)}[arch]
    uc = unicorn.Uc(*kind)
    uc.mem_map(BASE, 0x10000)
    return uc


def test_a_stop_from_another_thread_runs_nothing_twice() -> None:
    """A loop of MMIO loads whose result is also its next address, stopped from a thread every
    0.2 ms and resumed each time: every load reaches the device once, and the loop's sum is the
    one an unstopped run gets (with Unicorn's checks on, nearly every stop repeats a load)."""
    n = 300_000
    # mov x1, #0x9000000; loop: ldr w0, [x1, x0]; add x2, x2, x0; add x4, x4, #1; cmp x4, x3; b.ne loop; nop
    code = bytes.fromhex("0120a1d2" "206860b8" "4200008b" "84040091" "9f0003eb" "61ffff54" "1f2003d5")
    uc = engine("arm64")
    stopper = check_free_stop(uc, "arm64")
    assert stopper is not None
    uc.mem_write(BASE, code)
    calls = 0

    def read(uc: unicorn.Uc, offset: int, size: int, user: object) -> int:
        nonlocal calls
        calls += 1
        return (offset + 4) & 0xFFC              # the next address: a repeated load would skip one

    uc.mmio_map(MMIO, 0x1000, read, None, None, None)
    uc.reg_write(a64.UC_ARM64_REG_X3, n)
    done = False

    def stop_often() -> None:
        while not done:
            stopper.request()
            time.sleep(0.0002)

    thread = threading.Thread(target=stop_often, daemon=True)
    thread.start()
    end, pc, slices = BASE + len(code) - 4, BASE, 0
    try:
        while pc != end:
            uc.emu_start(pc, end)
            slices += 1
            pc = uc.reg_read(a64.UC_ARM64_REG_PC)
    finally:
        done = True
        thread.join()
    expected = sum(((4 * i) & 0xFFC) for i in range(1, n + 1))
    assert slices > 10 and calls == n
    assert uc.reg_read(a64.UC_ARM64_REG_X2) == expected


# A store to read-only memory, then two instructions that must not run: (code, address register,
# PC register, registers that must stay 0)
STORES = {
    "arm64": (bytes.fromhex("010000f9" "42040091" "63040091" "00000014"), a64.UC_ARM64_REG_X0,
              a64.UC_ARM64_REG_PC, (a64.UC_ARM64_REG_X2, a64.UC_ARM64_REG_X3)),
    "riscv64": (bytes.fromhex("23b0b500" "13061600" "93861600" "6f000000"), rv.UC_RISCV_REG_A1,
                rv.UC_RISCV_REG_PC, (rv.UC_RISCV_REG_A2, rv.UC_RISCV_REG_A3)),   # sd a1,0(a1); addi a2/a3
    "x86_64": (bytes.fromhex("488900" "48ffc2" "48ffc1" "ebfe"), x86.UC_X86_REG_RAX,
               x86.UC_X86_REG_RIP, (x86.UC_X86_REG_RDX, x86.UC_X86_REG_RCX)),
}


@pytest.mark.parametrize("arch", sorted(STORES))
@pytest.mark.parametrize("target", ["read-only", "unmapped", "unmapped below RAM"])
@pytest.mark.parametrize("hooked", ["everywhere", "outside RAM"])
def test_a_faulting_store_ends_the_slice_at_the_store(arch: str, target: str, hooked: str) -> None:
    """Also with the hooks ranged around RAM, as the machine adds them (vmcli.machine.engine.fault_ranges):
    every address outside RAM, just below it included, still faults."""
    code, addr_reg, pc_reg, untouched = STORES[arch]
    uc = engine(arch)
    uc.mem_write(BASE, code)
    if target == "read-only":
        uc.mem_map(RO, 0x1000, unicorn.UC_PROT_READ)
    address = BASE - 8 if target == "unmapped below RAM" else RO
    uc.reg_write(addr_reg, address)
    ranges = fault_ranges(BASE, 0x10000) if hooked == "outside RAM" else [(1, 0)]
    seen: list[int] = []
    for begin, end in ranges:
        uc.hook_add(unicorn.UC_HOOK_MEM_WRITE_PROT | unicorn.UC_HOOK_MEM_WRITE_UNMAPPED,
                    lambda uc, access, address, size, value, user: seen.append(address) and False, None, begin, end)
    stopper = check_free_stop(uc, arch, FaultHooks(uc, ranges))
    assert stopper is not None
    uc.emu_start(BASE, BASE + 0x100, timeout=5_000_000)
    error = stopper.write_fault()
    want = unicorn.UC_ERR_WRITE_PROT if target == "read-only" else unicorn.UC_ERR_WRITE_UNMAPPED
    assert error is not None and error.errno == want
    assert seen == [address] and uc.reg_read(pc_reg) == BASE
    assert [uc.reg_read(r) for r in untouched] == [0, 0]
    assert stopper.write_fault() is None         # reported once


def test_fault_ranges_leave_out_ram_only() -> None:
    assert fault_ranges(BASE, 0x10000) == [(0, BASE - 1), (BASE + 0x10000, 2**64 - 1)]
    assert fault_ranges(0, 0x10000) == [(0x10000, 2**64 - 1)]                  # RAM at 0 (x86_64's pc-flat)
    assert fault_ranges(2**64 - 0x10000, 0x10000) == [(0, 2**64 - 0x10001)]   # RAM at the top


def test_stepping_runs_one_instruction_at_a_time() -> None:
    # loop: add x2, x2, #1; add x3, x3, #1; add x4, x4, #1; b loop
    code = bytes.fromhex("42040091" "63040091" "84040091" "fdffff17")
    uc = engine("arm64")
    uc.mem_write(BASE, code)
    stopper = check_free_stop(uc, "arm64")
    assert stopper is not None
    uc.emu_start(BASE, BASE + 0x100, count=0, timeout=20_000)       # the loop's block is translated
    start = [uc.reg_read(r) for r in (a64.UC_ARM64_REG_X2, a64.UC_ARM64_REG_X3, a64.UC_ARM64_REG_X4)]
    stopper.stepping(True)
    uc.emu_start(uc.reg_read(a64.UC_ARM64_REG_PC), BASE + 0x100, count=1)
    stopper.stepping(False)
    after = [uc.reg_read(r) for r in (a64.UC_ARM64_REG_X2, a64.UC_ARM64_REG_X3, a64.UC_ARM64_REG_X4)]
    assert sum(after) - sum(start) == 1


@pytest.mark.parametrize("arch", ["arm64", "riscv64"])
def test_a_compute_bound_guest_takes_timer_interrupts(arch: str) -> None:
    """bench-tick: bench.c's CRC loop with a 1 kHz timer; it exits 1 if no tick ever came, and
    prints bench.c's line, which a tick must not change."""
    tick = subprocess.run([sys.executable, "-m", "vmcli", "run", str(IMAGES / f"bench-tick-{arch}.elf")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    plain = subprocess.run([sys.executable, "-m", "vmcli", "run", str(IMAGES / f"bench-{arch}.elf")],
                           capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert tick.returncode == 0, tick.stderr
    assert tick.stdout == plain.stdout and plain.returncode == 0
