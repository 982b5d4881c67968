"""Where the x86-64 guest state lives on the AArch64 host: all of it in registers (env_reg unused,
guest memory identity-mapped).

  rax..r15 -> x0..x15, xmm0..xmm15 -> v0..v15, the fs and gs segment bases -> x26, x27;
  rflags' status flags: SF ZF CF OF in NZCV as N, Z, NOT C (AArch64's carry after a subtraction is
  x86's CF inverted, so a cmp is one subs) and V; PF = even parity of the low byte of x20 (PF_RES,
  the last result); AF = bit 4 of x21 ^ x20 (AF_SRC: an addition's operands xor-ed, so AF comes from
  them and the result when something reads it). Other rflags bits are not kept (DF is 0).
  The upper halves of ymm0..ymm15 (ymmh0..ymmh15) live in an env block at x28 (ENV_REG), 16 bytes
  each: AVX code loads and stores them where it needs them.
  The x87 state lives in the env block too, from X87 (x87_offset): the control word, the status
  word (TOP in bits 13:11), the abridged tag word (bit i: physical register i is in use, as fxsave
  stores it), then the physical registers R0..R7 (fpr0..fpr7; st(i) is R[(TOP + i) & 7]), 16
  bytes each: the 64-bit significand, then sign and exponent.
  Scratch: x16, x17, x19, x22..x25, x29, x30 and v16..v31.

A block that ends in a branch leaves the guest address to continue at in x18 (EXIT_REG).
"""

from __future__ import annotations

from vmcli.translate.isa.x86.flags import AF, CF, OF, PF, SF, ZF
from vmcli.translate.isa.x86.registers import GPR64, XMM

PF_RES, AF_SRC = 20, 21
EXIT_REG = 18
FS_BASE, GS_BASE = 26, 27
ENV_REG = 28                        # the env block: the upper halves of ymm0..ymm15 (16 bytes each)
SCRATCH = (16, 17, 19, 22, 23, 24, 25, 29, 30)
VSCRATCH = tuple(range(16, 32))

# guest register -> host register ("rflags": NZCV, PF_RES and AF_SRC together, see pack_flags)
HOST = {**{n: f"x{i}" for i, n in enumerate(GPR64)}, **{n: f"v{i}" for i, n in enumerate(XMM)},
        "rflags": "nzcv", "fs_base": f"x{FS_BASE}", "gs_base": f"x{GS_BASE}"}
RFLAGS_STATE = {"nzcv": "SF ZF !CF OF", "pf": f"x{PF_RES}", "af": f"x{AF_SRC}"}   # --json's state entry


def pack_flags(rflags: int) -> tuple[int, int, int]:
    """(NZCV, PF_RES, AF_SRC) holding rflags' status flags."""
    nzcv = (((rflags >> 7) & 1) << 31 | ((rflags >> 6) & 1) << 30 | (1 - (rflags & 1)) << 29
            | ((rflags >> 11) & 1) << 28)
    pf_res = 0 if rflags & PF else 1
    return nzcv, pf_res, pf_res ^ (rflags & AF)


def unpack_flags(nzcv: int, pf_res: int, af_src: int) -> int:
    """rflags' status flags from NZCV, PF_RES and AF_SRC."""
    flags = ((nzcv >> 31) & 1) * SF | ((nzcv >> 30) & 1) * ZF | (1 - ((nzcv >> 29) & 1)) * CF
    flags |= ((nzcv >> 28) & 1) * OF | (AF if (af_src ^ pf_res) & 0x10 else 0)
    return flags | (PF if bin(pf_res & 0xFF).count("1") % 2 == 0 else 0)
_ORDER = ("rflags", "fs_base", "gs_base")
YMMH = [f"ymmh{i}" for i in range(16)]
X87 = 0x100                          # the x87 state's offset in the env block
X87_FCW, X87_FSW, X87_FTW, X87_REGS = X87, X87 + 2, X87 + 4, X87 + 0x10
FPR = [f"fpr{i}" for i in range(8)]
X87_STATE = ["fcw", "fsw", "ftw", *FPR]


def x87_offset(name: str) -> int:
    """Where an x87 state item sits in the env block (fprN: N's 16-byte slot)."""
    if name.startswith("fpr"):
        return X87_REGS + 16 * int(name[3:])
    return {"fcw": X87_FCW, "fsw": X87_FSW, "ftw": X87_FTW}[name]


def ymmh_offset(name: str) -> int:
    """Where an upper ymm half sits in the env block."""
    return 16 * int(name[4:])


def guest_order(name: str) -> tuple[int, int]:
    """The order guest registers are listed in: general registers, xmm, the upper ymm halves,
    rflags, fs and gs bases, the x87 state."""
    if name in GPR64:
        return (0, GPR64.index(name))
    if name.startswith("xmm"):
        return (1, int(name[3:]))
    if name.startswith("ymmh"):
        return (2, int(name[4:]))
    if name in X87_STATE:
        return (4, X87_STATE.index(name))
    return (3, _ORDER.index(name))
