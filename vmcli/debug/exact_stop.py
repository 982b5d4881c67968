"""Stopping the guest exactly from another thread while hooks are in use (the debugger, tracing):
a UC_HOOK_BLOCK callback checks a flag that any thread may set and stops the engine at the block
start, where a stop is exact (vmcli.machine.stops has why, and the hook-free way plain runs use).
It costs a call per block. On an x86-64 host the callback is eight instructions of machine code
(numba's import alone takes ~0.35 s); elsewhere it is a numba `@cfunc`. Without either there is no
exact stop: `request` falls back to `uc_emu_stop`.
"""

from __future__ import annotations

import ctypes
import platform
from functools import cache
from typing import Any

import unicorn

from vmcli.machine.engine import add_native_hook, executable_code, flush_translations, library_function, unicorn_symbols


@cache
def _x86_64_block_stop() -> int | None:
    """void cb(uc_engine *uc, uint64_t address, uint32_t size, int64_t *flag): if *flag, clear it
    and tail-call uc_emu_stop(uc). System V: uc in rdi (left as is for the call), flag in rcx."""
    stop = library_function("uc_emu_stop")
    if platform.machine() not in ("x86_64", "AMD64") or not stop:
        return None
    return executable_code(bytes.fromhex("488b01"             # mov rax, [rcx]
                                     "4885c0"             # test rax, rax
                                     "7501"               # jnz +1
                                     "c3"                 # ret
                                     "48c70100000000"     # mov qword [rcx], 0
                                     "48b8") + stop.to_bytes(8, "little") +   # mov rax, uc_emu_stop
                       bytes.fromhex("ffe0"))             # jmp rax


@cache
def _compiled_block_stop() -> Any:
    try:
        import numba
        from numba import types
    except ImportError:
        return None
    unicorn_symbols()
    stop = types.ExternalFunction("uc_emu_stop", types.int32(types.voidptr))

    @numba.cfunc(types.void(types.voidptr, types.uint64, types.uint32, types.voidptr), cache=True)
    def on_block(uc, address, size, user):
        flag = numba.carray(user, 1, dtype=numba.int64)  # type: ignore[call-overload]
        if flag[0]:
            flag[0] = 0
            stop(uc)

    return on_block


class BlockStop:
    """A block hook that stops the engine when `request` has set its flag."""

    def __init__(self, uc: unicorn.Uc) -> None:
        self.uc = uc
        self.flag = (ctypes.c_int64 * 1)()
        address = _x86_64_block_stop()
        if address is None:
            self._callback = _compiled_block_stop()      # keep alive as long as the hook exists
            address = self._callback.address if self._callback is not None else None
        self.exact = address is not None
        if address is not None:
            add_native_hook(uc, unicorn.UC_HOOK_BLOCK, address, ctypes.addressof(self.flag))
            flush_translations(uc)            # blocks translated before the hook would not check

    def request(self) -> None:
        """From any thread: stop at the next block start."""
        if self.exact:
            self.flag[0] = 1
        else:
            self.uc.emu_stop()

    def stepping(self, on: bool) -> None:
        if on:
            flush_translations(self.uc)       # the counting hook must see every block

    def write_fault(self) -> unicorn.UcError | None:
        return None                           # Unicorn reported it as an error


