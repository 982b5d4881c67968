"""AArch64 exception entry done by vm, because Unicorn never does it.

Unicorn hands every synchronous exception (svc, hvc, smc, undefined instruction, instruction and data
aborts from the guest's own MMU) to UC_HOOK_INTR instead of taking it, and has no call that raises an
interrupt line. So vm takes both into EL1 itself, as ARM DDI 0487 D1.10 ("Exception entry") says:
SPSR_EL1 <- PSTATE, ELR_EL1 <- the return address, ESR_EL1 and FAR_EL1 from the exception, PSTATE <- EL1h
with DAIF masked (PAN set when SCTLR_EL1.SPAN is 0), SP_EL0 saved when coming from EL0 or EL1t, and PC
<- VBAR_EL1 + the vector offset. `eret` (Unicorn's own) then returns exactly.

The syndrome and the faulting address Unicorn computed are not readable through its API; they sit in
the CPU state that `context_save` copies (QEMU's CPUARMState.exception). Their offset there is found
once per process by raising a known `svc` on a scratch engine and looking for its syndrome.
"""

from __future__ import annotations

import struct
from functools import cache
from typing import Any

import unicorn
from unicorn import arm64_const as a64

from vmcli.machine.engine import fetch_virtual

SVC_PROBE = 0xD4024681                 # svc #0x1234
SVC_PROBE_SYNDROME = 0x5600_1234       # EC 0x15, IL, imm16
EL1_SCR_RW = (3, 6, 1, 1, 0)           # SCR_EL3: bit 10 RW makes EL1 AArch64 (Unicorn resets it to 0)
SPSR_EL1 = (3, 0, 4, 0, 0)
SCTLR_EL1 = (3, 0, 1, 0, 0)
SCTLR_SPAN = 1 << 23
PSTATE_PAN = 1 << 22
PSTATE_IL, PSTATE_SS = 1 << 20, 1 << 21
PSTATE_DAIF = 0x3C0
PSTATE_I = 0x80
EL1H = 0x5
VECTOR_SYNC, VECTOR_IRQ = 0x000, 0x080
# Unicorn's (QEMU's) exception numbers that are synchronous exceptions taken to EL1
EXCP_UDEF, EXCP_SWI, EXCP_PREFETCH_ABORT, EXCP_DATA_ABORT, EXCP_BKPT = 1, 2, 3, 4, 7
EXCP_HVC, EXCP_SMC = 11, 13
# exception classes whose FAR_EL1 is meaningful
EC_WITH_FAR = {0x20, 0x21, 0x22, 0x24, 0x25, 0x34, 0x35}


@cache
def exception_offset() -> int:
    """Where CPUARMState.exception {u32 syndrome, u32 fsr, u64 vaddress, u32 target_el} lies in a
    saved context of this Unicorn build."""
    uc = unicorn.Uc(unicorn.UC_ARCH_ARM64, unicorn.UC_MODE_ARM)
    uc.mem_map(0, 0x1000)
    uc.mem_write(0, struct.pack("<I", SVC_PROBE))
    found: list[int] = []

    def on_intr(uc: Any, intno: int, user: object) -> None:
        data = bytes(uc.context_save())
        probe = struct.pack("<I", SVC_PROBE_SYNDROME)
        found.append(data.find(probe))
        uc.emu_stop()

    uc.hook_add(unicorn.UC_HOOK_INTR, on_intr)
    uc.emu_start(0, 4)
    if not found or found[0] < 0:
        raise RuntimeError("cannot find the exception syndrome in Unicorn's saved CPU state")
    return found[0]


def pending_exception(uc: Any) -> tuple[int, int]:
    """(syndrome, vaddress) of the exception Unicorn is handing to UC_HOOK_INTR."""
    syndrome, _fsr, vaddress = struct.unpack_from("<IIQ", bytes(uc.context_save()), exception_offset())
    return syndrome, vaddress


def set_el1_aarch64(uc: Any) -> None:
    """At reset: EL1 is AArch64 (SCR_EL3.RW), or every eret to EL1 is an illegal return."""
    uc.cpr_write(*EL1_SCR_RW, uc.cpr_read(*EL1_SCR_RW) | (1 << 10))


def vbar(uc: Any) -> int:
    return int(uc.reg_read(a64.UC_ARM64_REG_VBAR_EL1))


def irq_masked(uc: Any) -> bool:
    return bool(uc.reg_read(a64.UC_ARM64_REG_PSTATE) & PSTATE_I)


def enter_el1(uc: Any, kind: int, return_pc: int, syndrome: int | None = None,
              far: int | None = None) -> None:
    """Take an exception to EL1: `kind` is VECTOR_SYNC or VECTOR_IRQ; `return_pc` goes to ELR_EL1."""
    pstate = int(uc.reg_read(a64.UC_ARM64_REG_PSTATE))
    el, spsel = (pstate >> 2) & 3, pstate & 1
    if el == 0:
        base = 0x400                               # from a lower EL, AArch64
    elif spsel:
        base = 0x200                               # current EL with SP_ELx
    else:
        base = 0x000                               # current EL with SP_EL0
    if el == 0 or not spsel:
        uc.reg_write(a64.UC_ARM64_REG_SP_EL0, uc.reg_read(a64.UC_ARM64_REG_SP))
        new_sp = uc.reg_read(a64.UC_ARM64_REG_SP_EL1)
    else:
        new_sp = None
    uc.reg_write(a64.UC_ARM64_REG_ELR_EL1, return_pc)
    if syndrome is not None:
        uc.reg_write(a64.UC_ARM64_REG_ESR_EL1, syndrome)
    if far is not None:
        uc.reg_write(a64.UC_ARM64_REG_FAR_EL1, far)
    new = (pstate & ~(0xF | PSTATE_IL | PSTATE_SS)) | PSTATE_DAIF | EL1H
    if not uc.cpr_read(*SCTLR_EL1) & SCTLR_SPAN:
        new |= PSTATE_PAN
    uc.reg_write(a64.UC_ARM64_REG_PSTATE, new)
    # After the PSTATE write: Unicorn rebuilds its cached translation flags (the EL code is translated
    # for) on a system register write, not on a PSTATE write (unicorn_aarch64.c, reg_write).
    uc.cpr_write(*SPSR_EL1, pstate)
    if new_sp is not None:
        uc.reg_write(a64.UC_ARM64_REG_SP, new_sp)
    uc.reg_write(a64.UC_ARM64_REG_PC, vbar(uc) + base + kind)


def take_sync(uc: Any) -> None:
    """Deliver the synchronous exception now in UC_HOOK_INTR to the guest's EL1 vector. The PC is
    the preferred return address already (past an svc/hvc/smc, at a faulting instruction)."""
    syndrome, vaddress = pending_exception(uc)
    far = vaddress if (syndrome >> 26) in EC_WITH_FAR else None
    enter_el1(uc, VECTOR_SYNC, int(uc.reg_read(a64.UC_ARM64_REG_PC)), syndrome, far)


def take_irq(uc: Any) -> None:
    """An IRQ between slices: the PC is the next instruction to run, which is where eret returns."""
    enter_el1(uc, VECTOR_IRQ, int(uc.reg_read(a64.UC_ARM64_REG_PC)))


def read_insn(uc: Any, va: int) -> int | None:
    """The 32-bit instruction at virtual address `va` (through the CPU's own MMU), or None if it
    cannot be read."""
    word = fetch_virtual(uc, va, 4)
    return int.from_bytes(word, "little") if word is not None else None
