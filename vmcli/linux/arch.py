"""The Linux ABI of each arch vm runs in user mode: system call registers, TLS, the ELF auxv facts,
address-space layout and the few structure and flag values that differ from the host's.

The CPU itself (Unicorn modes, PC/SP, register names) comes from vmcli.machine.cpu's ArchSpec; this
table adds what only a Linux program sees.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from unicorn import arm64_const as a64
from unicorn import riscv_const as rv
from unicorn import x86_const as x86

from vmcli.linux import signals as sig
from vmcli.linux.syscalls.numbers import NUMBERS
from vmcli.machine.cpu import ARCHES, ArchSpec


def _rv_hwcap(letters: str) -> int:
    return sum(1 << (ord(c) - ord("a")) for c in letters)


@dataclass(frozen=True)
class LinuxArch:
    name: str
    spec: ArchSpec
    elf_machine: int                  # e_machine
    nr: int                           # register holding the system call number
    args: tuple[int, ...]             # the six argument registers
    ret: int                          # the result register
    tls: int                          # thread pointer: TPIDR_EL0, tp, FS_BASE
    link: int | None                  # return address register (None: x86 pushes it)
    syscall_len: int                  # bytes of the system call instruction
    syscall_insn: bytes               # the instruction, for the signal return trampoline
    hook_pc_at_insn: bool             # in the syscall hook the PC is still on the instruction, and
                                      # Unicorn adds syscall_len to what the hook writes (x86_64)
    hwcap: int
    hwcap2: int
    platform: str | None              # AT_PLATFORM
    uname: str                        # utsname.machine
    generic_stat: bool                # struct stat is asm-generic's (x86_64 has its own)
    clone_tls_last: bool              # x86_64 clone(flags, stack, ptid, ctid, tls); generic: (.., ptid, tls, ctid)
    sigaction_restorer: bool          # struct sigaction has sa_restorer (riscv64 has not)
    open_flags: tuple[tuple[int, int], ...]   # (guest bit, host bit) pairs that differ from the host's
    interp: str                       # the usual PT_INTERP, for messages
    sysroots: tuple[str, ...]         # Debian's cross sysroots, tried when no --sysroot is given
    traps: dict[int, str | tuple[int, int]]   # UC_HOOK_INTR number -> "syscall" or (signal, si_code)
    intr_pc_after: frozenset[int]     # INTR numbers Unicorn reports with the PC past the instruction
    syscall_insn_hook: int | None     # UC_HOOK_INSN instruction id when system calls arrive there (x86)
    invalid_insn_hook: bool           # undefined instructions (and ebreak) arrive at UC_HOOK_INSN_INVALID
    addressless: frozenset[int]       # signals whose si_addr is 0 when a trap raises them (x86 #GP, int3)
    ill_code: int                     # si_code of an undefined instruction: ILL_ILLOPC, x86's ILL_ILLOPN
    epoll_event: str                  # struct epoll_event (packed on x86_64)
    cpu_setup: tuple[tuple[int, int], ...]   # (register, bits set) before the first instruction
    minsigstksz: int                  # AT_MINSIGSTKSZ (0: not given)
    numbers: dict[int, str]
    names: dict[str, int]

    @property
    def sigreturn_trampoline(self) -> bytes:
        """`mov x8, #139; svc #0` and its kin: libgcc's unwinder recognises exactly these bytes."""
        return TRAMPOLINES[self.name]


# The kernel's own rt_sigreturn trampolines (arch/*/kernel/vdso/sigreturn.S, x86's restorer in glibc).
TRAMPOLINES = {
    "arm64": bytes.fromhex("681180d2" "010000d4"),             # mov x8, #139; svc #0
    "riscv64": bytes.fromhex("9308b008" "73000000"),           # li a7, 139; ecall
    "x86_64": bytes.fromhex("48c7c00f000000" "0f05"),          # mov $15, %rax; syscall
}

# Open flags whose values differ between arches: asm-generic's (riscv64, x86_64) and arm64's fcntl.h.
_GENERIC_OPEN = {"O_DIRECTORY": 0o200000, "O_NOFOLLOW": 0o400000, "O_DIRECT": 0o40000, "O_LARGEFILE": 0o100000}
_ARM64_OPEN = {"O_DIRECTORY": 0o40000, "O_NOFOLLOW": 0o100000, "O_DIRECT": 0o200000, "O_LARGEFILE": 0o400000}
_HOST_OPEN = {name: getattr(os, name, _GENERIC_OPEN[name]) or _GENERIC_OPEN[name] for name in _GENERIC_OPEN}


def _flag_pairs(guest: dict[str, int]) -> tuple[tuple[int, int], ...]:
    """(guest bit, host bit) for the flags whose values differ; empty when none do."""
    pairs = tuple((guest[n], _HOST_OPEN[n]) for n in guest)
    return () if all(g == h for g, h in pairs) else pairs


def _arch(name: str, **kw: object) -> LinuxArch:
    numbers = NUMBERS[name]
    return LinuxArch(name=name, spec=ARCHES[name], numbers=numbers,
                     names={v: k for k, v in numbers.items()}, **kw)  # type: ignore[arg-type]


LINUX_ARCHES: dict[str, LinuxArch] = {
    "arm64": _arch(
        "arm64", elf_machine=183, nr=a64.UC_ARM64_REG_X8,
        args=tuple(getattr(a64, f"UC_ARM64_REG_X{i}") for i in range(6)), ret=a64.UC_ARM64_REG_X0,
        tls=a64.UC_ARM64_REG_TPIDR_EL0, link=a64.UC_ARM64_REG_X30, syscall_len=4,
        syscall_insn=bytes.fromhex("010000d4"), hook_pc_at_insn=False,
        # fp, asimd, aes, pmull, sha1, sha2, crc32: what Unicorn's Cortex-A72 model runs
        hwcap=0x1 | 0x2 | 0x8 | 0x10 | 0x20 | 0x40 | 0x80, hwcap2=0, platform="aarch64", uname="aarch64",
        generic_stat=True, clone_tls_last=False, sigaction_restorer=True, open_flags=_flag_pairs(_ARM64_OPEN),
        interp="/lib/ld-linux-aarch64.so.1", sysroots=("/usr/aarch64-linux-gnu",),
        # QEMU's EXCP_UDEF 1, EXCP_SWI 2, EXCP_BKPT 7; hvc 11 and smc 13 arrive past the instruction
        traps={2: "syscall", 1: (sig.SIGILL, sig.ILL_ILLOPC), 7: (sig.SIGTRAP, sig.TRAP_BRKPT)},
        intr_pc_after=frozenset({2, 11, 13}), syscall_insn_hook=None, invalid_insn_hook=False,
        addressless=frozenset(), ill_code=sig.ILL_ILLOPC, epoll_event="<I4xQ",
        cpu_setup=((a64.UC_ARM64_REG_CPACR_EL1, 0x300000),),       # FP/SIMD on (CPACR_EL1.FPEN)
        minsigstksz=5120),
    "riscv64": _arch(
        "riscv64", elf_machine=243, nr=rv.UC_RISCV_REG_A7,
        args=tuple(getattr(rv, f"UC_RISCV_REG_A{i}") for i in range(6)), ret=rv.UC_RISCV_REG_A0,
        tls=rv.UC_RISCV_REG_TP, link=rv.UC_RISCV_REG_RA, syscall_len=4,
        syscall_insn=bytes.fromhex("73000000"), hook_pc_at_insn=False,
        hwcap=_rv_hwcap("imafdc"), hwcap2=0, platform=None, uname="riscv64",
        generic_stat=True, clone_tls_last=False, sigaction_restorer=False, open_flags=_flag_pairs(_GENERIC_OPEN),
        interp="/lib/ld-linux-riscv64-lp64d.so.1", sysroots=("/usr/riscv64-linux-gnu",),
        # mcause numbers; Unicorn reports them all with the PC past the instruction
        traps={8: "syscall", 2: (sig.SIGILL, sig.ILL_ILLOPC), 3: (sig.SIGTRAP, sig.TRAP_BRKPT)},
        intr_pc_after=frozenset(range(16)), syscall_insn_hook=None, invalid_insn_hook=True,
        addressless=frozenset(), ill_code=sig.ILL_ILLOPC, epoll_event="<I4xQ",
        cpu_setup=((rv.UC_RISCV_REG_MSTATUS, 0x6000),),             # mstatus.FS: the FPU is on
        minsigstksz=0),
    "x86_64": _arch(
        "x86_64", elf_machine=62, nr=x86.UC_X86_REG_RAX,
        args=(x86.UC_X86_REG_RDI, x86.UC_X86_REG_RSI, x86.UC_X86_REG_RDX, x86.UC_X86_REG_R10,
              x86.UC_X86_REG_R8, x86.UC_X86_REG_R9),
        ret=x86.UC_X86_REG_RAX, tls=x86.UC_X86_REG_FS_BASE, link=None, syscall_len=2,
        syscall_insn=bytes.fromhex("0f05"), hook_pc_at_insn=True,
        hwcap=0x178BFBFF, hwcap2=0, platform="x86_64", uname="x86_64",
        generic_stat=False, clone_tls_last=True, sigaction_restorer=True, open_flags=_flag_pairs(_GENERIC_OPEN),
        interp="/lib64/ld-linux-x86-64.so.2", sysroots=(),
        # exception vectors: #DE, #DB, #BP (int3, past it), #OF, #UD, #GP
        traps={0: (sig.SIGFPE, sig.FPE_INTDIV), 1: (sig.SIGTRAP, 2), 3: (sig.SIGTRAP, sig.SI_KERNEL),
               4: (sig.SIGSEGV, sig.SI_KERNEL), 6: (sig.SIGILL, 2), 13: (sig.SIGSEGV, sig.SI_KERNEL)},
        intr_pc_after=frozenset(), syscall_insn_hook=x86.UC_X86_INS_SYSCALL, invalid_insn_hook=False,
        addressless=frozenset({sig.SIGSEGV, sig.SIGTRAP}), ill_code=2, epoll_event="<IQ",
        cpu_setup=(), minsigstksz=0),
}

ELF_MACHINES = {a.elf_machine: a.name for a in LINUX_ARCHES.values()}


def open_flags_to_host(arch: LinuxArch, flags: int) -> int:
    if not arch.open_flags:
        return flags
    out = flags
    for guest, _ in arch.open_flags:
        out &= ~guest
    for guest, host in arch.open_flags:
        if flags & guest:
            out |= host
    return out


def open_flags_to_guest(arch: LinuxArch, flags: int) -> int:
    if not arch.open_flags:
        return flags
    out = flags
    for _, host in arch.open_flags:
        out &= ~host
    for guest, host in arch.open_flags:
        if flags & host:
            out |= guest
    return out
