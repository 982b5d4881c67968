"""Unicorn 2.1.4 runs a device (MMIO) access again when `emu_stop` from another thread ends a slice
around it: a minimal reproduction. A loop of N loads from an MMIO window is run in slices that a
thread stops every 0.2 ms; the read callback is called more often than the loop ran loads.

    python bench/replay_probe.py        # prints iterations, callback calls, slices

vm's answer is vmcli/machine/events.py ReplayGuard (the first access after a stopped slice that
repeats the last one is answered from a record); docs/running.md has the numbers.
"""

from __future__ import annotations

import threading
import time

import unicorn
from unicorn import arm64_const as a64

BASE, MMIO = 0x4000_0000, 0x0900_0000
# mov x1, #0x9000000; loop: ldr w0, [x1]; add x2, x2, #1; cmp x2, x3; b.ne loop; nop
CODE = bytes.fromhex("0120a1d2" "200040b9" "42040091" "5f0003eb" "a1ffff54" "1f2003d5")


def main(n: int = 300_000) -> None:
    uc = unicorn.Uc(unicorn.UC_ARCH_ARM64, unicorn.UC_MODE_ARM)
    uc.mem_map(BASE, 0x10000)
    uc.mem_write(BASE, CODE)
    calls = 0

    def read(uc: unicorn.Uc, offset: int, size: int, user: object) -> int:
        nonlocal calls
        calls += 1
        return 0

    uc.mmio_map(MMIO, 0x1000, read, None, None, None)
    uc.reg_write(a64.UC_ARM64_REG_X3, n)
    done = False

    def stopper() -> None:
        while not done:
            uc.emu_stop()
            time.sleep(0.0002)

    thread = threading.Thread(target=stopper, daemon=True)
    thread.start()
    end, pc, slices = BASE + len(CODE) - 4, BASE, 0
    while pc != end:
        uc.emu_start(pc, end)
        slices += 1
        pc = uc.reg_read(a64.UC_ARM64_REG_PC)
    done = True
    thread.join()
    print(f"loads executed {uc.reg_read(a64.UC_ARM64_REG_X2)}, read callbacks {calls}, slices {slices}, "
          f"extra callbacks {calls - n}")


if __name__ == "__main__":
    main()
