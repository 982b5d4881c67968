"""AArch64 -> x86-64 rules, one entry per encoding of decode_a64.TABLE (keyed by Enc.name).

Every rule loads the guest registers it reads from the env block (emit_x86.Ctx.get), computes with
x86 integer instructions of the same width (a W operation is a 32-bit x86 operation, which
zero-extends as AArch64 does) and stores what it writes. Flags: emit_x86.Ctx.store_nzcv after an
x86 add/sub/and gives exact NZCV; conditions go through Ctx.load_flags and COND_CC.
"""

from __future__ import annotations

from vmcli.translate.decode_a64 import COND, logic_imm_value, sext
from vmcli.translate.decode_x86 import Mem
from vmcli.translate.emit_x86 import COND_CC, EXIT_REG, RAX, RCX, RDX, Ctx
from vmcli.translate.rules import RuleTable

rule = RuleTable()


def _f(c: Ctx) -> dict[str, int]:
    return c.insn.fields  # type: ignore[attr-defined]


def _sf(c: Ctx) -> bool:
    return c.insn.sf  # type: ignore[attr-defined]


def _name(c: Ctx) -> str:
    return c.insn.enc.name  # type: ignore[attr-defined]


def _bits(sf: bool) -> int:
    return 64 if sf else 32


def _mask(sf: bool) -> int:
    return (1 << _bits(sf)) - 1


def _const_operand(c: Ctx, value: int, sf: bool) -> int | None:
    """The immediate as x86's sign-extended imm32, or None when it needs a register."""
    v = sext(value & _mask(sf), _bits(sf))
    return v if -(1 << 31) <= v < (1 << 31) else None


def _alu_const(c: Ctx, op: str, sf: bool, dst: int, value: int) -> None:
    imm = _const_operand(c, value, sf)
    if imm is not None:
        c.alu_imm(op, sf, dst, imm)
    else:
        t = c.tmp()
        c.mov_imm(t, value, sf)
        c.alu(op, sf, dst, t)


_SHIFT_OP = {0: "shl", 1: "shr", 2: "sar", 3: "ror"}


def _shifted_rm(c: Ctx, f: dict[str, int], sf: bool) -> int:
    m = c.get(f["Rm"], sf)
    c.shift(_SHIFT_OP[f["shift"]], sf, m, f["imm6"])
    return m


# ---- add / sub ------------------------------------------------------------------------------------

@rule("add_imm", "adds_imm", "sub_imm", "subs_imm")
def _addsub_imm(c: Ctx) -> None:
    f, sf, name = _f(c), _sf(c), _name(c)
    flags, sub = name[3] == "s", name.startswith("sub")
    a = c.get(f["Rn"], sf, sp=True)
    c.alu_imm("sub" if sub else "add", sf, a, f["imm12"] << (12 * f["sh"]))
    if flags:
        c.store_nzcv(sub)
    c.put(f["Rd"], a, sf, sp=not flags)


@rule("add_sreg", "adds_sreg", "sub_sreg", "subs_sreg")
def _addsub_sreg(c: Ctx) -> None:
    f, sf, name = _f(c), _sf(c), _name(c)
    flags, sub = name[3] == "s", name.startswith("sub")
    a = c.get(f["Rn"], sf)
    b = _shifted_rm(c, f, sf)
    c.alu("sub" if sub else "add", sf, a, b)
    if flags:
        c.store_nzcv(sub)
    c.put(f["Rd"], a, sf)


_EXTEND = {0: (1, False), 1: (2, False), 2: (4, False), 3: (8, False), 4: (1, True), 5: (2, True),
           6: (4, True), 7: (8, True)}


@rule("add_ereg", "adds_ereg", "sub_ereg", "subs_ereg")
def _addsub_ereg(c: Ctx) -> None:
    f, sf, name = _f(c), _sf(c), _name(c)
    flags, sub = name[3] == "s", name.startswith("sub")
    a = c.get(f["Rn"], sf, sp=True)
    b = c.get(f["Rm"], True)
    size, signed = _EXTEND[f["option"]]
    c.extend(b, b, size, signed)
    c.shift("shl", True, b, f["imm3"])
    c.alu("sub" if sub else "add", sf, a, b)
    if flags:
        c.store_nzcv(sub)
    c.put(f["Rd"], a, sf, sp=not flags)


@rule("adc", "adcs", "sbc", "sbcs")
def _adc(c: Ctx) -> None:
    f, sf, name = _f(c), _sf(c), _name(c)
    sub = name.startswith("sbc")
    a = c.get(f["Rn"], sf)
    b = c.get(f["Rm"], sf)
    t = c.tmp()
    c.load(t, _nzcv(), 4)
    c.bt(False, t, 29)            # CF = C
    if sub:
        c.cmc()                   # sbb subtracts the borrow NOT C
    c.alu("sbb" if sub else "adc", sf, a, b)
    if name.endswith("s"):
        c.store_nzcv(sub)
    c.put(f["Rd"], a, sf)


def _nzcv() -> Mem:
    from vmcli.translate.emit_x86 import NZCV_OFF, env

    return env(NZCV_OFF, 4)


# ---- logic ---------------------------------------------------------------------------------------

_LOGIC = {"and": "and", "orr": "or", "eor": "xor", "ands": "and", "bic": "and", "orn": "or", "eon": "xor",
          "bics": "and"}


@rule("and_limm", "orr_limm", "eor_limm", "ands_limm")
def _logic_imm(c: Ctx) -> None:
    f, sf, name = _f(c), _sf(c), _name(c)
    m = name.removesuffix("_limm")
    value = logic_imm_value(f, _bits(sf))
    assert value is not None
    a = c.get(f["Rn"], sf)
    _alu_const(c, _LOGIC[m], sf, a, value)
    if m == "ands":
        c.store_nzcv(False)
    c.put(f["Rd"], a, sf, sp=m != "ands")


@rule("and_sreg", "bic_sreg", "orr_sreg", "orn_sreg", "eor_sreg", "eon_sreg", "ands_sreg", "bics_sreg")
def _logic_sreg(c: Ctx) -> None:
    f, sf, name = _f(c), _sf(c), _name(c)
    m = name.removesuffix("_sreg")
    a = c.get(f["Rn"], sf)
    b = _shifted_rm(c, f, sf)
    if m in ("bic", "orn", "eon", "bics"):
        c.unary("not", sf, b)
    c.alu(_LOGIC[m], sf, a, b)
    if m in ("ands", "bics"):
        c.store_nzcv(False)
    c.put(f["Rd"], a, sf)


# ---- moves, bitfields ----------------------------------------------------------------------------

@rule("movz", "movn", "movk")
def _movw(c: Ctx) -> None:
    f, sf, name = _f(c), _sf(c), _name(c)
    shift = 16 * f["hw"]
    value = f["imm16"] << shift
    r = c.tmp()
    if name == "movk":
        c.get(f["Rd"], sf, into=r)
        _alu_const(c, "and", sf, r, ~(0xFFFF << shift) & _mask(sf))
        if value:
            _alu_const(c, "or", sf, r, value)
    else:
        c.mov_imm(r, value if name == "movz" else ~value & _mask(sf), sf)
    c.put(f["Rd"], r, sf)


def _bitfield_shifts(f: dict[str, int], bits: int) -> tuple[int, int]:
    """(left, right): the field ends up where (x << left) >> right puts it (Arm ARM's UBFM/SBFM)."""
    immr, imms = f["immr"], f["imms"]
    left = bits - 1 - imms
    right = left + immr if imms >= immr else immr - imms - 1
    return left, right


@rule("sbfm", "ubfm", "bfm")
def _bitfield(c: Ctx) -> None:
    f, sf, name = _f(c), _sf(c), _name(c)
    left, right = _bitfield_shifts(f, _bits(sf))
    x = c.get(f["Rn"], sf)
    c.shift("shl", sf, x, left)
    c.shift("sar" if name == "sbfm" else "shr", sf, x, right)
    if name == "bfm":
        mask = ((_mask(sf) << left) & _mask(sf)) >> right
        d = c.get(f["Rd"], sf)
        _alu_const(c, "and", sf, d, ~mask & _mask(sf))
        c.alu("or", sf, d, x)
        x = d
    c.put(f["Rd"], x, sf)


@rule("extr")
def _extr(c: Ctx) -> None:
    f, sf = _f(c), _sf(c)
    lo = c.get(f["Rm"], sf)
    hi = c.get(f["Rn"], sf)
    if f["imms"]:
        c.shrd(sf, lo, hi, f["imms"])
    c.put(f["Rd"], lo, sf)


@rule("adr", "adrp")
def _adr(c: Ctx) -> None:
    f = _f(c)
    imm = sext((f["immhi"] << 2) | f["immlo"], 21)
    pc: int = c.insn.address  # type: ignore[attr-defined]
    page = _name(c) == "adrp"
    value = (pc & ~0xFFF) + (imm << 12) if page else pc + imm
    r = c.tmp()
    c.mov_addr(r, value, page)
    c.put(f["Rd"], r, True)


# ---- conditional select / compare ----------------------------------------------------------------

@rule("csel", "csinc", "csinv", "csneg")
def _csel(c: Ctx) -> None:
    f, sf, name = _f(c), _sf(c), _name(c)
    cond = COND[f["cond"]]
    c.take(RAX)                   # load_flags needs it
    n = c.get(f["Rn"], sf)
    m = c.get(f["Rm"], sf)
    if name == "csinc":
        c.lea(sf, m, Mem(m, -1, 1, 1, 0))
    elif name == "csinv":
        c.unary("not", sf, m)
    elif name == "csneg":
        c.unary("neg", sf, m)
    c.release(RAX)
    if cond in ("al", "nv"):
        m = n
    else:
        c.load_flags()
        c.cmov(COND_CC[cond], sf, m, n)
    c.put(f["Rd"], m, sf)


@rule("ccmn_reg", "ccmp_reg", "ccmn_imm", "ccmp_imm")
def _ccmp(c: Ctx) -> None:
    f, sf, name = _f(c), _sf(c), _name(c)
    cond = COND[f["cond"]]
    c.take(RAX)
    a = c.get(f["Rn"], sf)
    if name.endswith("reg"):
        c.alu("cmp" if name.startswith("ccmp") else "add", sf, a, c.get(f["Rm"], sf))
    else:
        c.alu_imm("cmp" if name.startswith("ccmp") else "add", sf, a, f["imm5"])
    r = c.nzcv_value(name.startswith("ccmp"))
    c.release(RAX)
    if cond not in ("al", "nv"):
        k = c.tmp()
        c.mov_imm(k, f["nzcv"] << 28)
        c.load_flags()
        c.cmov(COND_CC[cond], False, k, r)
        r = k
    c.store_nzcv_reg(r)


# ---- multiply / divide ----------------------------------------------------------------------------

@rule("madd", "msub", "smaddl", "smsubl", "umaddl", "umsubl")
def _madd(c: Ctx) -> None:
    f, sf, name = _f(c), _sf(c), _name(c)
    wide = name[0] in "su" and name.endswith("l")
    n = c.get(f["Rn"], sf and not wide)
    m = c.get(f["Rm"], sf and not wide)
    if name.startswith("s") and wide:
        c.extend(n, n, 4, True)
        c.extend(m, m, 4, True)
    c.imul(sf, n, m)
    a = c.get(f["Ra"], sf)
    c.alu("sub" if "sub" in name else "add", sf, a, n)
    c.put(f["Rd"], a, True if wide else sf)


@rule("smulh", "umulh")
def _mulh(c: Ctx) -> None:
    f = _f(c)
    c.take(RAX, RDX)
    c.get(f["Rn"], True, into=RAX)
    m = c.get(f["Rm"], True)
    c.unary("imul" if _name(c) == "smulh" else "mul", True, m)
    c.put(f["Rd"], RDX, True)


@rule("udiv", "sdiv")
def _div(c: Ctx) -> None:
    """x86 div faults on 0 (and idiv on INT_MIN / -1); AArch64 gives 0 (and INT_MIN): the divisor
    becomes 1 in those cases and the quotient is fixed up with cmov."""
    f, sf = _f(c), _sf(c)
    c.take(RAX, RDX)
    c.get(f["Rn"], sf, into=RAX)
    d = c.get(f["Rm"], sf)
    one = c.tmp()
    c.mov_imm(one, 1)
    if _name(c) == "udiv":
        c.mov_imm(RDX, 0)
        c.test(sf, d, d)
        c.cmov("e", sf, d, one)
        c.unary("div", sf, d)
    else:
        t = c.tmp()
        c.lea(sf, t, Mem(d, -1, 1, 1, 0))
        c.alu_imm("cmp", sf, t, 1)                # d + 1 <= 1 unsigned: d is 0 or -1
        c.cmov("be", sf, d, one)
        c.sign_extend_acc(sf)
        c.unary("idiv", sf, d)
        c.get(f["Rm"], sf, into=d)
        c.mov(sf, t, RAX)
        c.unary("neg", sf, t)
        c.alu_imm("cmp", sf, d, -1)
        c.cmov("e", sf, RAX, t)                   # n / -1 = -n (INT_MIN stays INT_MIN)
    c.get(f["Rm"], sf, into=d)
    c.mov_imm(RDX, 0)
    c.test(sf, d, d)
    c.cmov("e", sf, RAX, RDX)                     # n / 0 = 0
    c.put(f["Rd"], RAX, sf)


# ---- shifts by register, bit operations ----------------------------------------------------------

@rule("lslv", "lsrv", "asrv", "rorv")
def _shiftv(c: Ctx) -> None:
    """x86 masks the count to 5/6 bits exactly as AArch64 takes it modulo the register size."""
    f, sf = _f(c), _sf(c)
    c.take(RCX)
    x = c.get(f["Rn"], sf)
    c.get(f["Rm"], sf, into=RCX)
    c.shift_cl({"lslv": "shl", "lsrv": "shr", "asrv": "sar", "rorv": "ror"}[_name(c)], sf, x)
    c.put(f["Rd"], x, sf)


def _swap(c: Ctx, sf: bool, x: int, mask: int, shift: int) -> None:
    """x = ((x >> shift) & mask) | ((x & mask) << shift)."""
    k, t = c.tmp(), c.tmp()
    c.mov_imm(k, mask & _mask(sf), sf)
    c.mov(sf, t, x)
    c.shift("shr", sf, t, shift)
    c.alu("and", sf, t, k)
    c.alu("and", sf, x, k)
    c.shift("shl", sf, x, shift)
    c.alu("or", sf, x, t)
    c.release(t, k)


@rule("rbit")
def _rbit(c: Ctx) -> None:
    f, sf = _f(c), _sf(c)
    x = c.get(f["Rn"], sf)
    c.bswap(sf, x)
    for mask, shift in ((0x0F0F0F0F0F0F0F0F, 4), (0x3333333333333333, 2), (0x5555555555555555, 1)):
        _swap(c, sf, x, mask, shift)
    c.put(f["Rd"], x, sf)


@rule("rev16")
def _rev16(c: Ctx) -> None:
    f, sf = _f(c), _sf(c)
    x = c.get(f["Rn"], sf)
    _swap(c, sf, x, 0x00FF00FF00FF00FF, 8)
    c.put(f["Rd"], x, sf)


@rule("rev32", "rev_w", "rev_x")
def _rev(c: Ctx) -> None:
    f, sf = _f(c), _sf(c)
    x = c.get(f["Rn"], sf)
    c.bswap(sf, x)
    if _name(c) == "rev32":
        c.shift("ror", True, x, 32)
    c.put(f["Rd"], x, sf)


@rule("clz", "cls")
def _clz(c: Ctx) -> None:
    """clz = (bits-1) - bsr(x), with bsr(0) taken as -1; cls(x) = clz(x ^ (x asr 1)) - 1."""
    f, sf = _f(c), _sf(c)
    x = c.get(f["Rn"], sf)
    if _name(c) == "cls":
        t = c.tmp()
        c.mov(sf, t, x)
        c.shift("sar", sf, t, 1)
        c.alu("xor", sf, x, t)
    r, k = c.tmp(), c.tmp()
    c.mov_imm(k, -1, sf)
    c.bsr(sf, r, x)
    c.cmov("e", sf, r, k)
    c.unary("neg", sf, r)
    c.alu_imm("add", sf, r, _bits(sf) - (2 if _name(c) == "cls" else 1))
    c.put(f["Rd"], r, sf)


# ---- loads and stores ----------------------------------------------------------------------------

def _address(c: Ctx, f: dict[str, int], mode: str, scale: int) -> tuple[int, int | None]:
    """(register holding the access address, register holding the written-back base or None)."""
    base = c.get(f["Rn"], True, sp=True)
    if mode == "uimm":
        a = c.tmp()
        c.lea(True, a, Mem(base, -1, 1, f["imm12"] * scale, 0))
        return a, None
    if mode in ("unscaled", "pre", "post"):
        off = sext(f["imm9"], 9)
        a = c.tmp()
        c.lea(True, a, Mem(base, -1, 1, off, 0))
        if mode == "unscaled":
            return a, None
        return (a, a) if mode == "pre" else (base, a)
    if mode == "roff":
        idx = c.get(f["Rm"], True)
        size, signed = _EXTEND[f["option"]]
        c.extend(idx, idx, size, signed)
        if f["S"] and scale == 16:            # q registers: lea scales by 8 at most
            c.shift("shl", True, idx, 4)
            scale = 1
        a = c.tmp()
        c.lea(True, a, Mem(base, idx, scale if f["S"] else 1, 0, 0))
        return a, None
    raise AssertionError(mode)


@rule("ldst_uimm", "ldst_unscaled", "ldst_pre", "ldst_post", "ldst_roff")
def _ldst(c: Ctx) -> None:
    f = _f(c)
    size, opc = 1 << f["size"], f["opc"]
    mode = _name(c).removeprefix("ldst_")
    addr, wb = _address(c, f, mode, size)
    mem = Mem(addr, -1, 1, 0, size)
    if opc == 0:
        v = c.get(f["Rt"], size == 8)
        c.store(mem, v, size)
    else:
        t = c.tmp()
        to64 = opc == 2 or size == 8
        c.load(t, mem, size, signed=opc >= 2, w=to64)
        c.put(f["Rt"], t, to64 or opc == 1)
    if wb is not None:
        c.put(f["Rn"], wb, True, sp=True)


@rule("ldstp_post", "ldstp_off", "ldstp_pre", "ldstnp")
def _ldstp(c: Ctx) -> None:
    f = _f(c)
    opc, load = f["opc"], f["L"]
    size = 8 if opc == 2 else 4
    off = sext(f["imm7"], 7) * size
    base = c.get(f["Rn"], True, sp=True)
    mode = _name(c).removeprefix("ldstp_").replace("ldstnp", "off")
    a = c.tmp()
    c.lea(True, a, Mem(base, -1, 1, off, 0))
    addr, wb = (base, a) if mode == "post" else (a, a if mode == "pre" else None)
    for i, rt in enumerate((f["Rt"], f["Rt2"])):
        mem = Mem(addr, -1, 1, i * size, size)
        if load:
            t = c.tmp()
            c.load(t, mem, size, signed=opc == 1)
            c.put(rt, t, True)
        else:
            c.store(mem, c.get(rt, size == 8), size)
    if wb is not None:
        c.put(f["Rn"], wb, True, sp=True)


@rule("ldar", "stlr")
def _acqrel(c: Ctx) -> None:
    """x86-64 (TSO) loads are acquire and stores release; stlr is an xchg so that a later ldar
    cannot pass it (AArch64's release/acquire pair is sequentially consistent)."""
    from vmcli.translate.encode_x86 import encode_modrm

    f = _f(c)
    size = 1 << f["size"]
    base = c.get(f["Rn"], True, sp=True)
    mem = Mem(base, -1, 1, 0, size)
    if _name(c) == "ldar":
        t = c.tmp()
        c.load(t, mem, size)
        c.put(f["Rt"], t, True)
    else:
        v = c.get(f["Rt"], size == 8)
        c(encode_modrm(b"\x86" if size == 1 else b"\x87", v, mem, size == 8, prefix=b"\x66" if size == 2 else b"",
                       byte_reg=size == 1))


@rule("dmb", "dsb")
def _barrier(c: Ctx) -> None:
    """Every barrier option becomes a full fence (mfence), never weaker than the guest asked."""
    c(b"\x0f\xae\xf0")


@rule("isb")
def _isb(c: Ctx) -> None:
    """Context synchronization: translated code has no state it would refresh."""


@rule("mrs_nzcv", "msr_nzcv")
def _nzcv_reg(c: Ctx) -> None:
    """mrs xt, nzcv reads N Z C V in bits 31:28 (the rest 0); msr keeps only those bits."""
    from vmcli.translate.emit_x86 import NZCV_OFF, env

    f = _f(c)
    if _name(c) == "mrs_nzcv":
        t = c.tmp()
        c.load(t, env(NZCV_OFF, 4), 4)
        c.regs.add("nzcv")
        c.put(f["Rt"], t, True)
    else:
        t = c.get(f["Rt"], False)
        c.alu_imm("and", False, t, -0x10000000)       # 0xF0000000
        c.store_nzcv_reg(t)


@rule("nop", "prfm")
def _nop(c: Ctx) -> None:
    """No architectural effect (a prefetch is a hint): no code."""


# ---- branches: the guest address to continue at goes to EXIT_REG ---------------------------------

def _pc(c: Ctx) -> int:
    return c.insn.address  # type: ignore[attr-defined]


def _exit_select(c: Ctx, cc: str, target: int) -> None:
    """EXIT = target if the x86 condition cc holds, else the next instruction."""
    t = c.tmp()
    c.mov_addr(EXIT_REG, _pc(c) + 4)
    c.mov_addr(t, target)
    c.cmov(cc, True, EXIT_REG, t)
    c.exit = True


@rule("b", "bl")
def _b(c: Ctx) -> None:
    target = _pc(c) + 4 * sext(_f(c)["imm26"], 26)
    if _name(c) == "bl":
        r = c.tmp()
        c.mov_addr(r, _pc(c) + 4)
        c.put(30, r, True)
    c.mov_addr(EXIT_REG, target)
    c.exit = True


@rule("b_cond")
def _b_cond(c: Ctx) -> None:
    f = _f(c)
    target = _pc(c) + 4 * sext(f["imm19"], 19)
    cond = COND[f["cond"]]
    if cond in ("al", "nv"):
        c.mov_addr(EXIT_REG, target)
        c.exit = True
        return
    c.load_flags()
    _exit_select(c, COND_CC[cond], target)


@rule("cbz", "cbnz")
def _cbz(c: Ctx) -> None:
    f, sf = _f(c), _sf(c)
    x = c.get(f["Rt"], sf)
    c.test(sf, x, x)
    _exit_select(c, "e" if _name(c) == "cbz" else "ne", _pc(c) + 4 * sext(f["imm19"], 19))


@rule("tbz", "tbnz")
def _tbz(c: Ctx) -> None:
    f = _f(c)
    x = c.get(f["Rt"], True)
    c.bt(True, x, (f["b5"] << 5) | f["b40"])
    _exit_select(c, "ae" if _name(c) == "tbz" else "b", _pc(c) + 4 * sext(f["imm14"], 14))


@rule("br", "blr", "ret")
def _br(c: Ctx) -> None:
    f = _f(c)
    c.get(f["Rn"], True, into=EXIT_REG)
    if _name(c) == "blr":
        r = c.tmp()
        c.mov_addr(r, _pc(c) + 4)
        c.put(30, r, True)
    c.exit = True


# =================================================================================================
# Advanced SIMD (NEON) -> SSE .. SSE4.1
# =================================================================================================
#
# Vn is loaded from the env block into a scratch xmm, computed on, and stored back whole; a 64-bit
# arrangement (Q = 0) clears bits 127:64 of the result as AArch64 does (Ctx.vput). Permutations
# (zip/uzp/trn/ext/rev/dup/ins) are one byte table per source, applied with pshufb.

_ESIZE = {"b": 8, "h": 16, "s": 32, "d": 64}


def _arr(c: Ctx) -> tuple[int, int, bool]:
    """(lane bits, lanes, Q) of the instruction's arrangement."""
    label = c.insn.variant.label  # type: ignore[attr-defined]
    esize = _ESIZE[label[-1]]
    lanes = int(label[:-1])
    return esize, lanes, lanes * esize == 128


def _lane_const(value: int, esize: int) -> int:
    """A 128-bit constant holding `value` in every lane."""
    return sum(value << (esize * i) for i in range(128 // esize))


def _ones(c: Ctx) -> int:
    x = c.vtmp()
    c.sse("pcmpeqb", x, x)
    return x


def _zero(c: Ctx) -> int:
    x = c.vtmp()
    c.sse("pxor", x, x)
    return x


def _sign_mask(c: Ctx, x: int, esize: int) -> None:
    """x = all ones in lanes whose sign bit is set (esize 32 or 64)."""
    c.vshift("psra", 32, x, 31)
    if esize == 64:
        c.sse("pshufd", x, x, imm=0xF5)


def _gt64(c: Ctx, a: int, b: int, unsigned: bool) -> None:
    """a = (a > b) on 64-bit lanes without SSE4.2's pcmpgtq: the high dwords compare signed (or
    unsigned), the low dwords unsigned, both through the dword compare with flipped sign bits."""
    flip = c.vconst(_lane_const((0x80000000_80000000 if unsigned else 0x80000000), 64))
    c.sse("pxor", a, flip)
    c.sse("pxor", b, flip)
    eq = c.vtmp()
    c.vcopy(eq, a)
    c.sse("pcmpeqd", eq, b)
    c.sse("pcmpgtd", a, b)
    lo = c.vtmp()
    c.sse("pshufd", lo, a, imm=0xA0)       # the low dword's result, also in the high position
    c.sse("pand", eq, lo)
    c.sse("por", a, eq)
    c.sse("pshufd", a, a, imm=0xF5)        # the high dword's decision in both halves


def _saturating(c: Ctx, m: str, esize: int, a: int, b: int) -> None:
    """sqadd/sqsub/uqadd/uqsub on 32/64-bit lanes (SSE has them for 8 and 16 bits only)."""
    from vmcli.translate.emit_x86 import LANE_OPS

    add, sub = LANE_OPS["add"][esize], LANE_OPS["sub"][esize]
    if m == "uqadd":                       # a + min(~a, b)
        t = _ones(c)
        c.sse("pxor", t, a)
        c.sse(LANE_OPS["umin"][esize], t, b)
        c.sse(add, a, t)
        return
    if m == "uqsub":                       # max(a, b) - b
        c.sse(LANE_OPS["umax"][esize], a, b)
        c.sse(sub, a, b)
        return
    r = c.vtmp()
    c.vcopy(r, a)
    c.sse(add if m == "sqadd" else sub, r, b)
    ov = c.vtmp()                          # signed overflow: (a ^ r) & (b ^ r), or (a ^ b) & (a ^ r)
    c.vcopy(ov, a)
    c.sse("pxor", ov, r)
    t = c.vtmp()
    c.vcopy(t, b)
    c.sse("pxor", t, r if m == "sqadd" else a)
    c.sse("pand", ov, t)
    _sign_mask(c, ov, esize)
    sat = c.vtmp()                         # INT_MAX, or INT_MIN where a is negative
    c.vcopy(sat, a)
    _sign_mask(c, sat, esize)
    c.sse("pxor", sat, c.vconst(_lane_const((1 << (esize - 1)) - 1, esize)))
    c.vselect(ov, sat, r)
    c.vcopy(a, r)


def _mul8(c: Ctx, a: int, b: int) -> None:
    """Byte lanes: pmullw on the even and the odd bytes."""
    ao, bo = c.vtmp(), c.vtmp()
    c.vcopy(ao, a)
    c.vcopy(bo, b)
    c.vshift("psrl", 16, ao, 8)
    c.vshift("psrl", 16, bo, 8)
    c.sse("pmullw", ao, bo)
    c.vshift("psll", 16, ao, 8)
    c.sse("pmullw", a, b)
    c.sse("pand", a, c.vconst(_lane_const(0xFF, 16)))
    c.sse("por", a, ao)


@rule(*(f"{m}_v" for m in ("add", "sub", "mul", "cmeq", "cmgt", "sqadd", "uqadd", "sqsub", "uqsub", "smax",
                           "smin", "umax", "umin")))
def _v3(c: Ctx) -> None:
    from vmcli.translate.emit_x86 import LANE_OPS

    f, m = _f(c), _name(c)[:-2]
    esize, _, q = _arr(c)
    a, b = c.vget(f["Rn"]), c.vget(f["Rm"])
    if m == "mul" and esize == 8:
        _mul8(c, a, b)
    elif m == "cmgt" and esize == 64:
        _gt64(c, a, b, False)
    elif m[1] == "q" and esize >= 32:
        _saturating(c, m, esize, a, b)
    else:
        c.sse(LANE_OPS[m][esize], a, b)
    c.vput(f["Rd"], a, q)


@rule("cmhi_v", "cmge_v", "cmhs_v", "cmtst_v")
def _vcmp(c: Ctx) -> None:
    from vmcli.translate.emit_x86 import LANE_OPS

    f, m = _f(c), _name(c)[:-2]
    esize, _, q = _arr(c)
    a, b = c.vget(f["Rn"]), c.vget(f["Rm"])
    if esize == 64 and m != "cmtst":
        if m == "cmhi":
            _gt64(c, a, b, True)
            r = a
        else:                     # n >= m  <=>  not (m > n)
            _gt64(c, b, a, m == "cmhs")
            c.sse("pxor", b, _ones(c))
            r = b
    elif m == "cmhi":             # unsigned >: flip the sign bits, compare signed
        k = c.vconst(_lane_const(1 << (esize - 1), esize))
        c.sse("pxor", a, k)
        c.sse("pxor", b, k)
        c.sse(LANE_OPS["cmgt"][esize], a, b)
        r = a
    elif m in ("cmge", "cmhs"):   # n >= m  <=>  max(n, m) == n
        r = c.vtmp()
        c.vcopy(r, a)
        c.sse(LANE_OPS["smax" if m == "cmge" else "umax"][esize], r, b)
        c.sse(LANE_OPS["cmeq"][esize], r, a)
    else:                         # cmtst: (n & m) != 0
        c.sse("pand", a, b)
        c.sse(LANE_OPS["cmeq"][esize], a, _zero(c))
        c.sse("pxor", a, _ones(c))
        r = a
    c.vput(f["Rd"], r, q)


@rule("and_v", "bic_v", "orr_v", "orn_v", "eor_v", "bsl_v", "bit_v", "bif_v")
def _vlogic(c: Ctx) -> None:
    f, m = _f(c), _name(c)[:-2]
    q = bool(f["Q"])
    a, b = c.vget(f["Rn"]), c.vget(f["Rm"])
    if m in ("and", "orr", "eor"):
        c.sse({"and": "pand", "orr": "por", "eor": "pxor"}[m], a, b)
        r = a
    elif m == "bic":
        c.sse("pandn", b, a)      # ~m & n
        r = b
    elif m == "orn":
        c.sse("pxor", b, _ones(c))
        c.sse("por", a, b)
        r = a
    else:
        d = c.vget(f["Rd"])
        if m == "bsl":            # d ? n : m
            c.vselect(d, a, b)
            r = b
        elif m == "bit":          # m ? n : d
            c.vselect(b, a, d)
            r = d
        else:                     # bif: m ? d : n
            c.vselect(b, d, a)
            r = a
    c.vput(f["Rd"], r, q)


# ---- permutations through byte tables ----------------------------------------------------------

Lane = tuple[int, int] | None     # (source number, lane) or None for zero


def _permute_x(c: Ctx, sources: list[int], lanes: list[Lane], esize: int) -> int:
    """An xmm holding lanes picked from the guest registers `sources` (one pshufb per source)."""
    eb = esize // 8
    table: list[tuple[int, int] | None] = []
    for lane in lanes:
        for k in range(eb):
            table.append(None if lane is None else (lane[0], lane[1] * eb + k))
    table += [None] * (16 - len(table))
    out: int | None = None
    for s, guest in enumerate(sources):
        index = [0x80 if t is None or t[0] != s else t[1] for t in table]
        if all(i == 0x80 for i in index):
            continue
        x = c.vget(guest)
        if index != list(range(16)):
            k = c.vconst(int.from_bytes(bytes(index), "little"))
            c.sse("pshufb", x, k)
            c.vrelease(k)
        if out is None:
            out = x
        else:
            c.sse("por", out, x)
            c.vrelease(x)
    return _zero(c) if out is None else out


def _permute(c: Ctx, sources: list[int], lanes: list[Lane], esize: int, q: bool, rd: int) -> None:
    """Vd = lanes picked from the guest registers `sources`."""
    c.vput(rd, _permute_x(c, sources, lanes, esize), q)


@rule("zip1_v", "zip2_v", "uzp1_v", "uzp2_v", "trn1_v", "trn2_v")
def _zip(c: Ctx) -> None:
    f, m = _f(c), _name(c)[:-2]
    esize, n, q = _arr(c)
    half = n // 2
    lanes: list[Lane] = []
    if m.startswith("zip"):
        base = 0 if m == "zip1" else half
        for p in range(half):
            lanes += [(0, base + p), (1, base + p)]
    elif m.startswith("uzp"):
        concat = [(0, i) for i in range(n)] + [(1, i) for i in range(n)]
        lanes = [concat[2 * e + (m == "uzp2")] for e in range(n)]
    else:
        odd = int(m == "trn2")
        for p in range(half):
            lanes += [(0, 2 * p + odd), (1, 2 * p + odd)]
    _permute(c, [f["Rn"], f["Rm"]], lanes, esize, q, f["Rd"])


@rule("ext_v")
def _ext(c: Ctx) -> None:
    f = _f(c)
    nbytes = 16 if f["Q"] else 8
    concat = [(0, i) for i in range(nbytes)] + [(1, i) for i in range(nbytes)]
    lanes: list[Lane] = list(concat[f["imm4"]:f["imm4"] + nbytes])
    _permute(c, [f["Rn"], f["Rm"]], lanes, 8, bool(f["Q"]), f["Rd"])


@rule("rev64_v", "rev32_v", "rev16_v")
def _vrev(c: Ctx) -> None:
    f = _f(c)
    esize, n, q = _arr(c)
    k = int(_name(c)[3:5]) // esize          # lanes per container
    lanes: list[Lane] = [(0, (e // k) * k + (k - 1 - e % k)) for e in range(n)]
    _permute(c, [f["Rn"]], lanes, esize, q, f["Rd"])


def _elem(c: Ctx) -> int:
    """Lane bits of an element encoding (dup_elem_h -> 16)."""
    return _ESIZE[_name(c)[-1]]


@rule("dup_elem_b", "dup_elem_h", "dup_elem_s", "dup_elem_d")
def _dup_elem(c: Ctx) -> None:
    f = _f(c)
    esize, n, q = _arr(c)
    _permute(c, [f["Rn"]], [(0, f["idx"])] * n, esize, q, f["Rd"])


@rule("dup_scalar_b", "dup_scalar_h", "dup_scalar_s", "dup_scalar_d")
def _dup_scalar(c: Ctx) -> None:
    """mov b/h/s/d, vn.t[i]: the element alone, the rest of Vd cleared."""
    f = _f(c)
    _permute(c, [f["Rn"]], [(0, f["idx"])], _elem(c), True, f["Rd"])


@rule("ins_elem_b", "ins_elem_h", "ins_elem_s", "ins_elem_d")
def _ins_elem(c: Ctx) -> None:
    f = _f(c)
    esize = _elem(c)
    lanes: list[Lane] = [(0, i) for i in range(128 // esize)]
    lanes[f["idx"]] = (1, f["src"])
    _permute(c, [f["Rd"], f["Rn"]], lanes, esize, True, f["Rd"])


def _movq_in(c: Ctx, x: int, r: int) -> None:
    c.sse("movd_in", x, r, w=True)


@rule("dup_gen_b", "dup_gen_h", "dup_gen_s", "dup_gen_d")
def _dup_gen(c: Ctx) -> None:
    f = _f(c)
    esize, _, q = _arr(c)
    r = c.get(f["Rn"], esize == 64)
    x = c.vtmp()
    _movq_in(c, x, r)
    index = [k % (esize // 8) for k in range(16)]
    c.sse("pshufb", x, c.vconst(int.from_bytes(bytes(index), "little")))
    c.vput(f["Rd"], x, q)


_PINSR = {8: b"\x0f\x3a\x20", 16: b"\x0f\xc4", 32: b"\x0f\x3a\x22", 64: b"\x0f\x3a\x22"}
_PEXTR = {8: b"\x0f\x3a\x14", 16: b"\x0f\x3a\x15", 32: b"\x0f\x3a\x16", 64: b"\x0f\x3a\x16"}


@rule("ins_gen_b", "ins_gen_h", "ins_gen_s", "ins_gen_d")
def _ins_gen(c: Ctx) -> None:
    from vmcli.translate.encode_x86 import encode_modrm

    f = _f(c)
    esize = _elem(c)
    x = c.vget(f["Rd"])
    r = c.get(f["Rn"], esize == 64)
    c(encode_modrm(_PINSR[esize], x, r, esize == 64, prefix=b"\x66", imm=bytes([f["idx"]])))
    c.vput(f["Rd"], x, True)


@rule("umov_b", "umov_h", "umov_s", "umov_d", "smov_b", "smov_h", "smov_s")
def _umov(c: Ctx) -> None:
    from vmcli.translate.encode_x86 import encode_modrm

    f = _f(c)
    esize = _elem(c)
    x = c.vget(f["Rn"])
    r = c.tmp()
    c(encode_modrm(_PEXTR[esize], x, r, esize == 64, prefix=b"\x66", imm=bytes([f["idx"]])))
    sf = esize == 64 or _sf(c)
    if _name(c).startswith("smov"):
        c.extend(r, r, esize // 8, True, w=sf)
    c.put(f["Rd"], r, sf)


@rule("tbl_v")
def _tbl(c: Ctx) -> None:
    """pshufb reads index bit 7 as 'zero' and the low 4 bits as the lane: adding 0x70 with unsigned
    saturation turns every index >= 16 into one >= 0x80 and leaves 0..15 alone."""
    f = _f(c)
    idx = c.vget(f["Rm"])
    c.sse("paddusb", idx, c.vconst(_lane_const(0x70, 8)))
    t = c.vget(f["Rn"])
    c.sse("pshufb", t, idx)
    c.vput(f["Rd"], t, bool(f["Q"]))


# ---- two-register misc ----------------------------------------------------------------------------

@rule("not_v", "neg_v", "abs_v", "cmgt0_v", "cmeq0_v", "cmlt0_v", "cmge0_v", "cmle0_v", "cnt_v")
def _v2(c: Ctx) -> None:
    from vmcli.translate.emit_x86 import LANE_OPS

    f, m = _f(c), _name(c)[:-2]
    esize, _, q = _arr(c)
    a = c.vget(f["Rn"])
    if m == "not":
        c.sse("pxor", a, _ones(c))
        r = a
    elif m == "abs" and esize == 64:      # (x ^ s) - s with s the sign mask
        s = c.vtmp()
        c.vcopy(s, a)
        _sign_mask(c, s, 64)
        c.sse("pxor", a, s)
        c.sse("psubq", a, s)
        r = a
    elif m == "abs":
        c.sse(LANE_OPS["abs"][esize], a, a)
        r = a
    elif m == "cnt":              # popcount of each byte from a nibble table
        lut = c.vconst(int.from_bytes(bytes(bin(i).count("1") for i in range(16)), "little"))
        low = c.vconst(_lane_const(0x0F, 8))
        hi = c.vtmp()
        c.vcopy(hi, a)
        c.vshift("psrl", 16, hi, 4)
        c.sse("pand", hi, low)
        c.sse("pand", a, low)
        r = c.vtmp()
        c.vcopy(r, lut)
        c.sse("pshufb", r, a)
        c.sse("pshufb", lut, hi)
        c.sse("paddb", r, lut)
    elif esize == 64 and m in ("cmgt0", "cmle0", "cmlt0", "cmge0"):
        r = c.vtmp()                      # n < 0 is the sign; n > 0 is neither negative nor zero
        c.vcopy(r, a)
        _sign_mask(c, r, 64)
        if m in ("cmgt0", "cmle0"):
            c.sse("pcmpeqq", a, _zero(c))
            c.sse("por", r, a)
        if m in ("cmgt0", "cmge0"):
            c.sse("pxor", r, _ones(c))
    else:
        z = _zero(c)
        if m == "neg":
            c.sse(LANE_OPS["sub"][esize], z, a)
            r = z
        elif m in ("cmgt0", "cmle0"):
            c.sse(LANE_OPS["cmgt"][esize], a, z)
            r = a
        elif m == "cmeq0":
            c.sse(LANE_OPS["cmeq"][esize], a, z)
            r = a
        else:                     # cmlt0, cmge0: 0 > n
            c.sse(LANE_OPS["cmgt"][esize], z, a)
            r = z
        if m in ("cmle0", "cmge0"):
            c.sse("pxor", r, _ones(c))
    c.vput(f["Rd"], r, q)


@rule("sshll_v", "ushll_v")
def _widen(c: Ctx) -> None:
    """sshll/ushll (sxtl/uxtl): pmovsx/pmovzx of the low (or, for the '2' form, high) half."""
    from vmcli.translate.encode_x86 import encode_modrm

    f = _f(c)
    immh = (f["h3"] << 3) | (f["h2"] << 2) | (f["h1"] << 1) | f["h0"]
    src = 8 << (immh.bit_length() - 1)
    shift = ((immh << 3) | f["immb"]) - src
    a = c.vget(f["Rn"])
    if f["Q"]:
        c.vbytes_shift(True, a, 8)
    op = {8: 0x20, 16: 0x23, 32: 0x25}[src] + (0x10 if _name(c) == "ushll_v" else 0)
    r = c.vtmp()
    c(encode_modrm(bytes([0x0F, 0x38, op]), r, a, prefix=b"\x66"))
    if shift:
        c.vshift("psll", 2 * src, r, shift)
    c.vput(f["Rd"], r, True)


@rule("xtn_v")
def _xtn(c: Ctx) -> None:
    """xtn: the low half of each lane; xtn2 writes the upper half of Vd and keeps the lower."""
    f = _f(c)
    esize, n, q = _arr(c)
    half = 64 // esize
    low: list[Lane] = [(0, i) for i in range(half)]
    if q:
        _permute(c, [f["Rd"], f["Rn"]], low + [(1, 2 * i) for i in range(half)], esize, True, f["Rd"])
    else:
        _permute(c, [f["Rn"]], [(0, 2 * i) for i in range(half)], esize, False, f["Rd"])


# ---- reductions and shifts ------------------------------------------------------------------------

@rule("addv_v", "umaxv_v", "uminv_v", "smaxv_v", "sminv_v")
def _across(c: Ctx) -> None:
    """Fold the register in halves (psrldq) with the lane operation; the result is lane 0 and the
    rest of Vd is cleared (it is written as a B/H/S register)."""
    from vmcli.translate.emit_x86 import LANE_OPS

    f = _f(c)
    esize, n, q = _arr(c)
    op = LANE_OPS[{"addv": "add", "umaxv": "umax", "uminv": "umin", "smaxv": "smax", "sminv": "smin"}[
        _name(c)[:-2]]][esize]
    a = c.vget(f["Rn"])
    t = c.vtmp()
    width = n * esize // 8
    while width > esize // 8:
        width //= 2
        c.vcopy(t, a)
        c.vbytes_shift(True, t, width)
        c.sse(op, a, t)
    c.sse("pand", a, c.vconst((1 << esize) - 1))
    c.vput(f["Rd"], a, True)


def _shift_amount(f: dict[str, int]) -> tuple[int, int]:
    immh = (f["h3"] << 3) | (f["h2"] << 2) | (f["h1"] << 1) | f["h0"]
    esize = 8 << (immh.bit_length() - 1)
    return esize, (immh << 3) | f["immb"]


def _shl_lanes(c: Ctx, x: int, esize: int, n: int) -> None:
    """x <<= n in every lane (bytes shift as words and are masked)."""
    c.vshift("psll", 16 if esize == 8 else esize, x, n)
    if esize == 8:
        c.sse("pand", x, c.vconst(_lane_const((0xFF << n) & 0xFF, 8)))


def _shr_lanes(c: Ctx, x: int, esize: int, n: int, signed: bool) -> None:
    """x >>= n (1 <= n <= esize) in every lane. SSE shifts 16/32/64-bit lanes logically and 16/32
    arithmetically; bytes shift as words and are masked, and an arithmetic shift of bytes or
    quadwords is a logical one with the sign re-extended: (x ^ m) - m, m = the moved sign bit."""
    if signed and esize in (16, 32):
        c.vshift("psra", esize, x, n)
        return
    if signed:
        n = min(n, esize - 1)                 # >> esize and >> esize-1 both give the sign
    c.vshift("psrl", 16 if esize == 8 else esize, x, n)
    if esize == 8:
        c.sse("pand", x, c.vconst(_lane_const(0xFF >> n, 8)))
    if signed:
        k = c.vconst(_lane_const(1 << (esize - 1 - n), esize))
        c.sse("pxor", x, k)
        c.sse("psubb" if esize == 8 else "psubq", x, k)


@rule("shl_v", "ushr_v", "sshr_v", "usra_v", "ssra_v", "sli_v", "sri_v")
def _vshift(c: Ctx) -> None:
    """Shifts by immediate; usra/ssra add the shifted value to Vd, sli/sri insert it into Vd
    (the bits the shift vacates keep Vd's)."""
    from vmcli.translate.emit_x86 import LANE_OPS

    f, m = _f(c), _name(c)[:-2]
    esize, value = _shift_amount(f)
    a = c.vget(f["Rn"])
    left = m in ("shl", "sli")
    n = value - esize if left else 2 * esize - value
    if left:
        _shl_lanes(c, a, esize, n)
    else:
        _shr_lanes(c, a, esize, n, m in ("sshr", "ssra"))
    if m in ("usra", "ssra"):
        d = c.vget(f["Rd"])
        c.sse(LANE_OPS["add"][esize], d, a)
        a = d
    elif m in ("sli", "sri"):
        ones = (1 << esize) - 1
        kept = ones ^ ((ones << n) & ones) if m == "sli" else ones ^ (ones >> n)
        d = c.vget(f["Rd"])
        c.sse("pand", d, c.vconst(_lane_const(kept, esize)))
        c.sse("por", a, d)
    c.vput(f["Rd"], a, bool(f["Q"]))


@rule("shrn_v", "rshrn_v")
def _shrn(c: Ctx) -> None:
    """Shift the double-width lanes right (rshrn adds the rounding bit first; a carry out of the
    lane would only reach bits the narrowing drops), then keep their low halves."""
    from vmcli.translate.emit_x86 import LANE_OPS

    f = _f(c)
    wide, value = _shift_amount(f)          # immh gives the narrow size; the source is twice it
    esize = wide
    n = 2 * esize - value
    a = c.vget(f["Rn"])
    if _name(c) == "rshrn_v":
        c.sse(LANE_OPS["add"][2 * esize], a, c.vconst(_lane_const(1 << (n - 1), 2 * esize)))
    _shr_lanes(c, a, 2 * esize, n, False)
    half = 64 // esize
    index = [k for i in range(half) for k in range(2 * i * esize // 8, 2 * i * esize // 8 + esize // 8)]
    c.sse("pshufb", a, c.vconst(int.from_bytes(bytes(index + [0x80] * (16 - len(index))), "little")))
    if f["Q"]:
        d = c.vget(f["Rd"])
        c.sse("punpcklqdq", d, a)
        a = d
    c.vput(f["Rd"], a, bool(f["Q"]))


# ---- floating point -------------------------------------------------------------------------------
#
# x86 and AArch64 agree on every non-NaN result (IEEE 754, round to nearest, no flush to zero) but
# not on NaNs: AArch64 returns the first signalling NaN operand quieted, else the first quiet NaN,
# else (an invalid operation) the default NaN 0x7FC00000 / 0x7FF8000000000000; x86 returns its
# own default NaN (sign set) and picks between NaN operands by other rules. _nan_result rebuilds
# AArch64's choice in every lane where the x86 result is a NaN.

def _fdouble(c: Ctx) -> bool:
    return _arr(c)[0] == 64


def _fconst(c: Ctx, double: bool, v32: int, v64: int) -> int:
    return c.vconst(_lane_const(v64, 64) if double else _lane_const(v32, 32))


def _isnan(c: Ctx, x: int, double: bool) -> int:
    m = c.vtmp()
    c.vcopy(m, x)
    c.sse("cmppd" if double else "cmpps", m, x, imm=3)      # unordered with itself
    return m


def _issnan(c: Ctx, x: int, nan: int, double: bool) -> int:
    """Lanes holding a signalling NaN (a NaN whose quiet bit is clear)."""
    m = c.vtmp()
    c.vcopy(m, x)
    if double:
        c.vshift("psll", 64, m, 12)
        c.vshift("psra", 32, m, 31)
        c.sse("pshufd", m, m, imm=0xF5)
    else:
        c.vshift("psll", 32, m, 9)
        c.vshift("psra", 32, m, 31)
    c.sse("pandn", m, nan)
    return m


def _nan_choice(c: Ctx, a: int, b: int | None, double: bool) -> int:
    """Per lane: the AArch64 NaN result of an operation on a (and b)."""
    qbit = _fconst(c, double, 0x00400000, 0x0008000000000000)
    v = _fconst(c, double, 0x7FC00000, 0x7FF8000000000000)
    qa = c.vtmp()
    c.vcopy(qa, a)
    c.sse("por", qa, qbit)
    na = _isnan(c, a, double)
    if b is not None:
        qb = c.vtmp()
        c.vcopy(qb, b)
        c.sse("por", qb, qbit)
        nb = _isnan(c, b, double)
        c.vselect(nb, qb, v)
        c.vselect(na, qa, v)
        sb = _issnan(c, b, nb, double)
        c.vselect(sb, qb, v)
        c.vrelease(qb, nb, sb)
    else:
        c.vselect(na, qa, v)
    sa = _issnan(c, a, na, double)
    c.vselect(sa, qa, v)
    c.vrelease(qbit, qa, na, sa)
    return v


def _fix_nans(c: Ctx, mask: int, double: bool, build, r: int) -> None:
    """r = build() in the lanes of mask (NaN lanes), skipped entirely when no lane is a NaN: the
    common case runs a handful of instructions instead of the whole NaN rule."""
    from vmcli.translate.encode_x86 import encode_modrm

    t = c.tmp()
    c(encode_modrm(b"\x0f\x50", t, mask, prefix=b"\x66" if double else b""))    # movmskp{s,d}
    c.test(False, t, t)
    c.release(t)
    start = c.mark()
    c.vselect(mask, build(), r)
    c.skip_from(start, "e")


_FARITH = {"fadd": "add", "fsub": "sub", "fmul": "mul", "fdiv": "div", "fmax": "max", "fmin": "min"}


def _fbinary(c: Ctx, m: str, double: bool, a: int, b: int) -> int:
    """fadd/fsub/fmul/fdiv/fmax/fmin of xmm a and b, lane-wise, with AArch64's NaN and zero rules."""
    suffix = "pd" if double else "ps"
    r = c.vtmp()
    c.vcopy(r, a)
    c.sse(_FARITH[m] + suffix, r, b)
    if m in ("fmax", "fmin"):
        # equal operands (+0 and -0 among them): max is a & b, min a | b (x86 returns b)
        eq = c.vtmp()
        c.vcopy(eq, a)
        c.sse("cmp" + suffix, eq, b, imm=0)
        z = c.vtmp()
        c.vcopy(z, a)
        c.sse("pand" if m == "fmax" else "por", z, b)
        c.vselect(eq, z, r)
        nan = c.vtmp()
        c.vcopy(nan, a)
        c.sse("cmp" + suffix, nan, b, imm=3)
    else:
        nan = _isnan(c, r, double)
    _fix_nans(c, nan, double, lambda: _nan_choice(c, a, b, double), r)
    return r


@rule("fadd_v", "fsub_v", "fmul_v", "fdiv_v", "fmax_v", "fmin_v")
def _farith(c: Ctx) -> None:
    f = _f(c)
    a, b = c.vget(f["Rn"]), c.vget(f["Rm"])
    c.vput(f["Rd"], _fbinary(c, _name(c)[:-2], _fdouble(c), a, b), bool(f["Q"]))


@rule("fcmeq_v", "fcmge_v", "fcmgt_v")
def _fcmp(c: Ctx) -> None:
    f, m = _f(c), _name(c)[:-2]
    op = "cmppd" if _fdouble(c) else "cmpps"
    a, b = c.vget(f["Rn"]), c.vget(f["Rm"])
    if m == "fcmeq":
        c.sse(op, a, b, imm=0)
        r = a
    else:                         # n >= m is m <= n; n > m is m < n (false on NaN, as AArch64)
        c.sse(op, b, a, imm=2 if m == "fcmge" else 1)
        r = b
    c.vput(f["Rd"], r, bool(f["Q"]))


def _funary_x(c: Ctx, m: str, double: bool, a: int) -> int:
    """fabs/fneg only touch the sign bit (NaNs pass unchanged, as AArch64 does); fsqrt takes the
    NaN rule; fmov is a copy."""
    if m == "fabs":
        c.sse("pand", a, _fconst(c, double, 0x7FFFFFFF, (1 << 63) - 1))
        return a
    if m == "fneg":
        c.sse("pxor", a, _fconst(c, double, 0x80000000, 1 << 63))
        return a
    if m == "fmov":
        return a
    r = c.vtmp()
    c.sse("sqrtpd" if double else "sqrtps", r, a)
    _fix_nans(c, _isnan(c, r, double), double, lambda: _nan_choice(c, a, None, double), r)
    return r


@rule("fabs_v", "fneg_v", "fsqrt_v")
def _funary(c: Ctx) -> None:
    f = _f(c)
    r = _funary_x(c, _name(c)[:-2], _fdouble(c), c.vget(f["Rn"]))
    c.vput(f["Rd"], r, bool(f["Q"]))


# ---- scalar floating point: an S or D result clears the rest of the V register ----------------------

def _sdouble(c: Ctx) -> bool:
    return _f(c)["ftype"] == 1


def _fput_scalar(c: Ctx, rd: int, x: int, double: bool) -> None:
    if not double:
        c.sse("pand", x, c.vconst(0xFFFFFFFF))
    c.vput(rd, x, q=not double)


@rule("fmul_s", "fdiv_s", "fadd_s", "fsub_s", "fmax_s", "fmin_s")
def _farith_s(c: Ctx) -> None:
    f, double = _f(c), _sdouble(c)
    r = _fbinary(c, _name(c)[:-2], double, c.vget(f["Rn"]), c.vget(f["Rm"]))
    _fput_scalar(c, f["Rd"], r, double)


@rule("fmov_s", "fabs_s", "fneg_s", "fsqrt_s")
def _funary_s(c: Ctx) -> None:
    f, double = _f(c), _sdouble(c)
    r = _funary_x(c, _name(c)[:-2], double, c.vget(f["Rn"]))
    _fput_scalar(c, f["Rd"], r, double)


@rule("fcmp_s", "fcmpe_s", "fcmp0_s", "fcmpe0_s")
def _fcmp_s(c: Ctx) -> None:
    """NZCV: unordered 0011, equal 0110, less 1000, greater 0010; from ucomis: PF = unordered,
    CF = less or unordered, ZF = equal or unordered."""
    f, double = _f(c), _sdouble(c)
    a = c.vget(f["Rn"])
    b = _zero(c) if "0" in _name(c) else c.vget(f["Rm"])
    _ucomi(c, double, a, b)
    p, cf, z = c.tmp(), c.tmp(), c.tmp()
    c.setcc("p", p)
    c.setcc("b", cf)
    c.setcc("e", z)
    for r in (p, cf, z):
        c.extend(r, r, 1, False, w=False)
    n = c.tmp()
    c.mov(False, n, p)
    c.alu_imm("xor", False, n, 1)          # n = ordered
    c.alu("and", False, z, n)              # Z = equal and ordered
    c.alu("and", False, n, cf)             # N = less and ordered
    k = c.tmp()
    c.mov(False, k, n)
    c.alu_imm("xor", False, k, 1)          # C = not less
    c.lea(False, n, Mem(z, n, 2, 0, 0))
    c.lea(False, n, Mem(k, n, 2, 0, 0))
    c.lea(False, n, Mem(p, n, 2, 0, 0))
    c.shift("shl", False, n, 28)
    c.store_nzcv_reg(n)


def _ucomi(c: Ctx, double: bool, a: int, b: int) -> None:
    """ucomisd / ucomiss a, b."""
    from vmcli.translate.encode_x86 import encode_modrm

    c(encode_modrm(b"\x0f\x2e", a, b, prefix=b"\x66" if double else b""))


@rule("scvtf_s")
def _scvtf_s(c: Ctx) -> None:
    f, double = _f(c), _sdouble(c)
    sf = bool(f["sf"])
    r = c.get(f["Rn"], sf)
    if not sf:
        c.extend(r, r, 4, True)
    x = _zero(c)
    from vmcli.translate.encode_x86 import encode_modrm

    c(encode_modrm(b"\x0f\x2a", x, r, True, prefix=b"\xf2" if double else b"\xf3"))   # cvtsi2s{d,s} x, r64
    c.vput(f["Rd"], x, True)


@rule("fcvtzs_s")
def _fcvtzs_s(c: Ctx) -> None:
    """x86 gives 0x80..0 for NaN and out-of-range values: AArch64 saturates and gives 0 for NaN."""
    from vmcli.translate.encode_x86 import encode_modrm

    f, double = _f(c), _sdouble(c)
    sf = bool(f["sf"])
    a = c.vget(f["Rn"])
    r = c.tmp()
    c(encode_modrm(b"\x0f\x2c", r, a, sf, prefix=b"\xf2" if double else b"\xf3"))   # cvtts{d,s}2si
    bits = 64 if sf else 32
    if double:
        big = c.vconst(0x43E0000000000000 if sf else 0x41E0000000000000)
    else:
        big = c.vconst(0x5F000000 if sf else 0x4F000000)
    limit, zero = c.tmp(), c.tmp()
    c.mov_imm(limit, (1 << (bits - 1)) - 1)
    c.mov_imm(zero, 0)
    _ucomi(c, double, a, big)
    c.cmov("ae", sf, r, limit)             # >= 2^(bits-1), not NaN
    _ucomi(c, double, a, a)
    c.cmov("p", sf, r, zero)               # NaN
    c.put(f["Rd"], r, sf)


@rule("fmov_gen")
def _fmov_gen(c: Ctx) -> None:
    """fmov between general and FP registers: bits move unchanged; an FP destination is S/D."""
    f = _f(c)
    sf = bool(f["sf"])
    if f["op"] == 1:                       # to FP
        r = c.get(f["Rn"], sf)
        x = c.vtmp()
        c.sse("movd_in", x, r, w=sf)
        c.vput(f["Rd"], x, True)
    else:
        from vmcli.translate.encode_x86 import encode_modrm

        x = c.vget(f["Rn"])
        r = c.tmp()
        c(encode_modrm(b"\x0f\x7e", x, r, sf, prefix=b"\x66"))                        # movd/movq r, xmm
        c.put(f["Rd"], r, sf)


@rule("fcvt_s")
def _fcvt_s(c: Ctx) -> None:
    """fcvt between single and double: both quiet a signalling NaN and keep sign and payload."""
    from vmcli.translate.encode_x86 import encode_modrm

    f = _f(c)
    a = c.vget(f["Rn"])
    x = _zero(c)
    to_double = f["ftype"] == 0
    c(encode_modrm(b"\x0f\x5a", x, a, prefix=b"\xf3" if to_double else b"\xf2"))  # cvtss2sd / cvtsd2ss
    c.vput(f["Rd"], x, True)


@rule("scvtf_v", "fcvtzs_v")
def _fconvert(c: Ctx) -> None:
    """fcvtzs saturates and turns NaN into 0; x86 gives the 'integer indefinite' 0x80..0 for both:
    lanes >= 2^31 (2^63) are flipped to the maximum, NaN lanes cleared."""
    f = _f(c)
    double = _fdouble(c)
    a = c.vget(f["Rn"])
    if _name(c) == "scvtf_v":
        if double:
            r = c.vtmp()
            _per_lane_64(c, a, r, "cvtsi2sd")
        else:
            r = c.vtmp()
            c.sse("cvtdq2ps", r, a)
    elif double:
        r = c.vtmp()
        _per_lane_64(c, a, r, "cvttsd2si")
    else:
        r = c.vtmp()
        c.sse("cvttps2dq", r, a)
        big = c.vconst(_lane_const(0x4F000000, 32))           # 2^31
        c.sse("cmpps", big, a, imm=2)                          # 2^31 <= a
        c.sse("pxor", r, big)
        nan = _isnan(c, a, False)
        c.sse("pandn", nan, r)
        r = nan
    c.vput(f["Rd"], r, bool(f["Q"]))


def _per_lane_64(c: Ctx, a: int, out: int, op: str) -> None:
    """out = op applied to both 64-bit lanes of a (through a general register)."""
    from vmcli.translate.encode_x86 import encode_modrm

    r = c.tmp()
    big = c.vconst(0x43E0000000000000) if op == "cvttsd2si" else None     # 2^63
    limit, zero = c.tmp(), c.tmp()
    c.mov_imm(limit, (1 << 63) - 1)
    c.mov_imm(zero, 0)
    parts = []
    for lane in range(2):
        t = c.vtmp()
        c.vcopy(t, a)
        if lane:
            c.sse("pshufd", t, t, imm=0xEE)
        if op == "cvtsi2sd":
            c(encode_modrm(b"\x0f\x7e", t, r, True, prefix=b"\x66"))       # movq r, t
            c.sse("pxor", t, t)
            c.sse("cvtsi2sd", t, r, w=True)
        else:
            assert big is not None
            c.sse("cvttsd2si", r, t, w=True)
            c.sse("ucomisd", t, big)
            c.cmov("ae", True, r, limit)                                   # >= 2^63 (not NaN)
            c.sse("ucomisd", t, t)
            c.cmov("p", True, r, zero)                                     # NaN
            c.sse("pxor", t, t)
            _movq_in(c, t, r)
        parts.append(t)
    c.vcopy(out, parts[0])
    c.sse("punpcklqdq", out, parts[1])


# ---- SIMD&FP loads and stores ---------------------------------------------------------------------

def _vbytes(f: dict[str, int]) -> int:
    return 16 if f["size"] == 0 else 1 << f["size"]


def _vload(c: Ctx, x: int, mem: Mem, size: int) -> None:
    """x = size bytes from memory, the rest of the register cleared."""
    c.sse({4: "movd_in", 8: "movq_in", 16: "movdqu_load"}[size], x, mem)


def _vstore(c: Ctx, x: int, mem: Mem, size: int) -> None:
    c.sse({4: "movd_out", 8: "movq_out", 16: "movdqu_store"}[size], x, mem)


@rule("vldst_uimm", "vldst_unscaled", "vldst_pre", "vldst_post", "vldst_roff")
def _vldst(c: Ctx) -> None:
    f = _f(c)
    size = _vbytes(f)
    addr, wb = _address(c, f, _name(c).removeprefix("vldst_"), size)
    mem = Mem(addr, -1, 1, 0, size)
    if f["opc"] & 1:
        x = c.vtmp()
        _vload(c, x, mem, size)
        c.vput(f["Rt"], x, True)
    else:
        _vstore(c, c.vget(f["Rt"]), mem, size)
    if wb is not None:
        c.put(f["Rn"], wb, True, sp=True)


@rule("vldstp_post", "vldstp_off", "vldstp_pre", "vldstnp")
def _vldstp(c: Ctx) -> None:
    f = _f(c)
    size = 4 << f["opc"]
    base = c.get(f["Rn"], True, sp=True)
    mode = _name(c).removeprefix("vldstp_").replace("vldstnp", "off")
    a = c.tmp()
    c.lea(True, a, Mem(base, -1, 1, sext(f["imm7"], 7) * size, 0))
    addr, wb = (base, a) if mode == "post" else (a, a if mode == "pre" else None)
    for i, rt in enumerate((f["Rt"], f["Rt2"])):
        mem = Mem(addr, -1, 1, i * size, size)
        if f["L"]:
            x = c.vtmp()
            _vload(c, x, mem, size)
            c.vput(rt, x, True)
        else:
            _vstore(c, c.vget(rt), mem, size)
    if wb is not None:
        c.put(f["Rn"], wb, True, sp=True)


LD1_NAMES = [f"{m}{x}_{k}" for m in ("ld1", "st1") for x in ("", "x2", "x3", "x4") for k in ("v", "post")]


def ld1_registers(name: str) -> int:
    """Registers an ld1/st1 encoding moves (ld1x3_v -> 3)."""
    head = name.split("_")[0]
    return int(head[4]) if "x" in head else 1


@rule(*LD1_NAMES)
def _ld1(c: Ctx) -> None:
    """One to four consecutive registers, any arrangement: in little-endian memory the lanes are
    the registers' bytes."""
    f = _f(c)
    size = 16 if f["Q"] else 8
    nregs = ld1_registers(_name(c))
    base = c.get(f["Rn"], True, sp=True)
    for i in range(nregs):
        mem = Mem(base, -1, 1, i * size, size)
        rt = (f["Rt"] + i) % 32
        if _name(c).startswith("ld1"):
            x = c.vtmp()
            _vload(c, x, mem, size)
            c.vput(rt, x, True)
            c.vrelease(x)
        else:
            x = c.vget(rt)
            _vstore(c, x, mem, size)
            c.vrelease(x)
    if _name(c).endswith("post"):
        _post_increment(c, f, base, nregs * size)


def _post_increment(c: Ctx, f: dict[str, int], base: int, size: int) -> None:
    """Xn += size (Rm = 31) or Xm."""
    a = c.tmp()
    if f["Rm"] == 31:
        c.lea(True, a, Mem(base, -1, 1, size, 0))
    else:
        c.lea(True, a, Mem(base, c.get(f["Rm"], True), 1, 0, 0))
    c.put(f["Rn"], a, True, sp=True)


@rule("ld1r_v", "ld1r_post")
def _ld1r(c: Ctx) -> None:
    """Load one element and replicate it to every lane."""
    f = _f(c)
    esize = 8 << f["size"]
    base = c.get(f["Rn"], True, sp=True)
    r = c.tmp()
    c.load(r, Mem(base, -1, 1, 0, esize // 8), esize // 8)
    x = c.vtmp()
    _movq_in(c, x, r)
    index = [k % (esize // 8) for k in range(16)]
    c.sse("pshufb", x, c.vconst(int.from_bytes(bytes(index), "little")))
    c.vput(f["Rt"], x, bool(f["Q"]))
    if _name(c).endswith("post"):
        _post_increment(c, f, base, esize // 8)


# ---- long (widening) arithmetic and pairwise operations ---------------------------------------------

_PMOVX = {8: 0x20, 16: 0x23, 32: 0x25}     # pmovsx{bw,wd,dq}; pmovzx is +0x10


def _widened(c: Ctx, n: int, src: int, signed: bool, high: bool) -> int:
    from vmcli.translate.encode_x86 import encode_modrm

    a = c.vget(n)
    if high:
        c.vbytes_shift(True, a, 8)
    r = c.vtmp()
    c(encode_modrm(bytes([0x0F, 0x38, _PMOVX[src] + (0 if signed else 0x10)]), r, a, prefix=b"\x66"))
    return r


_LONG_MUL = {16: ("pmullw", "pmullw"), 32: ("pmulld", "pmulld"), 64: ("pmuldq", "pmuludq")}


@rule(*(f"{m}_v" for m in ("saddl", "uaddl", "ssubl", "usubl", "smlal", "umlal", "smlsl", "umlsl", "smull", "umull")))
def _long(c: Ctx) -> None:
    from vmcli.translate.emit_x86 import LANE_OPS

    f, m = _f(c), _name(c)[:-2]
    src = 8 << f["size"]
    signed, high = m[0] == "s", bool(f["Q"])
    a = _widened(c, f["Rn"], src, signed, high)
    b = _widened(c, f["Rm"], src, signed, high)
    if m[1:4] in ("add", "sub"):
        c.sse(LANE_OPS[m[1:4]][2 * src], a, b)
        r = a
    else:
        mul = _LONG_MUL[2 * src][0 if signed else 1]
        if mul == "pmuldq":
            from vmcli.translate.encode_x86 import encode_modrm

            c(encode_modrm(b"\x0f\x38\x28", a, b, prefix=b"\x66"))
        else:
            c.sse(mul, a, b)
        if m[1:4] == "mul":
            r = a
        else:
            r = c.vget(f["Rd"])
            c.sse(LANE_OPS["add" if m[1:4] == "mla" else "sub"][2 * src], r, a)
    c.vput(f["Rd"], r, True)


def _pairs(c: Ctx) -> tuple[int, int]:
    """xmm registers holding the even and the odd lanes of Vm:Vn (pairwise operations)."""
    f = _f(c)
    esize, n, _ = _arr(c)
    concat = [(0, i) for i in range(n)] + [(1, i) for i in range(n)]
    even = _permute_x(c, [f["Rn"], f["Rm"]], [concat[2 * i] for i in range(n)], esize)
    odd = _permute_x(c, [f["Rn"], f["Rm"]], [concat[2 * i + 1] for i in range(n)], esize)
    return even, odd


@rule("addp_v", "smaxp_v", "sminp_v", "umaxp_v", "uminp_v")
def _pairwise(c: Ctx) -> None:
    from vmcli.translate.emit_x86 import LANE_OPS

    f = _f(c)
    esize, _, q = _arr(c)
    even, odd = _pairs(c)
    c.sse(LANE_OPS[_name(c)[:-3]][esize], even, odd)
    c.vput(f["Rd"], even, q)


@rule("faddp_v")
def _faddp(c: Ctx) -> None:
    f = _f(c)
    even, odd = _pairs(c)
    c.vput(f["Rd"], _fbinary(c, "fadd", _fdouble(c), even, odd), bool(f["Q"]))


# ---- immediates ------------------------------------------------------------------------------------

def vfp_expand(imm8: int, bits: int) -> int:
    """VFPExpandImm: the 8-bit float immediate of fmov as a 32- or 64-bit value."""
    a, b, cd, efgh = imm8 >> 7, (imm8 >> 6) & 1, (imm8 >> 4) & 3, imm8 & 0xF
    if bits == 32:
        return (a << 31) | ((b ^ 1) << 30) | ((0x1F if b else 0) << 25) | (cd << 23) | (efgh << 19)
    return (a << 63) | ((b ^ 1) << 62) | ((0xFF if b else 0) << 54) | (cd << 52) | (efgh << 48)


def simd_expand(op: int, cmode: int, imm8: int) -> int:
    """AdvSIMDExpandImm: the 64-bit value of a modified immediate."""
    def rep(v: int, bits: int) -> int:
        return _lane_const(v, bits) & ((1 << 64) - 1)

    top = cmode >> 1
    if top < 4:
        return rep(imm8 << (8 * top), 32)
    if top < 6:
        return rep(imm8 << (8 * (top - 4)), 16)
    if top == 6:
        return rep((imm8 << 8) | 0xFF if cmode & 1 == 0 else (imm8 << 16) | 0xFFFF, 32)
    if cmode & 1 == 0:
        if op == 0:
            return rep(imm8, 8)
        return sum((0xFF if imm8 >> i & 1 else 0) << (8 * i) for i in range(8))
    return rep(vfp_expand(imm8, 32), 32) if op == 0 else vfp_expand(imm8, 64)


def _modimm(c: Ctx) -> int:
    """The instruction's expanded immediate, as the 128-bit value of the register (Q=0: low half)."""
    word: int = c.insn.word  # type: ignore[attr-defined]
    op, cmode = word >> 29 & 1, word >> 12 & 0xF
    imm8 = ((word >> 16) & 7) << 5 | ((word >> 5) & 0x1F)
    value = simd_expand(op, cmode, imm8)
    if _name(c).startswith("mvni"):
        value ^= (1 << 64) - 1
    return value | (value << 64) if _f(c)["Q"] else value


@rule("movi_32", "movi_16", "movi_msl", "movi_8", "movi_64", "mvni_32", "mvni_16", "mvni_msl", "fmovi_s",
      "fmovi_d")
def _movi(c: Ctx) -> None:
    c.vput(_f(c)["Rd"], c.vconst(_modimm(c)), True)


@rule("orri_32", "orri_16", "bici_32", "bici_16")
def _orri(c: Ctx) -> None:
    f = _f(c)
    value = _modimm(c)
    d = c.vget(f["Rd"])
    if _name(c).startswith("bic"):
        c.sse("pand", d, c.vconst(~value & ((1 << (128 if f["Q"] else 64)) - 1)))
    else:
        c.sse("por", d, c.vconst(value))
    c.vput(f["Rd"], d, bool(f["Q"]))


@rule("fmovi_sd")
def _fmovi_sd(c: Ctx) -> None:
    f = _f(c)
    imm8 = int("".join(str(f[k]) for k in "abcdefgh"), 2)
    c.vput(f["Rd"], c.vconst(vfp_expand(imm8, 64 if f["ftype"] else 32)), True)


@rule("fcsel")
def _fcsel(c: Ctx) -> None:
    f, double = _f(c), _f(c)["ftype"] == 1
    cond = COND[f["cond"]]
    n = c.vget(f["Rn"])
    if cond not in ("al", "nv"):
        mm = c.vget(f["Rm"])
        c.load_flags()
        t = c.tmp()
        c.setcc(COND_CC[cond], t)
        c.extend(t, t, 1, False)
        c.unary("neg", True, t)                 # 0 or all ones
        mask = c.vtmp()
        c.sse("movd_in", mask, t, w=True)
        c.sse("punpcklqdq", mask, mask)
        c.vselect(mask, n, mm)
        n = mm
    _fput_scalar(c, f["Rd"], n, double)


# ---- rounding, multiply-accumulate, by element -----------------------------------------------------

_ROUND = {"frintn": 0, "frintm": 1, "frintp": 2, "frintz": 3, "frintx": 0, "frinti": 0}   # FPCR: nearest


def _frint(c: Ctx, m: str, double: bool, a: int) -> int:
    """roundps/roundpd with the rounding of the instruction; NaNs take the AArch64 rule."""
    from vmcli.translate.encode_x86 import encode_modrm

    r = c.vtmp()
    c(encode_modrm(b"\x0f\x3a\x09" if double else b"\x0f\x3a\x08", r, a, prefix=b"\x66",
                   imm=bytes([_ROUND[m]])))
    _fix_nans(c, _isnan(c, a, double), double, lambda: _nan_choice(c, a, None, double), r)
    return r


@rule(*(f"{m}_v" for m in _ROUND))
def _frint_v(c: Ctx) -> None:
    f = _f(c)
    c.vput(f["Rd"], _frint(c, _name(c)[:-2], _fdouble(c), c.vget(f["Rn"])), bool(f["Q"]))


@rule(*(f"{m}_s" for m in _ROUND))
def _frint_s(c: Ctx) -> None:
    f, double = _f(c), _sdouble(c)
    _fput_scalar(c, f["Rd"], _frint(c, _name(c)[:-2], double, c.vget(f["Rn"])), double)


def _mul_lanes(c: Ctx, esize: int, a: int, b: int) -> None:
    from vmcli.translate.emit_x86 import LANE_OPS

    if esize == 8:
        _mul8(c, a, b)
    else:
        c.sse(LANE_OPS["mul"][esize], a, b)


def _accumulate(c: Ctx, m: str, esize: int, rd: int, product: int) -> int:
    from vmcli.translate.emit_x86 import LANE_OPS

    d = c.vget(rd)
    c.sse(LANE_OPS["add" if m == "mla" else "sub"][esize], d, product)
    return d


@rule("mla_v", "mls_v")
def _mla(c: Ctx) -> None:
    f, m = _f(c), _name(c)[:-2]
    esize, _, q = _arr(c)
    a, b = c.vget(f["Rn"]), c.vget(f["Rm"])
    _mul_lanes(c, esize, a, b)
    c.vput(f["Rd"], _accumulate(c, m, esize, f["Rd"], a), q)


def _element(c: Ctx, esize: int) -> int:
    """An xmm with the instruction's indexed element of Vm in every lane."""
    f = _f(c)
    if esize == 16:
        rm, index = f["Rm"], (f["H"] << 2) | (f["L"] << 1) | f["M"]
    elif esize == 32:
        rm, index = (f["M"] << 4) | f["Rm"], (f["H"] << 1) | f["L"]
    else:
        rm, index = (f["M"] << 4) | f["Rm"], f["H"]
    return _permute_x(c, [rm], [(0, index)] * (128 // esize), esize)


@rule("mul_elem_h", "mul_elem_s", "mla_elem_h", "mla_elem_s", "mls_elem_h", "mls_elem_s")
def _mul_elem(c: Ctx) -> None:
    f, m = _f(c), _name(c)[:3]
    esize, _, q = _arr(c)
    a = c.vget(f["Rn"])
    _mul_lanes(c, esize, a, _element(c, esize))
    if m != "mul":
        a = _accumulate(c, m, esize, f["Rd"], a)
    c.vput(f["Rd"], a, q)


@rule("fmul_elem")
def _fmul_elem(c: Ctx) -> None:
    f = _f(c)
    double = _fdouble(c)
    a = c.vget(f["Rn"])
    c.vput(f["Rd"], _fbinary(c, "fmul", double, a, _element(c, 64 if double else 32)), bool(f["Q"]))


@rule("saddw_v", "uaddw_v", "ssubw_v", "usubw_v")
def _wide(c: Ctx) -> None:
    """Vd.<2T> = Vn.<2T> +/- the widened low (or, '2', high) half of Vm."""
    from vmcli.translate.emit_x86 import LANE_OPS

    f, m = _f(c), _name(c)[:-2]
    src = 8 << f["size"]
    a = c.vget(f["Rn"])
    b = _widened(c, f["Rm"], src, m[0] == "s", bool(f["Q"]))
    c.sse(LANE_OPS[m[1:4]][2 * src], a, b)
    c.vput(f["Rd"], a, True)


@rule("addp_s")
def _addp_s(c: Ctx) -> None:
    f = _f(c)
    a = c.vget(f["Rn"])
    t = c.vtmp()
    c.vcopy(t, a)
    c.vbytes_shift(True, t, 8)
    c.sse("paddq", a, t)
    c.vput(f["Rd"], a, False)


@rule("faddp_s")
def _faddp_s(c: Ctx) -> None:
    """Lane 0 + lane 1 (in that operand order, for the NaN rule); an S or D result."""
    f = _f(c)
    double = bool(f["sz"])
    a = c.vget(f["Rn"])
    b = c.vtmp()
    c.vcopy(b, a)
    c.vbytes_shift(True, b, 8 if double else 4)
    _fput_scalar(c, f["Rd"], _fbinary(c, "fadd", double, a, b), double)


# ---- fused multiply-add (single precision) -----------------------------------------------------------
#
# SSE4.1 has no FMA. For single precision the fused result is still exact: n*m is exact in double
# precision, the sum s = RN(n*m + a) and its error e (TwoSum) are exact, and rounding s to odd
# (truncate, set the last bit when e != 0) before the one rounding to single gives the correctly
# rounded fused result (53 >= 2*24 + 2 bits). NaNs follow FPMulAdd: signalling before quiet, addend
# before the factors, and a quiet NaN addend with inf * 0 gives the default NaN. Double precision
# would need 106-bit products: fmadd/fmla on doubles stay unsupported.

def _fma_half(c: Ctx, a: int, n: int, m: int, high: bool) -> int:
    """Two lanes (low or high half) of a + n*m, rounded once to single, in the low half of an xmm."""
    regs = []
    for x in (a, n, m):
        t = c.vtmp()
        if high:
            c.sse("pshufd", t, x, imm=0xEE)
            c.sse("cvtps2pd", t, t)
        else:
            c.sse("cvtps2pd", t, x)
        regs.append(t)
    da, dn, dm = regs
    c.sse("mulpd", dn, dm)                 # p = n*m, exact
    s = c.vtmp()
    c.vcopy(s, dn)
    c.sse("addpd", s, da)                  # s = RN(p + a)
    bb = c.vtmp()                          # TwoSum: e = (p - (s - bb)) + (a - bb), bb = s - p
    c.vcopy(bb, s)
    c.sse("subpd", bb, dn)
    c.vcopy(dm, s)
    c.sse("subpd", dm, bb)
    c.sse("subpd", dn, dm)
    c.sse("subpd", da, bb)
    c.sse("addpd", dn, da)
    e = dn
    inexact, ordered = da, dm              # e != 0 and not NaN (s infinite or NaN: left alone)
    c.sse("pxor", bb, bb)
    c.vcopy(inexact, e)
    c.sse("cmppd", inexact, bb, imm=4)
    c.vcopy(ordered, e)
    c.sse("cmppd", ordered, e, imm=7)
    c.sse("pand", inexact, ordered)
    away = ordered                         # s was rounded away from zero: sign(e) != sign(s)
    c.vcopy(away, e)
    c.sse("pxor", away, s)
    _sign_mask(c, away, 64)
    c.sse("pand", away, inexact)
    c.sse("paddq", s, away)                # s - 1 ulp (away is all ones = -1 in those lanes)
    one = c.vconst(_lane_const(1, 64), into=bb)
    c.sse("pand", inexact, one)
    c.sse("por", s, inexact)               # set the last bit where inexact: s rounded to odd
    c.sse("cvtpd2ps", e, s)
    c.vrelease(da, dm, bb, s)
    return e


def _fma_nan(c: Ctx, a: int, n: int, m: int) -> int:
    """Per lane: FPMulAdd's NaN result for addend a and factors n, m (single precision)."""
    v = _fconst(c, False, 0x7FC00000, 0)
    qbit = _fconst(c, False, 0x00400000, 0)
    q = c.vtmp()
    for x in (m, n, a):                    # quiet NaNs, lowest priority first
        c.vcopy(q, x)
        c.sse("por", q, qbit)
        nan = _isnan(c, x, False)
        c.vselect(nan, q, v)
        c.vrelease(nan)
    for x in (m, n, a):                    # then signalling NaNs
        c.vcopy(q, x)
        c.sse("por", q, qbit)
        nan = _isnan(c, x, False)
        snan = _issnan(c, x, nan, False)
        c.vselect(snan, q, v)
        c.vrelease(nan, snan)
    c.vrelease(q, qbit)
    # a quiet NaN addend with inf * 0 (either order): the default NaN
    absmask = c.vconst(_lane_const(0x7FFFFFFF, 32))
    inf = c.vconst(_lane_const(0x7F800000, 32))
    flags = []
    for x in (n, m):
        t = c.vtmp()
        c.vcopy(t, x)
        c.sse("pand", t, absmask)
        z = c.vtmp()
        c.sse("pxor", z, z)
        c.sse("pcmpeqd", z, t)             # zero
        c.sse("pcmpeqd", t, inf)           # infinite
        flags.append((t, z))
    c.vrelease(absmask, inf)
    (inf_n, zero_n), (inf_m, zero_m) = flags
    c.sse("pand", inf_n, zero_m)
    c.sse("pand", zero_n, inf_m)
    c.sse("por", inf_n, zero_n)
    c.vrelease(zero_n, inf_m, zero_m)
    nan = _isnan(c, a, False)
    quiet_a = _issnan(c, a, nan, False)
    c.sse("pandn", quiet_a, nan)           # a is a NaN and not signalling
    c.sse("pand", inf_n, quiet_a)
    c.vrelease(nan, quiet_a)
    dnan = _fconst(c, False, 0x7FC00000, 0)
    c.vselect(inf_n, dnan, v)
    c.vrelease(inf_n, dnan)
    return v


def _fma(c: Ctx, a: int, n: int, m: int, q: bool) -> int:
    lo = _fma_half(c, a, n, m, False)
    if q:
        hi = _fma_half(c, a, n, m, True)
        c.sse("punpcklqdq", lo, hi)
        c.vrelease(hi)
    nan = _isnan(c, lo, False)
    _fix_nans(c, nan, False, lambda: _fma_nan(c, a, n, m), lo)
    return lo


def _negate(c: Ctx, x: int) -> None:
    c.sse("pxor", x, c.vconst(_lane_const(0x80000000, 32)))


@rule("fmadd_s", "fmsub_s", "fnmadd_s", "fnmsub_s")
def _fmadd_s(c: Ctx) -> None:
    """fmadd a + n*m; fmsub a - n*m; fnmadd -a - n*m; fnmsub -a + n*m (the negations are applied
    to the operands first, NaNs included, as FPMulAdd's callers do)."""
    f, m = _f(c), _name(c)[:-2]
    a, n, mm = c.vget(f["Ra"]), c.vget(f["Rn"]), c.vget(f["Rm"])
    if m in ("fmsub", "fnmadd"):
        _negate(c, n)
    if m in ("fnmadd", "fnmsub"):
        _negate(c, a)
    _fput_scalar(c, f["Rd"], _fma(c, a, n, mm, False), False)


@rule("fmla_v", "fmls_v", "fmla_elem", "fmls_elem")
def _fmla(c: Ctx) -> None:
    f = _f(c)
    q = bool(f["Q"])
    d, n = c.vget(f["Rd"]), c.vget(f["Rn"])
    mm = _element(c, 32) if _name(c).endswith("elem") else c.vget(f["Rm"])
    if _name(c).startswith("fmls"):
        _negate(c, n)
    c.vput(f["Rd"], _fma(c, d, n, mm, q), q)


# ---- unsigned conversions --------------------------------------------------------------------------

def _cvtsi(c: Ctx, double: bool, x: int, r: int) -> None:
    """x = (float) r as a signed 64-bit integer (cvtsi2ss/sd), x cleared first."""
    from vmcli.translate.encode_x86 import encode_modrm

    c.sse("pxor", x, x)
    c(encode_modrm(b"\x0f\x2a", x, r, True, prefix=b"\xf2" if double else b"\xf3"))


@rule("ucvtf_s")
def _ucvtf_s(c: Ctx) -> None:
    """A W source is exact as a signed 64-bit value. An X source with the top bit set converts
    (x >> 1 | x & 1) and doubles it: the kept lowest bit makes the one rounding come out right."""
    f = _f(c)
    sf, double = bool(f["sf"]), f["ftype"] == 1
    r = c.get(f["Rn"], sf)
    x = c.vtmp()
    if not sf:
        _cvtsi(c, double, x, r)
    else:
        half, low = c.tmp(), c.tmp()
        c.mov(True, half, r)
        c.shift("shr", True, half, 1)
        c.mov(True, low, r)
        c.alu_imm("and", True, low, 1)
        c.alu("or", True, half, low)
        c.test(True, r, r)
        c.cmov("s", True, r, half)         # top bit set: convert the halved value
        _cvtsi(c, double, x, r)
        t = c.vtmp()
        c.vcopy(t, x)
        c.sse("addpd" if double else "addps", t, x)
        mask = c.vtmp()                    # where the top bit was set, take the doubled value
        c.get(f["Rn"], sf, into=half)
        c.shift("sar", True, half, 63)
        c.sse("movd_in", mask, half, w=True)
        c.vselect(mask, t, x)
    c.vput(f["Rd"], x, True)


@rule("fcvtzu_s")
def _fcvtzu_s(c: Ctx) -> None:
    """Truncate to unsigned with AArch64's saturation: NaN and negatives give 0, too large gives
    all ones. Values from 2^63 convert as (x - 2^63) with the top bit set back."""
    from vmcli.translate.encode_x86 import encode_modrm

    f = _f(c)
    sf, double = bool(f["sf"]), f["ftype"] == 1
    cvt = (b"\xf2" if double else b"\xf3")
    a = c.vget(f["Rn"])
    r, zero, ones = c.tmp(), c.tmp(), c.tmp()
    c(encode_modrm(b"\x0f\x2c", r, a, True, prefix=cvt))          # cvtts?2si r64
    c.mov_imm(zero, 0)
    c.mov_imm(ones, (1 << 64) - 1 if sf else 0xFFFFFFFF)
    c.test(True, r, r)
    c.cmov("s", True, r, zero)                                       # negative, NaN, >= 2^63
    if sf:
        big = c.vconst(0x43E0000000000000 if double else 0x5F000000)  # 2^63
        t = c.vtmp()
        c.vcopy(t, a)
        c.sse("subpd" if double else "subps", t, big)                # scalar lane 0 only matters
        r2 = c.tmp()
        c(encode_modrm(b"\x0f\x2c", r2, t, True, prefix=cvt))
        k = c.tmp()
        c.mov_imm(k, 1 << 63)
        c.alu("xor", True, r2, k)
        _ucomi(c, double, a, big)
        c.cmov("ae", True, r, r2)
        top = c.vconst(0x43F0000000000000 if double else 0x5F800000)  # 2^64
    else:
        top = c.vconst(0x41F0000000000000 if double else 0x4F800000)  # 2^32
    _ucomi(c, double, a, top)
    c.cmov("ae", True, r, ones)
    c.put(f["Rd"], r, sf)


# ---- fmaxnm/fminnm, frinta ---------------------------------------------------------------------------

def _fmaxnm(c: Ctx, m: str, double: bool, a: int, b: int) -> int:
    """A quiet NaN facing a number is replaced by that number, then it is fmax/fmin: signalling
    NaNs and two quiet NaNs still propagate by the NaN rule (FPMaxNum/FPMinNum)."""
    na, nb = _isnan(c, a, double), _isnan(c, b, double)
    qa = _issnan(c, a, na, double)
    c.sse("pandn", qa, na)                 # a is a quiet NaN
    qb = _issnan(c, b, nb, double)
    c.sse("pandn", qb, nb)                 # b is a quiet NaN
    c.sse("pandn", nb, qa)                 # a quiet NaN, b not a NaN
    c.sse("pandn", na, qb)                 # b quiet NaN, a not a NaN
    a2 = c.vtmp()
    c.vcopy(a2, a)
    c.vselect(nb, b, a2)
    c.vselect(na, a, b)
    c.vrelease(na, nb, qa, qb)
    return _fbinary(c, "fmax" if m == "fmaxnm" else "fmin", double, a2, b)


@rule("fmaxnm_v", "fminnm_v")
def _fmaxnm_v(c: Ctx) -> None:
    f = _f(c)
    a, b = c.vget(f["Rn"]), c.vget(f["Rm"])
    c.vput(f["Rd"], _fmaxnm(c, _name(c)[:-2], _fdouble(c), a, b), bool(f["Q"]))


@rule("fmaxnm_s", "fminnm_s")
def _fmaxnm_s(c: Ctx) -> None:
    f, double = _f(c), _sdouble(c)
    a, b = c.vget(f["Rn"]), c.vget(f["Rm"])
    _fput_scalar(c, f["Rd"], _fmaxnm(c, _name(c)[:-2], double, a, b), double)


def _frinta(c: Ctx, double: bool, a: int) -> int:
    """Round half away from zero: t = trunc(x); x - t is exact; |x - t| >= 0.5 moves t one away."""
    from vmcli.translate.encode_x86 import encode_modrm

    t = c.vtmp()
    c(encode_modrm(b"\x0f\x3a\x09" if double else b"\x0f\x3a\x08", t, a, prefix=b"\x66", imm=bytes([3])))
    d = c.vtmp()
    c.vcopy(d, a)
    c.sse("subpd" if double else "subps", d, t)
    c.sse("pand", d, _fconst(c, double, 0x7FFFFFFF, (1 << 63) - 1))
    half = _fconst(c, double, 0x3F000000, 0x3FE0000000000000)
    c.sse("cmppd" if double else "cmpps", half, d, imm=2)          # 0.5 <= |x - t| (false for NaN)
    one = _fconst(c, double, 0x3F800000, 0x3FF0000000000000)
    sign = c.vtmp()
    c.vcopy(sign, a)
    c.sse("pand", sign, _fconst(c, double, 0x80000000, 1 << 63))
    c.sse("por", one, sign)                                         # +-1 with x's sign
    c.sse("addpd" if double else "addps", one, t)
    c.vselect(half, one, t)                                         # (t alone keeps a -0)
    _fix_nans(c, _isnan(c, a, double), double, lambda: _nan_choice(c, a, None, double), t)
    return t


@rule("frinta_v")
def _frinta_v(c: Ctx) -> None:
    f = _f(c)
    c.vput(f["Rd"], _frinta(c, _fdouble(c), c.vget(f["Rn"])), bool(f["Q"]))


@rule("frinta_s")
def _frinta_s(c: Ctx) -> None:
    f, double = _f(c), _sdouble(c)
    _fput_scalar(c, f["Rd"], _frinta(c, double, c.vget(f["Rn"])), double)


# ---- ld2..ld4 / st2..st4 ---------------------------------------------------------------------------
#
# Memory element k belongs to register k % N, lane k // N. The memory is moved in 16-byte chunks
# (8 for a trailing half) and every register, or every chunk, is gathered with one pshufb per
# source.

STRUCT_NAMES = [f"{m}{n}_{k}" for m in ("ld", "st") for n in (2, 3, 4) for k in ("v", "post")]


def _gather(c: Ctx, sources: list[int], table: list[tuple[int, int] | None]) -> int:
    """An xmm whose byte i is byte table[i][1] of xmm sources[table[i][0]] (0 for None)."""
    out = _zero(c)
    for s, x in enumerate(sources):
        index = [0x80 if t is None or t[0] != s else t[1] for t in table]
        if all(i == 0x80 for i in index):
            continue
        t = c.vtmp()
        c.vcopy(t, x)
        k = c.vconst(int.from_bytes(bytes(index), "little"))
        c.sse("pshufb", t, k)
        c.sse("por", out, t)
        c.vrelease(t, k)
    return out


@rule(*STRUCT_NAMES)
def _structures(c: Ctx) -> None:
    f = _f(c)
    name = _name(c)
    n = int(name[2])
    esize, lanes, q = _arr(c)
    eb, rbytes = esize // 8, 16 if q else 8
    total = n * rbytes
    base = c.get(f["Rn"], True, sp=True)
    chunks = [(off, min(16, total - off)) for off in range(0, total, 16)]
    if name.startswith("ld"):
        xs = []
        for off, size in chunks:
            x = c.vtmp()
            _vload(c, x, Mem(base, -1, 1, off, size), size)
            xs.append(x)
        for r in range(n):
            table: list[tuple[int, int] | None] = []
            for e in range(lanes):
                g = (e * n + r) * eb
                table += [(g // 16, g % 16 + i) for i in range(eb)]
            table += [None] * (16 - len(table))
            out = _gather(c, xs, table)
            c.vput((f["Rt"] + r) % 32, out, q)
            c.vrelease(out)
    else:
        regs = [c.vget((f["Rt"] + r) % 32) for r in range(n)]
        for off, size in chunks:
            table = []
            for j in range(16):
                g = off + j
                k = g // eb
                table.append((k % n, (k // n) * eb + g % eb) if j < size else None)
            out = _gather(c, regs, table)
            _vstore(c, out, Mem(base, -1, 1, off, size), size)
            c.vrelease(out)
    if name.endswith("post"):
        _post_increment(c, f, base, total)


# ---- one lane, saturating narrows --------------------------------------------------------------------

LANE_NAMES = [f"{m}_lane_{e}{p}" for m in ("ld1", "st1") for e in "bhsd" for p in ("", "_post")]


def lane_index(f: dict[str, int], e: str) -> int:
    q, s = f["Q"], f.get("S", 0)
    return {"b": (q << 3) | (s << 2) | f.get("size", 0), "h": (q << 2) | (s << 1) | f.get("sz1", 0),
            "s": (q << 1) | s, "d": q}[e]


@rule(*LANE_NAMES)
def _ld1_lane(c: Ctx) -> None:
    """One element between memory and lane i of Vt (the other lanes are kept)."""
    from vmcli.translate.encode_x86 import encode_modrm

    f, name = _f(c), _name(c)
    e = name.split("_")[2]
    esize = _ESIZE[e]
    index = lane_index(f, e)
    base = c.get(f["Rn"], True, sp=True)
    mem = Mem(base, -1, 1, 0, esize // 8)
    x = c.vget(f["Rt"])
    r = c.tmp()
    if name.startswith("ld1"):
        c.load(r, mem, esize // 8)
        c(encode_modrm(_PINSR[esize], x, r, esize == 64, prefix=b"\x66", imm=bytes([index])))
        c.vput(f["Rt"], x, True)
    else:
        c(encode_modrm(_PEXTR[esize], x, r, esize == 64, prefix=b"\x66", imm=bytes([index])))
        c.store(mem, r, esize // 8)
    if name.endswith("post"):
        _post_increment(c, f, base, esize // 8)


@rule("sqxtn_v", "uqxtn_v", "sqxtun_v")
def _qxtn(c: Ctx) -> None:
    """packss (signed), packus (signed to unsigned), or pminu then packus (unsigned); the '2' form
    writes the upper half of Vd and keeps the lower."""
    from vmcli.translate.encode_x86 import encode_modrm

    f, m = _f(c), _name(c)[:-2]
    esize, _, q = _arr(c)                  # the narrow lanes
    x = c.vget(f["Rn"])
    if m == "uqxtn":
        limit = c.vconst(_lane_const((1 << esize) - 1, 2 * esize))
        c.sse("pminuw" if esize == 8 else "pminud", x, limit)
    if m == "sqxtn":
        c(encode_modrm(b"\x0f\x63" if esize == 8 else b"\x0f\x6b", x, x, prefix=b"\x66"))   # packsswb/dw
    elif esize == 8:
        c(encode_modrm(b"\x0f\x67", x, x, prefix=b"\x66"))                                     # packuswb
    else:
        c(encode_modrm(b"\x0f\x38\x2b", x, x, prefix=b"\x66"))                                # packusdw
    if q:
        d = c.vget(f["Rd"])
        c.sse("punpcklqdq", d, x)
        x = d
    c.vput(f["Rd"], x, q)


# ---- absolute differences, halving adds, more float compares, long reductions -----------------------

@rule("uabd_v", "sabd_v", "uaba_v", "saba_v")
def _abd(c: Ctx) -> None:
    """|n - m| = max - min (signed or unsigned), as an unsigned lane; uaba/saba add it to Vd."""
    from vmcli.translate.emit_x86 import LANE_OPS

    f, m = _f(c), _name(c)[:-2]
    esize, _, q = _arr(c)
    kind = "s" if m[0] == "s" else "u"
    a, b = c.vget(f["Rn"]), c.vget(f["Rm"])
    hi = c.vtmp()
    c.vcopy(hi, a)
    c.sse(LANE_OPS[kind + "max"][esize], hi, b)
    c.sse(LANE_OPS[kind + "min"][esize], a, b)
    c.sse(LANE_OPS["sub"][esize], hi, a)
    if m.endswith("a"):
        hi = _accumulate(c, "mla", esize, f["Rd"], hi)
    c.vput(f["Rd"], hi, q)


@rule("uhadd_v", "shadd_v", "urhadd_v", "srhadd_v")
def _hadd(c: Ctx) -> None:
    """(n + m) >> 1 without the carry: (n & m) + ((n ^ m) >> 1); rounding: (n | m) - ((n ^ m) >> 1)."""
    from vmcli.translate.emit_x86 import LANE_OPS

    f, m = _f(c), _name(c)[:-2]
    esize, _, q = _arr(c)
    a, b = c.vget(f["Rn"]), c.vget(f["Rm"])
    x = c.vtmp()
    c.vcopy(x, a)
    c.sse("pxor", x, b)
    _shr_lanes(c, x, esize, 1, m[0] == "s")
    rounding = m[1] == "r"
    c.sse("por" if rounding else "pand", a, b)
    c.sse(LANE_OPS["sub" if rounding else "add"][esize], a, x)
    c.vput(f["Rd"], a, q)


@rule("fabd_v")
def _fabd_v(c: Ctx) -> None:
    """|n - m| with FPAbs clearing the sign of a NaN result too."""
    f = _f(c)
    double = _fdouble(c)
    r = _fbinary(c, "fsub", double, c.vget(f["Rn"]), c.vget(f["Rm"]))
    c.sse("pand", r, _fconst(c, double, 0x7FFFFFFF, (1 << 63) - 1))
    c.vput(f["Rd"], r, bool(f["Q"]))


@rule("fabd_s")
def _fabd_s(c: Ctx) -> None:
    f = _f(c)
    double = f["sz"] == 1
    r = _fbinary(c, "fsub", double, c.vget(f["Rn"]), c.vget(f["Rm"]))
    c.sse("pand", r, _fconst(c, double, 0x7FFFFFFF, (1 << 63) - 1))
    _fput_scalar(c, f["Rd"], r, double)


@rule("fnmul_s")
def _fnmul_s(c: Ctx) -> None:
    """-(n * m): the negation applies to the result, NaN included."""
    f, double = _f(c), _sdouble(c)
    r = _fbinary(c, "fmul", double, c.vget(f["Rn"]), c.vget(f["Rm"]))
    c.sse("pxor", r, _fconst(c, double, 0x80000000, 1 << 63))
    _fput_scalar(c, f["Rd"], r, double)


@rule("facge_v", "facgt_v", "fcmgt0_v", "fcmeq0_v", "fcmlt0_v", "fcmge0_v", "fcmle0_v")
def _fcmp_more(c: Ctx) -> None:
    """Compares with zero, and of magnitudes (facge |n| >= |m|); false where a NaN is involved."""
    f, m = _f(c), _name(c)[:-2]
    double = _fdouble(c)
    op = "cmppd" if double else "cmpps"
    a = c.vget(f["Rn"])
    if m.startswith("fac"):
        absmask = _fconst(c, double, 0x7FFFFFFF, (1 << 63) - 1)
        b = c.vget(f["Rm"])
        c.sse("pand", a, absmask)
        c.sse("pand", b, absmask)
    else:
        b = _zero(c)
    # n > m is m < n; n >= m is m <= n; n == 0; n < 0; n <= 0
    pred, swap = {"facge": (2, True), "facgt": (1, True), "fcmgt0": (1, True), "fcmge0": (2, True),
                  "fcmeq0": (0, False), "fcmlt0": (1, False), "fcmle0": (2, False)}[m]
    x, y = (b, a) if swap else (a, b)
    c.sse(op, x, y, imm=pred)
    c.vput(f["Rd"], x, bool(f["Q"]))


@rule("uaddlv_v", "saddlv_v")
def _addlv(c: Ctx) -> None:
    """Sum of all lanes, widened to twice the lane size (the sum always fits)."""
    from vmcli.translate.emit_x86 import LANE_OPS

    f = _f(c)
    esize, n, q = _arr(c)
    signed = _name(c).startswith("s")
    lo = _widened(c, f["Rn"], esize, signed, False)
    wide = 2 * esize
    add = LANE_OPS["add"][wide]
    if q:
        hi = _widened(c, f["Rn"], esize, signed, True)
        c.sse(add, lo, hi)
    lanes = n // 2 if q else n           # wide lanes holding partial sums
    t = c.vtmp()
    width = lanes * wide // 8
    while width > wide // 8:
        width //= 2
        c.vcopy(t, lo)
        c.vbytes_shift(True, t, width)
        c.sse(add, lo, t)
    c.sse("pand", lo, c.vconst((1 << wide) - 1))
    c.vput(f["Rd"], lo, True)


# ---- leading zeros / sign bits per lane ---------------------------------------------------------------

def _clz_lanes(c: Ctx, x: int, esize: int) -> int:
    """Leading zeros of every lane: nibbles through a pshufb table, then byte and halfword results
    combined upwards (the high part's count, or its width plus the low part's when it is zero)."""
    from vmcli.translate.emit_x86 import LANE_OPS

    def const(value: int) -> int:
        k = c.vconst(value)
        consts.append(k)
        return k

    consts: list[int] = []
    lut = c.vconst(int.from_bytes(bytes([4, 3, 2, 2, 1, 1, 1, 1] + [0] * 8), "little"))
    low = const(_lane_const(0x0F, 8))
    hi, lo = c.vtmp(), c.vtmp()
    c.vcopy(hi, x)
    c.vshift("psrl", 16, hi, 4)
    c.sse("pand", hi, low)
    c.vcopy(lo, x)
    c.sse("pand", lo, low)
    r = c.vtmp()
    c.vcopy(r, lut)
    c.sse("pshufb", r, hi)                 # clz of the high nibble
    c.sse("pshufb", lut, lo)               # clz of the low nibble
    c.sse("paddb", lut, const(_lane_const(4, 8)))
    zero = _zero(c)
    c.sse("pcmpeqb", hi, zero)
    c.vselect(hi, lut, r)                  # per byte
    c.vrelease(lut, hi, lo, *consts)
    consts.clear()
    width = 8
    while width < esize:
        width *= 2
        half = width // 2
        top = c.vtmp()                     # the upper half of each lane is zero?
        c.vcopy(top, x)
        c.sse("pand", top, const(_lane_const(((1 << half) - 1) << half, width)))
        c.sse(LANE_OPS["cmeq"][width], top, zero)
        upper = c.vtmp()
        c.vcopy(upper, r)
        c.vshift("psrl", width, upper, half)
        c.sse("pand", r, const(_lane_const((1 << half) - 1, width)))
        c.sse(LANE_OPS["add"][width], r, const(_lane_const(half, width)))
        c.vselect(top, r, upper)
        c.vrelease(top, r, *consts)
        consts.clear()
        r = upper
    c.vrelease(zero)
    return r


@rule("clz_v", "cls_v")
def _vclz(c: Ctx) -> None:
    """cls(x) = clz(x ^ (x asr 1)) - 1."""
    from vmcli.translate.emit_x86 import LANE_OPS

    f = _f(c)
    esize, _, q = _arr(c)
    x = c.vget(f["Rn"])
    if _name(c) == "cls_v":
        t = c.vtmp()
        c.vcopy(t, x)
        _shr_lanes(c, t, esize, 1, True)
        c.sse("pxor", x, t)
    r = _clz_lanes(c, x, esize)
    if _name(c) == "cls_v":
        c.sse(LANE_OPS["sub"][esize], r, c.vconst(_lane_const(1, esize)))
    c.vput(f["Rd"], r, q)


@rule("ucvtf_v")
def _ucvtf_v(c: Ctx) -> None:
    """Unsigned 32-bit lanes: (float) hi16 * 65536 and (float) lo16 are exact; their sum rounds once."""
    f = _f(c)
    x = c.vget(f["Rn"])
    lo = c.vtmp()
    c.vcopy(lo, x)
    c.sse("pand", lo, c.vconst(_lane_const(0xFFFF, 32)))
    c.vshift("psrl", 32, x, 16)
    c.sse("cvtdq2ps", x, x)
    c.sse("mulps", x, c.vconst(_lane_const(0x47800000, 32)))       # 65536.0
    c.sse("cvtdq2ps", lo, lo)
    c.sse("addps", x, lo)
    c.vput(f["Rd"], x, bool(f["Q"]))


@rule("fcvtzu_v")
def _fcvtzu_v(c: Ctx) -> None:
    """Truncate to unsigned 32-bit lanes: below 2^31 cvttps2dq is exact; from 2^31 convert x - 2^31
    and set the top bit; from 2^32 all ones; NaN and negatives 0."""
    f = _f(c)
    x = c.vget(f["Rn"])
    r = c.vtmp()
    c.sse("cvttps2dq", r, x)
    two31 = c.vconst(_lane_const(0x4F000000, 32))
    t = c.vtmp()
    c.vcopy(t, x)
    c.sse("subps", t, two31)
    c.sse("cvttps2dq", t, t)
    c.sse("pxor", t, c.vconst(_lane_const(0x80000000, 32)))
    c.sse("cmpps", two31, x, imm=2)                                 # 2^31 <= x
    c.vselect(two31, t, r)
    two32 = c.vconst(_lane_const(0x4F800000, 32))
    c.sse("cmpps", two32, x, imm=2)                                 # 2^32 <= x: all ones
    c.sse("por", r, two32)
    ok = _zero(c)
    c.sse("cmpps", ok, x, imm=2)                                    # 0 <= x (false for NaN)
    c.sse("pand", r, ok)
    c.vput(f["Rd"], r, bool(f["Q"]))
