"""System instructions user code uses: the thread pointer and FP control/status registers (env block
slots, host.py), two ID registers, the hint space, dc zva, the exclusive monitor and the LSE atomics.

Ordering: every x86-64 locked instruction is a full barrier, so the acquire and release variants of
the exclusives and atomics all become the same locked x86 code; x86's loads are acquire and its
stores release already (TSO).
"""

from __future__ import annotations

from vmcli.translate.a64_to_x86.builder import Ctx
from vmcli.translate.a64_to_x86.host import EXCL_ADDR_OFF, EXCL_VAL_OFF, SYSREG_OFF, env, v_off
from vmcli.translate.a64_to_x86.rules.table import RULES as rule
from vmcli.translate.isa.x86.decoder import Mem
from vmcli.translate.isa.x86.encoder import encode_modrm
from vmcli.translate.isa.x86.registers import RAX, RCX

# FPCR's bits an ARMv8.0 CPU keeps (AHP DN FZ RMode Stride Len, as a Cortex-A72 does); FPSR's (the
# cumulative exception bits, QC, and AArch32's NZCV)
WRITABLE = {"fpcr": 0x07F70000, "fpsr": 0xF800009F, "tpidr_el0": (1 << 64) - 1}
# the ID registers' values: a Cortex-A72's, whose 64-byte lines the x86-64 hosts share; dc zva
# zeroes DCZID's block (4 words << 4: 64 bytes)
ID_VALUES = {"dczid_el0": 0x4, "ctr_el0": 0x8444C004}
ZVA_BYTES = 64


@rule(*(f"mrs_{n}" for n in SYSREG_OFF), *(f"msr_{n}" for n in SYSREG_OFF))
def _sysreg(c: Ctx) -> None:
    """mrs/msr of TPIDR_EL0, FPCR, FPSR: the env block's slot. FPCR is kept, not applied: the
    translations compute with the default rounding (docs: exceptions)."""
    f = c.fields
    name = c.name[4:]
    slot = env(SYSREG_OFF[name], 8)
    c.regs.add(name)
    if c.name.startswith("mrs"):
        t = c.tmp()
        c.load(t, slot, 8)
        c.put(f["Rt"], t, True)
        return
    t = c.get(f["Rt"], True)
    if WRITABLE[name] != (1 << 64) - 1:
        c.alu_imm("and", True, t, WRITABLE[name]) if WRITABLE[name] < 1 << 31 else _and_const(c, t, WRITABLE[name])
    c.store(slot, t, 8)


def _and_const(c: Ctx, r: int, mask: int) -> None:
    t = c.tmp()
    c.mov_imm(t, mask)
    c.alu("and", True, r, t)


@rule("mrs_dczid_el0", "mrs_ctr_el0")
def _idreg(c: Ctx) -> None:
    t = c.tmp()
    c.mov_imm(t, ID_VALUES[c.name[4:]])
    c.put(c.fields["Rt"], t, True)


@rule("hint", "clrex")
def _hint(c: Ctx) -> None:
    """The hint space (yield, wfe, sev, bti, paciasp, autiasp, xpaclri ...) does nothing on a CPU
    without the features, which is what the translation's code runs on. clrex: the monitor in the
    env block is only ever compared with the address of a store exclusive, so clearing it is the
    same as not (the translation keeps it set until a store exclusive or the next load exclusive)."""
    if c.name == "clrex":
        t = c.tmp()
        c.mov_imm(t, (1 << 64) - 1)
        c.store(env(EXCL_ADDR_OFF, 8), t, 8)


@rule("dc_zva")
def _dc_zva(c: Ctx) -> None:
    """Zero the 64 bytes around Xt (aligned down)."""
    a = c.get(c.fields["Rt"], True)
    c.alu_imm("and", True, a, -ZVA_BYTES)
    z = c.vtmp()
    c.sse("pxor", z, z)
    for k in range(0, ZVA_BYTES, 16):
        c.sse("movdqu_store", z, Mem(a, -1, 1, k, 16))


_SIZE = {"b_w": 1, "h_w": 2, "_w": 4, "_x": 8}


def _acc(size: int) -> tuple[bool, bytes]:
    """(REX.W, operand-size prefix) of an x86 operation of `size` bytes."""
    return size == 8, b"\x66" if size == 2 else b""


@rule("ldxr")
def _ldxr(c: Ctx) -> None:
    """Load exclusive: the value, and the monitor set to (address, value)."""
    f = c.fields
    size = _SIZE[c.insn.variant.label]
    a = c.get(f["Rn"], True, sp=True)
    t = c.tmp()
    c.load(t, Mem(a, -1, 1, 0, size), size)
    c.store(env(EXCL_ADDR_OFF, 8), a, 8)
    c.store(env(EXCL_VAL_OFF, 8), t, 8)
    c.put(f["Rt"], t, size == 8)


@rule("stxr")
def _stxr(c: Ctx) -> None:
    """Store exclusive: when the monitor holds this address, a locked compare-exchange against the
    value the load read (Ws = 0 when it stored, 1 when not); the monitor is cleared either way."""
    f = c.fields
    size = _SIZE[c.insn.variant.label]
    w, prefix = _acc(size)
    c.take(RAX)
    a = c.get(f["Rn"], True, sp=True)
    v = c.get(f["Rt"], size == 8)
    status = c.tmp()
    c.mov_imm(status, 1)
    c(encode_modrm(b"\x3b", a, env(EXCL_ADDR_OFF, 8), True))        # cmp a, [monitor address]
    skip_at = len(c.chunks)
    c(b"")                                                             # jne past the store (below)
    c.load(RAX, env(EXCL_VAL_OFF, 8), 8)
    c(encode_modrm(b"\x0f\xb0" if size == 1 else b"\x0f\xb1", v, Mem(a, -1, 1, 0, size), w,
                   prefix=b"\xf0" + prefix, byte_reg=size == 1))       # lock cmpxchg [a], v
    c.setcc("ne", status)
    c(encode_modrm(b"\x0f\xb6", status, status, byte_rm=True))         # movzx status, status8
    body = sum(len(ch) for ch in c.chunks[skip_at + 1:])
    c.chunks[skip_at] = bytes([0x75, body])                            # jne rel8
    t = c.tmp()
    c.mov_imm(t, (1 << 64) - 1)
    c.store(env(EXCL_ADDR_OFF, 8), t, 8)
    c.put(f["Rs"], status, False)


@rule("cas")
def _cas(c: Ctx) -> None:
    """cas Rs, Rt, [Xn]: [Xn] = Rt when it equals Rs; Rs = the old value: lock cmpxchg."""
    f = c.fields
    size = _SIZE[c.insn.variant.label]
    w, prefix = _acc(size)
    c.take(RAX)
    a = c.get(f["Rn"], True, sp=True)
    c.get(f["Rs"], size == 8, into=RAX)
    v = c.get(f["Rt"], size == 8)
    c(encode_modrm(b"\x0f\xb0" if size == 1 else b"\x0f\xb1", v, Mem(a, -1, 1, 0, size), w,
                   prefix=b"\xf0" + prefix, byte_reg=size == 1))
    c.extend(RAX, RAX, size, False)
    c.put(f["Rs"], RAX, size == 8)


@rule("ldadd", "swp")
def _ldadd(c: Ctx) -> None:
    """Rt = [Xn]; [Xn] = [Xn] + Rs (ldadd: lock xadd) or Rs (swp: xchg, locked by itself)."""
    f = c.fields
    size = _SIZE[c.insn.variant.label]
    w, prefix = _acc(size)
    a = c.get(f["Rn"], True, sp=True)
    v = c.get(f["Rs"], size == 8)
    if c.name == "ldadd":
        c(encode_modrm(b"\x0f\xc0" if size == 1 else b"\x0f\xc1", v, Mem(a, -1, 1, 0, size), w,
                       prefix=b"\xf0" + prefix, byte_reg=size == 1))
    else:
        c(encode_modrm(b"\x86" if size == 1 else b"\x87", v, Mem(a, -1, 1, 0, size), w, prefix=prefix,
                       byte_reg=size == 1))
    c.extend(v, v, size, False)
    c.put(f["Rt"], v, size == 8)


@rule("ldclr", "ldeor", "ldset")
def _ldlogic(c: Ctx) -> None:
    """Rt = [Xn]; [Xn] = [Xn] & ~Rs, ^ Rs or | Rs: a lock cmpxchg loop (x86's locked and/xor/or do
    not return the old value)."""
    f = c.fields
    size = _SIZE[c.insn.variant.label]
    w, prefix = _acc(size)
    c.take(RAX, RCX)
    a = c.get(f["Rn"], True, sp=True)
    v = c.get(f["Rs"], size == 8)
    if c.name == "ldclr":
        c.unary("not", True, v)
    mem = Mem(a, -1, 1, 0, size)
    c.load(RAX, mem, size)
    loop = sum(len(ch) for ch in c.chunks)
    c.mov(True, RCX, RAX)
    c.alu({"ldclr": "and", "ldeor": "xor", "ldset": "or"}[c.name], True, RCX, v)
    c(encode_modrm(b"\x0f\xb0" if size == 1 else b"\x0f\xb1", RCX, mem, w, prefix=b"\xf0" + prefix,
                   byte_reg=size == 1))
    back = loop - (sum(len(ch) for ch in c.chunks) + 2)
    c(bytes([0x75, back & 0xFF]))                                      # jne loop: RAX has the new value
    c.extend(RAX, RAX, size, False)
    c.put(f["Rt"], RAX, size == 8)


@rule("fmov_top")
def _fmov_top(c: Ctx) -> None:
    """fmov xd, vn.d[1] / fmov vd.d[1], xn: the upper 64 bits of a vector register (the lower kept)."""
    f = c.fields
    if f["op"] == 0:
        t = c.tmp()
        c.regs.add(f"v{f['Rn']}")
        c.load(t, env(v_off(f["Rn"]) + 8, 8), 8)
        c.put(f["Rd"], t, True)
    else:
        t = c.get(f["Rn"], True)
        c.regs.add(f"v{f['Rd']}")
        c.store(env(v_off(f["Rd"]) + 8, 8), t, 8)
