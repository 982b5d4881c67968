"""Stopping the guest exactly from another thread.

`uc_emu_stop` from another thread is not exact in Unicorn 2.1: the engine may leave a block midway
with the PC of an earlier block start, and memory writes already done run again on resume
(measured: about one repeated store per stop; bench-free check in tests/linux). A stop requested at
the start of a block, from a block hook, is exact. So a compiled (numba `@cfunc`) UC_HOOK_BLOCK
callback checks a flag that any thread may set and stops the engine there. It costs a call per
block, so a run installs it only while asynchronous stops are needed (Linux user mode: a signal
handler or a second thread).

On an x86-64 host the callback is eight instructions of machine code written here (numba's import
alone takes ~0.35 s, paid by every shell that installs a signal handler); elsewhere it is a numba
`@cfunc`. Without either there is no exact stop: `request` falls back to `uc_emu_stop`.
"""

from __future__ import annotations

import ctypes
import mmap
import platform
from functools import cache
from typing import Any

import unicorn

from vmcli.debug.native import add_native_hook, flush_translations, uclib, unicorn_symbols


@cache
def _x86_64_block_stop() -> int | None:
    """void cb(uc_engine *uc, uint64_t address, uint32_t size, int64_t *flag): if *flag, clear it
    and tail-call uc_emu_stop(uc). System V: uc in rdi (left as is for the call), flag in rcx."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    stop = ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p).value
    if not stop:
        return None
    code = (bytes.fromhex("488b01"             # mov rax, [rcx]
                          "4885c0"             # test rax, rax
                          "7501"               # jnz +1
                          "c3"                 # ret
                          "48c70100000000"     # mov qword [rcx], 0
                          "48b8") + stop.to_bytes(8, "little") +   # mov rax, uc_emu_stop
            bytes.fromhex("ffe0"))             # jmp rax
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    page.write(code)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    if libc.mprotect(address, mmap.PAGESIZE, mmap.PROT_READ | mmap.PROT_EXEC) != 0:
        return None
    _KEEP.append(page)
    return address


_KEEP: list[Any] = []


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
