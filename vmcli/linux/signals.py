"""Signals: dispositions, siginfo, and the kernel's signal frames per arch, built on the guest stack
exactly as arch/*/kernel/signal.c lays them out, so SA_SIGINFO handlers, siglongjmp and unwinders
that read the ucontext see what they would see on Linux.

arm64:   rt_sigframe {siginfo; ucontext} + frame_record {fp, lr}; __reserved holds fpsimd_context
         (and esr_context for faults), then the end marker.
riscv64: rt_sigframe {siginfo; ucontext}; sc_regs then the F/D state; ra -> the trampoline page.
x86_64:  rt_sigframe {pretcode; ucontext; siginfo} below the red zone, fxsave area 64-aligned above.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

import unicorn
from unicorn import arm64_const as a64
from unicorn import riscv_const as rv
from unicorn import x86_const as x86

if TYPE_CHECKING:
    from vmcli.linux.process import GuestThread, Process

NSIG = 64
SIG_DFL, SIG_IGN = 0, 1
SA_NOCLDSTOP, SA_NOCLDWAIT, SA_SIGINFO, SA_ONSTACK = 1, 2, 4, 0x08000000
SA_RESTART, SA_NODEFER, SA_RESETHAND, SA_RESTORER = 0x10000000, 0x40000000, 0x80000000, 0x04000000
SS_ONSTACK, SS_DISABLE = 1, 2
SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGKILL = 1, 2, 3, 4, 5, 6, 7, 8, 9
SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM = 10, 11, 12, 13, 14, 15
SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGWINCH, SIGSYS = 17, 18, 19, 20, 21, 22, 23, 28, 31
SI_USER, SI_KERNEL, SI_TKILL = 0, 0x80, -6
SEGV_MAPERR, SEGV_ACCERR, ILL_ILLOPC, TRAP_BRKPT, FPE_INTDIV, BUS_ADRALN = 1, 2, 1, 1, 1, 1

DEFAULT_IGNORE = {SIGCHLD, SIGCONT, SIGURG, SIGWINCH}
DEFAULT_STOP = {SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU}
UNBLOCKABLE = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1))


def bit(sig: int) -> int:
    return 1 << (sig - 1)


@dataclass
class Action:
    handler: int = SIG_DFL
    flags: int = 0
    restorer: int = 0
    mask: int = 0


def siginfo(sig: int, code: int = SI_USER, *, pid: int = 0, uid: int = 0, addr: int | None = None,
            status: int | None = None, value: int = 0, errno: int = 0, tail: bytes = b"") -> bytes:
    """The 128-byte generic siginfo: signo, errno, code, then the union at offset 16."""
    head = struct.pack("<iii4x", sig, errno, code)
    if addr is not None:
        body = struct.pack("<Q", addr)
    elif status is not None:
        body = struct.pack("<iIi4x", pid, uid, status) + tail
    else:
        body = struct.pack("<iIQ", pid, uid, value) + tail
    return (head + body).ljust(128, b"\0")[:128]


def from_signalfd(raw: bytes) -> tuple[int, bytes]:
    """(signo, guest siginfo) from a struct signalfd_siginfo."""
    (signo, errno, code, pid, uid, fd, tid, band, overrun, trapno, status, sival_int, ptr, utime, stime,
     addr) = struct.unpack_from("<IiiIIiIIIIiiQQQQ", raw)
    if signo == SIGCHLD:
        return signo, siginfo(signo, code, pid=pid, uid=uid, status=status, tail=struct.pack("<QQ", utime, stime))
    if code == -2:      # SI_TIMER: si_tid, si_overrun, si_value
        return signo, (struct.pack("<iii4xiiQ", signo, errno, code, tid, overrun, ptr)).ljust(128, b"\0")
    if signo in (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP) and code > 0:
        return signo, siginfo(signo, code, addr=addr)
    return signo, siginfo(signo, code, pid=pid, uid=uid, value=ptr)


# -- per-arch frames ---------------------------------------------------------------------------------
def _regs(uc: unicorn.Uc, ids: list[int]) -> list[int]:
    return [int(uc.reg_read(r)) for r in ids]


ARM64_X = [getattr(a64, f"UC_ARM64_REG_X{i}") for i in range(29)] + [a64.UC_ARM64_REG_X29, a64.UC_ARM64_REG_X30]
ARM64_Q = [getattr(a64, f"UC_ARM64_REG_Q{i}") for i in range(32)]
RV_X = [getattr(rv, f"UC_RISCV_REG_X{i}") for i in range(1, 32)]
RV_F = [getattr(rv, f"UC_RISCV_REG_F{i}") for i in range(32)]
X86_SC = ["r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rdi", "rsi", "rbp", "rbx", "rdx", "rax", "rcx",
          "rsp", "rip", "eflags"]
X86_SC_IDS = [getattr(x86, f"UC_X86_REG_{n.upper()}") for n in X86_SC]


def _stack_t(t: GuestThread, sp: int) -> bytes:
    ss_sp, ss_flags, ss_size = t.altstack
    on = ss_size and ss_sp <= sp - 1 < ss_sp + ss_size and not ss_flags & SS_DISABLE
    flags = SS_DISABLE if ss_flags & SS_DISABLE or not ss_size else (SS_ONSTACK if on else 0)
    return struct.pack("<Qi4xQ", ss_sp, flags, ss_size)


def _frame_sp(t: GuestThread, sp: int, action: Action) -> int:
    """The stack the frame goes on: the alternate stack when asked for and not already on it."""
    ss_sp, ss_flags, ss_size = t.altstack
    if action.flags & SA_ONSTACK and ss_size and not ss_flags & SS_DISABLE and not (ss_sp <= sp - 1 < ss_sp + ss_size):
        return ss_sp + ss_size
    return sp


def build_frame(p: Process, t: GuestThread, sig: int, info: bytes, action: Action, old_mask: int) -> None:
    {"arm64": _arm64_frame, "riscv64": _riscv_frame, "x86_64": _x86_frame}[p.arch.name](
        p, t, sig, info, action, old_mask)


def sigreturn(p: Process, t: GuestThread) -> None:
    {"arm64": _arm64_return, "riscv64": _riscv_return, "x86_64": _x86_return}[p.arch.name](p, t)


def _restore_stack(t: GuestThread, raw: bytes) -> None:
    ss_sp, ss_flags, ss_size = struct.unpack("<Qi4xQ", raw)
    if not ss_flags & SS_ONSTACK:            # restore_altstack: as sigaltstack would, when not on it
        t.altstack = (ss_sp, ss_flags & SS_DISABLE, ss_size)


# arm64: arch/arm64/kernel/signal.c
A64_UC = 128                        # ucontext inside rt_sigframe
A64_MCTX = A64_UC + 176             # uc_mcontext (struct sigcontext, 16-aligned)
A64_RESERVED = A64_MCTX + 288       # sigcontext.__reserved
A64_FRAME = 4688                    # sizeof(struct rt_sigframe)
FPSIMD_MAGIC, ESR_MAGIC = 0x46508001, 0x45535201


def _arm64_frame(p: Process, t: GuestThread, sig: int, info: bytes, action: Action, old_mask: int) -> None:
    uc = p.uc
    x = _regs(uc, ARM64_X)
    sp, pc, pstate = _regs(uc, [a64.UC_ARM64_REG_SP, a64.UC_ARM64_REG_PC, a64.UC_ARM64_REG_NZCV])
    top = _frame_sp(t, sp, action)
    record = (top - 16) & ~15
    frame = (record - A64_FRAME) & ~15
    mem = p.mem
    fault = t.fault_addr or 0 if sig in (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP) else 0
    ctx = bytearray(A64_FRAME)
    ctx[0:128] = info
    ctx[A64_UC + 16:A64_UC + 40] = _stack_t(t, sp)
    struct.pack_into("<Q", ctx, A64_UC + 40, old_mask)
    struct.pack_into("<Q31QQQQ", ctx, A64_MCTX, fault, *x, sp, pc, pstate & 0xF0000000)
    at = A64_RESERVED
    fpsr, fpcr = int(uc.reg_read(a64.UC_ARM64_REG_FPSR)), int(uc.reg_read(a64.UC_ARM64_REG_FPCR))
    struct.pack_into("<IIII", ctx, at, FPSIMD_MAGIC, 528, fpsr, fpcr)
    for i, q in enumerate(ARM64_Q):
        ctx[at + 16 + 16 * i:at + 32 + 16 * i] = (int(uc.reg_read(q)) & (2**128 - 1)).to_bytes(16, "little")
    at += 528
    if fault:
        struct.pack_into("<IIQ", ctx, at, ESR_MAGIC, 16, t.fault_esr)
        at += 16
    struct.pack_into("<II", ctx, at, 0, 0)
    mem.write(frame, bytes(ctx))
    mem.write(record, struct.pack("<QQ", x[29], x[30]))
    restorer = action.restorer if action.flags & SA_RESTORER else p.sigpage
    uc.reg_write(a64.UC_ARM64_REG_X0, sig)
    uc.reg_write(a64.UC_ARM64_REG_X1, frame)
    uc.reg_write(a64.UC_ARM64_REG_X2, frame + A64_UC)
    uc.reg_write(a64.UC_ARM64_REG_SP, frame)
    uc.reg_write(a64.UC_ARM64_REG_X29, record)
    uc.reg_write(a64.UC_ARM64_REG_X30, restorer)
    uc.reg_write(a64.UC_ARM64_REG_PC, action.handler)


def _arm64_return(p: Process, t: GuestThread) -> None:
    uc = p.uc
    frame = int(uc.reg_read(a64.UC_ARM64_REG_SP))
    raw = p.mem.read(frame, A64_FRAME)
    _restore_stack(t, raw[A64_UC + 16:A64_UC + 40])
    t.mask = struct.unpack_from("<Q", raw, A64_UC + 40)[0] & ~UNBLOCKABLE
    vals = struct.unpack_from("<31QQQQ", raw, A64_MCTX + 8)
    for reg, v in zip(ARM64_X, vals[:31], strict=True):
        uc.reg_write(reg, v)
    uc.reg_write(a64.UC_ARM64_REG_SP, vals[31])
    uc.reg_write(a64.UC_ARM64_REG_PC, vals[32])
    uc.reg_write(a64.UC_ARM64_REG_NZCV, vals[33] & 0xF0000000)
    magic, size, fpsr, fpcr = struct.unpack_from("<IIII", raw, A64_RESERVED)
    if magic == FPSIMD_MAGIC:
        uc.reg_write(a64.UC_ARM64_REG_FPSR, fpsr)
        uc.reg_write(a64.UC_ARM64_REG_FPCR, fpcr)
        for i, q in enumerate(ARM64_Q):
            at = A64_RESERVED + 16 + 16 * i
            uc.reg_write(q, int.from_bytes(raw[at:at + 16], "little"))


# riscv64: arch/riscv/kernel/signal.c
RV_UC = 128
RV_MCTX = RV_UC + 176
RV_FRAME = 1088


def _riscv_frame(p: Process, t: GuestThread, sig: int, info: bytes, action: Action, old_mask: int) -> None:
    uc = p.uc
    x = _regs(uc, RV_X)                    # x1..x31
    pc = int(uc.reg_read(rv.UC_RISCV_REG_PC))
    sp = x[1]
    frame = (_frame_sp(t, sp, action) - RV_FRAME) & ~15
    ctx = bytearray(RV_FRAME)
    ctx[0:128] = info
    ctx[RV_UC + 16:RV_UC + 40] = _stack_t(t, sp)
    struct.pack_into("<Q", ctx, RV_UC + 40, old_mask)
    struct.pack_into("<32Q", ctx, RV_MCTX, pc, *x)
    f = _regs(uc, RV_F)
    struct.pack_into("<32QI", ctx, RV_MCTX + 256, *f, int(uc.reg_read(rv.UC_RISCV_REG_FCSR)))
    p.mem.write(frame, bytes(ctx))
    uc.reg_write(rv.UC_RISCV_REG_A0, sig)
    uc.reg_write(rv.UC_RISCV_REG_A1, frame)
    uc.reg_write(rv.UC_RISCV_REG_A2, frame + RV_UC)
    uc.reg_write(rv.UC_RISCV_REG_SP, frame)
    uc.reg_write(rv.UC_RISCV_REG_RA, p.sigpage)
    uc.reg_write(rv.UC_RISCV_REG_PC, action.handler)


def _riscv_return(p: Process, t: GuestThread) -> None:
    uc = p.uc
    frame = int(uc.reg_read(rv.UC_RISCV_REG_SP))
    raw = p.mem.read(frame, RV_FRAME)
    _restore_stack(t, raw[RV_UC + 16:RV_UC + 40])
    t.mask = struct.unpack_from("<Q", raw, RV_UC + 40)[0] & ~UNBLOCKABLE
    vals = struct.unpack_from("<32Q", raw, RV_MCTX)
    for reg, v in zip(RV_X, vals[1:], strict=True):
        uc.reg_write(reg, v)
    uc.reg_write(rv.UC_RISCV_REG_PC, vals[0])
    fvals = struct.unpack_from("<32QI", raw, RV_MCTX + 256)
    for reg, v in zip(RV_F, fvals[:32], strict=True):
        uc.reg_write(reg, v)
    uc.reg_write(rv.UC_RISCV_REG_FCSR, fvals[32])


# x86_64: arch/x86/kernel/signal_64.c
X86_UC = 8
X86_MCTX = X86_UC + 40
X86_MASK = X86_UC + 296
X86_INFO = X86_UC + 304
X86_FRAME = X86_INFO + 128
FXSAVE = 512
UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS = 2, 4


def _fxsave(uc: unicorn.Uc) -> bytes:
    area = bytearray(FXSAVE)
    struct.pack_into("<HHH", area, 0, int(uc.reg_read(x86.UC_X86_REG_FPCW)), int(uc.reg_read(x86.UC_X86_REG_FPSW)),
                     0)
    struct.pack_into("<I", area, 24, int(uc.reg_read(x86.UC_X86_REG_MXCSR)))
    struct.pack_into("<I", area, 28, 0xFFFF)
    for i in range(8):
        mant, exp = uc.reg_read(getattr(x86, f"UC_X86_REG_FP{i}"))
        area[32 + 16 * i:32 + 16 * i + 10] = (mant & (2**64 - 1)).to_bytes(8, "little") + (exp & 0xFFFF).to_bytes(
            2, "little")
    for i in range(16):
        area[160 + 16 * i:176 + 16 * i] = int(uc.reg_read(getattr(x86, f"UC_X86_REG_XMM{i}"))).to_bytes(16, "little")
    return bytes(area)


def _fxrstor(uc: unicorn.Uc, area: bytes) -> None:
    cw, sw = struct.unpack_from("<HH", area, 0)
    uc.reg_write(x86.UC_X86_REG_FPCW, cw)
    uc.reg_write(x86.UC_X86_REG_FPSW, sw)
    uc.reg_write(x86.UC_X86_REG_MXCSR, struct.unpack_from("<I", area, 24)[0])
    for i in range(16):
        uc.reg_write(getattr(x86, f"UC_X86_REG_XMM{i}"), int.from_bytes(area[160 + 16 * i:176 + 16 * i], "little"))


def _x86_frame(p: Process, t: GuestThread, sig: int, info: bytes, action: Action, old_mask: int) -> None:
    uc = p.uc
    vals = _regs(uc, X86_SC_IDS)
    sp = vals[15]
    top = _frame_sp(t, sp, action)
    if top == sp:
        top -= 128                          # the red zone
    fx = (top - FXSAVE) & ~63
    frame = ((fx - X86_FRAME) & ~15) - 8
    ctx = bytearray(X86_FRAME)
    struct.pack_into("<Q", ctx, 0, action.restorer)
    struct.pack_into("<Q", ctx, X86_UC, UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS)
    ctx[X86_UC + 16:X86_UC + 40] = _stack_t(t, sp)
    struct.pack_into("<18Q", ctx, X86_MCTX, *vals)
    trapno = {SIGSEGV: 14, SIGFPE: 0, SIGILL: 6, SIGTRAP: 3}.get(sig, 0) if t.fault_addr is not None else 0
    struct.pack_into("<HHHHQQQQQ", ctx, X86_MCTX + 144, 0x33, 0, 0, 0x2B, t.fault_esr, trapno, old_mask,
                     t.fault_addr or 0, fx)
    struct.pack_into("<Q", ctx, X86_MASK, old_mask)
    ctx[X86_INFO:X86_INFO + 128] = info
    p.mem.write(fx, _fxsave(uc))
    p.mem.write(frame, bytes(ctx))
    uc.reg_write(x86.UC_X86_REG_RDI, sig)
    uc.reg_write(x86.UC_X86_REG_RSI, frame + X86_INFO)
    uc.reg_write(x86.UC_X86_REG_RDX, frame + X86_UC)
    uc.reg_write(x86.UC_X86_REG_RAX, 0)
    uc.reg_write(x86.UC_X86_REG_RSP, frame)
    uc.reg_write(x86.UC_X86_REG_RIP, action.handler)
    eflags = int(uc.reg_read(x86.UC_X86_REG_EFLAGS))
    uc.reg_write(x86.UC_X86_REG_EFLAGS, eflags & ~(0x100 | 0x400 | 0x40000))   # TF, DF, AC cleared


def _x86_return(p: Process, t: GuestThread) -> None:
    uc = p.uc
    frame = int(uc.reg_read(x86.UC_X86_REG_RSP)) - 8      # the handler's ret popped pretcode
    raw = p.mem.read(frame, X86_FRAME)
    _restore_stack(t, raw[X86_UC + 16:X86_UC + 40])
    t.mask = struct.unpack_from("<Q", raw, X86_MASK)[0] & ~UNBLOCKABLE
    vals = struct.unpack_from("<18Q", raw, X86_MCTX)
    for reg, v in zip(X86_SC_IDS, vals, strict=True):
        if reg == x86.UC_X86_REG_EFLAGS:
            v = (int(uc.reg_read(reg)) & ~0x40DD5) | (v & 0x40DD5)
        uc.reg_write(reg, v)
    fx = struct.unpack_from("<Q", raw, X86_MCTX + 184)[0]
    if fx:
        _fxrstor(uc, p.mem.read(fx, FXSAVE))
