"""x86-64 -> AArch64 rules, one entry per mnemonic; the forms each covers come from x86_ops.

Flags are exact: the guest's rflags lives in x20 in x86 layout and every rule writes the status
bits the instruction defines (see emit_a64.Ctx.flags_from_nzcv and friends). Operands narrower
than 32 bits are computed "scaled" (shifted to the top of a W register) so that AArch64's N, Z,
C and V are the x86 flags of the narrow operation.
"""

from __future__ import annotations

from typing import Any

from vmcli.translate import encode_a64 as A
from vmcli.translate.decode_x86 import Imm, Mem, Reg
from vmcli.translate.emit_a64 import AF, CF, EXIT_REG, FLAGS, OF, PF, SF, ZF, Ctx
from vmcli.translate.rules import RuleTable
from vmcli.translate.x86_ops import CC, SPECS

rule = RuleTable()

ALL = CF | PF | AF | ZF | SF | OF


def _ops(c: Ctx) -> tuple[Any, ...]:
    return c.insn.operands


def _size(c: Ctx) -> int:
    """Size of the first operand in bytes."""
    op = _ops(c)[0]
    return op.size if isinstance(op, Reg | Mem) else c.insn.opsize


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
    dst, src = _ops(c)
    _arith(c, c.insn.spec.mnemonic, dst, src, write=True)


@rule("cmp", data_imm=True)
def _cmp(c: Ctx) -> None:
    dst, src = _ops(c)
    _arith(c, "sub", dst, src, write=False)


@rule("inc", "dec")
def _inc_dec(c: Ctx) -> None:
    (dst,) = _ops(c)
    kind = "add" if c.insn.spec.mnemonic == "inc" else "sub"
    _arith(c, kind, dst, Imm(1, 1), write=True, mask=ALL & ~CF)


@rule("neg")
def _neg(c: Ctx) -> None:
    (dst,) = _ops(c)
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
    dst, src = _ops(c)
    _logic(c, _LOGIC[c.insn.spec.mnemonic], dst, src, write=True)


@rule("test", undefined=AF, data_imm=True)
def _test(c: Ctx) -> None:
    dst, src = _ops(c)
    _logic(c, "and", dst, src, write=False)


@rule("not")
def _not(c: Ctx) -> None:
    (dst,) = _ops(c)
    a = c.read(dst, dst.size)
    r = c.tmp()
    c(A.logic("orn", 64, r, A.ZR, a))
    c.write(dst, dst.size, r)


# ---- moves ----------------------------------------------------------------------------------

@rule("mov", data_imm=True)
def _mov(c: Ctx) -> None:
    dst, src = _ops(c)
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
    dst, src = _ops(c)
    signed = c.insn.spec.mnemonic != "movzx"
    v = c.read(src, src.size, signed=signed)
    if signed and src.size < 8 and isinstance(src, Reg):
        pass  # read() already sign-extended through sbfx
    c.write(dst, dst.size, v)


@rule("lea", kinds="m")
def _lea(c: Ctx) -> None:
    dst, src = _ops(c)
    a = c.addr(src)
    c.write(dst, dst.size, a)


@rule("xchg")
def _xchg(c: Ctx) -> None:
    a, b = _ops(c)
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
    dst, cnt = _ops(c)
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
    (src,) = _ops(c)
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
    ops = _ops(c)
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
    (dst,) = _ops(c)
    bits = 8 * dst.size
    c(A.dp1("rev", bits, dst.num, dst.num))


@rule("popcnt", sizes=(2, 4, 8))
def _popcnt(c: Ctx) -> None:
    dst, src = _ops(c)
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
    base, off = _ops(c)
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
    dst, src, cnt = _ops(c)
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
        dst, src = _ops(c)
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
        (dst,) = _ops(c)
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


RSP = 4


@rule("nop")
def _nop(c: Ctx) -> None:
    """nop and the multi-byte nopl/nopw padding: no code (the memory operand is never accessed)."""


@rule("push", stack=True, implicit=(("gpr", RSP),))
def _push(c: Ctx) -> None:
    (src,) = _ops(c)
    t = c.tmp()
    c(A.mov(64, t, src.num), A.addsub_imm("sub", 64, RSP, RSP, 8), A.ldst("str", "r", 8, t, RSP))


@rule("pop", stack=True, implicit=(("gpr", RSP),))
def _pop(c: Ctx) -> None:
    (dst,) = _ops(c)
    t = c.tmp()
    # the increment comes first, so `pop rsp` leaves the loaded value
    c(A.ldst("ldr", "r", 8, t, RSP), A.addsub_imm("add", 64, RSP, RSP, 8), A.mov(64, dst.num, t))


@rule("ret", kinds="r", stack=True, implicit=(("gpr", RSP),))
def _ret(c: Ctx) -> None:
    c(A.ldst("ldr", "r", 8, EXIT_REG, RSP), A.addsub_imm("add", 64, RSP, RSP, 8))
    c.exit = True


@rule("call", kinds="r", stack=True, implicit=(("gpr", RSP),))
def _call(c: Ctx) -> None:
    t = c.tmp()
    c.slot_const(t, "imm", 64, False)                  # the return address (next instruction)
    c(A.addsub_imm("sub", 64, RSP, RSP, 8), A.ldst("str", "r", 8, t, RSP))
    c.slot_const(EXIT_REG, "rip", 64, False)
    c.exit = True


@rule("jmp", kinds="r")
def _jmp(c: Ctx) -> None:
    c.slot_const(EXIT_REG, "rip", 64, False)
    c.exit = True


# =================================================================================================
# SSE .. SSE4.1
# =================================================================================================
#
# x86 float results differ from AArch64's in three places, all fixed up here bit for bit:
#   - an invalid operation (inf - inf, 0 * inf, sqrt(-1) ...) gives x86's default NaN 0xFFC00000
#     (negative); AArch64 gives 0x7FC00000,
#   - with a NaN operand x86 returns the *first* source's NaN (quieted) if it is a NaN, else the
#     second's; AArch64 prefers a signalling NaN wherever it is,
#   - min/max return the second operand when either is NaN or both are zero (a plain select).


def _vops(c: Ctx) -> tuple[int, int]:
    """(dst vector register, source vector register) for `op xmm, xmm/mem`."""
    dst, src = _ops(c)[0], _ops(c)[1]
    size = src.size if isinstance(src, Mem) else 16
    return dst.num, c.vread(src, size)


def _splat(c: Ctx, value: int, arr: str) -> int:
    """A scratch vector with `value` in every lane of `arr` (4s or 2d), made once per instruction."""
    if (value, arr) in c.vconsts:
        return c.vconsts[(value, arr)]
    v = c.vtmp()
    c.vconsts[(value, arr)] = v
    if arr == "4s" and value & 0xFFFFFF == 0:
        c(A.movi("4s", v, value >> 24, 24))
    elif arr == "4s" and value & 0xFF00FFFF == 0:
        c(A.movi("4s", v, value >> 16, 16))
    else:
        t = c.tmp()
        c.const(t, value, 64 if arr == "2d" else 32)
        c(A.dup_gen(arr, v, t))
    return v



_SIGN = {"4s": 0x80000000, "2d": 1 << 63}
_QUIET = {"4s": 0x00400000, "2d": 1 << 51}


def _fix_invalid(c: Ctx, r: int, arr: str, inputs: tuple[int, ...]) -> None:
    """NaN results from non-NaN inputs become x86's default NaN (sign bit set); NaN inputs are
    propagated x86's way: the first source's NaN (quieted) wins, then the second's."""
    t = c.vtmp()
    sign = _splat(c, _SIGN[arr], arr)
    c(A.f3("fcmeq", arr, t, r, r), A.v3("bic", "16b", t, sign, t), A.v3("orr", "16b", r, r, t))
    quiet = _splat(c, _QUIET[arr], arr)
    for src in reversed(inputs):
        m, q = c.vtmp(), c.vtmp()
        c(A.f3("fcmeq", arr, m, src, src), A.v3("orr", "16b", q, src, quiet), A.v3("bif", "16b", r, q, m))


def _fop(c: Ctx, op: str, arr: str, a: int, b: int) -> int:
    r = c.vtmp()
    c(A.f3(op, arr, r, a, b))
    _fix_invalid(c, r, arr, (a, b))
    return r


def _scalar_insert(c: Ctx, d: int, r: int, arr: str) -> None:
    c(A.ins_elem(2 if arr == "4s" else 3, d, 0, r, 0))


_FARITH = {"add": "fadd", "sub": "fsub", "mul": "fmul", "div": "fdiv"}

for _op, _aop in _FARITH.items():
    @rule(f"{_op}ps", f"{_op}pd", aligned=True)
    def _farith_p(c: Ctx) -> None:
        m = c.insn.spec.mnemonic
        arr = "4s" if m.endswith("ps") else "2d"
        d, s = _vops(c)
        r = _fop(c, _FARITH[m[:-2]], arr, d, s)
        c.vmov(d, r)

    @rule(f"{_op}ss", f"{_op}sd")
    def _farith_s(c: Ctx) -> None:
        m = c.insn.spec.mnemonic
        arr = "4s" if m.endswith("ss") else "2d"
        d, s = _vops(c)
        r = _fop(c, _FARITH[m[:-2]], arr, d, s)
        _scalar_insert(c, d, r, arr)


def _arr_of(m: str) -> str:
    return "4s" if m.endswith(("ps", "ss")) else "2d"


@rule("sqrtps", "sqrtpd", "sqrtss", "sqrtsd", aligned=True)
def _sqrt(c: Ctx) -> None:
    m = c.insn.spec.mnemonic
    arr = _arr_of(m)
    d, s = _vops(c)
    r = c.vtmp()
    c(A.f2("fsqrt", arr, r, s))
    t, nan_in = c.vtmp(), c.vtmp()
    sign = _splat(c, _SIGN[arr], arr)
    c(A.f3("fcmeq", arr, t, r, r), A.v3("bic", "16b", t, sign, t), A.f3("fcmeq", arr, nan_in, s, s),
      A.v3("and", "16b", t, t, nan_in), A.v3("orr", "16b", r, r, t))
    if m[-2] == "p":
        c.vmov(d, r)
    else:
        _scalar_insert(c, d, r, arr)


@rule("minps", "minpd", "maxps", "maxpd", "minss", "minsd", "maxss", "maxsd", aligned=True)
def _minmax(c: Ctx) -> None:
    m = c.insn.spec.mnemonic
    arr = _arr_of(m)
    d, s = _vops(c)
    t, r = c.vtmp(), c.vtmp()
    # min: d < s ? d : s      max: d > s ? d : s      (false for NaN -> the second operand)
    if m.startswith("min"):
        c(A.f3("fcmgt", arr, t, s, d))
    else:
        c(A.f3("fcmgt", arr, t, d, s))
    c(A.vmov(r, d), A.v3("bif", "16b", r, s, t))
    if m[-2] == "p":
        c.vmov(d, r)
    else:
        _scalar_insert(c, d, r, arr)


def _cmp_pred(c: Ctx, arr: str, a: int, b: int, pred: int) -> int:
    r = c.vtmp()
    base = pred & 3
    if base == 0:
        c(A.f3("fcmeq", arr, r, a, b))
    elif base == 1:
        c(A.f3("fcmgt", arr, r, b, a))
    elif base == 2:
        c(A.f3("fcmge", arr, r, b, a))
    else:
        t = c.vtmp()
        c(A.f3("fcmeq", arr, r, a, a), A.f3("fcmeq", arr, t, b, b), A.v3("and", "16b", r, r, t))
        pred ^= 4  # computed "ordered"; UNORD (3) is its negation
    if pred & 4:
        c(A.v2("not", "16b", r, r))
    return r


def _imm8(c: Ctx) -> int:
    return next(o.value for o in c.insn.operands if isinstance(o, Imm)) & 0xFF


def _imm_below(limit: int):
    def accepts(insn) -> bool:
        return next(o.value for o in insn.operands if isinstance(o, Imm)) & 0xFF < limit
    return accepts


@rule("cmpps", "cmppd", "cmpss", "cmpsd", aligned=True, imms=tuple(range(8)), accepts=_imm_below(8))
def _cmpps(c: Ctx) -> None:
    m = c.insn.spec.mnemonic
    arr = _arr_of(m)
    d, s = _vops(c)
    r = _cmp_pred(c, arr, d, s, _imm8(c))
    if m[-2] == "p":
        c.vmov(d, r)
    else:
        _scalar_insert(c, d, r, arr)


@rule("comiss", "ucomiss", "comisd", "ucomisd")
def _comis(c: Ctx) -> None:
    d, s = _vops(c)
    prec = "s" if c.insn.spec.mnemonic.endswith("ss") else "d"
    c(A.fcmp(prec, d, s))
    cf, zf, pf, m = c.tmp(), c.tmp(), c.tmp(), c.tmp()
    # unordered: ZF PF CF = 111, less: CF, equal: ZF; OF SF AF cleared
    c(A.cset(32, cf, "lt"), A.cset(32, zf, "eq"), A.cset(32, pf, "vs"), A.logic("orr", 32, zf, zf, pf))
    c.const(m, ALL, 32)
    c(A.logic("bic", 32, FLAGS, FLAGS, m), A.logic("orr", 32, FLAGS, FLAGS, cf),
      A.logic("orr", 32, FLAGS, FLAGS, pf, "lsl", 2), A.logic("orr", 32, FLAGS, FLAGS, zf, "lsl", 6))


# ---- conversions -------------------------------------------------------------------------------

def _int_indefinite(c: Ctx, r: int, src: int, arr_f: str) -> None:
    """x86 gives 0x80000000 for NaN and out-of-range; fcvt* saturate (INT_MAX) or give 0 (NaN)."""
    imax, ok, lim = c.vtmp(), c.vtmp(), c.vtmp()
    c(A.movi("4s", imax, 0x80, 24, op=1, cmode=0x6))            # mvni: 0x7FFFFFFF
    c(A.v3("cmeq", "4s", imax, r, imax), A.v3("sub", "4s", r, r, imax))
    c(A.f3("fcmeq", arr_f, ok, src, src), A.movi("4s", lim, 0x80, 24), A.v3("bif", "16b", r, lim, ok))


@rule("cvtps2dq", "cvttps2dq", aligned=True)
def _cvtps2dq(c: Ctx) -> None:
    d, s = _vops(c)
    r = c.vtmp()
    c(A.f2("fcvtzs" if c.insn.spec.mnemonic == "cvttps2dq" else "fcvtns", "4s", r, s))
    _int_indefinite(c, r, s, "4s")
    c.vmov(d, r)


@rule("cvtpd2dq", "cvttpd2dq", aligned=True)
def _cvtpd2dq(c: Ctx) -> None:
    d, s = _vops(c)
    r64, n, w, ok, m, lim = (c.vtmp() for _ in range(6))
    c(A.f2("fcvtzs" if c.insn.spec.mnemonic == "cvttpd2dq" else "fcvtns", "2d", r64, s))
    c(A.narrow2("sqxtn", "2s", n, r64, False), A.widen(True, "2s", w, n), A.v3("cmeq", "2d", ok, w, r64),
      A.f3("fcmeq", "2d", m, s, s), A.v3("and", "16b", ok, ok, m), A.narrow2("xtn", "2s", ok, ok, False),
      A.movi("2s", lim, 0x80, 24), A.v3("bif", "8b", n, lim, ok))
    c.vmov(d, n)


@rule("cvtdq2ps", aligned=True)
def _cvtdq2ps(c: Ctx) -> None:
    d, s = _vops(c)
    c(A.f2("scvtf", "4s", d, s))


@rule("cvtdq2pd")
def _cvtdq2pd(c: Ctx) -> None:
    d, s = _vops(c)
    t = c.vtmp()
    c(A.widen(True, "2s", t, s), A.f2("scvtf", "2d", d, t))


@rule("cvtps2pd")
def _cvtps2pd(c: Ctx) -> None:
    d, s = _vops(c)
    c(A.f2("fcvtl", "2d", d, s))


@rule("cvtpd2ps", aligned=True)
def _cvtpd2ps(c: Ctx) -> None:
    d, s = _vops(c)
    c(A.f2("fcvtn", "2d", d, s))                       # fcvtn Vd.2s, Vn.2d: upper half zeroed


@rule("cvtss2sd", "cvtsd2ss")
def _cvt_scalar(c: Ctx) -> None:
    d, s = _vops(c)
    r = c.vtmp()
    if c.insn.spec.mnemonic == "cvtss2sd":
        c(A.fp1("fcvt_d", "s", r, s))
        _scalar_insert(c, d, r, "2d")
    else:
        c(A.fp1("fcvt_s", "d", r, s))
        _scalar_insert(c, d, r, "4s")


@rule("cvtsi2ss", "cvtsi2sd")
def _cvtsi2s(c: Ctx) -> None:
    dst, src = _ops(c)
    bits = 8 * src.size
    v = c.read(src, src.size)
    r = c.vtmp()
    prec = "s" if c.insn.spec.mnemonic == "cvtsi2ss" else "d"
    c(A.fpint("scvtf", bits, prec, r, v))
    _scalar_insert(c, dst.num, r, "4s" if prec == "s" else "2d")


@rule("cvttss2si", "cvtss2si", "cvttsd2si", "cvtsd2si")
def _cvt2si(c: Ctx) -> None:
    dst, src = _ops(c)
    m = c.insn.spec.mnemonic
    prec = "s" if m.endswith("ss2si") else "d"
    s = c.vread(src, src.size) if isinstance(src, Mem) else src.num
    bits = 8 * dst.size
    r, t, lim = c.tmp(), c.tmp(), c.tmp()
    c(A.fpint("fcvtzs" if m.startswith("cvtt") else "fcvtns", 64, prec, r, s))
    if bits == 32:
        c(A.bfm("sbfm", 64, t, r, 0, 31), A.addsub("subs", 64, A.ZR, t, r))   # fits in 32 bits?
    else:
        c.const(t, (1 << 63) - 1)
        c(A.addsub("subs", 64, A.ZR, r, t))                                    # saturated?
    c.const(lim, 1 << (bits - 1), bits)
    c(A.csel("csel", bits, r, r, lim, "eq" if bits == 32 else "ne"))
    c(A.fcmp(prec, s, s), A.csel("csel", bits, r, r, lim, "vc"))
    c.write(dst, dst.size, r)


# ---- logic and integer arithmetic --------------------------------------------------------------

_V3OPS = {
    "andps": ("and", "16b"), "andpd": ("and", "16b"), "pand": ("and", "16b"),
    "orps": ("orr", "16b"), "orpd": ("orr", "16b"), "por": ("orr", "16b"),
    "xorps": ("eor", "16b"), "xorpd": ("eor", "16b"), "pxor": ("eor", "16b"),
    "paddb": ("add", "16b"), "paddw": ("add", "8h"), "paddd": ("add", "4s"), "paddq": ("add", "2d"),
    "psubb": ("sub", "16b"), "psubw": ("sub", "8h"), "psubd": ("sub", "4s"), "psubq": ("sub", "2d"),
    "paddsb": ("sqadd", "16b"), "paddsw": ("sqadd", "8h"), "paddusb": ("uqadd", "16b"),
    "paddusw": ("uqadd", "8h"), "psubsb": ("sqsub", "16b"), "psubsw": ("sqsub", "8h"),
    "psubusb": ("uqsub", "16b"), "psubusw": ("uqsub", "8h"),
    "pmullw": ("mul", "8h"), "pmulld": ("mul", "4s"),
    "pminub": ("umin", "16b"), "pmaxub": ("umax", "16b"), "pminsw": ("smin", "8h"),
    "pmaxsw": ("smax", "8h"), "pminsb": ("smin", "16b"), "pmaxsb": ("smax", "16b"),
    "pminsd": ("smin", "4s"), "pmaxsd": ("smax", "4s"), "pminuw": ("umin", "8h"),
    "pmaxuw": ("umax", "8h"), "pminud": ("umin", "4s"), "pmaxud": ("umax", "4s"),
    "pavgb": ("urhadd", "16b"), "pavgw": ("urhadd", "8h"),
    "pcmpeqb": ("cmeq", "16b"), "pcmpeqw": ("cmeq", "8h"), "pcmpeqd": ("cmeq", "4s"),
    "pcmpeqq": ("cmeq", "2d"), "pcmpgtb": ("cmgt", "16b"), "pcmpgtw": ("cmgt", "8h"),
    "pcmpgtd": ("cmgt", "4s"),
    "punpcklbw": ("zip1", "16b"), "punpcklwd": ("zip1", "8h"), "punpckldq": ("zip1", "4s"),
    "punpcklqdq": ("zip1", "2d"), "punpckhbw": ("zip2", "16b"), "punpckhwd": ("zip2", "8h"),
    "punpckhdq": ("zip2", "4s"), "punpckhqdq": ("zip2", "2d"),
    "unpcklps": ("zip1", "4s"), "unpckhps": ("zip2", "4s"), "unpcklpd": ("zip1", "2d"),
    "unpckhpd": ("zip2", "2d"),
}


@rule(*_V3OPS, aligned=True)
def _v3op(c: Ctx) -> None:
    op, arr = _V3OPS[c.insn.spec.mnemonic]
    d, s = _vops(c)
    if op.startswith(("zip", "uzp", "trn")):
        c(A.perm(op, arr, d, d, s))
    else:
        c(A.v3(op, arr, d, d, s))


@rule("andnps", "andnpd", "pandn", aligned=True)
def _andn(c: Ctx) -> None:
    d, s = _vops(c)
    c(A.v3("bic", "16b", d, s, d))


@rule("pmulhw", "pmulhuw", aligned=True)
def _pmulh(c: Ctx) -> None:
    d, s = _vops(c)
    op = "smull" if c.insn.spec.mnemonic == "pmulhw" else "umull"
    lo, hi = c.vtmp(), c.vtmp()
    c(A.v3diff(op, "4h", lo, d, s), A.v3diff(op, "4h", hi, d, s, upper=True), A.perm("uzp2", "8h", d, lo, hi))


@rule("pmuludq", "pmuldq", aligned=True)
def _pmuludq(c: Ctx) -> None:
    d, s = _vops(c)
    a, b = c.vtmp(), c.vtmp()
    op = "umull" if c.insn.spec.mnemonic == "pmuludq" else "smull"
    c(A.narrow2("xtn", "2s", a, d, False), A.narrow2("xtn", "2s", b, s, False), A.v3diff(op, "2s", d, a, b))


@rule("pmaddwd", aligned=True)
def _pmaddwd(c: Ctx) -> None:
    d, s = _vops(c)
    lo, hi = c.vtmp(), c.vtmp()
    c(A.v3diff("smull", "4h", lo, d, s), A.v3diff("smull", "4h", hi, d, s, upper=True),
      A.v3("addp", "4s", d, lo, hi))


@rule("psadbw", aligned=True)
def _psadbw(c: Ctx) -> None:
    d, s = _vops(c)
    t = c.vtmp()
    c(A.v3("uabd", "16b", t, d, s), A.v2("uaddlp", "16b", t, t), A.v2("uaddlp", "8h", t, t),
      A.v2("uaddlp", "4s", d, t))


@rule("pabsb", "pabsw", "pabsd", aligned=True)
def _pabs(c: Ctx) -> None:
    d, s = _vops(c)
    arr = {"b": "16b", "w": "8h", "d": "4s"}[c.insn.spec.mnemonic[-1]]
    c(A.v2("abs", arr, d, s))


@rule("psignb", "psignw", "psignd", aligned=True)
def _psign(c: Ctx) -> None:
    d, s = _vops(c)
    arr = {"b": "16b", "w": "8h", "d": "4s"}[c.insn.spec.mnemonic[-1]]
    n, lt, z = c.vtmp(), c.vtmp(), c.vtmp()
    c(A.v2("neg", arr, n, d), A.v2("cmlt0", arr, lt, s), A.v2("cmeq0", arr, z, s),
      A.v3("bit", "16b", d, n, lt), A.v3("bic", "16b", d, d, z))


@rule("pmulhrsw", aligned=True)
def _pmulhrsw(c: Ctx) -> None:
    d, s = _vops(c)
    lo, hi = c.vtmp(), c.vtmp()
    # ((a * b >> 14) + 1) >> 1 == (a * b + 2^14) >> 15, truncated to 16 bits as x86 does
    c(A.v3diff("smull", "4h", lo, d, s), A.v3diff("smull", "4h", hi, d, s, upper=True),
      A.vshift("rshrn", "4h", d, lo, 15), A.vshift("rshrn", "8h", d, hi, 15))


@rule("pmaddubsw", aligned=True)
def _pmaddubsw(c: Ctx) -> None:
    d, s = _vops(c)
    ua, sb, plo, phi, e = (c.vtmp() for _ in range(5))
    c(A.widen(False, "8b", ua, d), A.widen(True, "8b", sb, s), A.v3("mul", "8h", plo, ua, sb),
      A.widen(False, "8b", ua, d, upper=True), A.widen(True, "8b", sb, s, upper=True),
      A.v3("mul", "8h", phi, ua, sb), A.perm("uzp1", "8h", e, plo, phi), A.perm("uzp2", "8h", phi, plo, phi),
      A.v3("sqadd", "8h", d, e, phi))


_HORIZ = {"phaddw": ("add", "8h"), "phaddd": ("add", "4s"), "phaddsw": ("sqadd", "8h"),
          "phsubw": ("sub", "8h"), "phsubd": ("sub", "4s"), "phsubsw": ("sqsub", "8h")}


@rule(*_HORIZ, aligned=True)
def _phadd(c: Ctx) -> None:
    op, arr = _HORIZ[c.insn.spec.mnemonic]
    d, s = _vops(c)
    e, o = c.vtmp(), c.vtmp()
    c(A.perm("uzp1", arr, e, d, s), A.perm("uzp2", arr, o, d, s), A.v3(op, arr, d, e, o))


@rule("haddps", "haddpd", "hsubps", "hsubpd", aligned=True)
def _hadd(c: Ctx) -> None:
    m = c.insn.spec.mnemonic
    arr = "4s" if m.endswith("ps") else "2d"
    d, s = _vops(c)
    e, o = c.vtmp(), c.vtmp()
    c(A.perm("uzp1", arr, e, d, s), A.perm("uzp2", arr, o, d, s))
    r = _fop(c, "fadd" if m.startswith("hadd") else "fsub", arr, e, o)
    c.vmov(d, r)


@rule("addsubps", "addsubpd", aligned=True)
def _addsub(c: Ctx) -> None:
    arr = "4s" if c.insn.spec.mnemonic.endswith("ps") else "2d"
    d, s = _vops(c)
    sub = _fop(c, "fsub", arr, d, s)
    add = _fop(c, "fadd", arr, d, s)
    if arr == "2d":
        c(A.ins_elem(3, sub, 1, add, 1))
    else:
        mask = c.vtmp()
        c(A.movi("2d", mask, 0xF0), A.v3("bit", "16b", sub, add, mask))
    c.vmov(d, sub)


# ---- shifts ------------------------------------------------------------------------------------

_VSHIFT = {"psrlw": ("ushr", "8h"), "psrld": ("ushr", "4s"), "psrlq": ("ushr", "2d"),
           "psraw": ("sshr", "8h"), "psrad": ("sshr", "4s"),
           "psllw": ("shl", "8h"), "pslld": ("shl", "4s"), "psllq": ("shl", "2d")}


@rule(*_VSHIFT, aligned=True)
def _vshift(c: Ctx) -> None:
    op, arr = _VSHIFT[c.insn.spec.mnemonic]
    esize = {"8h": 16, "4s": 32, "2d": 64}[arr]
    dst, src = _ops(c)
    d = dst.num
    if isinstance(src, Imm):
        n = src.value & 0xFF
        if op == "sshr":
            n = min(n, esize - 1)
        if n == 0:
            return
        if n >= esize:
            c(A.movi("2d", d, 0))
        else:
            c(A.vshift(op, arr, d, d, n))
        return
    s = c.vread(src, 16)
    cnt, lim, v = c.tmp(), c.tmp(), c.vtmp()
    # the count is the whole low quadword; anything >= esize shifts everything out
    c(A.fpint("fmov_to_gpr", 64, "d", cnt, s), A.movw("movz", 64, lim, esize),
      A.addsub("subs", 64, A.ZR, cnt, lim), A.csel("csel", 64, cnt, cnt, lim, "lo"))
    if op != "shl":
        c(A.addsub("sub", 64, cnt, A.ZR, cnt))
    c(A.dup_gen(arr if arr != "2d" else "2d", v, cnt))
    c(A.v3("sshl" if op == "sshr" else "ushl", arr, d, d, v))


@rule("psrldq", "pslldq")
def _vshift_bytes(c: Ctx) -> None:
    dst, imm = _ops(c)
    d = dst.num
    n = imm.value & 0xFF
    if n == 0:
        return
    if n >= 16:
        c(A.movi("2d", d, 0))
        return
    z = c.vtmp()
    c(A.movi("2d", z, 0))
    if c.insn.spec.mnemonic == "psrldq":
        c(A.ext(d, d, z, n))
    else:
        c(A.ext(d, z, d, 16 - n))


# ---- pack, shuffle, blend ------------------------------------------------------------------------

_PACK = {"packsswb": ("sqxtn", "8b", "16b"), "packuswb": ("sqxtun", "8b", "16b"),
         "packssdw": ("sqxtn", "4h", "8h"), "packusdw": ("sqxtun", "4h", "8h")}


@rule(*_PACK, aligned=True)
def _pack(c: Ctx) -> None:
    op, lo, hi = _PACK[c.insn.spec.mnemonic]
    d, s = _vops(c)
    t = c.vtmp()
    c(A.narrow2(op, lo, t, d, False), A.narrow2(op, hi, t, s, True))
    c.vmov(d, t)


@rule("pshufd", "pshuflw", "pshufhw", aligned=True)
def _pshufd(c: Ctx) -> None:
    m = c.insn.spec.mnemonic
    d, s = _vops(c)
    imm = _imm8(c)
    t = c.vtmp()
    if m == "pshufd":
        for i in range(4):
            c(A.ins_elem(2, t, i, s, (imm >> 2 * i) & 3))
    else:
        base = 0 if m == "pshuflw" else 4
        c(A.vmov(t, s))
        for i in range(4):
            c(A.ins_elem(1, t, base + i, s, base + ((imm >> 2 * i) & 3)))
    c.vmov(d, t)


@rule("shufps", "shufpd", aligned=True)
def _shufps(c: Ctx) -> None:
    d, s = _vops(c)
    imm = _imm8(c)
    t = c.vtmp()
    if c.insn.spec.mnemonic == "shufps":
        for i in range(4):
            c(A.ins_elem(2, t, i, d if i < 2 else s, (imm >> 2 * i) & 3))
    else:
        c(A.ins_elem(3, t, 0, d, imm & 1), A.ins_elem(3, t, 1, s, (imm >> 1) & 1))
    c.vmov(d, t)


@rule("pshufb", aligned=True)
def _pshufb(c: Ctx) -> None:
    d, s = _vops(c)
    t = c.vtmp()
    # x86 zeroes a lane whose index has bit 7 set, else uses index & 15; tbl zeroes indices >= 16
    c(A.movi("16b", t, 0x8F), A.v3("and", "16b", t, s, t), A.tbl(d, d, t))


@rule("palignr", aligned=True)
def _palignr(c: Ctx) -> None:
    d, s = _vops(c)
    n = _imm8(c)
    if n >= 32:
        c(A.movi("2d", d, 0))
    elif n >= 16:
        if n > 16:
            z = c.vtmp()
            c(A.movi("2d", z, 0), A.ext(d, d, z, n - 16))
    elif n == 0:
        c.vmov(d, s)
    else:
        c(A.ext(d, s, d, n))


@rule("blendps", "blendpd", "pblendw", aligned=True)
def _blend(c: Ctx) -> None:
    m = c.insn.spec.mnemonic
    d, s = _vops(c)
    imm = _imm8(c)
    size, lanes = {"blendps": (2, 4), "blendpd": (3, 2), "pblendw": (1, 8)}[m]
    for i in range(lanes):
        if imm >> i & 1:
            c(A.ins_elem(size, d, i, s, i))


@rule("blendvps", "blendvpd", "pblendvb", aligned=True, implicit=(("xmm", 0),))
def _blendv(c: Ctx) -> None:
    arr, sh = {"blendvps": ("4s", 31), "blendvpd": ("2d", 63), "pblendvb": ("16b", 7)}[c.insn.spec.mnemonic]
    d, s = _vops(c)
    t = c.vtmp()
    c(A.vshift("sshr", arr, t, 0, sh), A.v3("bit", "16b", d, s, t))


@rule("ptest", aligned=True)
def _ptest(c: Ctx) -> None:
    d, s = _vops(c)
    a, b = c.vtmp(), c.vtmp()
    za, zb, m = c.tmp(), c.tmp(), c.tmp()
    c(A.v3("and", "16b", a, d, s), A.v3("bic", "16b", b, s, d), A.across("umaxv", "4s", a, a),
      A.across("umaxv", "4s", b, b), A.fpint("fmov_to_gpr", 32, "s", za, a),
      A.fpint("fmov_to_gpr", 32, "s", zb, b))
    c.const(m, ALL, 32)
    c(A.logic("bic", 32, FLAGS, FLAGS, m), A.addsub("subs", 32, A.ZR, za, A.ZR), A.cset(32, za, "eq"),
      A.addsub("subs", 32, A.ZR, zb, A.ZR), A.cset(32, zb, "eq"), A.logic("orr", 32, FLAGS, FLAGS, zb),
      A.logic("orr", 32, FLAGS, FLAGS, za, "lsl", 6))


_PMOVX = {"bw": ("8b",), "bd": ("8b", "4h"), "bq": ("8b", "4h", "2s"), "wd": ("4h",), "wq": ("4h", "2s"),
          "dq": ("2s",)}


@rule(*[f"pmov{s}x{k}" for s in "sz" for k in _PMOVX])
def _pmovx(c: Ctx) -> None:
    m = c.insn.spec.mnemonic
    d, s = _vops(c)
    signed = m[4] == "s"
    t = c.vtmp()
    src = s
    steps = _PMOVX[m[-2:]]
    for i, arr in enumerate(steps):
        out = d if i == len(steps) - 1 else t
        c(A.widen(signed, arr, out, src))
        src = out


# ---- moves -----------------------------------------------------------------------------------------

@rule("movups", "movupd", "movdqu", "lddqu")
def _movu(c: Ctx) -> None:
    _move128(c)


@rule("movaps", "movapd", "movdqa", "movntdq", "movntdqa", "movntps", "movntpd", aligned=True)
def _mova(c: Ctx) -> None:
    _move128(c)


def _move128(c: Ctx) -> None:
    dst, src = _ops(c)
    if isinstance(dst, Mem):
        a = c.addr(dst)
        c(A.ldst("str", "v", 16, src.num, a))
    elif isinstance(src, Mem):
        a = c.addr(src)
        c(A.ldst("ldr", "v", 16, dst.num, a))
    else:
        c.vmov(dst.num, src.num)


@rule("movss", "movsd")
def _movss(c: Ctx) -> None:
    dst, src = _ops(c)
    size = 4 if c.insn.spec.mnemonic == "movss" else 8
    lane = 2 if size == 4 else 3
    if isinstance(dst, Mem):
        c(A.ldst("str", "v", size, src.num, c.addr(dst)))
    elif isinstance(src, Mem):
        c(A.ldst("ldr", "v", size, dst.num, c.addr(src)))        # the load zeroes the upper lanes
    else:
        c(A.ins_elem(lane, dst.num, 0, src.num, 0))


@rule("movhlps", "movlhps")
def _movhl(c: Ctx) -> None:
    dst, src = _ops(c)
    if c.insn.spec.mnemonic == "movhlps":
        c(A.ins_elem(3, dst.num, 0, src.num, 1))
    else:
        c(A.ins_elem(3, dst.num, 1, src.num, 0))


@rule("movlps", "movlpd", "movhps", "movhpd")
def _movlh_mem(c: Ctx) -> None:
    dst, src = _ops(c)
    high = c.insn.spec.mnemonic[3] == "h"
    t = c.tmp()
    if isinstance(src, Mem):
        c(A.ldst("ldr", "r", 8, t, c.addr(src)), A.ins_gen(3, dst.num, 1 if high else 0, t))
    else:
        c(A.umov(3, t, src.num, 1 if high else 0), A.ldst("str", "r", 8, t, c.addr(dst)))


@rule("movsldup", "movshdup", aligned=True)
def _movdup(c: Ctx) -> None:
    d, s = _vops(c)
    c(A.perm("trn1" if c.insn.spec.mnemonic == "movsldup" else "trn2", "4s", d, s, s))


@rule("movddup")
def _movddup(c: Ctx) -> None:
    d, s = _vops(c)
    c(A.dup_elem("2d", d, s, 0))


@rule("movd", "movq")
def _movd(c: Ctx) -> None:
    dst, src = _ops(c)
    if isinstance(dst, Reg) and dst.kind == "xmm":
        if isinstance(src, Reg) and src.kind == "gpr":
            bits = 8 * src.size
            c(A.fpint("fmov_from_gpr", bits, "s" if bits == 32 else "d", dst.num, src.num))
        elif isinstance(src, Mem):
            c(A.ldst("ldr", "v", src.size, dst.num, c.addr(src)))
        else:
            c(A.fp1("fmov", "d", dst.num, src.num))                  # movq xmm, xmm: upper zeroed
        return
    if isinstance(dst, Mem):
        c(A.ldst("str", "v", dst.size, src.num, c.addr(dst)))
    elif dst.kind == "gpr":
        bits = 8 * dst.size
        c(A.fpint("fmov_to_gpr", bits, "s" if bits == 32 else "d", dst.num, src.num))
    else:
        c(A.fp1("fmov", "d", dst.num, src.num))


@rule("movmskps", "movmskpd")
def _movmsk(c: Ctx) -> None:
    dst, src = _ops(c)
    lanes = 4 if c.insn.spec.mnemonic == "movmskps" else 2
    size = 2 if lanes == 4 else 3
    r, t = c.tmp(), c.tmp()
    c(A.movw("movz", 64, r, 0))
    for i in range(lanes):
        c(A.umov(size, t, src.num, i), A.lsr_imm(64 if size == 3 else 32, t, t, 8 * (1 << size) - 1),
          A.logic("orr", 32, r, r, t, "lsl", i))
    c(A.mov(32, dst.num, r))


@rule("pmovmskb")
def _pmovmskb(c: Ctx) -> None:
    dst, src = _ops(c)
    t, k = c.vtmp(), c.vtmp()
    g = c.tmp()
    c.const(g, 0x8040201008040201)
    c(A.dup_gen("2d", k, g), A.v2("cmlt0", "16b", t, src.num), A.v3("and", "16b", t, t, k),
      A.v3("addp", "16b", t, t, t), A.v3("addp", "16b", t, t, t), A.v3("addp", "16b", t, t, t),
      A.umov(1, dst.num, t, 0))


# ---- insert / extract ------------------------------------------------------------------------------

@rule("pinsrb", "pinsrw", "pinsrd", "pinsrq")
def _pinsr(c: Ctx) -> None:
    dst, src, _ = _ops(c)
    m = c.insn.spec.mnemonic
    size = {"b": 0, "w": 1, "d": 2, "q": 3}[m[-1]]
    if m == "pinsrd" and src.size == 8:
        size = 3
    lanes = 16 >> size
    v = c.load(src, 1 << size) if isinstance(src, Mem) else src.num
    c(A.ins_gen(size, dst.num, _imm8(c) % lanes, v))


@rule("pextrb", "pextrw", "pextrd", "extractps")
def _pextr(c: Ctx) -> None:
    dst, src, _ = _ops(c)
    m = c.insn.spec.mnemonic
    size = {"b": 0, "w": 1, "d": 2, "s": 2}[m[-1]]
    if m == "pextrd" and dst.size == 8:
        size = 3
    lanes = 16 >> size
    idx = _imm8(c) % lanes
    if isinstance(dst, Mem):
        t = c.tmp()
        c(A.umov(size, t, src.num, idx), A.ldst("str", "r", 1 << size, t, c.addr(dst)))
    else:
        c(A.umov(size, dst.num, src.num, idx))


@rule("insertps")
def _insertps(c: Ctx) -> None:
    dst, src, _ = _ops(c)
    imm = _imm8(c)
    d = dst.num
    if isinstance(src, Mem):
        s, sel = c.vread(src, 4), 0
    else:
        s, sel = src.num, imm >> 6
    t = c.vtmp()
    c(A.vmov(t, d), A.ins_elem(2, t, (imm >> 4) & 3, s, sel))
    for i in range(4):
        if imm >> i & 1:
            c(A.ins_gen(2, t, i, A.ZR))
    c.vmov(d, t)


# ---- rounding ----------------------------------------------------------------------------------

@rule("roundps", "roundpd", "roundss", "roundsd", aligned=True, imms=tuple(range(16)),
      accepts=_imm_below(16))
def _round(c: Ctx) -> None:
    m = c.insn.spec.mnemonic
    arr = "4s" if m.endswith(("ps", "ss")) else "2d"
    d, s = _vops(c)
    imm = _imm8(c)
    mode = 0 if imm & 4 else imm & 3                   # bit 2: use MXCSR.RC (round to nearest here)
    op = ("frintn", "frintm", "frintp", "frintz")[mode]
    r = c.vtmp()
    c(A.f2(op, arr, r, s))
    if m[-2] == "p":
        c.vmov(d, r)
    else:
        _scalar_insert(c, d, r, arr)


@rule("phminposuw", aligned=True)
def _phminposuw(c: Ctx) -> None:
    d, s = _vops(c)
    m, dm, idx, mi = c.vtmp(), c.vtmp(), c.vtmp(), c.vtmp()
    g = c.tmp()
    # minimum, then the lowest lane holding it: lanes that are not the minimum read 0xFFFF
    c(A.across("uminv", "8h", m, s), A.dup_elem("8h", dm, m, 0), A.v3("cmeq", "8h", dm, s, dm))
    c.const(g, 0x0003000200010000)
    c(A.fpint("fmov_from_gpr", 64, "d", idx, g))
    c.const(g, 0x0007000600050004)
    c(A.ins_gen(3, idx, 1, g), A.v3("orn", "16b", idx, idx, dm), A.across("uminv", "8h", mi, idx),
      A.ins_elem(1, m, 1, mi, 0))
    c.vmov(d, m)


# ---- flag effects, for dead-flag elimination within a block (pipeline.dead_flags) -------------
# Flags these always write, in straight-line code through the Ctx flag helpers (which leave out
# the ones a block marks dead); none of them reads the flags.
FLAG_WRITES = {"add": ALL, "sub": ALL, "cmp": ALL, "neg": ALL, "inc": ALL & ~CF, "dec": ALL & ~CF,
               **dict.fromkeys(("and", "or", "xor", "test"), CF | PF | ZF | SF | OF)}   # AF undefined: kept
# Rules whose code neither reads nor writes the flags register (test_translate_flags.py checks
# every form's code). Any other rule counts as reading every flag and writing none for sure.
FLAG_FREE = frozenset(("mov", "movzx", "movsx", "movsxd", "lea", "not", "bswap", "xchg", "nop", "cbw", "cwd",
                       "push", "pop")) | frozenset(
    s.mnemonic for s in SPECS if s.is_sse and s.mnemonic not in ("comiss", "ucomiss", "comisd", "ucomisd", "ptest"))


def flag_effect(mnemonic: str) -> tuple[int, int]:
    """(flags it may read, flags it always writes) of a rule's code."""
    if mnemonic in FLAG_WRITES:
        return 0, FLAG_WRITES[mnemonic]
    if mnemonic in FLAG_FREE:
        return 0, 0
    return ALL, 0
