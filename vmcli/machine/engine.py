"""Raw access to libunicorn for the paths that run once per trap: registers in batches, hooks with
plain C callbacks, contexts, and the run loop's start/stop.

The unicorn binding costs ~1.8 us per `reg_read` (argument checks, a GIL release per call). Here a
register batch is one call into libunicorn through ctypes' PyDLL (the GIL is kept: these calls
never block) into arrays allocated once: ~0.3 us for the seven registers of a system call.
`emu_start` goes through the binding's CDLL, which releases the GIL so that helper threads (a
stopper, a debugger) run while the guest does.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from typing import Any

import unicorn
from unicorn.unicorn_py3 import unicorn as _binding

uclib = _binding.uclib                      # the binding's CDLL: releases the GIL per call
_fast = ctypes.PyDLL(uclib._name)           # the same library, calls made with the GIL held
_fast.uc_reg_read.restype = ctypes.c_int
_fast.uc_reg_write.restype = ctypes.c_int
_fast.uc_reg_read_batch.restype = ctypes.c_int
_fast.uc_reg_write_batch.restype = ctypes.c_int
_fast.uc_context_save.restype = ctypes.c_int
_fast.uc_context_restore.restype = ctypes.c_int
_fast.uc_emu_stop.restype = ctypes.c_int
engine_fast = _fast

# C signatures of the hooks used here.
INTR_HOOK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)
INSN_HOOK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)        # x86 syscall
INVALID_HOOK = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_void_p)
MEM_HOOK = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64, ctypes.c_int,
                            ctypes.c_int64, ctypes.c_void_p)


def handle(uc: unicorn.Uc) -> ctypes.c_void_p:
    """The engine pointer, as the raw calls take it."""
    return ctypes.c_void_p(uc._uch.value)  # type: ignore[union-attr]   # set once the engine is open


class RegBatch:
    """A fixed list of 64-bit registers read or written in one libunicorn call."""

    def __init__(self, uc: unicorn.Uc, regs: Sequence[int]) -> None:
        n = len(regs)
        # Public so that a hot path can bind them to locals: read_fn(handle, ids, ptrs, count).
        self.handle = handle(uc)
        self.count = n
        self.ids = (ctypes.c_int * n)(*regs)
        self.values = (ctypes.c_uint64 * n)()
        self.ptrs = (ctypes.c_void_p * n)(*[ctypes.addressof(self.values) + 8 * i for i in range(n)])
        self.read_fn = _fast.uc_reg_read_batch
        self._write = _fast.uc_reg_write_batch

    def read(self) -> list[int]:
        self.read_fn(self.handle, self.ids, self.ptrs, self.count)
        return self.values[:]

    def write(self, values: Sequence[int]) -> None:
        for i, v in enumerate(values):
            self.values[i] = v & 0xFFFF_FFFF_FFFF_FFFF
        self._write(self.handle, self.ids, self.ptrs, self.count)


class Reg:
    """One 64-bit register, read and written without the binding's overhead."""

    def __init__(self, uc: unicorn.Uc, reg: int) -> None:
        self._uc = handle(uc)
        self._id = reg
        self._value = ctypes.c_uint64()
        self._ref = ctypes.byref(self._value)

    def get(self) -> int:
        _fast.uc_reg_read(self._uc, self._id, self._ref)
        return self._value.value

    def set(self, value: int) -> None:
        self._value.value = value & 0xFFFF_FFFF_FFFF_FFFF
        _fast.uc_reg_write(self._uc, self._id, self._ref)


class Context:
    """A CPU context (registers only) saved and restored with single calls."""

    def __init__(self, uc: unicorn.Uc) -> None:
        self._uc = handle(uc)
        self.ptr = ctypes.c_void_p()
        status = uclib.uc_context_alloc(uc._uch, ctypes.byref(self.ptr))
        if status != unicorn.UC_ERR_OK:
            raise unicorn.UcError(status)

    def save(self) -> None:
        _fast.uc_context_save(self._uc, self.ptr)

    def restore(self) -> None:
        _fast.uc_context_restore(self._uc, self.ptr)

    def free(self) -> None:
        if self.ptr:
            uclib.uc_context_free(self.ptr)
            self.ptr = ctypes.c_void_p()


class Hooks:
    """Hooks with plain C callbacks; the callback objects are kept alive here."""

    def __init__(self, uc: unicorn.Uc) -> None:
        self.uc = uc
        self._keep: list[Any] = []

    def add(self, kind: int, cfunc_type: Any, func: Callable[..., Any], begin: int = 1, end: int = 0,
            extra: int | None = None) -> int:
        callback = cfunc_type(func)
        self._keep.append(callback)
        hook = _binding.uc_hook_h()
        args: list[Any] = [self.uc._uch, ctypes.byref(hook), kind, ctypes.cast(callback, ctypes.c_void_p), None,
                           ctypes.c_uint64(begin), ctypes.c_uint64(end)]
        if extra is not None:
            args.append(ctypes.c_int(extra))
        status = uclib.uc_hook_add(*args)
        if status != unicorn.UC_ERR_OK:
            raise unicorn.UcError(status)
        return int(hook.value or 0)


def emu_stop(uc: unicorn.Uc) -> None:
    """Stop the guest at the next block boundary; safe from any thread."""
    uclib.uc_emu_stop(uc._uch)

