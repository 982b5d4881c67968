"""Counting guest instructions at native speed, and stopping after a limit (--max-insns).

A compiled UC_HOOK_CODE callback increments a counter in a numpy array and calls uc_emu_stop when the
limit is reached. Unlike emu_start(count=N) it keeps counting across the run loop's restarts (RISC-V
semihosting resumes emu_start after every call), so the limit is exact over the whole run.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import unicorn

from vmcli.machine.engine import add_native_hook, flush_translations, unicorn_symbols

COUNT, LIMIT, REACHED = 0, 1, 2


@cache
def _compiled_counter() -> Any:
    import numba
    from numba import types

    unicorn_symbols()
    emu_stop = types.ExternalFunction("uc_emu_stop", types.int32(types.voidptr))

    @numba.cfunc(types.void(types.voidptr, types.uint64, types.uint32, types.voidptr), cache=True)
    def on_insn(uc, address, size, user):
        state = numba.carray(user, 3, dtype=np.uint64)
        if state[COUNT] >= state[LIMIT]:
            state[REACHED] = 1
            emu_stop(uc)
            return
        state[COUNT] += 1

    return on_insn


class InsnCounter:
    """Counts instructions on `uc`; with `limit`, stops the guest before instruction limit + 1."""

    def __init__(self, uc: unicorn.Uc, limit: int | None = None) -> None:
        self.state = np.zeros(3, dtype=np.uint64)
        self.state[LIMIT] = np.uint64(limit if limit is not None else 2**64 - 1)
        self.callback = _compiled_counter()       # keep alive as long as the hook exists
        self.handle = add_native_hook(uc, unicorn.UC_HOOK_CODE, self.callback.address, self.state.ctypes.data)
        flush_translations(uc)         # code translated before the hook would not count

    @property
    def count(self) -> int:
        return int(self.state[COUNT])

    @property
    def reached(self) -> bool:
        return bool(self.state[REACHED])
