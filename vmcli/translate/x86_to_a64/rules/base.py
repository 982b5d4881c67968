"""The base (integer) instruction set: one rule per mnemonic.

Flags are exact: the guest's rflags lives in x20 in x86 layout and every rule writes the status
bits the instruction defines (see builder.Ctx.flags_from_nzcv and friends). Operands narrower
than 32 bits are computed "scaled" (shifted to the top of a W register) so that AArch64's N, Z,
C and V are the x86 flags of the narrow operation.
"""

from __future__ import annotations

import dataclasses

from vmcli.translate.isa.a64 import encoder as A
from vmcli.translate.isa.x86.conditions import CC
from vmcli.translate.isa.x86.decoder import Imm, Reg
from vmcli.translate.isa.x86.flags import AF, CF, OF, PF, SF, ZF
from vmcli.translate.isa.x86.registers import RSP
from vmcli.translate.x86_to_a64.builder import Ctx
from vmcli.translate.x86_to_a64.host import EXIT_REG, FLAGS
from vmcli.translate.x86_to_a64.rules.common import ALL, operands
from vmcli.translate.x86_to_a64.rules.table import RULES as rule

# ---- add/sub family ---------------------------------------------------------------------------

def _arith(c: Ctx, kind: str, dst, src, write: bool, mask: int = ALL) -> None:
    """kind: add, sub, adc, sbb. Computes dst op src with exact x86 flags (those in mask)."""
    size = dst.size
    a = c.read(dst, size)
    b = c.read(src, size) if not isinstance(src, Imm) else c.imm(src, 64 if size == 8 else 32)
    sub = kind in ("sub", "sbb")
    if size >= 4:
        bits = 8 * size
        r = c.tmp()
        if kind in ("adc", "sbb"):
            t = c.tmp()
            if kind == "adc":
                c(A.lsl_imm(32, t, FLAGS, 29))
            else:
                c(A.logic("orn", 32, t, A.ZR, FLAGS, "lsl", 29))
            c(A.msr_nzcv(t), A.adc("adcs" if kind == "adc" else "sbcs", bits, r, a, b))
        else:
            c(A.addsub("subs" if sub else "adds", bits, r, a, b))
        c.flags_from_nzcv(mask & (CF | ZF | SF | OF), borrow=sub)
        if mask & PF:
            c.parity(r)
        if mask & AF:
            c.aux_carry(a, b, r)
        if write:
            c.write(dst, size, r)
        return
    bits = 8 * size
    if kind in ("adc", "sbb"):
        # explicit formulas on zero-extended values: the carry-in cannot be scaled
        za, zb = c.tmp(), c.tmp()
        c(A.ubfx(32, za, a, 0, bits), A.ubfx(32, zb, b, 0, bits))
        c.release(*(x for x in (a, b) if x >= 16 and x != c.addresses.get(dataclasses.replace(dst, size=0))))
        r, t, u = c.tmp(), c.tmp(), c.tmp()
        c(A.ubfx(32, t, FLAGS, 0, 1))
        if kind == "adc":
            c(A.addsub("add", 32, r, za, zb), A.addsub("add", 32, r, r, t))
        else:
            c(A.addsub("sub", 32, r, za, zb), A.addsub("sub", 32, r, r, t))
        c(A.bfxil(32, FLAGS, r, bits, 1))
        c(A.logic("eor", 32, t, za, r))
        c(A.logic("eor", 32, u, zb if kind == "adc" else za, r if kind == "adc" else zb))
        c(A.logic("and", 32, t, t, u), A.lsr_imm(32, t, t, bits - 1), A.bfi(32, FLAGS, t, 11, 1))
        c(A.lsl_imm(32, t, r, 32 - bits), A.logic("ands", 32, A.ZR, t, t))
        c.flags_from_nzcv(ZF | SF)
        c.parity(r)
        c.aux_carry(za, zb, r)
        if write:
            c.write(dst, size, r)
        return
    sh = 32 - bits
    sa, sb, r = c.tmp(), c.tmp(), c.tmp()
    c(A.lsl_imm(32, sa, a, sh), A.lsl_imm(32, sb, b, sh))
    c(A.addsub("subs" if sub else "adds", 32, r, sa, sb))
    c.flags_from_nzcv(mask & (CF | ZF | SF | OF), borrow=sub)
    if mask & PF:
        c.parity(r, sh)
    if mask & AF:
        c.aux_carry(sa, sb, r, sh)
    if write:
        c(A.lsr_imm(32, r, r, sh))
        c.write(dst, size, r)


@rule("add", "sub", "adc", "sbb", data_imm=True)
def _add_sub(c: Ctx) -> None:
    dst, src = operands(c)
    _arith(c, c.insn.spec.mnemonic, dst, src, write=True)


@rule("cmp", data_imm=True)
def _cmp(c: Ctx) -> None:
    dst, src = operands(c)
    _arith(c, "sub", dst, src, write=False)


@rule("inc", "dec")
def _inc_dec(c: Ctx) -> None:
    (dst,) = operands(c)
    kind = "add" if c.insn.spec.mnemonic == "inc" else "sub"
    _arith(c, kind, dst, Imm(1, 1), write=True, mask=ALL & ~CF)


@rule("neg")
def _neg(c: Ctx) -> None:
    (dst,) = operands(c)
    size = dst.size
    a = c.read(dst, size)
    z = c.tmp()
    c(A.movw("movz", 64, z, 0))
    # neg = 0 - a, computed through the same path as sub so the flags match x86's
    if size >= 4:
        r = c.tmp()
        c(A.addsub("subs", 8 * size, r, A.ZR, a))
        c.flags_from_nzcv(CF | ZF | SF | OF, borrow=True)
        c.parity(r)
        c.aux_carry(z, a, r)
        c.write(dst, size, r)
        return
    sh = 32 - 8 * size
    sa, r = c.tmp(), c.tmp()
    c(A.lsl_imm(32, sa, a, sh), A.addsub("subs", 32, r, A.ZR, sa))
    c.flags_from_nzcv(CF | ZF | SF | OF, borrow=True)
    c.parity(r, sh)
    c.aux_carry(z, sa, r, sh)
    c(A.lsr_imm(32, r, r, sh))
    c.write(dst, size, r)


# ---- logic ----------------------------------------------------------------------------------

def _logic(c: Ctx, op: str, dst, src, write: bool) -> None:
    size = dst.size
    a = c.read(dst, size)
    b = c.read(src, size) if not isinstance(src, Imm) else c.imm(src, 64 if size == 8 else 32)
    r = c.tmp()
    if size >= 4:
        bits = 8 * size
        c(A.logic(op, bits, r, a, b), A.logic("ands", bits, A.ZR, r, r))
        c.flags_from_nzcv(CF | ZF | SF | OF)
        c.parity(r)
    else:
        sh = 32 - 8 * size
        s = c.tmp()
        c(A.logic(op, 32, r, a, b), A.lsl_imm(32, s, r, sh), A.logic("ands", 32, A.ZR, s, s))
        c.flags_from_nzcv(CF | ZF | SF | OF)
        c.parity(r)
    if write:
        c.write(dst, size, r)


_LOGIC = {"and": "and", "or": "orr", "xor": "eor", "test": "and"}


@rule("and", "or", "xor", undefined=AF, data_imm=True)
def _and_or_xor(c: Ctx) -> None:
    dst, src = operands(c)
    _logic(c, _LOGIC[c.insn.spec.mnemonic], dst, src, write=True)


@rule("test", undefined=AF, data_imm=True)
def _test(c: Ctx) -> None:
    dst, src = operands(c)
    _logic(c, "and", dst, src, write=False)


@rule("not")
def _not(c: Ctx) -> None:
    (dst,) = operands(c)
    a = c.read(dst, dst.size)
    r = c.tmp()
    c(A.logic("orn", 64, r, A.ZR, a))
    c.write(dst, dst.size, r)


# ---- moves ----------------------------------------------------------------------------------

@rule("mov", data_imm=True)
def _mov(c: Ctx) -> None:
    dst, src = operands(c)
    size = dst.size
    if isinstance(src, Imm):
        if isinstance(dst, Reg) and size >= 4:
            c.imm(src, 8 * size, rd=dst.num)
            return
        v = c.imm(src, 64 if size == 8 else 32)
    else:
        v = c.read(src, size)
    c.write(dst, size, v)


@rule("movzx", "movsx", "movsxd")
def _movx(c: Ctx) -> None:
    dst, src = operands(c)
    signed = c.insn.spec.mnemonic != "movzx"
    v = c.read(src, src.size, signed=signed)
    if signed and src.size < 8 and isinstance(src, Reg):
        pass  # read() already sign-extended through sbfx
    c.write(dst, dst.size, v)


@rule("lea", kinds="m")
def _lea(c: Ctx) -> None:
    dst, src = operands(c)
    a = c.addr(dataclasses.replace(src, seg=0))      # the offset: lea adds no segment base
    c.write(dst, dst.size, a)


@rule("xchg")
def _xchg(c: Ctx) -> None:
    a, b = operands(c)
    size = a.size
    va = c.read(a, size)
    t = c.tmp()
    c(A.mov(64, t, va))
    vb = c.read(b, size)
    c.write(a, size, vb)
    c.write(b, size, t)


@rule("cbw", kinds="r", implicit=(("gpr", 0), ("gpr", 2)))
def _cbw(c: Ctx) -> None:
    size = c.insn.opsize
    t = c.tmp()
    c(A.sbfx(64, t, 0, 0, 4 * size))
    c.write(Reg("gpr", 0, size), size, t)


@rule("cwd", kinds="r", implicit=(("gpr", 0), ("gpr", 2)))
def _cwd(c: Ctx) -> None:
    size = c.insn.opsize
    t = c.tmp()
    c(A.sbfx(64, t, 0, 8 * size - 1, 1))
    c.write(Reg("gpr", 2, size), size, t)


# ---- shifts and rotates ------------------------------------------------------------------------

def _shift_undefined(insn, regs: dict[str, int]) -> int:
    dst, cnt = insn.operands
    bits = 8 * dst.size
    mask = 63 if bits == 64 else 31
    n = cnt.value & mask if isinstance(cnt, Imm) else regs["rcx"] & mask
    if n == 0:
        return 0
    m = insn.spec.mnemonic
    und = 0
    if m in ("shl", "shr", "sar"):
        und |= AF
    if n != 1:
        und |= OF
    if m in ("shl", "shr") and n >= bits:
        und |= CF
    return und


def _shift(c: Ctx, m: str, dst, cnt) -> None:
    size = dst.size
    bits = 8 * size
    wbits = 64 if size == 8 else 32
    a = c.read(dst, size)
    if isinstance(cnt, Imm):
        n = cnt.value & (63 if bits == 64 else 31)
        _shift_const(c, m, dst, a, n, bits, wbits)
        return
    # count in CL: the result is always written; flags only when the masked count is not 0
    cl = c.tmp()
    c(A.logic_imm("and", 32, cl, 1, 63 if bits == 64 else 31))
    r, t, u = c.tmp(), c.tmp(), c.tmp()
    if m in ("shl", "shr", "sar"):
        if m == "shr" and bits < 32:
            c(A.ubfx(32, u, a, 0, bits))
            a = u
            u = c.tmp()
        elif m == "sar" and bits < 32:
            s_ = c.tmp()
            c(A.sbfx(32, s_, a, 0, bits))
            a = s_
        c(A.dp2({"shl": "lslv", "shr": "lsrv", "sar": "asrv"}[m], wbits, r, a, cl))
        skip_at = len(c.words)
        c(0)  # cbz cl, past the flags (patched below)
        c(A.addsub_imm("sub", 32, t, cl, 1))
        if m == "shl":
            c(A.dp2("lslv", wbits, t, a, t), A.lsr_imm(wbits, t, t, bits - 1))
        else:
            c(A.dp2("lsrv" if m == "shr" else "asrv", wbits, t, a, t))
        c(A.bfi(32, FLAGS, t, 0, 1))
        _szp(c, r, bits)
        if m == "shl":
            c(A.lsr_imm(wbits, u, r, bits - 1), A.logic("eor", 32, u, u, t))
        elif m == "shr":
            c(A.lsr_imm(wbits, u, a, bits - 1))
        else:
            c(A.movw("movz", 32, u, 0))
        c(A.bfi(32, FLAGS, u, 11, 1))
    else:
        # rotates: only CF and OF
        if bits < 32:
            rot = c.tmp()
            c(A.logic_imm("and", 32, rot, cl, bits - 1))
            z = c.tmp()
            c(A.ubfx(32, z, a, 0, bits))
            # replicate the value across 32 bits so a 32-bit rotate acts as a narrow one
            for k in range(bits, 32, bits):
                c(A.bfi(32, z, z, k, bits))
            if m == "rol":
                c(A.addsub("sub", 32, t, A.ZR, rot), A.dp2("rorv", 32, r, z, t))
            else:
                c(A.dp2("rorv", 32, r, z, rot))
        elif m == "rol":
            c(A.addsub("sub", 32, t, A.ZR, cl), A.dp2("rorv", wbits, r, a, t))
        else:
            c(A.dp2("rorv", wbits, r, a, cl))
        skip_at = len(c.words)
        c(0)
        if m == "rol":
            c(A.bfi(32, FLAGS, r, 0, 1))
            c(A.lsr_imm(wbits, u, r, bits - 1), A.logic("eor", 32, u, u, r))
        else:
            c(A.lsr_imm(wbits, t, r, bits - 1), A.bfi(32, FLAGS, t, 0, 1))
            c(A.lsr_imm(wbits, u, r, bits - 2), A.logic("eor", 32, u, u, t))
        c(A.bfi(32, FLAGS, u, 11, 1))
    c.words[skip_at] = 0x34000000 | (((len(c.words) - skip_at) & 0x7FFFF) << 5) | cl  # cbz w
    c.write(dst, size, r)


def _szp(c: Ctx, r: int, bits: int) -> None:
    """ZF, SF, PF of an x86 result of `bits` held (zero-extended or not) in r."""
    t = c.tmp()
    if bits == 64:
        c(A.logic("ands", 64, A.ZR, r, r))
    else:
        c(A.lsl_imm(32, t, r, 32 - bits), A.logic("ands", 32, A.ZR, t, t))
    n = c.tmp()
    c(A.mrs_nzcv(n), A.lsr_imm(32, n, n, 30), A.bfi(32, FLAGS, n, 6, 2))
    c.parity(r)


def _shift_const(c: Ctx, m: str, dst, a: int, n: int, bits: int, wbits: int) -> None:
    size = dst.size
    r, t = c.tmp(), c.tmp()
    if n == 0:
        c.write(dst, size, a)
        return
    if m == "shl":
        if n >= bits:
            c(A.movw("movz", 64, r, 0))
        else:
            c(A.lsl_imm(wbits, r, a, n))
        if n <= bits:
            c(A.ubfx(wbits, t, a, bits - n, 1), A.bfi(32, FLAGS, t, 0, 1))
        _szp(c, r, bits)
        u = c.tmp()
        c(A.ubfx(wbits, u, r, bits - 1, 1) if n < bits else A.movw("movz", 32, u, 0))
        c(A.logic("eor", 32, u, u, t), A.bfi(32, FLAGS, u, 11, 1))
    elif m == "shr":
        if n >= bits:
            c(A.movw("movz", 64, r, 0))
        else:
            c(A.ubfx(wbits, r, a, n, bits - n))
        if n <= bits:
            c(A.ubfx(wbits, t, a, n - 1, 1), A.bfi(32, FLAGS, t, 0, 1))
        _szp(c, r, bits)
        c(A.ubfx(wbits, t, a, bits - 1, 1), A.bfi(32, FLAGS, t, 11, 1))
    elif m == "sar":
        k = min(n, bits - 1)
        c(A.sbfx(wbits, r, a, k, bits - k))
        c(A.sbfx(wbits, t, a, min(n - 1, bits - 1), 1), A.bfi(32, FLAGS, t, 0, 1))
        _szp(c, r, bits)
        c(A.logic_imm("and", 32, FLAGS, FLAGS, ~OF & 0xFFFFFFFF))
    else:
        k = n % bits
        right = (bits - k) % bits if m == "rol" else k
        if right == 0:
            c(A.mov(64, r, a))
        elif bits >= 32:
            c(A.extr(wbits, r, a, a, right))
        else:
            z = c.tmp()
            c(A.ubfx(32, z, a, 0, bits), A.lsr_imm(32, r, z, right), A.lsl_imm(32, t, z, bits - right),
              A.logic("orr", 32, r, r, t))
        u = c.tmp()
        if m == "rol":
            c(A.bfi(32, FLAGS, r, 0, 1))
            c(A.ubfx(wbits, u, r, bits - 1, 1), A.logic("eor", 32, u, u, r))
        else:
            c(A.ubfx(wbits, t, r, bits - 1, 1), A.bfi(32, FLAGS, t, 0, 1))
            c(A.ubfx(wbits, u, r, bits - 2, 1), A.logic("eor", 32, u, u, t))
        c(A.bfi(32, FLAGS, u, 11, 1))
    c.write(dst, size, r)


@rule("shl", "shr", "sar", "rol", "ror", undefined=_shift_undefined, implicit=(("gpr", 1),))
def _shifts(c: Ctx) -> None:
    dst, cnt = operands(c)
    _shift(c, c.insn.spec.mnemonic, dst, cnt)


# ---- multiply ---------------------------------------------------------------------------------

MUL_UNDEFINED = SF | ZF | AF | PF


def _mul_flags(c: Ctx, overflow_cond_reg: int) -> None:
    """CF = OF = (overflow_cond_reg != 0)."""
    t = c.tmp()
    c(A.logic("ands", 64, A.ZR, overflow_cond_reg, overflow_cond_reg), A.cset(32, t, "ne"),
      A.bfi(32, FLAGS, t, 0, 1), A.bfi(32, FLAGS, t, 11, 1))


@rule("mul", undefined=MUL_UNDEFINED, implicit=(("gpr", 0), ("gpr", 2)))
def _mul(c: Ctx) -> None:
    (src,) = operands(c)
    _widening_mul(c, src, signed=False)


def _widening_mul(c: Ctx, src, signed: bool) -> None:
    size = src.size
    b = c.read(src, size, signed=signed)
    lo, hi, chk = c.tmp(), c.tmp(), c.tmp()
    if size == 8:
        c(A.mull("smulh" if signed else "umulh", hi, 0, b), A.mul(64, lo, 0, b))
        c(A.mov(64, 0, lo), A.mov(64, 2, hi))
        if signed:
            c(A.addsub("sub", 64, chk, hi, lo, "asr", 63))
        else:
            c(A.mov(64, chk, hi))
        _mul_flags(c, chk)
        return
    a = c.tmp()
    bits = 8 * size
    c((A.sbfx if signed else A.ubfx)(64, a, 0, 0, bits))
    if isinstance(src, Reg) or not signed:
        bb = c.tmp()
        c((A.sbfx if signed else A.ubfx)(64, bb, b, 0, bits))
        b = bb
    c(A.mul(64, lo, a, b))
    if size == 1:
        c.write(Reg("gpr", 0, 2), 2, lo)
    else:
        c(A.lsr_imm(64, hi, lo, bits))
        c.write(Reg("gpr", 0, size), size, lo)
        c.write(Reg("gpr", 2, size), size, hi)
    if signed:
        c(A.sbfx(64, chk, lo, 0, bits), A.addsub("sub", 64, chk, chk, lo))
    else:
        c(A.lsr_imm(64, chk, lo, bits))
    _mul_flags(c, chk)


@rule("imul", undefined=MUL_UNDEFINED, implicit=(("gpr", 0), ("gpr", 2)), data_imm=True)
def _imul(c: Ctx) -> None:
    ops = operands(c)
    if len(ops) == 1:
        _widening_mul(c, ops[0], signed=True)
        return
    dst = ops[0]
    x, y = (ops[0], ops[1]) if len(ops) == 2 else (ops[1], ops[2])
    size = dst.size
    a = c.read(x, size, signed=True)
    b = c.imm(y, 64) if isinstance(y, Imm) else c.read(y, size, signed=True)
    lo, chk = c.tmp(), c.tmp()
    if size == 8:
        hi = c.tmp()
        c(A.mull("smulh", hi, a, b), A.mul(64, lo, a, b), A.addsub("sub", 64, chk, hi, lo, "asr", 63))
    else:
        bits = 8 * size
        sa, sb = c.tmp(), c.tmp()
        c(A.sbfx(64, sa, a, 0, bits), A.sbfx(64, sb, b, 0, bits), A.mul(64, lo, sa, sb))
        c(A.sbfx(64, chk, lo, 0, bits), A.addsub("sub", 64, chk, chk, lo))
    c.write(dst, size, lo)
    _mul_flags(c, chk)


# ---- bit operations ------------------------------------------------------------------------------

@rule("bswap", sizes=(4, 8), kinds="r")
def _bswap(c: Ctx) -> None:
    (dst,) = operands(c)
    bits = 8 * dst.size
    c(A.dp1("rev", bits, dst.num, dst.num))


@rule("popcnt", sizes=(2, 4, 8))
def _popcnt(c: Ctx) -> None:
    dst, src = operands(c)
    size = dst.size
    v = c.read(src, size)
    vt = c.vtmp()
    r = c.tmp()
    c(A.fpint("fmov_from_gpr", 64, "d", vt, v), A.v2("cnt", "8b", vt, vt), A.across("addv", "8b", vt, vt),
      A.fpint("fmov_to_gpr", 32, "s", r, vt))
    c.write(dst, size, r)
    m = c.tmp()
    c.const(m, ALL, 32)
    c(A.logic("bic", 32, FLAGS, FLAGS, m), A.logic("ands", 64, A.ZR, r, r))
    t = c.tmp()
    c(A.cset(32, t, "eq"), A.bfi(32, FLAGS, t, 6, 1))


@rule("bt", sizes=(2, 4, 8), kinds="r", undefined=OF | SF | AF | PF)
def _bt(c: Ctx) -> None:
    base, off = operands(c)
    bits = 8 * base.size
    a = c.read(base, base.size)
    t = c.tmp()
    if isinstance(off, Imm):
        c(A.ubfx(64, t, a, off.value % bits, 1))
    else:
        c(A.logic_imm("and", 64, t, off.num, bits - 1), A.dp2("lsrv", 64, t, a, t))
    c(A.bfi(32, FLAGS, t, 0, 1))


def _shd_undefined(insn, regs: dict[str, int]) -> int:
    n = insn.operands[2].value & (63 if insn.operands[0].size == 8 else 31)
    if n == 0:
        return 0
    return AF | (OF if n != 1 else 0)


@rule("shld", "shrd", sizes=(4, 8), kinds="r", undefined=_shd_undefined)
def _shld(c: Ctx) -> None:
    dst, src, cnt = operands(c)
    bits = 8 * dst.size
    n = cnt.value & (63 if bits == 64 else 31)
    a = c.read(dst, dst.size)
    b = src.num
    r, t = c.tmp(), c.tmp()
    if n == 0:
        c.write(dst, dst.size, a)
        return
    if c.insn.spec.mnemonic == "shld":
        c(A.extr(bits, r, a, b, bits - n), A.ubfx(bits, t, a, bits - n, 1))
    else:
        c(A.extr(bits, r, b, a, n), A.ubfx(bits, t, a, n - 1, 1))
    c(A.bfi(32, FLAGS, t, 0, 1))
    _szp(c, r, bits)
    u = c.tmp()
    c(A.ubfx(bits, u, r, bits - 1, 1), A.ubfx(bits, t, a, bits - 1, 1), A.logic("eor", 32, u, u, t),
      A.bfi(32, FLAGS, u, 11, 1))
    c.write(dst, dst.size, r)


# ---- conditionals -----------------------------------------------------------------------------------

def _cc(c: Ctx) -> str:
    m = c.insn.spec.mnemonic
    return m[4:] if m.startswith("cmov") else m[3:] if m.startswith("set") else m[1:]


for _name in CC:
    @rule(f"cmov{_name}")
    def _cmov(c: Ctx) -> None:
        dst, src = operands(c)
        size = dst.size
        v = c.read(src, size)
        cond = c.condition(_cc(c))
        if size == 2:
            t = c.tmp()
            c(A.csel("csel", 64, t, v, dst.num, cond))
            c.write(dst, 2, t)
        else:
            c(A.csel("csel", 8 * size, dst.num, v, dst.num, cond))

    @rule(f"set{_name}")
    def _setcc(c: Ctx) -> None:
        (dst,) = operands(c)
        cond = c.condition(_cc(c))
        t = c.tmp()
        c(A.cset(32, t, cond))
        c.write(dst, 1, t)

    @rule(f"j{_name}", kinds="r")
    def _jcc(c: Ctx) -> None:
        cond = c.condition(_cc(c))
        t, f = c.tmp(), c.tmp()
        c.slot_const(t, "rip", 64, False)
        c.slot_const(f, "imm", 64, False)
        c(A.csel("csel", 64, EXIT_REG, t, f, cond))
        c.exit = True




@rule("nop", "prefetchnta", "prefetcht0", "prefetcht1", "prefetcht2", "prefetchw")
def _nop(c: Ctx) -> None:
    """nop and the multi-byte nopl/nopw padding, and the prefetch hints: no code (no memory operand
    is accessed)."""


@rule("endbr64", kinds="r", rm_regs=(2, 3))
def _endbr(c: Ctx) -> None:
    """endbr64 (F3 0F 1E FA) and endbr32 (FB): nops where indirect-branch tracking is off, as in
    Linux user space."""


@rule("push", stack=True, implicit=(("gpr", RSP),), data_imm=True)
def _push(c: Ctx) -> None:
    (src,) = operands(c)
    if isinstance(src, Reg):
        t = c.tmp()
        c(A.mov(64, t, src.num))
    else:
        t = c.imm(src, 64) if isinstance(src, Imm) else c.read(src, 8)   # a memory operand: before rsp moves
    c(A.addsub_imm("sub", 64, RSP, RSP, 8), A.ldst("str", "r", 8, t, RSP))


@rule("pop", stack=True, implicit=(("gpr", RSP),))
def _pop(c: Ctx) -> None:
    (dst,) = operands(c)
    t = c.tmp()
    # the increment comes first, so `pop rsp` leaves the loaded value, and a memory destination's
    # address is computed with the incremented rsp
    c(A.ldst("ldr", "r", 8, t, RSP), A.addsub_imm("add", 64, RSP, RSP, 8))
    c.write(dst, 8, t)


@rule("ret", kinds="r", stack=True, implicit=(("gpr", RSP),))
def _ret(c: Ctx) -> None:
    c(A.ldst("ldr", "r", 8, EXIT_REG, RSP), A.addsub_imm("add", 64, RSP, RSP, 8))
    c.exit = True


@rule("call", stack=True, implicit=(("gpr", RSP),))
def _call(c: Ctx) -> None:
    (target,) = operands(c)
    if not isinstance(target, Imm):                    # call r/m64: the target is read before the push
        c(A.mov(64, EXIT_REG, c.read(target, 8)))
    t = c.tmp()
    c.slot_const(t, "imm", 64, False)                  # the return address (next instruction)
    c(A.addsub_imm("sub", 64, RSP, RSP, 8), A.ldst("str", "r", 8, t, RSP))
    if isinstance(target, Imm):
        c.slot_const(EXIT_REG, "rip", 64, False)
    c.exit = True


@rule("jmp")
def _jmp(c: Ctx) -> None:
    (target,) = operands(c)
    if isinstance(target, Imm):
        c.slot_const(EXIT_REG, "rip", 64, False)
    else:
        c(A.mov(64, EXIT_REG, c.read(target, 8)))
    c.exit = True


@rule("syscall", kinds="r")
def _syscall(c: Ctx) -> None:
    """A block exit of its own: the code leaves the address after it in the exit register (and the
    translation names the exit "syscall"); the system call itself, and its writes to rcx and r11,
    are the runtime's."""
    c.slot_const(EXIT_REG, "imm", 64, False)
    c.exit = True
