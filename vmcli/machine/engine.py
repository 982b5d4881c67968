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
import mmap
import platform
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
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
_fast.uc_vmem_read.restype = ctypes.c_int
_fast.uc_ctl.restype = ctypes.c_int
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


def fetch_virtual(uc: unicorn.Uc, address: int, size: int) -> bytes | None:
    """`size` bytes at a virtual address as the CPU would fetch them now, through its MMU (the binding's
    mem_read takes physical addresses only); None where the translation or the read fails."""
    if not 0 <= address <= 2**64 - size:
        return None
    buf = ctypes.create_string_buffer(size)
    status = _fast.uc_vmem_read(uc._uch, ctypes.c_uint64(address), unicorn.UC_PROT_EXEC, buf, ctypes.c_size_t(size))
    return buf.raw if status == unicorn.UC_ERR_OK else None


# -- Unicorn's exit checks -----------------------------------------------------------------------------
# Unicorn translates a call to helper_check_exit_request after every guest load and store, so that an
# emu_stop made by a memory hook ends the run right after that access. Two costs follow. That stop is
# not exact: it leaves with the PC of the access, which has already run, so a resumed guest runs it
# again (a load into its own address register, a pre-indexed store, an MMIO read twice), and an
# emu_stop from another thread lands there too. And the calls are a fifth or more of the run time of
# a compute-bound guest (docs/performance.md). Unicorn leaves them out of the code it translates
# while `uc_struct.no_exit_request` is set (its own switch, for Thumb IT blocks); what remains is
# the check at every block start, where a stop is exact.
#
# The offsets vm needs are read from libunicorn's own code, and any build where they cannot be
# read keeps its checks: check_exit_request_<arch> begins
#     mov rsi, [rdi + tcg_ctx.uc]; cmp byte [rsi + uc.no_exit_request], 0; je/jne ...
# (the same byte for every architecture vm runs), and uc_emu_stop loads uc->cpu with
#     mov rdi, [rdi + uc.cpu]; test rdi, rdi
_CHECK_PROLOGUE = re.compile(rb"\x48\x8b\xb7.{4}\x80\xbe(.{4})\x00[\x74\x75\x0f]", re.DOTALL)
_CPU_LOAD = re.compile(rb"\x48\x8b\xbf(.{4})\x48\x85\xff", re.DOTALL)
ENGINE_SUFFIX = {"arm64": "aarch64", "riscv64": "riscv64", "x86_64": "x86_64"}   # libunicorn's per-arch names


@dataclass(frozen=True)
class Layout:
    """Offsets into libunicorn's `struct uc_struct`."""

    no_exit_request: int
    cpu: int


def _code(name: str, size: int) -> bytes | None:
    try:
        address = ctypes.cast(getattr(uclib, name), ctypes.c_void_p).value
    except AttributeError:
        return None
    return ctypes.string_at(address, size) if address else None


@cache
def unicorn_layout() -> Layout | None:
    """The offsets, or None where this libunicorn (or host) is not the x86-64 build they are read from."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    flags = set()
    for suffix in ENGINE_SUFFIX.values():
        code = _code(f"check_exit_request_{suffix}", 16)
        match = _CHECK_PROLOGUE.match(code) if code else None
        if match is None:
            return None
        flags.add(int.from_bytes(match[1], "little"))
    code = _code("uc_emu_stop", 96)
    cpu = _CPU_LOAD.search(code) if code else None
    if len(flags) != 1 or cpu is None:
        return None
    layout = Layout(no_exit_request=flags.pop(), cpu=int.from_bytes(cpu[1], "little"))
    return layout if 0 < layout.no_exit_request < 0x10000 and 0 < layout.cpu < 0x10000 else None


def set_exit_checks(uc: unicorn.Uc, on: bool) -> bool:
    """Turn Unicorn's per-access exit checks on or off for code translated from now on (the caller
    flushes what was translated before). False when this libunicorn's layout is unknown: the checks
    stay on. With them off, an emu_stop from a hook takes effect at the next block start, so a caller
    turns them off only while no hook must stop the guest at an instruction (breakpoints, counting),
    and ends write faults itself (vmcli.machine.stops)."""
    layout = unicorn_layout()
    if layout is None:
        return False
    flag = ctypes.c_uint8.from_address(int(uc._uch.value or 0) + layout.no_exit_request)  # type: ignore[union-attr]
    if flag.value not in (0, 1):
        return False
    flag.value = 0 if on else 1
    return True


# -- compiled hooks -------------------------------------------------------------------------------------
# A Python hook per instruction costs ~0.5 us; a compiled one (a numba `@cfunc`, or machine code written
# here) costs a few ns, so per-instruction work (counting, tracing) is never done in Python callbacks.
_KEEP: list[Any] = []     # the pages of code written here live as long as the process


def executable_code(code: bytes) -> int | None:
    """`code` copied to a page of its own that is then made executable; its address."""
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    page.write(code)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    if libc.mprotect(address, mmap.PAGESIZE, mmap.PROT_READ | mmap.PROT_EXEC) != 0:
        return None
    _KEEP.append(page)
    return address


def library_function(name: str) -> int | None:
    try:
        return ctypes.cast(getattr(uclib, name), ctypes.c_void_p).value
    except AttributeError:
        return None


class CpReg(ctypes.Structure):
    """Unicorn's uc_arm64_cp_reg: the system register an MSR names, and the value written."""

    _fields_ = [("crn", ctypes.c_uint32), ("crm", ctypes.c_uint32), ("op0", ctypes.c_uint32),
                ("op1", ctypes.c_uint32), ("op2", ctypes.c_uint32), ("val", ctypes.c_uint64)]


SYS_HOOK = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(CpReg), ctypes.c_void_p)


@cache
def _crn_filter(crn: int) -> int | None:
    """uint32_t cb(uc, reg, const uc_arm64_cp_reg *cp, void **target): 0 at once unless cp->crn is
    `crn`, else a tail call of *target with the same arguments. System V: cp in rdx, target in rcx."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    return executable_code(bytes.fromhex("833a") + bytes([crn]) +     # cmp dword [rdx], crn
                           bytes.fromhex("7502"                          # jne +2
                                         "ff21"                          # jmp [rcx]
                                         "31c0"                          # xor eax, eax
                                         "c3"))                          # ret


class SysWriteHook:
    """`callback(cp_reg)` on a guest MSR to a system register with this CRn; True means handled (the
    instruction is skipped), False lets Unicorn write the register. A kernel writes other system
    registers on every exception and context switch (Linux's boot: ~145,000 MSRs), so a compiled
    filter answers those without entering Python. Keep the object as long as the engine."""

    def __init__(self, uc: unicorn.Uc, crn: int, callback: Callable[[CpReg], bool]) -> None:
        def on_msr(handle: int, reg: int, cp: Any, user: int) -> int:
            entry = cp.contents
            return 1 if entry.crn == crn and callback(entry) else 0

        self._trampoline = SYS_HOOK(on_msr)
        self._target = ctypes.c_void_p(ctypes.cast(self._trampoline, ctypes.c_void_p).value)
        stub = _crn_filter(crn)
        address = stub if stub is not None else self._target.value
        assert address is not None
        add_native_hook(uc, unicorn.UC_HOOK_INSN, address, ctypes.addressof(self._target),
                        insn=unicorn.arm64_const.UC_ARM64_INS_MSR)


def unicorn_symbols() -> None:
    """Make libunicorn's symbols visible to numba's linker, so compiled hooks may call e.g.
    uc_emu_stop by name (`types.ExternalFunction`) and still be cached on disk (cache=True)."""
    import llvmlite.binding as llvm

    llvm.load_library_permanently(uclib._name)


def add_native_hook(uc: unicorn.Uc, hook_type: int, callback_address: int, user_data: int,
                    begin: int = 1, end: int = 0, insn: int | None = None) -> int:
    """Register a compiled callback with Unicorn (`insn`: the instruction of a UC_HOOK_INSN); returns
    the hook handle for `uc.hook_del`."""
    hook = _binding.uc_hook_h()
    extra = [] if insn is None else [ctypes.c_int(insn)]
    status = uclib.uc_hook_add(uc._uch, ctypes.byref(hook), hook_type, ctypes.c_void_p(callback_address),
                               ctypes.c_void_p(user_data), ctypes.c_uint64(begin), ctypes.c_uint64(end), *extra)
    if status != unicorn.UC_ERR_OK:
        raise unicorn.UcError(status)
    return int(hook.value or 0)


def remove_native_hook(uc: unicorn.Uc, hook: int) -> None:
    uclib.uc_hook_del(uc._uch, _binding.uc_hook_h(hook))


def fault_ranges(ram_base: int, ram_size: int) -> list[tuple[int, int]]:
    """Hook ranges (first, last) for memory-fault hooks that leave out RAM mapped with every permission,
    where no access can fault. A fault hook whose range takes in a RAM page keeps Unicorn from ever
    marking that page dirty (notdirty_write checks uc_mem_hook_installed), so every store to it takes
    the slow path through the code-invalidation check: about half of a Linux boot's time."""
    ranges = []
    if ram_base > 0:
        ranges.append((0, ram_base - 1))
    if ram_base + ram_size < 2**64:
        ranges.append((ram_base + ram_size, 2**64 - 1))
    return ranges


# A hook's range lives in libunicorn's `struct hook` (begin and end, two adjacent uint64s); Unicorn
# reads it at each fault and in notdirty_write, so rewriting it moves the hook. That is how a Linux
# program's fault hooks follow its mappings: deleting and adding hooks instead would grow Unicorn's
# hook lists by a dead hook per change until emu_start returns (it frees them only then), and a program
# that maps and unmaps in a loop inside one run would slow down without bound.
_PROBE_RANGE = (0x5EED_0000_1234_5678, 0x5EED_0000_8765_4321)
_hook_layout: dict[str, int | None] = {}     # libunicorn's, found once per process


def _range_offset(uc: unicorn.Uc) -> int | None:
    """The offset of `begin` in libunicorn's struct hook, found (not assumed) from a hook added with
    _PROBE_RANGE and removed again; None if it cannot be found."""
    target = library_function("uc_version")      # never called: nothing runs while the probe exists
    if "begin" not in _hook_layout and target is not None:
        probe = add_native_hook(uc, unicorn.UC_HOOK_MEM_READ_UNMAPPED, target, 0, *_PROBE_RANGE)
        raw = ctypes.string_at(probe, 64)
        remove_native_hook(uc, probe)
        begin = raw.find(_PROBE_RANGE[0].to_bytes(8, "little"))
        ok = begin >= 0 and begin % 8 == 0 and raw[begin + 8:begin + 16] == _PROBE_RANGE[1].to_bytes(8, "little")
        _hook_layout["begin"] = begin if ok else None
    return _hook_layout.get("begin")


class FaultHooks:
    """Compiled memory-fault hooks over the addresses where an access can fault; `cover` moves them
    when those change (a Linux program's writable pages come and go with mmap). A hook whose range
    takes in a page keeps Unicorn from marking it dirty (see fault_ranges). The hooks of one `add` are
    called before those of a later one, whatever the ranges: the first records the fault."""

    def __init__(self, uc: unicorn.Uc, ranges: Sequence[tuple[int, int]] = ((1, 0),)) -> None:
        self.uc = uc
        self.ranges = list(ranges)
        self._specs: list[tuple[int, int, int]] = []     # (hook type, callback address, user data)
        self._handles: list[list[int]] = []              # per spec, one hook per slot
        self._cells: list[list[Any]] = []                # per spec and slot, the hook's (begin, end)
        self._slots = self.ranges[:]                     # the range each slot holds
        self._slot_of = {r: i for i, r in enumerate(self.ranges)}
        self._spares: list[int] = []                     # slots without a range (see _spare)
        self._offset = _range_offset(uc)

    def add(self, kind: int, callback: int, user_data: int = 0) -> None:
        self._specs.append((kind, callback, user_data))
        self._add_hooks(len(self._specs) - 1)

    def cover(self, ranges: Sequence[tuple[int, int]]) -> None:
        """Move the hooks to `ranges` (where this libunicorn's struct hook is unknown they stay over
        every address: correct, with every store on the slow path). A slot keeps its range while
        that range stays (within one add, which hook holds which range does not matter), so a
        mapping change rewrites a few slots."""
        if list(ranges) == self.ranges or self._offset is None or not ranges:
            return
        old, self.ranges = self.ranges, list(ranges)
        spare = self._spare()
        if len(self.ranges) > len(self._slots):           # more slots, added in order: rare (doubling)
            for hooks in self._handles:
                for hook in hooks:
                    remove_native_hook(self.uc, hook)
            size = 2 * len(self._slots)
            self._slots = self.ranges + [spare] * (size - len(self.ranges))
            self._slot_of = {r: i for i, r in enumerate(self.ranges)}
            self._spares = list(range(len(self.ranges), size))
            for spec in range(len(self._specs)):
                self._add_hooks(spec)
            return
        wanted, had = set(self.ranges), set(old)
        pool = self._spares + [self._slot_of.pop(r) for r in had - wanted]
        for r in wanted - had:
            i = pool.pop()
            self._slot_of[r] = i
            self._put(i, r)
        for i in pool:
            if self._slots[i] != spare:
                self._put(i, spare)
        self._spares = pool

    def _spare(self) -> tuple[int, int]:
        """What a slot without a range holds: the last byte of the last range, which adds no address."""
        return self.ranges[-1][1], self.ranges[-1][1]

    def _put(self, slot: int, r: tuple[int, int]) -> None:
        self._slots[slot] = r
        for cells in self._cells:
            cells[slot][:] = r

    def _add_hooks(self, spec: int) -> None:
        kind, callback, user_data = self._specs[spec]
        hooks = [add_native_hook(self.uc, kind, callback, user_data, begin, end) for begin, end in self._slots]
        cells = ([(ctypes.c_uint64 * 2).from_address(hook + self._offset) for hook in hooks]
                 if self._offset is not None else [])
        if spec < len(self._handles):
            self._handles[spec], self._cells[spec] = hooks, cells
        else:
            self._handles.append(hooks)
            self._cells.append(cells)


def flush_translations(uc: unicorn.Uc) -> None:
    """Drop all translated code, so that hooks added now apply to every instruction. (Unicorn 2.1's
    ctl_remove_cache over the whole address space leaves translations in place.)"""
    uc.ctl_flush_tb()  # type: ignore[attr-defined]   # defined by Unicorn's ctl table, unseen by mypy


# -- the virtual TLB ------------------------------------------------------------------------------------
# Unicorn marks a RAM page dirty (stores to it then take the inline fast path) only when the CPU's TLB
# entry for it is not executable (notdirty_write). A guest running with its MMU off (Linux programs in
# user mode) gets every page executable, so every store to RAM runs the slow path: 26-30x
# qemu-user's time on a store-bound program. In the virtual TLB mode a fill hook names each page's
# permissions instead; this one reads them from a table of one byte per guest page (the guest's
# PROT_* bits, 0 where nothing is mapped), so data pages come without execute.
#
# QEMU sizes each TLB by its use, but only when it is flushed (256 entries at first, up to 2^20), and
# a Linux program flushes it only when its mappings change: a loop over more than 1 MiB would refill
# it on every page, about 1 us each. So the filler flushes it itself after `limit` fills since the
# last flush, doubling `limit` each time: the TLB grows to the working set after a few flushes.
class TlbFill(ctypes.Structure):
    """The filler's state: the table, the fills since the last flush and the fills that flush it."""

    _fields_ = [("table", ctypes.c_void_p), ("fills", ctypes.c_uint64), ("limit", ctypes.c_uint64)]


_TLB_FLUSH_CONTROL = unicorn.UC_CTL_TLB_FLUSH | unicorn.UC_CTL_IO_WRITE << 30     # UC_CTL_WRITE(..., 0)
_TLB_FLUSH = ctypes.c_int(_TLB_FLUSH_CONTROL)
FIRST_LIMIT = 1024                 # 4x the 256 entries of a new TLB


@cache
def _tlb_filler(pages: int) -> int | None:
    """bool cb(uc, addr, type, uc_tlb_entry *e, TlbFill *state): e->paddr = addr (the identity map);
    e->perms = table[addr >> 12] when it allows the access `type` (UC_MEM_READ/WRITE/FETCH: bit
    type - 16), else every permission, so that a bad access reaches Unicorn's own region checks and
    the memory-fault hooks exactly as with the MMU off. Every `limit` fills, first uc_ctl(uc,
    UC_CTL_WRITE(UC_CTL_TLB_FLUSH, 0)): safe here, since Unicorn's callers look the entry up again
    after a fill. System V: uc rdi, addr rsi, type edx, e rcx, state r8."""
    ctl = library_function("uc_ctl")
    if platform.machine() not in ("x86_64", "AMD64") or not 0 < pages < 2**31 or not ctl:
        return None
    return executable_code(
        bytes.fromhex("498b4008"                   # mov rax, [r8 + fills]
                      "48ffc0"                     # inc rax
                      "49894008"                   # mov [r8 + fills], rax
                      "493b4010"                   # cmp rax, [r8 + limit]
                      "722c"                       # jb .fill
                      "49c7400800000000"           # mov qword [r8 + fills], 0
                      "49d16010"                   # shl qword [r8 + limit], 1
                      "575652514150"              # push rdi, rsi, rdx, rcx, r8 (the stack aligned)
                      "be") + _TLB_FLUSH_CONTROL.to_bytes(4, "little") +      # mov esi, control
        bytes.fromhex("49bb") + ctl.to_bytes(8, "little") +                   # mov r11, uc_ctl
        bytes.fromhex("31c0"                       # xor eax, eax (no vector registers: variadic)
                      "41ffd3"                     # call r11
                      "4158595a5e5f"               # pop r8, rcx, rdx, rsi, rdi
                      "488931"                     # .fill: mov [rcx], rsi
                      "4889f0"                     # mov rax, rsi
                      "48c1e80c"                   # shr rax, 12
                      "41b907000000"               # mov r9d, 7
                      "483d") + pages.to_bytes(4, "little") +                 # cmp rax, pages
        bytes.fromhex("7317"                       # jae .store
                      "4d8b00"                     # mov r8, [r8 + table]
                      "410fb60400"                 # movzx eax, byte [r8 + rax]
                      "4189d2"                     # mov r10d, edx
                      "4183ea10"                   # sub r10d, 16
                      "440fa3d0"                   # bt eax, r10d
                      "440f42c8"                   # cmovc r9d, eax
                      "44894908"                   # .store: mov [rcx + 8], r9d
                      "b801000000"                 # mov eax, 1
                      "c3"))                       # ret


class VirtualTlb:
    """The CPU's TLB filled from a table of one byte of PROT_* bits per 4 KiB page, `pages` of them
    (kept alive by the caller, who calls `flush` after changing it)."""

    def __init__(self, uc: unicorn.Uc, table: int, filler: int) -> None:
        self.uc = uc
        self.state = TlbFill(table, 0, FIRST_LIMIT)
        uc.ctl_set_tlb_mode(unicorn.UC_TLB_VIRTUAL)  # type: ignore[attr-defined]
        add_native_hook(uc, unicorn.UC_HOOK_TLB_FILL, filler, ctypes.addressof(self.state))

    def flush(self) -> None:
        """Drop every entry; the working set may have changed, so growing starts over."""
        flush_tlb(self.uc)
        self.state.fills, self.state.limit = 0, FIRST_LIMIT


def virtual_tlb(uc: unicorn.Uc, table: int, pages: int) -> VirtualTlb | None:
    """None where no compiled filler exists for this host: the CPU's own MMU keeps filling the TLB."""
    filler = _tlb_filler(pages)
    return VirtualTlb(uc, table, filler) if filler is not None else None


def flush_tlb(uc: unicorn.Uc) -> None:
    """Drop every TLB entry of the CPU (the binding has no call for it)."""
    status = _fast.uc_ctl(uc._uch, _TLB_FLUSH)
    if status != unicorn.UC_ERR_OK:
        raise unicorn.UcError(status)
