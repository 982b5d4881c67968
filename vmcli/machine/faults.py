"""Guest faults: what stopped the CPU, in words, with the state a user needs to see why."""

from __future__ import annotations

from dataclasses import dataclass, field

import unicorn

from vmcli.machine.cpu import Cpu

UC_ERRORS = {
    unicorn.UC_ERR_READ_UNMAPPED: "read from unmapped memory",
    unicorn.UC_ERR_WRITE_UNMAPPED: "write to unmapped memory",
    unicorn.UC_ERR_FETCH_UNMAPPED: "instruction fetch from unmapped memory",
    unicorn.UC_ERR_READ_PROT: "read from protected memory",
    unicorn.UC_ERR_WRITE_PROT: "write to protected memory",
    unicorn.UC_ERR_FETCH_PROT: "instruction fetch from non-executable memory",
    unicorn.UC_ERR_READ_UNALIGNED: "unaligned read",
    unicorn.UC_ERR_WRITE_UNALIGNED: "unaligned write",
    unicorn.UC_ERR_FETCH_UNALIGNED: "unaligned instruction fetch",
    unicorn.UC_ERR_INSN_INVALID: "undefined instruction",
    unicorn.UC_ERR_EXCEPTION: "unhandled CPU exception",
}

# QEMU's target/arm exception numbers as Unicorn passes them to UC_HOOK_INTR.
ARM64_EXCEPTIONS = {
    1: "undefined instruction", 2: "supervisor call (svc) with no handler", 3: "prefetch abort",
    4: "data abort", 5: "IRQ", 6: "FIQ", 7: "breakpoint (brk)", 11: "hypervisor call (hvc)",
    13: "secure monitor call (smc)",
}
X86_EXCEPTIONS = {
    0: "divide error (#DE)", 1: "debug (#DB)", 3: "breakpoint (int3)", 4: "overflow (#OF)",
    5: "bound range (#BR)", 6: "invalid opcode (#UD)", 7: "device not available (#NM)",
    8: "double fault (#DF)", 13: "general protection (#GP)", 14: "page fault (#PF)",
    16: "x87 floating point (#MF)", 17: "alignment check (#AC)", 19: "SIMD floating point (#XM)",
}
# RISC-V mcause exception codes (privileged spec, table 3.6).
RISCV_EXCEPTIONS = {
    0: "misaligned instruction fetch", 1: "instruction access fault", 2: "undefined instruction",
    3: "breakpoint (ebreak)", 4: "misaligned load", 5: "load access fault", 6: "misaligned store",
    7: "store access fault", 8: "environment call (ecall) with no handler", 12: "instruction page fault",
    13: "load page fault", 15: "store page fault",
}
# x86 exceptions that are faults: the saved RIP is the faulting instruction (traps save the next one).
X86_FAULTS = {0, 5, 6, 7, 8, 13, 14, 16, 17, 19}
MEM_ACCESS = {
    unicorn.UC_MEM_READ_UNMAPPED: "read from unmapped memory",
    unicorn.UC_MEM_WRITE_UNMAPPED: "write to unmapped memory",
    unicorn.UC_MEM_FETCH_UNMAPPED: "instruction fetch from unmapped memory",
    unicorn.UC_MEM_READ_PROT: "read from protected memory",
    unicorn.UC_MEM_WRITE_PROT: "write to protected memory",
    unicorn.UC_MEM_FETCH_PROT: "instruction fetch from non-executable memory",
}


@dataclass
class Fault:
    reason: str
    pc: int
    address: int | None = None       # the data address of a memory fault
    size: int = 0
    insn_bytes: bytes = b""
    insn_text: str = ""
    registers: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        where = f" at {self.address:#x}" + (f" ({self.size} bytes)" if self.size else "") \
            if self.address is not None else ""
        return f"{self.reason}{where}, pc={self.pc:#x}"


def describe(cpu: Cpu, reason: str, *, address: int | None = None, size: int = 0) -> Fault:
    """Capture the CPU state for a fault report."""
    pc = cpu.pc
    fault = Fault(reason, pc, address, size, registers=cpu.registers())
    insn = cpu.disassemble_at(pc)
    if insn is not None:
        fault.insn_bytes, fault.insn_text = insn
    return fault
