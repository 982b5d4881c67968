"""RISC-V trap entry done by vm, because Unicorn does not do it for synchronous exceptions.

Unicorn hands ecall, page faults, access faults and illegal instructions to UC_HOOK_INTR (with the PC
already advanced by 4) instead of taking them, and cannot raise the machine-level interrupt lines
(writes of mip.MTIP/MSIP/MEIP are dropped). vm takes both as the privileged spec (20211203, 3.1.6.1,
3.1.15-3.1.17, 4.1.1) says: to S-mode when the cause is delegated (medeleg/mideleg) and the hart is
not in M-mode, else to M-mode; xepc, xcause, xtval, xstatus.xPP/xPIE/xIE, the new privilege, and the
PC from xtvec (+4 * cause for a vectored interrupt). `mret`/`sret` (Unicorn's own) return exactly.

Unicorn reads and writes M-mode CSRs from the host only while the hart is in M-mode, so PRIV is set
to 3 around every access. The trap value Unicorn computed (CPURISCVState.badaddr) is read from the
state `context_save` copies, at an offset found once by a known misaligned atomic access.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cache

import unicorn
from unicorn import riscv_const as rv

PRIV_U, PRIV_S, PRIV_M = 0, 1, 3
MSTATUS_SIE, MSTATUS_MIE, MSTATUS_SPIE, MSTATUS_MPIE = 1 << 1, 1 << 3, 1 << 5, 1 << 7
MSTATUS_SPP, MSTATUS_MPP_SHIFT = 1 << 8, 11
INTERRUPT = 1 << 63
IRQ_S_SOFT, IRQ_M_SOFT, IRQ_S_TIMER, IRQ_M_TIMER, IRQ_S_EXT, IRQ_M_EXT = 1, 3, 5, 7, 9, 11
M_PRIORITY = (IRQ_M_EXT, IRQ_M_SOFT, IRQ_M_TIMER)     # the spec's order among machine interrupts
CAUSE_ILLEGAL = 2
CAUSE_ECALL_U = 8                        # Unicorn reports every ecall as this; the cause is 8 + privilege
PROBE_ADDR = 0x1234_5672                 # misaligned for amoadd.w: cause 6 with this trap value
AMOADD_W_A0 = 0x00A5_202F               # amoadd.w x0, a0, (a0)


@contextmanager
def machine_mode(uc: unicorn.Uc) -> Iterator[None]:
    priv = int(uc.reg_read(rv.UC_RISCV_REG_PRIV))
    if priv != PRIV_M:
        uc.reg_write(rv.UC_RISCV_REG_PRIV, PRIV_M)
    try:
        yield
    finally:
        if priv != PRIV_M:
            uc.reg_write(rv.UC_RISCV_REG_PRIV, priv)


@cache
def badaddr_offset() -> int:
    uc = unicorn.Uc(unicorn.UC_ARCH_RISCV, unicorn.UC_MODE_RISCV64)
    uc.mem_map(0, 0x1000)
    uc.mem_write(0, struct.pack("<I", AMOADD_W_A0))
    uc.reg_write(rv.UC_RISCV_REG_A0, PROBE_ADDR)
    found: list[int] = []

    def on_intr(uc: unicorn.Uc, intno: int, user: object) -> None:
        data = bytes(uc.context_save())
        probe = struct.pack("<Q", PROBE_ADDR)
        at = data.find(probe, 32 * 8)                 # past the integer registers (a0 holds it too)
        found.append(at)
        uc.emu_stop()

    uc.hook_add(unicorn.UC_HOOK_INTR, on_intr)
    with suppress(unicorn.UcError):
        uc.emu_start(0, 4)
    if not found or found[0] < 0:
        raise RuntimeError("cannot find the trap value in Unicorn's saved RISC-V CPU state")
    return found[0]


def trap_value(uc: unicorn.Uc) -> int:
    return int(struct.unpack_from("<Q", bytes(uc.context_save()), badaddr_offset())[0])


def csr(uc: unicorn.Uc, reg: int) -> int:
    with machine_mode(uc):
        return int(uc.reg_read(reg))


def enter_trap(uc: unicorn.Uc, cause: int, epc: int, tval: int, interrupt: bool = False) -> None:
    priv = int(uc.reg_read(rv.UC_RISCV_REG_PRIV))
    with machine_mode(uc):
        deleg = int(uc.reg_read(rv.UC_RISCV_REG_MIDELEG if interrupt else rv.UC_RISCV_REG_MEDELEG))
        mstatus = int(uc.reg_read(rv.UC_RISCV_REG_MSTATUS))
        to_s = priv <= PRIV_S and bool((deleg >> cause) & 1)
        code = cause | (INTERRUPT if interrupt else 0)
        if to_s:
            uc.reg_write(rv.UC_RISCV_REG_SEPC, epc)
            uc.reg_write(rv.UC_RISCV_REG_SCAUSE, code)
            uc.reg_write(rv.UC_RISCV_REG_STVAL, tval)
            spie = MSTATUS_SPIE if mstatus & MSTATUS_SIE else 0
            spp = MSTATUS_SPP if priv == PRIV_S else 0
            mstatus = (mstatus & ~(MSTATUS_SPIE | MSTATUS_SIE | MSTATUS_SPP)) | spie | spp
            tvec = int(uc.reg_read(rv.UC_RISCV_REG_STVEC))
        else:
            uc.reg_write(rv.UC_RISCV_REG_MEPC, epc)
            uc.reg_write(rv.UC_RISCV_REG_MCAUSE, code)
            uc.reg_write(rv.UC_RISCV_REG_MTVAL, tval)
            mpie = MSTATUS_MPIE if mstatus & MSTATUS_MIE else 0
            mstatus = (mstatus & ~(MSTATUS_MPIE | MSTATUS_MIE | (3 << MSTATUS_MPP_SHIFT))) | mpie \
                | (priv << MSTATUS_MPP_SHIFT)
            tvec = int(uc.reg_read(rv.UC_RISCV_REG_MTVEC))
        uc.reg_write(rv.UC_RISCV_REG_MSTATUS, mstatus)
    uc.reg_write(rv.UC_RISCV_REG_PRIV, PRIV_S if to_s else PRIV_M)
    base = tvec & ~3
    uc.reg_write(rv.UC_RISCV_REG_PC, base + (4 * cause if interrupt and tvec & 1 else 0))


def take_exception(uc: unicorn.Uc, intno: int) -> None:
    """The exception in UC_HOOK_INTR: Unicorn has moved the PC 4 past the trapping instruction."""
    epc = int(uc.reg_read(rv.UC_RISCV_REG_PC)) - 4
    tval = trap_value(uc)
    if intno == CAUSE_ECALL_U:
        intno += int(uc.reg_read(rv.UC_RISCV_REG_PRIV))         # from S-mode 9, from M-mode 11
        tval = 0
    if intno == CAUSE_ILLEGAL:
        try:
            low = int.from_bytes(uc.mem_read(epc, 2), "little")
            tval = low if low & 3 != 3 else int.from_bytes(uc.mem_read(epc, 4), "little")
        except unicorn.UcError:
            tval = 0
    enter_trap(uc, intno, epc, tval)


def machine_interrupt(uc: unicorn.Uc, pending: int) -> int | None:
    """The machine interrupt to take now among `pending` (mip bits), or None if masked."""
    with machine_mode(uc):
        mie = int(uc.reg_read(rv.UC_RISCV_REG_MIE))
        mstatus = int(uc.reg_read(rv.UC_RISCV_REG_MSTATUS))
    priv = int(uc.reg_read(rv.UC_RISCV_REG_PRIV))
    if priv == PRIV_M and not mstatus & MSTATUS_MIE:
        return None
    for cause in M_PRIORITY:
        if pending & mie & (1 << cause):
            return cause
    return None


def interrupts_enabled(uc: unicorn.Uc, pending: int) -> bool:
    """wfi wakes when an interrupt is pending and enabled in mie, whatever the global enables say."""
    return bool(pending & csr(uc, rv.UC_RISCV_REG_MIE))
