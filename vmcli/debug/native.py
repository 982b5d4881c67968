"""Native Unicorn hooks: numba `@cfunc` callbacks registered through Unicorn's C API.

A Python hook per instruction costs ~0.5 us; a compiled one costs a few ns, so per-instruction work
(counting, tracing) is done here and never in Python callbacks. numba is imported only by callers.
"""

from __future__ import annotations

import ctypes
from typing import Any

import unicorn
from unicorn.unicorn_py3 import unicorn as _binding

uclib = _binding.uclib
# The C signature of UC_HOOK_CODE / UC_HOOK_BLOCK callbacks:
# void cb(uc_engine *uc, uint64_t address, uint32_t size, void *user_data)
CODE_HOOK_ARGS = ("voidptr", "uint64", "uint32", "voidptr")


def unicorn_symbols() -> None:
    """Make libunicorn's symbols visible to numba's linker, so compiled hooks may call e.g.
    uc_emu_stop by name (`types.ExternalFunction`) and still be cached on disk (cache=True)."""
    import llvmlite.binding as llvm

    llvm.load_library_permanently(uclib._name)


def add_native_hook(uc: unicorn.Uc, hook_type: int, callback_address: int, user_data: int,
                    begin: int = 1, end: int = 0) -> int:
    """Register a compiled callback with Unicorn; returns the hook handle for `uc.hook_del`."""
    handle = _binding.uc_hook_h()
    status = uclib.uc_hook_add(uc._uch, ctypes.byref(handle), hook_type, ctypes.c_void_p(callback_address),
                               ctypes.c_void_p(user_data), ctypes.c_uint64(begin), ctypes.c_uint64(end))
    if status != unicorn.UC_ERR_OK:
        raise unicorn.UcError(status)
    return int(handle.value or 0)


def remove_native_hook(uc: unicorn.Uc, handle: int) -> None:
    uclib.uc_hook_del(uc._uch, _binding.uc_hook_h(handle))


def engine_pointer(uc: unicorn.Uc) -> Any:
    return uc._uch


def flush_translations(uc: unicorn.Uc) -> None:
    """Drop all translated code, so that hooks added now apply to every instruction. (Unicorn 2.1's
    ctl_remove_cache over the whole address space leaves translations in place.)"""
    uc.ctl_flush_tb()  # type: ignore[attr-defined]   # defined by Unicorn's ctl table, unseen by mypy
