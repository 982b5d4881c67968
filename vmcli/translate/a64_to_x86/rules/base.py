"""The base group: integer data processing, loads and stores, barriers, the flags register.

Every rule loads the guest registers it reads from the env block (Ctx.get), computes with x86
integer instructions of the same width (a W operation is a 32-bit x86 operation, which
zero-extends as AArch64 does) and stores what it writes. Flags: the x86 add/sub/and's flags
are NZCV in the host flags' form after Ctx.nzcv_set; conditions read them through Ctx.flags and
COND_CC.
"""

from __future__ import annotations

from vmcli.translate.a64_to_x86.builder import COND_CC, Ctx
from vmcli.translate.a64_to_x86.host import nzcv_word
from vmcli.translate.a64_to_x86.rules.common import EXTEND, address
from vmcli.translate.a64_to_x86.rules.table import RULES as rule
from vmcli.translate.isa.a64.conditions import COND
from vmcli.translate.isa.a64.encodings import logic_imm_value, sext
from vmcli.translate.isa.x86.decoder import Mem
from vmcli.translate.isa.x86.encoder import encode_modrm
from vmcli.translate.isa.x86.registers import RAX, RCX, RDX


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
    f, sf, name = c.fields, c.sf, c.name
    flags, sub = name[3] == "s", name.startswith("sub")
    a = c.get(f["Rn"], sf, sp=True)
    c.alu_imm("sub" if sub else "add", sf, a, f["imm12"] << (12 * f["sh"]))
    if flags:
        c.nzcv_set("sub" if sub else "add")
    c.put(f["Rd"], a, sf, sp=not flags)


@rule("add_sreg", "adds_sreg", "sub_sreg", "subs_sreg")
def _addsub_sreg(c: Ctx) -> None:
    f, sf, name = c.fields, c.sf, c.name
    flags, sub = name[3] == "s", name.startswith("sub")
    a = c.get(f["Rn"], sf)
    b = _shifted_rm(c, f, sf)
    c.alu("sub" if sub else "add", sf, a, b)
    if flags:
        c.nzcv_set("sub" if sub else "add")
    c.put(f["Rd"], a, sf)


@rule("add_ereg", "adds_ereg", "sub_ereg", "subs_ereg")
def _addsub_ereg(c: Ctx) -> None:
    f, sf, name = c.fields, c.sf, c.name
    flags, sub = name[3] == "s", name.startswith("sub")
    a = c.get(f["Rn"], sf, sp=True)
    b = c.get(f["Rm"], True)
    size, signed = EXTEND[f["option"]]
    c.extend(b, b, size, signed)
    c.shift("shl", True, b, f["imm3"])
    c.alu("sub" if sub else "add", sf, a, b)
    if flags:
        c.nzcv_set("sub" if sub else "add")
    c.put(f["Rd"], a, sf, sp=not flags)


@rule("adc", "adcs", "sbc", "sbcs")
def _adc(c: Ctx) -> None:
    f, sf, name = c.fields, c.sf, c.name
    sub = name.startswith("sbc")
    a = c.get(f["Rn"], sf)
    b = c.get(f["Rm"], sf)
    c.flags()                     # CF = NOT C: the borrow sbb subtracts
    if not sub:
        c.cmc()                   # CF = C for adc
    c.alu("sbb" if sub else "adc", sf, a, b)
    if name.endswith("s"):
        c.nzcv_set("sub" if sub else "add")
    c.put(f["Rd"], a, sf)


# ---- logic ---------------------------------------------------------------------------------------

_LOGIC = {"and": "and", "orr": "or", "eor": "xor", "ands": "and", "bic": "and", "orn": "or", "eon": "xor",
          "bics": "and"}


@rule("and_limm", "orr_limm", "eor_limm", "ands_limm")
def _logic_imm(c: Ctx) -> None:
    f, sf, name = c.fields, c.sf, c.name
    m = name.removesuffix("_limm")
    value = logic_imm_value(f, _bits(sf))
    assert value is not None
    a = c.get(f["Rn"], sf)
    _alu_const(c, _LOGIC[m], sf, a, value)
    if m == "ands":
        c.nzcv_set("logic")
    c.put(f["Rd"], a, sf, sp=m != "ands")


@rule("and_sreg", "bic_sreg", "orr_sreg", "orn_sreg", "eor_sreg", "eon_sreg", "ands_sreg", "bics_sreg")
def _logic_sreg(c: Ctx) -> None:
    f, sf, name = c.fields, c.sf, c.name
    m = name.removesuffix("_sreg")
    a = c.get(f["Rn"], sf)
    b = _shifted_rm(c, f, sf)
    if m in ("bic", "orn", "eon", "bics"):
        c.unary("not", sf, b)
    c.alu(_LOGIC[m], sf, a, b)
    if m in ("ands", "bics"):
        c.nzcv_set("logic")
    c.put(f["Rd"], a, sf)


# ---- moves, bitfields ----------------------------------------------------------------------------

@rule("movz", "movn", "movk")
def _movw(c: Ctx) -> None:
    f, sf, name = c.fields, c.sf, c.name
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
    f, sf, name = c.fields, c.sf, c.name
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
    f, sf = c.fields, c.sf
    lo = c.get(f["Rm"], sf)
    hi = c.get(f["Rn"], sf)
    if f["imms"]:
        c.shrd(sf, lo, hi, f["imms"])
    c.put(f["Rd"], lo, sf)


@rule("adr", "adrp")
def _adr(c: Ctx) -> None:
    f = c.fields
    imm = sext((f["immhi"] << 2) | f["immlo"], 21)
    pc = c.pc
    page = c.name == "adrp"
    value = (pc & ~0xFFF) + (imm << 12) if page else pc + imm
    r = c.tmp()
    c.mov_addr(r, value, page)
    c.put(f["Rd"], r, True)


# ---- conditional select / compare ----------------------------------------------------------------

@rule("csel", "csinc", "csinv", "csneg")
def _csel(c: Ctx) -> None:
    f, sf, name = c.fields, c.sf, c.name
    cond = COND[f["cond"]]
    if f["Rn"] == f["Rm"] == 31 and name in ("csinc", "csinv") and cond not in ("al", "nv"):
        # cset / csetm: 1 (or all ones) where the condition fails
        c.flags()
        r = c.tmp()
        c.setcc(COND_CC[COND[f["cond"] ^ 1]], r)
        c.extend(r, r, 1, False, w=False)
        if name == "csinv":
            c.unary("neg", sf, r)
        c.put(f["Rd"], r, sf)
        return
    c.take(RAX)                   # Ctx.flags needs it
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
        c.flags()
        c.cmov(COND_CC[cond], sf, m, n)
    c.put(f["Rd"], m, sf)


@rule("ccmn_reg", "ccmp_reg", "ccmn_imm", "ccmp_imm")
def _ccmp(c: Ctx) -> None:
    """Where the condition holds, NZCV from the comparison (ccmn: an addition), else the
    instruction's #nzcv (loaded into the host flags as the env slot's form would be)."""
    f, sf, name = c.fields, c.sf, c.name
    cond = COND[f["cond"]]
    add = name.startswith("ccmn")
    c.take(RAX)
    a = c.get(f["Rn"], sf)
    b = c.get(f["Rm"], sf) if name.endswith("reg") else None

    def compare() -> None:
        if b is None:
            c.alu_imm("add" if add else "cmp", sf, a, f["imm5"])
        else:
            c.alu("add" if add else "cmp", sf, a, b)
        if add:
            c.cmc()

    def otherwise() -> None:
        c.mov_imm(RAX, nzcv_word(f["nzcv"] << 28), w=False)
        c(b"\x04\x7f", b"\x9e")             # add al, 0x7f; sahf

    if cond in ("al", "nv"):
        compare()
    else:
        c.flags()
        c.if_else(COND_CC[cond], compare, otherwise)
    c.release(RAX)
    c.nzcv_written()


# ---- multiply / divide ----------------------------------------------------------------------------

@rule("madd", "msub", "smaddl", "smsubl", "umaddl", "umsubl")
def _madd(c: Ctx) -> None:
    f, sf, name = c.fields, c.sf, c.name
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
    f = c.fields
    c.take(RAX, RDX)
    c.get(f["Rn"], True, into=RAX)
    m = c.get(f["Rm"], True)
    c.unary("imul" if c.name == "smulh" else "mul", True, m)
    c.put(f["Rd"], RDX, True)


@rule("udiv", "sdiv")
def _div(c: Ctx) -> None:
    """x86 div faults on 0 (and idiv on INT_MIN / -1); AArch64 gives 0 (and INT_MIN): the divisor
    becomes 1 in those cases and the quotient is fixed up with cmov."""
    f, sf = c.fields, c.sf
    c.take(RAX, RDX)
    c.get(f["Rn"], sf, into=RAX)
    d = c.get(f["Rm"], sf)
    one = c.tmp()
    c.mov_imm(one, 1)
    if c.name == "udiv":
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
    f, sf = c.fields, c.sf
    c.take(RCX)
    x = c.get(f["Rn"], sf)
    c.get(f["Rm"], sf, into=RCX)
    c.shift_cl({"lslv": "shl", "lsrv": "shr", "asrv": "sar", "rorv": "ror"}[c.name], sf, x)
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
    f, sf = c.fields, c.sf
    x = c.get(f["Rn"], sf)
    c.bswap(sf, x)
    for mask, shift in ((0x0F0F0F0F0F0F0F0F, 4), (0x3333333333333333, 2), (0x5555555555555555, 1)):
        _swap(c, sf, x, mask, shift)
    c.put(f["Rd"], x, sf)


@rule("rev16")
def _rev16(c: Ctx) -> None:
    f, sf = c.fields, c.sf
    x = c.get(f["Rn"], sf)
    _swap(c, sf, x, 0x00FF00FF00FF00FF, 8)
    c.put(f["Rd"], x, sf)


@rule("rev32", "rev_w", "rev_x")
def _rev(c: Ctx) -> None:
    f, sf = c.fields, c.sf
    x = c.get(f["Rn"], sf)
    c.bswap(sf, x)
    if c.name == "rev32":
        c.shift("ror", True, x, 32)
    c.put(f["Rd"], x, sf)


@rule("clz", "cls")
def _clz(c: Ctx) -> None:
    """clz = (bits-1) - bsr(x), with bsr(0) taken as -1; cls(x) = clz(x ^ (x asr 1)) - 1."""
    f, sf = c.fields, c.sf
    x = c.get(f["Rn"], sf)
    if c.name == "cls":
        t = c.tmp()
        c.mov(sf, t, x)
        c.shift("sar", sf, t, 1)
        c.alu("xor", sf, x, t)
    r, k = c.tmp(), c.tmp()
    c.mov_imm(k, -1, sf)
    c.bsr(sf, r, x)
    c.cmov("e", sf, r, k)
    c.unary("neg", sf, r)
    c.alu_imm("add", sf, r, _bits(sf) - (2 if c.name == "cls" else 1))
    c.put(f["Rd"], r, sf)


@rule("ldst_uimm", "ldst_unscaled", "ldst_pre", "ldst_post", "ldst_roff")
def _ldst(c: Ctx) -> None:
    f = c.fields
    size, opc = 1 << f["size"], f["opc"]
    mode = c.name.removeprefix("ldst_")
    addr, wb = address(c, f, mode, size)
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
    f = c.fields
    opc, load = f["opc"], f["L"]
    size = 8 if opc == 2 else 4
    off = sext(f["imm7"], 7) * size
    base = c.get(f["Rn"], True, sp=True)
    mode = c.name.removeprefix("ldstp_").replace("ldstnp", "off")
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
    f = c.fields
    size = 1 << f["size"]
    base = c.get(f["Rn"], True, sp=True)
    mem = Mem(base, -1, 1, 0, size)
    if c.name == "ldar":
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
    """mrs xt, nzcv reads N Z C V in bits 31:28 (the rest 0); msr keeps only those bits (made into
    the env slot's form: ah = N Z 0 0 0 0 1 NOT-C, al = V)."""
    f = c.fields
    if c.name == "mrs_nzcv":
        c.take(RAX)
        c.flags()
        c.release(RAX)
        c.put(f["Rt"], c.nzcv_value(True), True)
        return
    c.take(RAX)
    t = c.get(f["Rt"], False)
    c.shift("shr", False, t, 28)                    # N Z C V in bits 3:0
    k = c.tmp()
    c.mov(False, RAX, t)
    c.alu_imm("and", False, RAX, 1)                 # al = V
    c.mov(False, k, t)
    c.alu_imm("and", False, k, 0xC)
    c.shift("shl", False, k, 12)                    # N, Z at bits 15, 14
    c.alu("or", False, RAX, k)
    c.unary("not", False, t)
    c.alu_imm("and", False, t, 2)
    c.shift("shl", False, t, 7)                     # NOT C at bit 8
    c.alu("or", False, RAX, t)
    c.alu_imm("or", False, RAX, 0x200)
    c.nzcv_from_word()
    c.release(RAX)


@rule("nop", "prfm")
def _nop(c: Ctx) -> None:
    """No architectural effect (a prefetch is a hint): no code."""
