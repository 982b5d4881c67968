"""The base (integer) instruction set: one rule per mnemonic.

Flags (host.py): NZCV holds SF ZF NOT-CF OF, PF_RES the result PF comes from and AF_SRC what AF
comes from. A rule makes only the flags that are live after it (Ctx.dead), straight in NZCV where an
AArch64 flag-setting instruction gives them: a subtraction's C is already NOT CF, an addition's C is
inverted when CF is live. Operands narrower than 32 bits are computed "scaled" (shifted to the top
of a W register) so that N, Z, C and V are the x86 flags of the narrow operation.
"""

from __future__ import annotations

import dataclasses

from vmcli.translate.isa.a64 import encoder as A
from vmcli.translate.isa.x86.conditions import CC
from vmcli.translate.isa.x86.decoder import Imm, Mem, Reg
from vmcli.translate.isa.x86.flags import AF, CF, OF, PF, SF, ZF
from vmcli.translate.isa.x86.registers import RSP
from vmcli.translate.x86_to_a64.builder import Ctx, Patch
from vmcli.translate.x86_to_a64.host import AF_SRC, EXIT_REG, PF_RES
from vmcli.translate.x86_to_a64.rules.common import ALL, operands
from vmcli.translate.x86_to_a64.rules.table import RULES as rule

# ---- add/sub family ---------------------------------------------------------------------------


def _wide(size: int) -> int:
    return 64 if size == 8 else 32


def _dest(c: Ctx, dst: Reg | Mem, write: bool, size: int, flags_need_it: bool) -> int:
    """Where an operation's result goes: the destination register itself, PF_RES when only the
    flags need it, else a scratch register."""
    if write and isinstance(dst, Reg) and size >= 4:
        return dst.num
    if not write and flags_need_it:
        return PF_RES
    return c.tmp()


def _atomic(c: Ctx, op: str, dst: Mem, value: int) -> int:
    """One LSE atomic on memory (acquire and release: the full barrier of x86's LOCK): [dst] op=
    value; returns the register holding the old value (zero-extended)."""
    old = c.tmp()
    c(A.lse(op, dst.size, value, old, c.addr(dst)))
    return old


def _locked(c: Ctx, kind: str, dst: Mem, src: Reg | Mem | Imm, writes: int = ALL) -> None:
    """LOCK add/sub/and/or/xor/inc/dec: an LSE atomic, the flags from the old value."""
    size = dst.size
    b = c.imm(src, _wide(size)) if isinstance(src, Imm) else c.src(src, size)
    if kind == "sub":
        v = c.tmp()
        c(A.addsub("sub", 64, v, A.ZR, b))
        old = _atomic(c, "ldadd", dst, v)
    elif kind == "and":
        v = c.tmp()
        c(A.logic("orn", 64, v, A.ZR, b))
        old = _atomic(c, "ldclr", dst, v)               # clears the bits that are clear in src
    else:
        old = _atomic(c, {"add": "ldadd", "or": "ldset", "xor": "ldeor"}[kind], dst, b)
    prior = Reg("gpr", old, size)
    operand = Reg("gpr", b, size)
    if kind in ("and", "or", "xor"):
        _logic(c, _LOGIC[kind], prior, operand, write=False)
    else:
        _arith(c, kind, prior, operand, write=False, writes=writes)


def _arith(c: Ctx, kind: str, dst: Reg | Mem, src: Reg | Mem | Imm, write: bool, writes: int = ALL) -> None:
    """kind: add, sub, adc, sbb. dst op src with exact x86 flags (the live ones of `writes`; inc and
    dec keep CF)."""
    if c.insn.lock and write and isinstance(dst, Mem):
        _locked(c, kind, dst, src, writes)
        return
    size = dst.size
    live = c.live(writes)
    keep = c.carry_save() if not writes & CF else None
    if size < 4:
        _arith_narrow(c, kind, dst, src, write, live)
        c.carry_restore(keep)
        return
    wide = _wide(size)
    nzcv = bool(live & (CF | ZF | SF | OF))
    if not write and not live:
        return                                  # a compare whose flags nothing reads
    a = c.src(dst, size)
    sub = kind in ("sub", "sbb")
    imm = isinstance(src, Imm) and kind in ("add", "sub") and c.small_imm(src) and not live & AF
    b = None if imm else c.src(src, size) if not isinstance(src, Imm) else c.imm(src, wide)
    if b is not None:
        c.af_source(a, b)
    r = _dest(c, dst, write, size, bool(live & (PF | AF)))
    if not write and r == PF_RES and not nzcv:
        pass
    elif not write and r != PF_RES:
        r = A.ZR                                # cmp / cmn: flags only
    if kind in ("adc", "sbb"):
        if kind == "adc":
            c.carry_invert()                    # adc adds C: make it CF
        assert b is not None
        c(A.adc(("adcs" if nzcv else "adc") if kind == "adc" else ("sbcs" if nzcv else "sbc"), wide, r, a, b))
    else:
        op = ("subs" if sub else "adds") if nzcv else ("sub" if sub else "add")
        if imm:
            assert isinstance(src, Imm)
            c.imm_addsub(op, wide, r, a, src)
        else:
            assert b is not None
            c(A.addsub(op, wide, r, a, b))
    if not sub and live & CF:
        c.carry_invert()                        # an addition's C is CF
    if r != A.ZR:
        c.pf_result(r)
    if write and isinstance(dst, Mem):
        c.store(dst, size, r)
    c.carry_restore(keep)


def _shifted_imm(c: Ctx, value_slot: Imm, size: int) -> int:
    """A register holding an immediate shifted to the top of a W register (narrow arithmetic)."""
    t = c.tmp()
    if value_slot.size == 0 or not c.data_imm:
        c.const(t, (value_slot.value << (32 - 8 * size)) & 0xFFFFFFFF, 32)
    elif size == 1:
        c.patches.append(Patch(len(c.words), "imm", 8, 5))             # (imm << 8) & 0xFFFF
        c(A.movw("movz", 32, t, 0, 1))
    else:
        c.patches.append(Patch(len(c.words), "imm", 0, 0))
        c(A.movw("movz", 32, t, 0, 1))
    return t


def _arith_narrow(c: Ctx, kind: str, dst: Reg | Mem, src: Reg | Mem | Imm, write: bool, live: int) -> None:
    size = dst.size
    bits = 8 * size
    sh = 32 - bits
    if not write and not live:
        return
    a = c.src(dst, size)
    if kind in ("adc", "sbb"):
        _adc_narrow(c, kind, dst, src, write, a)
        return
    sub = kind == "sub"
    if isinstance(src, Imm) and not live & AF:
        sb = _shifted_imm(c, src, size)
    else:
        b = c.imm(src, 32) if isinstance(src, Imm) else c.src(src, size)
        c.af_source(a, b)
        sb = c.reuse(b)
        c(A.lsl_imm(32, sb, b, sh))
    sa = c.reuse(a)
    c(A.lsl_imm(32, sa, a, sh))
    rs = sa
    nzcv = bool(live & (CF | ZF | SF | OF))
    c(A.addsub(("subs" if sub else "adds") if nzcv else ("sub" if sub else "add"), 32, rs, sa, sb))
    if not sub and live & CF:
        c.carry_invert()
    c.pf_result(rs, sh)
    if write:
        _write_top(c, dst, rs, bits)


def _write_top(c: Ctx, dst: Reg | Mem, rs: int, bits: int) -> None:
    """Write the `bits`-wide value held at the top of W register rs."""
    if isinstance(dst, Reg):
        c(A.bfxil(64, dst.num, rs, 32 - bits, bits))
    else:
        t = c.tmp()
        c(A.lsr_imm(32, t, rs, 32 - bits))
        c.store(dst, bits // 8, t)


def _adc_narrow(c: Ctx, kind: str, dst: Reg | Mem, src: Reg | Mem | Imm, write: bool, a: int) -> None:
    """adc/sbb on 8 or 16 bits: a carry-in cannot be scaled, so the flags come from explicit formulas
    on the zero-extended values."""
    bits = 8 * dst.size
    b = c.imm(src, 32) if isinstance(src, Imm) else c.src(src, dst.size)
    za, zb = c.reuse(a), c.reuse(b)
    r, cf, of = c.tmp(), c.tmp(), c.tmp()
    c(A.ubfx(32, za, a, 0, bits), A.ubfx(32, zb, b, 0, bits), A.cset(32, cf, "lo"))    # cf = CF
    c.af_source(za, zb)
    op = "add" if kind == "adc" else "sub"
    c(A.addsub(op, 32, r, za, zb), A.addsub(op, 32, r, r, cf))
    c(A.ubfx(32, cf, r, bits, 1))                                   # the carry or borrow out
    if kind == "adc":                                               # OF: (a ^ r) & (b ^ r), top bit
        c(A.logic("eor", 32, of, za, r), A.logic("eor", 32, zb, zb, r))
    else:                                                           # (a ^ b) & (a ^ r)
        c(A.logic("eor", 32, of, za, zb), A.logic("eor", 32, zb, za, r))
    c(A.logic("and", 32, of, of, zb), A.ubfx(32, of, of, bits - 1, 1))
    c.nzcv_of(r, bits, cf, of)
    c.pf_result(r)
    if write:
        c.write(dst, dst.size, r)


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
    _arith(c, kind, dst, Imm(1, 0), write=True, writes=ALL & ~CF)


@rule("neg")
def _neg(c: Ctx) -> None:
    (dst,) = operands(c)
    size = dst.size
    a = c.src(dst, size)
    live = c.live(ALL)
    if c.live(AF):
        c(A.mov(64, AF_SRC, a))                 # AF of 0 - a: bit 4 of a ^ result
    nzcv = bool(live & (CF | ZF | SF | OF))
    if size >= 4:
        r = _dest(c, dst, True, size, False)
        # negs: C = (a == 0) = NOT CF (x86's CF is set unless a is 0)
        c(A.addsub("subs" if nzcv else "sub", _wide(size), r, A.ZR, a))
        c.pf_result(r)
        if isinstance(dst, Mem):
            c.store(dst, size, r)
        return
    sh = 32 - 8 * size
    sa = c.tmp()
    c(A.lsl_imm(32, sa, a, sh), A.addsub("subs" if nzcv else "sub", 32, sa, A.ZR, sa))
    c.pf_result(sa, sh)
    _write_top(c, dst, sa, 8 * size)


# ---- logic ----------------------------------------------------------------------------------

def _logic(c: Ctx, op: str, dst: Reg | Mem, src: Reg | Mem | Imm, write: bool) -> None:
    """and/or/xor/test: CF = OF = 0, SF ZF PF from the result, AF = 0 (what the hardware does)."""
    if c.insn.lock and write and isinstance(dst, Mem):
        _locked(c, {"and": "and", "orr": "or", "eor": "xor"}[op], dst, src)
        return
    size = dst.size
    live = c.live(ALL)
    if not write and not live:
        return
    a = c.src(dst, size)
    b = c.imm(src, _wide(size)) if isinstance(src, Imm) else c.src(src, size)
    nz = bool(live & (CF | ZF | SF | OF))
    pa = bool(live & (PF | AF))
    if size >= 4:
        wide = _wide(size)
        r = _dest(c, dst, write, size, pa)
        if not write and not pa:
            r = A.ZR if op == "and" and not live & CF else c.tmp()
        if op == "and" and nz and not live & CF and not live & AF:
            c(A.logic("ands", wide, r, a, b))          # C = 0 is dead; V = 0 = OF
            nz = False
        else:
            c(A.logic(op, wide, r, a, b))
        if nz:
            # N Z of the result, C = 1 (CF = 0), V = 0; AF_SRC = the result when AF is live
            c(A.addsub_imm("subs", wide, AF_SRC if live & AF else A.ZR, r, 0))
        c.pf_result(r)
        if live & AF and not nz:
            c(A.mov(64, AF_SRC, PF_RES))
        if write and isinstance(dst, Mem):
            c.store(dst, size, r)
        return
    r = c.tmp()
    c(A.logic(op, 32, r, a, b))
    if nz:
        t = c.tmp()
        c(A.lsl_imm(32, t, r, 32 - 8 * size), A.addsub_imm("subs", 32, A.ZR, t, 0))
    c.pf_result(r)
    c.af_const(0)
    if write:
        c.write(dst, size, r)


_LOGIC = {"and": "and", "or": "orr", "xor": "eor", "test": "and"}


@rule("and", "or", "xor", data_imm=True)
def _and_or_xor(c: Ctx) -> None:
    dst, src = operands(c)
    _logic(c, _LOGIC[c.insn.spec.mnemonic], dst, src, write=True)


@rule("test", data_imm=True)
def _test(c: Ctx) -> None:
    dst, src = operands(c)
    _logic(c, "and", dst, src, write=False)


@rule("not")
def _not(c: Ctx) -> None:
    (dst,) = operands(c)
    if isinstance(dst, Reg) and dst.size >= 4:
        c(A.logic("orn", _wide(dst.size), dst.num, A.ZR, dst.num))
        return
    a = c.src(dst, dst.size)
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
        if isinstance(dst, Mem) and src.value == 0:
            c.store(dst, size, A.ZR)           # zero is its own shape (builder._sign)
            return
        v = c.imm(src, 64 if size == 8 else 32)
    elif isinstance(src, Mem) and isinstance(dst, Reg) and size >= 4:
        c.load(src, size, rd=dst.num)           # a 32-bit load zero-extends, as x86's write does
        return
    elif isinstance(src, Reg) and isinstance(dst, Mem):
        v = src.num                             # a store takes the low bytes of the register
    else:
        v = c.read(src, size)
    c.write(dst, size, v)


@rule("movzx", "movsx", "movsxd")
def _movx(c: Ctx) -> None:
    dst, src = operands(c)
    signed = c.insn.spec.mnemonic != "movzx"
    bits = 8 * src.size
    if isinstance(dst, Reg) and dst.size >= 4:
        wide = _wide(dst.size)
        if isinstance(src, Mem):
            if not signed or src.size == dst.size:
                c.load(src, src.size, rd=dst.num)
            else:
                c.ldst("ldrs64" if dst.size == 8 else "ldrs32", "r", src.size, dst.num, src)
        elif src.size >= 4 and src.size == dst.size:
            c(A.mov(wide, dst.num, src.num))
        else:
            c((A.sbfx if signed else A.ubfx)(wide, dst.num, src.num, 0, bits))
        return
    v = c.read(src, src.size, signed=signed)
    c.write(dst, dst.size, v)


@rule("lea", kinds="m")
def _lea(c: Ctx) -> None:
    dst, src = operands(c)
    a = c.addr(dataclasses.replace(src, seg=0))      # the offset: lea adds no segment base
    c.write(dst, dst.size, a)


@rule("xchg")
def _xchg(c: Ctx) -> None:
    """A memory operand is exchanged atomically (x86's xchg is locked with or without LOCK): swpal."""
    a, b = operands(c)
    size = a.size
    if isinstance(a, Mem):
        assert isinstance(b, Reg)
        old = _atomic(c, "swp", a, b.num)
        c.write(b, size, old)
        return
    if size >= 4:
        t = c.tmp()
        wide = _wide(size)
        c(A.mov(wide, t, a.num), A.mov(wide, a.num, b.num), A.mov(wide, b.num, t))
        return
    t = c.tmp()
    c(A.mov(64, t, a.num))
    c.write(a, size, b.num)
    c.write(b, size, t)


@rule("xadd")
def _xadd(c: Ctx) -> None:
    """TEMP = SRC + DEST; SRC = DEST; DEST = TEMP, with add's flags; LOCK: ldaddal."""
    dst, src = operands(c)
    size = dst.size
    assert isinstance(src, Reg)
    if isinstance(dst, Mem) and c.insn.lock:
        old = _atomic(c, "ldadd", dst, src.num)
        c.kept.add(old)
        _arith(c, "add", Reg("gpr", old, size), src, write=False)
        c.write(src, size, old)
        return
    if isinstance(dst, Reg) and dst.num == src.num:
        _arith(c, "add", dst, src, write=True)             # DEST is written last
        return
    old = c.tmp()
    if isinstance(dst, Mem):
        c.load(dst, size, rd=old)
    else:
        c(A.mov(64, old, dst.num))
    _arith(c, "add", dst, src, write=True)
    c.write(src, size, old)


@rule("cmpxchg", implicit=(("gpr", 0),))
def _cmpxchg(c: Ctx) -> None:
    """accumulator == DEST: ZF = 1, DEST = SRC; else ZF = 0, accumulator = DEST (a register DEST is
    left as it is, not zero-extended, on the CPU the verifier runs on); the flags of cmp accumulator,
    DEST. Memory: casal, atomic with or without LOCK."""
    dst, src = operands(c)
    size = dst.size
    wide = _wide(size)
    assert isinstance(src, Reg)
    old = c.tmp()
    if isinstance(dst, Mem):
        c(A.mov(64, old, 0), A.casal(size, old, src.num, c.addr(dst)))   # old <- the memory's value
    else:
        c(A.mov(wide, old, dst.num))
    c.kept.add(old)                                     # still needed after the compare
    prior = Reg("gpr", old, size)
    if c.nzcv_live() or c.live(PF | AF):
        _arith(c, "sub", Reg("gpr", 0, size), prior, write=False)
    if not c.nzcv_live():                               # the selects below need Z
        if size >= 4:
            c(A.addsub("subs", wide, A.ZR, 0, old))
        else:
            t = c.tmp()
            c(A.logic("eor", 32, t, 0, old), A.logic_imm("ands", 32, A.ZR, t, (1 << (8 * size)) - 1))
    if size >= 4:
        c(A.csel("csel", 64, 0, old, 0, "ne"))           # a 32-bit write zero-extends
    else:
        t = c.tmp()
        c(A.mov(64, t, 0), A.bfi(64, t, old, 0, 8 * size), A.csel("csel", 64, 0, t, 0, "ne"))
    if isinstance(dst, Reg):                            # written only when equal, as the CPU does
        if size == 4:
            t = c.tmp()
            c(A.mov(32, t, src.num), A.csel("csel", 64, dst.num, t, dst.num, "eq"))
        elif size == 8:
            c(A.csel("csel", 64, dst.num, src.num, dst.num, "eq"))
        else:
            t = c.tmp()
            c(A.mov(64, t, dst.num), A.bfi(64, t, src.num, 0, 8 * size), A.csel("csel", 64, dst.num, t, dst.num, "eq"))


@rule("cbw", kinds="r", implicit=(("gpr", 0), ("gpr", 2)))
def _cbw(c: Ctx) -> None:
    size = c.insn.opsize
    if size >= 4:
        c(A.sbfx(_wide(size), 0, 0, 0, 4 * size))
        return
    t = c.tmp()
    c(A.sbfx(64, t, 0, 0, 4 * size))
    c.write(Reg("gpr", 0, size), size, t)


@rule("cwd", kinds="r", implicit=(("gpr", 0), ("gpr", 2)))
def _cwd(c: Ctx) -> None:
    size = c.insn.opsize
    if size >= 4:
        c(A.sbfx(_wide(size), 2, 0, 8 * size - 1, 1))
        return
    t = c.tmp()
    c(A.sbfx(64, t, 0, 8 * size - 1, 1))
    c.write(Reg("gpr", 2, size), size, t)


# ---- shifts and rotates ------------------------------------------------------------------------

def _shift_undefined(insn, regs: dict[str, int]) -> int:
    """The SDM's undefined flags: OF after a shift by more than 1, CF after shl/shr by the operand's
    width or more, AF after a shift by a nonzero count (the translation sets it, see AF_SET)."""
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


# Shifts by a nonzero count set AF, as AMD's CPUs do (the SDM calls it undefined): the verifier
# compares it where the oracle is such a CPU (check.py).
AF_SET = frozenset(("shl", "shr", "sar", "shld", "shrd"))


def _shift(c: Ctx, m: str, dst, cnt) -> None:
    size = dst.size
    bits = 8 * size
    wbits = _wide(size)
    if isinstance(cnt, Imm):
        n = cnt.value & (63 if bits == 64 else 31)
        _shift_const(c, m, dst, n, bits, wbits)
        return
    a = c.read(dst, size) if size < 4 else c.src(dst, size)
    # count in CL: the result is always written; flags only when the masked count is not 0
    cl = c.tmp()
    c(A.logic_imm("and", 32, cl, 1, 63 if bits == 64 else 31))
    r, t, u = c.tmp(), c.tmp(), c.tmp()
    live = c.live(ALL)
    if m in ("shl", "shr", "sar"):
        if m == "sar" and bits < 32:
            s_ = c.reuse(a)
            c(A.sbfx(32, s_, a, 0, bits))
            a = s_
        c(A.dp2({"shl": "lslv", "shr": "lsrv", "sar": "asrv"}[m], wbits, r, a, cl))
        skip_at = len(c.words)
        if live:
            c(0)  # cbz cl, past the flags (patched below)
            c(A.addsub_imm("sub", 32, t, cl, 1))
            if m == "shl":
                c(A.dp2("lslv", wbits, t, a, t), A.lsr_imm(wbits, t, t, bits - 1))
            else:
                c(A.dp2("lsrv" if m == "shr" else "asrv", wbits, t, a, t))
            c(A.logic_imm("and", 32, t, t, 1))                    # CF
            if m == "shl":
                c(A.lsr_imm(wbits, u, r, bits - 1), A.logic("eor", 32, u, u, t))
            elif m == "shr":
                c(A.lsr_imm(wbits, u, a, bits - 1))
            else:
                c(A.movw("movz", 32, u, 0))
            c(A.logic_imm("and", 32, u, u, 1))                    # OF
            c.nzcv_of(r, bits, t, u)
            c.pf_result(r)
            c.af_const(1)
    else:
        # rotates: only CF and OF
        if bits < 32:
            rot = u
            c(A.logic_imm("and", 32, rot, cl, bits - 1))
            z = c.reuse(a)
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
        if live & (CF | OF):
            c(0)
            if m == "rol":
                c(A.logic_imm("and", 32, t, r, 1))
                c(A.lsr_imm(wbits, u, r, bits - 1), A.logic("eor", 32, u, u, r))
            else:
                c(A.lsr_imm(wbits, t, r, bits - 1), A.logic_imm("and", 32, t, t, 1))
                c(A.lsr_imm(wbits, u, r, bits - 2), A.logic("eor", 32, u, u, t))
            c(A.logic_imm("and", 32, u, u, 1))
            c.nzcv_cv(t, u)
    if len(c.words) > skip_at:
        c.words[skip_at] = A.cbz("cbz", 32, cl, 4 * (len(c.words) - skip_at))
    c.write(dst, size, r)


def _shift_const(c: Ctx, m: str, dst, n: int, bits: int, wbits: int) -> None:
    size = dst.size
    live = c.live(ALL)
    if n == 0:
        if size == 4 and isinstance(dst, Reg):
            c(A.mov(32, dst.num, dst.num))      # a 32-bit destination is written (zero-extended)
        return
    a = c.read(dst, size) if size < 4 else c.src(dst, size)
    r = dst.num if isinstance(dst, Reg) and size >= 4 else c.tmp()
    cf = of = None
    if m in ("shl", "shr", "sar") and live & (CF | OF):
        cf = c.tmp()
        if m == "shl":
            c(A.ubfx(wbits, cf, a, bits - n, 1) if n <= bits else A.movw("movz", 32, cf, 0))
        elif m == "shr":
            c(A.ubfx(wbits, cf, a, n - 1, 1) if n <= bits else A.movw("movz", 32, cf, 0))
        else:
            c(A.ubfx(wbits, cf, a, min(n - 1, bits - 1), 1))
        if live & OF and m == "shr":
            of = c.tmp()
            c(A.ubfx(wbits, of, a, bits - 1, 1))
    if m == "shl":
        c(A.movw("movz", 64, r, 0) if n >= bits else A.lsl_imm(wbits, r, a, n))
    elif m == "shr":
        c(A.movw("movz", 64, r, 0) if n >= bits else A.ubfx(wbits, r, a, n, bits - n))
    elif m == "sar":
        k = min(n, bits - 1)
        c(A.sbfx(wbits, r, a, k, bits - k))
    else:
        k = n % bits
        right = (bits - k) % bits if m == "rol" else k
        if right == 0:
            if r != a:
                c(A.mov(64, r, a))
        elif bits >= 32:
            c(A.extr(wbits, r, a, a, right))
        else:
            z, t = c.tmp(), c.tmp()
            c(A.ubfx(32, z, a, 0, bits), A.lsr_imm(32, r, z, right), A.lsl_imm(32, t, z, bits - right),
              A.logic("orr", 32, r, r, t))
        if live & (CF | OF):
            t, u = c.tmp(), c.tmp()
            if m == "rol":
                c(A.logic_imm("and", 32, t, r, 1), A.ubfx(wbits, u, r, bits - 1, 1), A.logic("eor", 32, u, u, t))
            else:
                c(A.ubfx(wbits, t, r, bits - 1, 1), A.ubfx(wbits, u, r, bits - 2, 1), A.logic("eor", 32, u, u, t))
            c.nzcv_cv(t, u)
        c.write(dst, size, r)
        return
    if m == "shl" and live & OF:
        of = c.tmp()
        if n < bits:
            c(A.ubfx(wbits, of, r, bits - 1, 1), A.logic("eor", 32, of, of, cf if cf is not None else A.ZR))
        else:
            c(A.mov(32, of, cf if cf is not None else A.ZR))
    c.nzcv_of(r, bits, cf, of)
    c.pf_result(r)
    c.af_const(1)
    c.write(dst, size, r)


@rule("shl", "shr", "sar", "rol", "ror", undefined=_shift_undefined, implicit=(("gpr", 1),))
def _shifts(c: Ctx) -> None:
    dst, cnt = operands(c)
    _shift(c, c.insn.spec.mnemonic, dst, cnt)


# ---- multiply ---------------------------------------------------------------------------------

MUL_UNDEFINED = SF | ZF | AF | PF


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
            chk = hi
        c.overflow_flags(chk)
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
    c.overflow_flags(chk)


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
        if c.nzcv_live():
            hi = c.tmp()
            c(A.mull("smulh", hi, a, b), A.mul(64, lo, a, b), A.addsub("sub", 64, chk, hi, lo, "asr", 63))
        else:
            c(A.mul(64, dst.num if isinstance(dst, Reg) else lo, a, b))
            if isinstance(dst, Reg):
                return
    else:
        bits = 8 * size
        sa, sb = c.tmp(), c.tmp()
        c(A.sbfx(64, sa, a, 0, bits), A.sbfx(64, sb, b, 0, bits), A.mul(64, lo, sa, sb))
        if c.nzcv_live():
            c(A.sbfx(64, chk, lo, 0, bits), A.addsub("sub", 64, chk, chk, lo))
    c.write(dst, size, lo)
    c.overflow_flags(chk)


# ---- bit operations ------------------------------------------------------------------------------

@rule("bswap", sizes=(4, 8), kinds="r")
def _bswap(c: Ctx) -> None:
    (dst,) = operands(c)
    bits = 8 * dst.size
    c(A.dp1("rev", bits, dst.num, dst.num))


@rule("popcnt", sizes=(2, 4, 8))
def _popcnt(c: Ctx) -> None:
    """ZF = (the source is 0); CF OF SF AF PF = 0."""
    dst, src = operands(c)
    size = dst.size
    v = c.read(src, size)
    vt = c.vtmp()
    r = c.tmp()
    c(A.fpint("fmov_from_gpr", 64, "d", vt, v), A.v2("cnt", "8b", vt, vt), A.across("addv", "8b", vt, vt),
      A.fpint("fmov_to_gpr", 32, "s", r, vt))
    c.write(dst, size, r)
    if c.nzcv_live():
        c(A.addsub_imm("subs", 32, A.ZR, r, 0))       # Z; N = 0, C = 1 (CF = 0), V = 0
    c.pf_const(0)
    c.af_const(0)


@rule("bt", "bts", "btr", "btc", sizes=(2, 4, 8), undefined=OF | SF | AF | PF, mem_with_imm=True)
def _bt(c: Ctx) -> None:
    """CF = the bit (offset modulo the operand's width); bts/btr/btc then set, clear or flip it."""
    base, off = operands(c)
    size = base.size
    bits = 8 * size
    m = c.insn.spec.mnemonic
    a = c.src(base, size)
    cf = c.tmp() if c.live(CF) else None
    op = {"bts": "orr", "btr": "and", "btc": "eor"}.get(m)
    r = base.num if isinstance(base, Reg) and size >= 4 else c.tmp()
    if isinstance(off, Imm):
        k = off.value % bits
        if cf is not None:
            c(A.ubfx(64, cf, a, k, 1))
        if op:
            mask = (1 << k) if m != "btr" else ~(1 << k) & ((1 << 64) - 1)
            c(A.logic_imm(op, 64, r, a, mask))
    else:
        n = c.tmp()
        c(A.logic_imm("and", 64, n, off.num, bits - 1))
        if cf is not None:
            c(A.dp2("lsrv", 64, cf, a, n), A.logic_imm("and", 32, cf, cf, 1))
        if op:
            one = c.tmp()
            c(A.movw("movz", 64, one, 1), A.dp2("lslv", 64, one, one, n))
            c(A.logic({"orr": "orr", "and": "bic", "eor": "eor"}[op], 64, r, a, one))
    if op:
        if size == 4 and isinstance(base, Reg):
            c(A.mov(32, r, r))                  # a 32-bit destination is zero-extended
        elif r != getattr(base, "num", None) or isinstance(base, Mem):
            c.write(base, size, r)
    c.nzcv_cv(cf, None)


def _scan_undefined(insn, regs: dict[str, int]) -> int:
    """bsf/bsr define only ZF; tzcnt/lzcnt CF and ZF."""
    return (OF | SF | AF | PF) | (0 if insn.spec.mnemonic in ("tzcnt", "lzcnt") else CF)


@rule("bsf", "bsr", "tzcnt", "lzcnt", sizes=(2, 4, 8), undefined=_scan_undefined)
def _bit_scan(c: Ctx) -> None:
    """tzcnt/lzcnt: the count (the width for 0), CF = (source is 0), ZF = (count is 0).
    bsf/bsr: the index of the lowest/highest set bit, ZF = (source is 0); the destination is left as
    it is for a zero source, all 64 bits of it (AMD's manual says unchanged, Intel's undefined; the
    CPU the verifier runs on leaves it)."""
    dst, src = operands(c)
    size = dst.size
    bits = 8 * size
    wide = _wide(size)
    m = c.insn.spec.mnemonic
    s = c.src(src, size)
    zero_test = m in ("bsf", "bsr") or c.nzcv_live()
    if zero_test:                               # Z = (source is 0)
        if size == 2:
            c(A.logic_imm("ands", 32, A.ZR, s, 0xFFFF))
        else:
            c(A.addsub_imm("subs", wide, A.ZR, s, 0))
    t = c.tmp()
    if size == 2:
        if m in ("bsf", "tzcnt"):
            c(A.logic_imm("orr", 32, t, s, 0x10000), A.dp1("rbit", 32, t, t), A.dp1("clz", 32, t, t))
        else:
            c(A.lsl_imm(32, t, s, 16), A.logic_imm("orr", 32, t, t, 0x8000), A.dp1("clz", 32, t, t))
    elif m in ("bsf", "tzcnt"):
        c(A.dp1("rbit", wide, t, s), A.dp1("clz", wide, t, t))
    else:
        c(A.dp1("clz", wide, t, s))
    if m == "bsr":
        c(A.logic_imm("eor", 32, t, t, bits - 1))
    if m in ("bsf", "bsr"):
        if size == 2:
            c(A.csel("csel", 64, t, t, dst.num, "ne"))
            c.write(dst, 2, t)
        else:
            c(A.csel("csel", 64, dst.num, t, dst.num, "ne"))    # not even zero-extended when left
        return
    # tzcnt / lzcnt: C = NOT CF = (source is not 0) and Z = (count is 0) when the source is not 0
    if c.nzcv_live():
        c(A.ccmp("ccmp", 32, t, 0, 0b0000, "ne", imm=True))
    c.write(dst, size, t)


@rule("stc", "clc", "cmc", kinds="r")
def _carry(c: Ctx) -> None:
    """CF = 1, 0, or NOT CF: C (NOT CF) cleared, set or flipped."""
    if not c.live(CF):
        return
    t = c.tmp()
    m = c.insn.spec.mnemonic
    c(A.mrs_nzcv(t), A.logic_imm({"stc": "and", "clc": "orr", "cmc": "eor"}[m], 32, t, t,
                                 ~(1 << 29) & 0xFFFFFFFF if m == "stc" else 1 << 29), A.msr_nzcv(t))


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
    if n == 0:
        c.write(dst, dst.size, c.src(dst, dst.size))
        return
    a = c.src(dst, dst.size)
    b = src.num
    r, t = c.tmp(), c.tmp()
    if c.insn.spec.mnemonic == "shld":
        c(A.extr(bits, r, a, b, bits - n), A.ubfx(bits, t, a, bits - n, 1))
    else:
        c(A.extr(bits, r, b, a, n), A.ubfx(bits, t, a, n - 1, 1))
    u = None
    if c.live(OF):
        u = c.tmp()
        v = c.tmp()
        c(A.ubfx(bits, u, r, bits - 1, 1), A.ubfx(bits, v, a, bits - 1, 1), A.logic("eor", 32, u, u, v))
    c.nzcv_of(r, bits, t, u)
    c.pf_result(r)
    c.af_const(1)
    c.write(dst, dst.size, r)


# ---- conditionals -----------------------------------------------------------------------------------

def _cc(c: Ctx) -> str:
    m = c.insn.spec.mnemonic
    return m[4:] if m.startswith("cmov") else m[3:] if m.startswith("set") else m[1:]


def _parity_mask(c: Ctx, cc: str) -> int:
    """A register that is all ones when x86 condition p/np holds, else 0 (flags untouched)."""
    t = c.parity_odd()
    c(A.sbfx(64, t, t, 0, 1))                   # all ones when odd: PF = 0, np holds
    if cc == "p":
        c(A.logic("orn", 64, t, A.ZR, t))
    return t


for _name in CC:
    @rule(f"cmov{_name}")
    def _cmov(c: Ctx) -> None:
        dst, src = operands(c)
        size = dst.size
        cc = _cc(c)
        v = c.src(src, size)
        if cc in ("p", "np"):
            m = _parity_mask(c, cc)
            t = c.tmp()
            c(A.logic("and", 64, t, v, m), A.logic("bic", 64, m, dst.num, m), A.logic("orr", 64, t, t, m))
            c.write(dst, size, t)
            return
        cond = c.condition(cc)
        if size == 2:
            t = c.tmp()
            c(A.csel("csel", 64, t, v, dst.num, cond))
            c.write(dst, 2, t)
        else:
            c(A.csel("csel", 8 * size, dst.num, v, dst.num, cond))

    @rule(f"set{_name}")
    def _setcc(c: Ctx) -> None:
        (dst,) = operands(c)
        cc = _cc(c)
        if cc in ("p", "np"):
            t = c.parity_odd()
            if cc == "p":
                c(A.logic_imm("eor", 32, t, t, 1))
            c(A.logic_imm("and", 32, t, t, 1))
        else:
            t = c.tmp()
            c(A.cset(32, t, c.condition(cc)))
        c.write(dst, 1, t)

    @rule(f"j{_name}", kinds="r", data_imm=True)
    def _jcc(c: Ctx) -> None:
        """EXIT = the target when the condition holds, else the next instruction."""
        cc = _cc(c)
        c.addr_const(EXIT_REG, "imm")                      # the fall-through
        t = c.tmp()
        rel = c.values["disp"]
        if -4096 < rel < 4096:
            c.add_small(t, EXIT_REG, "disp", rel)
        else:
            c.addr_const(t, "rip")
        if cc in ("p", "np"):
            m = _parity_mask(c, cc)
            c(A.logic("and", 64, t, t, m), A.logic("bic", 64, EXIT_REG, EXIT_REG, m),
              A.logic("orr", 64, EXIT_REG, EXIT_REG, t))
        else:
            c(A.csel("csel", 64, EXIT_REG, t, EXIT_REG, c.condition(cc)))
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
    if isinstance(src, Reg) and src.num != RSP:
        c(A.str_pre(src.num, RSP, -8))
        return
    if isinstance(src, Reg):
        t = c.tmp()
        c(A.mov(64, t, src.num))                        # push rsp pushes the value before the push
    else:
        t = c.imm(src, 64) if isinstance(src, Imm) else c.read(src, 8)   # a memory operand: before rsp moves
    c(A.str_pre(t, RSP, -8))


@rule("pop", stack=True, implicit=(("gpr", RSP),))
def _pop(c: Ctx) -> None:
    (dst,) = operands(c)
    if isinstance(dst, Reg):
        if dst.num == RSP:
            c(A.ldst("ldr", "r", 8, RSP, RSP))          # pop rsp: the loaded value wins over the increment
        else:
            c(A.ldr_post(dst.num, RSP, 8))
        return
    t = c.tmp()
    # a memory destination's address is computed with the incremented rsp
    c(A.ldr_post(t, RSP, 8))
    c.write(dst, 8, t)


@rule("ret", kinds="r", stack=True, implicit=(("gpr", RSP),))
def _ret(c: Ctx) -> None:
    c(A.ldr_post(EXIT_REG, RSP, 8))
    c.exit = True


@rule("call", stack=True, implicit=(("gpr", RSP),))
def _call(c: Ctx) -> None:
    (target,) = operands(c)
    if not isinstance(target, Imm):                    # call r/m64: the target is read before the push
        if isinstance(target, Reg):
            c(A.mov(64, EXIT_REG, target.num))
        else:
            c.load(target, 8, rd=EXIT_REG)
    t = c.tmp()
    c.addr_const(t, "imm")                             # the return address (next instruction)
    c(A.str_pre(t, RSP, -8))
    if isinstance(target, Imm):
        c.addr_const(EXIT_REG, "rip")
    c.exit = True


@rule("jmp", data_imm=True)
def _jmp(c: Ctx) -> None:
    (target,) = operands(c)
    if isinstance(target, Imm):
        c.addr_const(EXIT_REG, "rip")
    elif isinstance(target, Reg):
        c(A.mov(64, EXIT_REG, target.num))
    else:
        c.load(target, 8, rd=EXIT_REG)
    c.exit = True


@rule("syscall", kinds="r")
def _syscall(c: Ctx) -> None:
    """A block exit of its own: the code leaves the address after it in the exit register (and the
    translation names the exit "syscall"); the system call itself, and its writes to rcx and r11,
    are the runtime's."""
    c.addr_const(EXIT_REG, "imm")
    c.exit = True
