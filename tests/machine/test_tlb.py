"""The virtual TLB (vmcli.machine.engine.VirtualTlb): the compiled filler answers each page's
permissions from the table (checked by calling it directly), flushes after `limit` fills, and a guest
runs on it with the same memory and faults as with the CPU's own MMU; fault hooks re-ranged as the
mappings change (FaultHooks)."""

from __future__ import annotations

import ctypes
import platform
import random
from collections.abc import Callable
from typing import Any

import pytest
import unicorn
from unicorn import arm64_const as a64

from vmcli.machine.engine import FIRST_LIMIT, MEM_HOOK, FaultHooks, TlbFill, _tlb_filler, virtual_tlb

x86_64_host = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                                 reason="the compiled filler is x86-64 machine code")

PAGES = 1 << 16
CODE, DATA = 0x10000, 0x100000
R, W, X = unicorn.UC_PROT_READ, unicorn.UC_PROT_WRITE, unicorn.UC_PROT_EXEC


class Entry(ctypes.Structure):
    """Unicorn's uc_tlb_entry."""

    _fields_ = [("paddr", ctypes.c_uint64), ("perms", ctypes.c_int)]


FILL = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int, ctypes.POINTER(Entry),
                        ctypes.POINTER(TlbFill))


def table_of(pages: dict[int, int]) -> ctypes.Array[ctypes.c_uint8]:
    table = (ctypes.c_uint8 * PAGES)()
    for page, prot in pages.items():
        table[page] = prot
    return table


def filler_call(pages: dict[int, int], limit: int) -> tuple[Callable[[int, int, Entry], bool], TlbFill, Any]:
    """The compiled filler as a Python function of (address, access type, entry), its state and the
    table (which must outlive the calls)."""
    uc = unicorn.Uc(unicorn.UC_ARCH_ARM64, unicorn.UC_MODE_ARM)      # a real engine for its flushes
    filler = _tlb_filler(PAGES)
    assert filler is not None
    fill = FILL(filler)
    table = table_of(pages)
    state = TlbFill(ctypes.addressof(table), 0, limit)

    def call(address: int, access: int, entry: Entry) -> bool:
        return bool(fill(uc._uch, address, access, ctypes.byref(entry), ctypes.byref(state)))

    return call, state, table


@x86_64_host
def test_the_filler_answers_from_the_table() -> None:
    fill, state, _table = filler_call({1: R | W, 2: R | X, 3: R}, 1 << 40)
    read, write, fetch = unicorn.UC_MEM_READ, unicorn.UC_MEM_WRITE, unicorn.UC_MEM_FETCH
    cases = [
        (0x1000, read, R | W), (0x1000, write, R | W), (0x1000, fetch, R | W | X),   # data: no execute
        (0x2000, fetch, R | X), (0x2000, read, R | X), (0x2000, write, R | W | X),   # code
        (0x3000, read, R), (0x3000, write, R | W | X),
        (0x0000, read, R | W | X),                      # nothing mapped: Unicorn's own checks fault
        (PAGES << 12, write, R | W | X),                # past the table
        (2**64 - 0x1000, read, R | W | X),
    ]
    for address, access, perms in cases:
        entry = Entry(0, 0)
        assert fill(address, access, entry)
        assert (entry.paddr, entry.perms) == (address, perms), (hex(address), access)
    assert state.fills == len(cases)


@x86_64_host
def test_the_filler_flushes_after_limit_fills_and_doubles_it() -> None:
    fill, state, _table = filler_call({1: R | W}, 3)
    seen = []
    for _ in range(10):
        entry = Entry(0, 0)
        assert fill(0x1000, unicorn.UC_MEM_READ, entry)
        assert (entry.paddr, entry.perms) == (0x1000, R | W)      # the flush keeps the answer intact
        seen.append((state.fills, state.limit))
    # fills 1, 2, then the third reaches 3: flushed (count from 0 again), the next flush after 6
    assert seen == [(1, 3), (2, 3), (0, 6), (1, 6), (2, 6), (3, 6), (4, 6), (5, 6), (0, 12), (1, 12)]


@x86_64_host
def test_a_guest_runs_on_the_virtual_tlb() -> None:
    """Stores over 2,048 pages, 8 rounds (several flushes from the filler) leave the memory a run on the
    CPU's own MMU leaves; a fetch from a data page faults as there (UC_ERR_FETCH_PROT)."""
    pages, rounds = 2048, 8
    # x1 = DATA + pages * 4 KiB (end), x2 = rounds:
    # outer: mov x0, #DATA; inner: str x2, [x0], #64; cmp x0, x1; b.lo inner; subs x2, x2, #1; b.ne outer
    # then br x3 (x3 = DATA: a data page)
    code = bytes.fromhex("0002a0d2" "020404f8" "1f0001eb" "c3ffff54" "420400f1" "61ffff54" "60001fd6")
    results = []
    for mode in ("cpu", "virtual"):
        uc = unicorn.Uc(unicorn.UC_ARCH_ARM64, unicorn.UC_MODE_ARM)
        uc.mem_map(CODE, 0x1000, R | X)
        uc.mem_write(CODE, code)
        uc.mem_map(DATA, pages * 0x1000, R | W)
        table = table_of({CODE >> 12: R | X, **{(DATA >> 12) + i: R | W for i in range(pages)}})
        tlb = virtual_tlb(uc, ctypes.addressof(table), PAGES) if mode == "virtual" else None
        uc.reg_write(a64.UC_ARM64_REG_X1, DATA + pages * 0x1000)
        uc.reg_write(a64.UC_ARM64_REG_X2, rounds)
        uc.reg_write(a64.UC_ARM64_REG_X3, DATA)
        with pytest.raises(unicorn.UcError) as fault:
            uc.emu_start(CODE, CODE + len(code), timeout=20_000_000)
        assert fault.value.errno == unicorn.UC_ERR_FETCH_PROT
        assert uc.reg_read(a64.UC_ARM64_REG_PC) == DATA
        if tlb is not None:
            assert tlb.state.limit > FIRST_LIMIT                     # the filler flushed on its own
        memory = bytes(uc.mem_read(DATA, pages * 0x1000))
        results.append(memory)
    assert results[0] == results[1]
    one = (1).to_bytes(8, "little")                                  # the last round's number
    assert results[0][:8] == one and results[0][64 * 100:64 * 100 + 8] == one


def test_fault_hooks_follow_their_ranges_in_order() -> None:
    """After cover() a store to an address the ranges leave out reaches no hook (emu_start's error only),
    one inside reaches both hooks, the first added first."""
    order: list[str] = []

    def hook(name: str) -> ctypes._CFuncPtr:
        return MEM_HOOK(lambda uc, access, address, size, value, user: order.append(name) and False)

    first, second = hook("first"), hook("second")
    # str x0, [x1]
    code = bytes.fromhex("200000f9")
    uc = unicorn.Uc(unicorn.UC_ARCH_ARM64, unicorn.UC_MODE_ARM)
    uc.mem_map(CODE, 0x1000, R | X)
    uc.mem_write(CODE, code)
    hooks = FaultHooks(uc)
    for cb in (first, second):
        hooks.add(unicorn.UC_HOOK_MEM_UNMAPPED, ctypes.cast(cb, ctypes.c_void_p).value or 0)
    hooks.cover([(0x200000, 0x2FFFFF)])
    for address, reached in ((0x300000, []), (0x200010, ["first", "second"])):
        order.clear()
        uc.reg_write(a64.UC_ARM64_REG_X1, address)
        with pytest.raises(unicorn.UcError) as fault:
            uc.emu_start(CODE, CODE + len(code))
        assert fault.value.errno == unicorn.UC_ERR_WRITE_UNMAPPED
        assert order == reached


def test_fault_hooks_hold_exactly_the_ranges_through_many_changes() -> None:
    """Random range lists (growing past the slots, shrinking, the top moving): the begin/end Unicorn
    reads from each hook take in exactly the listed ranges, and a store reaches the hook exactly
    where a range covers it."""
    rng = random.Random(7)
    reached: list[int] = []
    callback = MEM_HOOK(lambda uc, access, address, size, value, user: reached.append(address) and False)
    uc = unicorn.Uc(unicorn.UC_ARCH_ARM64, unicorn.UC_MODE_ARM)
    uc.mem_map(CODE, 0x1000, R | X)
    uc.mem_write(CODE, bytes.fromhex("200000f9"))      # str x0, [x1]
    hooks = FaultHooks(uc, [(0, 2**64 - 1)])
    hooks.add(unicorn.UC_HOOK_MEM_WRITE_UNMAPPED, ctypes.cast(callback, ctypes.c_void_p).value or 0)
    for step in range(60):
        cuts = sorted(rng.sample(range(0x20, 0x400), 2 * rng.randint(1, 12)))
        ranges = [(a << 20, (b << 20) - 1) for a, b in zip(cuts[::2], cuts[1::2], strict=True)]
        if step % 3:
            ranges.append((0x500 << 20, 2**64 - 1))
        hooks.cover(ranges)
        handles = hooks._handles[0]
        held = {tuple((ctypes.c_uint64 * 2).from_address(h + hooks._offset)) for h in handles}
        assert held - {(ranges[-1][1], ranges[-1][1])} == set(ranges) - {(ranges[-1][1], ranges[-1][1])}
        for begin, end in ranges[:3]:
            after = any(b <= end + 1 <= e for b, e in ranges)
            for address, inside in ((begin, True), (end - 7, True), (end + 1, after)):
                reached.clear()
                uc.reg_write(a64.UC_ARM64_REG_X1, address)
                with pytest.raises(unicorn.UcError):
                    uc.emu_start(CODE, CODE + 4)
                assert reached == ([address] if inside else []), (step, hex(address))
