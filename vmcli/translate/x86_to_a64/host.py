"""Where the x86-64 guest state lives on the AArch64 host: all of it in registers (env_reg unused,
guest memory identity-mapped).

  rax..r15 -> x0..x15, rflags -> x20 (x86 bit layout; only status bits are written),
  xmm0..xmm15 -> v0..v15, the fs and gs segment bases -> x26, x27. Scratch: x16, x17, x19,
  x21..x25, x28..x30 and v16..v31.

A block that ends in a branch leaves the guest address to continue at in x18 (EXIT_REG).
"""

from __future__ import annotations

from vmcli.translate.isa.x86.registers import GPR64, XMM

FLAGS = 20
EXIT_REG = 18
FS_BASE, GS_BASE = 26, 27
SCRATCH = (16, 17, 19, 21, 22, 23, 24, 25, 28, 29, 30)
VSCRATCH = tuple(range(16, 32))

# guest register -> host register
HOST = {**{n: f"x{i}" for i, n in enumerate(GPR64)}, **{n: f"v{i}" for i, n in enumerate(XMM)},
        "rflags": f"x{FLAGS}", "fs_base": f"x{FS_BASE}", "gs_base": f"x{GS_BASE}"}
_ORDER = ("rflags", "fs_base", "gs_base")


def guest_order(name: str) -> tuple[int, int]:
    """The order guest registers are listed in: general registers, xmm, rflags, fs and gs bases."""
    if name in GPR64:
        return (0, GPR64.index(name))
    if name.startswith("xmm"):
        return (1, int(name[3:]))
    return (2, _ORDER.index(name))
