"""Where the AArch64 guest state lives on the x86-64 host: the most used guest registers in host
registers (HOST_REGS), the rest in an env block whose address is in r15 (ENV_REG); guest memory is
identity-mapped (guest_base 0). Env layout (byte offsets; a mapped register's slot is unused):

    x0..x30 at 8*n, sp at 0xF8, nzcv at 0x100 (in x86's form, below), v0..v31 at 0x110 + 16*n.

NZCV is kept the way x86 flags hold it (as FEX-Emu keeps x86's flags the way AArch64 holds them):
SF = N, ZF = Z, CF = NOT C (x86's borrow), OF = V. Within a block it stays in the host's flags
from the instruction that sets it to the ones that read it; the env slot gets it (`lahf; seto al;
mov [r15+0x100], ax`: byte 0 = V, byte 1 = lahf's SF ZF 0 AF 0 PF 1 CF) only where a later block
or a later instruction of the block could need it, and a reader loads it back with `add al, 0x7f`
(OF = V) and `sahf`. It is made into AArch64's layout only where read as such (mrs nzcv, the
`state`'s reader: nzcv_word / nzcv_of_word).

Instructions read their operands where they live (a host register, or the env slot as an x86
memory operand) and write their results there. The other host registers (rax, rcx, rdx, r12,
r13, r14, xmm0..xmm15) are scratch. MXCSR must hold its default (round to nearest, no FTZ/DAZ).
A block that ends in a branch leaves the guest address to continue at in r14 (EXIT_REG).
"""

from __future__ import annotations

import struct

from vmcli.translate.isa.a64.registers import VREGS, XREGS
from vmcli.translate.isa.x86.decoder import Mem
from vmcli.translate.isa.x86.registers import R8, R9, R10, R11, R14, R15, RBP, RBX, RDI, RSI

ENV_REG = R15
EXIT_REG = R14

# the guest registers that live in host registers: the eight most named by the instructions of
# Debian's AArch64 libc (sp 20% of register operands with xzr, x0 18%, x1 11%, x2 7%, x19 5%, x3 4%,
# x20 4%, x21 3%; bench/translate_libc_bench.py's corpus)
HOST_REGS = {"sp": RBX, "x0": RSI, "x1": RDI, "x2": R8, "x3": R9, "x19": R10, "x20": R11, "x21": RBP}

SP_OFF = 0xF8
NZCV_OFF = 0x100
V_BASE = 0x110
# after the vector registers: the system registers user code reads and writes, and the exclusive
# monitor (the address of the last ldxr, or all ones when clear, and the value it read)
SYSREG_OFF = {"tpidr_el0": 0x310, "fpcr": 0x318, "fpsr": 0x320}
EXCL_ADDR_OFF, EXCL_VAL_OFF = 0x328, 0x330
ENV_SIZE = 0x340
SYSREGS = list(SYSREG_OFF)


def x_off(n: int) -> int:
    return 8 * n


def v_off(n: int) -> int:
    return V_BASE + 16 * n


def env(offset: int, size: int = 8) -> Mem:
    """The env block's bytes at `offset`, as an x86 memory operand."""
    return Mem(ENV_REG, -1, 1, offset, size)


def env_offset(guest: str) -> int:
    if guest == "sp":
        return SP_OFF
    if guest == "nzcv":
        return NZCV_OFF
    if guest in SYSREG_OFF:
        return SYSREG_OFF[guest]
    if guest.startswith("v"):
        return v_off(int(guest[1:]))
    return x_off(int(guest[1:]))


def guest_order(name: str) -> tuple[int, int]:
    """The order guest registers are listed in: x0..x30, sp, nzcv, v0..v31, the system registers."""
    if name in SYSREG_OFF:
        return (3, SYSREGS.index(name))
    if name.startswith("x"):
        return (0, int(name[1:]))
    if name.startswith("v"):
        return (2, int(name[1:]))
    return (1, 0 if name == "sp" else 1)


_SCALARS = XREGS + ["sp", "nzcv"]
_PAD = V_BASE - 8 * len(_SCALARS)
assert x_off(30) == 8 * 30 and SP_OFF == 8 * 31 and NZCV_OFF == 8 * 32 and v_off(1) == V_BASE + 16


def nzcv_word(nzcv: int) -> int:
    """The env slot's form of NZCV (bits 31:28): byte 0 = V, byte 1 = N Z 0 0 0 0 1 (NOT C), as
    lahf and seto leave them."""
    n, z, c, v = (nzcv >> 31) & 1, (nzcv >> 30) & 1, (nzcv >> 29) & 1, (nzcv >> 28) & 1
    return ((n << 7 | z << 6 | 2 | (c ^ 1)) << 8) | v


def nzcv_of_word(word: int) -> int:
    """NZCV (bits 31:28) from the env slot's form (the other lahf bits, AF and PF, ignored)."""
    n, z, c, v = (word >> 15) & 1, (word >> 14) & 1, ((word >> 8) & 1) ^ 1, word & 1
    return n << 31 | z << 30 | c << 29 | v << 28


def pack_env(regs: dict[str, int]) -> bytes:
    """The env block holding `regs` (the system registers 0 when not given; the monitor clear)."""
    scalars = struct.pack("<33Q", *(nzcv_word(regs[n]) if n == "nzcv" else regs[n] for n in _SCALARS))
    vectors = b"".join(regs[n].to_bytes(16, "little") for n in VREGS)
    tail = struct.pack("<5Q", *(regs.get(n, 0) for n in SYSREGS), (1 << 64) - 1, 0)
    return scalars + bytes(_PAD) + vectors + tail


def unpack_env(env: bytes) -> dict[str, int]:
    regs = dict(zip(_SCALARS, struct.unpack_from("<33Q", env), strict=True))
    regs["nzcv"] = nzcv_of_word(regs["nzcv"])
    for i, n in enumerate(VREGS):
        regs[n] = int.from_bytes(env[V_BASE + 16 * i:V_BASE + 16 * i + 16], "little")
    regs.update(zip(SYSREGS, struct.unpack_from("<3Q", env, SYSREG_OFF["tpidr_el0"]), strict=True))
    return regs
