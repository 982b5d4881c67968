"""The base group: integer data processing, loads and stores, barriers, the flags register.

Every rule loads the guest registers it reads from the env block (Ctx.get), computes with x86
integer instructions of the same width (a W operation is a 32-bit x86 operation, which
zero-extends as AArch64 does) and stores what it writes. Flags: the x86 add/sub/and's flags
are NZCV in the host flags' form after Ctx.nzcv_set; conditions read them through Ctx.flags and
COND_CC.
"""

from __future__ import annotations

from vmcli.translate.a64_to_x86.builder import COND_CC, REL_TARGET, Ctx
from vmcli.translate.a64_to_x86.host import nzcv_word
from vmcli.translate.a64_to_x86.rules.common import EXTEND, address
from vmcli.translate.a64_to_x86.rules.table import RULES as rule
from vmcli.translate.isa.a64.conditions import COND
from vmcli.translate.isa.a64.encodings import logic_imm_value, sext
from vmcli.translate.isa.x86.decoder import Mem
from vmcli.translate.isa.x86.encoder import encode_modrm, encode_opreg
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
_COMMUTES = {"add", "and", "or", "xor"}

Operand = int | Mem | None          # Ctx.operand: a host register, an env slot, or xzr (0)


def _shifted_rm(c: Ctx, f: dict[str, int], sf: bool) -> Operand:
    """Rm shifted by the instruction's amount: Rm itself where the amount is 0."""
    if f["imm6"] == 0:
        return c.operand(f["Rm"], sf)
    m = c.get(f["Rm"], sf)
    c.shift(_SHIFT_OP[f["shift"]], sf, m, f["imm6"])
    return m


def _apply(c: Ctx, op: str, sf: bool, dst: int | Mem, src: Operand, imm: int | None) -> None:
    """dst op= src, or op= imm (which may need a register)."""
    if imm is None:
        if isinstance(dst, Mem) and isinstance(src, Mem):
            t = c.tmp()
            c.load(t, src, 8 if sf else 4)
            src = t
        c.alu_rm(op, sf, dst, src)
        return
    value = _const_operand(c, imm, sf)
    if value is None:
        t = c.tmp()
        c.mov_imm(t, imm, sf)
        c.alu_rm(op, sf, dst, t)
    elif isinstance(dst, Mem):
        c.alu_mem_imm(op, sf, dst, value)
    else:
        c.alu_imm(op, sf, dst, value)


def _compute(c: Ctx, op: str, sf: bool, d: int, n: Operand, m: Operand, imm: int | None = None,
             d_sp: bool = False) -> None:
    """Guest register d = n op m (or n op imm), with the x86 op's flags: in place where d is n,
    in d's host register where it has one, else in a scratch then stored."""
    h = c.host(d, d_sp)
    src = None if imm is not None else m
    if h is not None:
        if n == h and (imm is not None or m != h or op in _COMMUTES):
            _apply(c, op, sf, h, m, imm)
            c.put(d, h, sf, d_sp, zx=True)
            return
        if imm is None and m == h and op in _COMMUTES:
            _apply(c, op, sf, h, n, None)
            c.put(d, h, sf, d_sp, zx=True)
            return
        if imm is not None or m != h:
            c.move(h, n, sf)
            _apply(c, op, sf, h, src, imm)
            c.put(d, h, sf, d_sp, zx=True)
            return
    elif sf and isinstance(n, Mem) and n == c.operand(d, True, d_sp) and not isinstance(src, Mem):
        _apply(c, op, sf, n, src, imm)          # op [env], reg / imm
        return
    r = c.tmp()
    c.move(r, n, sf)
    _apply(c, op, sf, r, src, imm)
    c.put(d, r, sf, d_sp, zx=True)


def _compare(c: Ctx, op: str, sf: bool, n: Operand, m: Operand, imm: int | None = None) -> None:
    """The flags of n op m (or n op imm) with the result dropped: cmp, test, or an add in a scratch."""
    if op == "add" or n is None:
        r = c.tmp()
        c.move(r, n, sf)
        _apply(c, op, sf, r, m, imm)
    elif op == "sub":
        _apply(c, "cmp", sf, n, m, imm)
    else:
        _test(c, sf, n, m, imm)


def _test(c: Ctx, sf: bool, n: int | Mem, m: Operand, imm: int | None) -> None:
    """x86 test n, m (or imm): an and that keeps neither."""
    if imm is not None:
        value = _const_operand(c, imm, sf)
        if value is not None:
            c(encode_modrm(b"\xf7", 0, n, sf, imm=(value & 0xFFFFFFFF).to_bytes(4, "little")))
            return
        m = c.tmp()
        c.mov_imm(m, imm, sf)
    if isinstance(m, Mem):
        n, m = m, n                     # test is symmetric: the register goes in ModRM.reg
    if not isinstance(m, int):
        r = c.tmp()
        c.move(r, m, sf)
        m = r
    c(encode_modrm(b"\x85", m, n, sf))


# ---- add / sub ------------------------------------------------------------------------------------

@rule("add_imm", "adds_imm", "sub_imm", "subs_imm")
def _addsub_imm(c: Ctx) -> None:
    f, sf, name = c.fields, c.sf, c.name
    flags, sub = name[3] == "s", name.startswith("sub")
    imm = f["imm12"] << (12 * f["sh"])
    n = c.operand(f["Rn"], sf, sp=True)
    if not flags:
        # flags kept: lea where the source is in a register
        h = c.host(f["Rd"], True)
        disp = -imm if sub else imm
        if isinstance(n, int) and (h is not None or not disp):
            r = c.tmp() if h is None else h
            if disp:
                c.lea(sf, r, Mem(n, -1, 1, disp, 0))
            else:
                c.move(r, n, sf)
            c.put(f["Rd"], r, sf, sp=True, zx=True)
            return
        if h is not None:
            c.move(h, n, sf)
            if disp:
                c.lea(sf, h, Mem(h, -1, 1, disp, 0))
            c.put(f["Rd"], h, sf, sp=True, zx=True)
            return
        _compute(c, "sub" if sub else "add", sf, f["Rd"], n, None, imm, d_sp=True)
        return
    if f["Rd"] == 31:
        _compare(c, "sub" if sub else "add", sf, n, None, imm)
    else:
        _compute(c, "sub" if sub else "add", sf, f["Rd"], n, None, imm)
    c.nzcv_set("sub" if sub else "add")


@rule("add_sreg", "adds_sreg", "sub_sreg", "subs_sreg")
def _addsub_sreg(c: Ctx) -> None:
    f, sf, name = c.fields, c.sf, c.name
    flags, sub = name[3] == "s", name.startswith("sub")
    op = "sub" if sub else "add"
    h = c.host(f["Rd"])
    n = c.operand(f["Rn"], sf)
    if (not flags and not sub and h is not None and f["shift"] == 0 and f["imm6"] <= 3
            and isinstance(n, int)):
        index = c.reg(f["Rm"], sf)      # h = n + m << k in one lea (flags kept)
        c.lea(sf, h, Mem(n, index, 1 << f["imm6"], 0, 0))
        c.put(f["Rd"], h, sf, zx=True)
        return
    m = _shifted_rm(c, f, sf)
    if flags and f["Rd"] == 31:
        _compare(c, op, sf, n, m)
    else:
        _compute(c, op, sf, f["Rd"], n, m)
    if flags:
        c.nzcv_set(op)


@rule("add_ereg", "adds_ereg", "sub_ereg", "subs_ereg")
def _addsub_ereg(c: Ctx) -> None:
    f, sf, name = c.fields, c.sf, c.name
    flags, sub = name[3] == "s", name.startswith("sub")
    op = "sub" if sub else "add"
    n = c.operand(f["Rn"], sf, sp=True)
    b = c.get(f["Rm"], True)
    size, signed = EXTEND[f["option"]]
    c.extend(b, b, size, signed)
    c.shift("shl", True, b, f["imm3"])
    if flags and f["Rd"] == 31:
        _compare(c, op, sf, n, b)
    else:
        _compute(c, op, sf, f["Rd"], n, b, d_sp=not flags)
    if flags:
        c.nzcv_set(op)


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
    if m == "orr" and f["Rn"] == 31:                # mov (bitmask immediate)
        c.put_imm(f["Rd"], value, sf, sp=True)
        return
    n = c.operand(f["Rn"], sf)
    if m == "ands" and f["Rd"] == 31:               # tst
        _compare(c, "and", sf, n, None, value)
    else:
        _compute(c, _LOGIC[m], sf, f["Rd"], n, None, value, d_sp=m != "ands")
    if m == "ands":
        c.nzcv_set("logic")


def _copy(c: Ctx, d: int, src: Operand, sf: bool, d_sp: bool = False) -> None:
    """Guest register d = an operand (zero-extended from 32 bits unless sf)."""
    h = c.host(d, d_sp)
    if h is not None or src is None or not (sf and isinstance(src, int)):
        if src is None:
            c.put_imm(d, 0, sf, d_sp)
            return
        r = c.tmp() if h is None else h
        c.move(r, src, sf)
        c.put(d, r, sf, d_sp, zx=True)
        return
    c.put(d, src, True, d_sp)                       # a host register straight into the env slot


@rule("and_sreg", "bic_sreg", "orr_sreg", "orn_sreg", "eor_sreg", "eon_sreg", "ands_sreg", "bics_sreg")
def _logic_sreg(c: Ctx) -> None:
    f, sf, name = c.fields, c.sf, c.name
    m = name.removesuffix("_sreg")
    if m == "orr" and f["Rn"] == 31 and f["imm6"] == 0:     # mov (register)
        _copy(c, f["Rd"], c.operand(f["Rm"], sf), sf)
        return
    b: Operand
    if m in ("bic", "orn", "eon", "bics"):
        b = c.get(f["Rm"], sf)
        c.shift(_SHIFT_OP[f["shift"]], sf, b, f["imm6"])
        c.unary("not", sf, b)
    else:
        b = _shifted_rm(c, f, sf)
    n = c.operand(f["Rn"], sf)
    if m in ("ands", "bics") and f["Rd"] == 31:             # tst
        _compare(c, "and", sf, n, b)
    else:
        _compute(c, _LOGIC[m], sf, f["Rd"], n, b)
    if m in ("ands", "bics"):
        c.nzcv_set("logic")


# ---- moves, bitfields ----------------------------------------------------------------------------

@rule("movz", "movn", "movk")
def _movw(c: Ctx) -> None:
    f, sf, name = c.fields, c.sf, c.name
    shift = 16 * f["hw"]
    value = f["imm16"] << shift
    if name != "movk":
        c.put_imm(f["Rd"], value if name == "movz" else ~value & _mask(sf), sf)
        return
    if f["Rd"] == 31:
        return
    d = c.operand(f["Rd"], True)
    if isinstance(d, Mem):                          # the 16 bits in place (a W write clears 63:32)
        c.store_imm(Mem(d.base, -1, 1, d.disp + 2 * f["hw"], 2), f["imm16"], 2)
        if not sf:
            c.store_imm(Mem(d.base, -1, 1, d.disp + 4, 4), 0, 4)
        return
    assert d is not None
    if f["hw"] == 0:
        c(b"\x66" + encode_opreg(b"\xb8", d, imm=f["imm16"].to_bytes(2, "little")))   # mov r16, imm16
    else:
        _apply(c, "and", sf, d, None, ~(0xFFFF << shift) & _mask(sf))
        if value:
            _apply(c, "or", sf, d, None, value)
    c.put(f["Rd"], d, sf, zx=f["hw"] != 0)


def _bitfield_shifts(f: dict[str, int], bits: int) -> tuple[int, int]:
    """(left, right): the field ends up where (x << left) >> right puts it (Arm ARM's UBFM/SBFM)."""
    immr, imms = f["immr"], f["imms"]
    left = bits - 1 - imms
    right = left + immr if imms >= immr else immr - imms - 1
    return left, right


# sbfm/ubfm #0, #imms that are extensions: (bytes, signed)
_EXTENSIONS = {("sbfm", 7): (1, True), ("sbfm", 15): (2, True), ("sbfm", 31): (4, True),
               ("ubfm", 7): (1, False), ("ubfm", 15): (2, False), ("ubfm", 31): (4, False)}


@rule("sbfm", "ubfm", "bfm")
def _bitfield(c: Ctx) -> None:
    f, sf, name = c.fields, c.sf, c.name
    left, right = _bitfield_shifts(f, _bits(sf))
    ext = _EXTENSIONS.get((name, f["imms"])) if f["immr"] == 0 else None
    if ext is not None and (sf or ext[0] < 4):      # sxtb/sxth/sxtw, uxtb/uxth, ubfx #0, #32
        size, signed = ext
        n = c.operand(f["Rn"], size == 8)
        r = c.dest(f["Rd"])
        if n is None:
            c.mov_imm(r, 0)
        elif isinstance(n, Mem):
            c.load(r, Mem(n.base, -1, 1, n.disp, size), size, signed=signed, w=sf)
        else:
            c.extend(r, n, size, signed, w=sf)
        c.put(f["Rd"], r, sf, zx=True)
        return
    if name != "bfm":
        r = c.dest(f["Rd"])
        c.move(r, c.operand(f["Rn"], sf), sf)
        c.shift("shl", sf, r, left)
        c.shift("sar" if name == "sbfm" else "shr", sf, r, right)
        c.put(f["Rd"], r, sf, zx=True)
        return
    x = c.get(f["Rn"], sf)
    c.shift("shl", sf, x, left)
    c.shift("shr", sf, x, right)
    mask = ((_mask(sf) << left) & _mask(sf)) >> right
    d = c.get(f["Rd"], sf)
    _alu_const(c, "and", sf, d, ~mask & _mask(sf))
    c.alu("or", sf, d, x)
    c.put(f["Rd"], d, sf)


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
    c.put_addr(f["Rd"], value, REL_TARGET)


# ---- conditional select / compare ----------------------------------------------------------------

@rule("csel", "csinc", "csinv", "csneg")
def _csel(c: Ctx) -> None:
    f, sf, name = c.fields, c.sf, c.name
    cond = COND[f["cond"]]
    c.take(RAX)                   # Ctx.flags needs it
    if f["Rn"] == f["Rm"] == 31 and name in ("csinc", "csinv") and cond not in ("al", "nv"):
        # cset / csetm: 1 (all ones) where the condition fails, else 0
        r = c.dest(f["Rd"])
        if name == "csinv":
            ones = c.tmp()
            c.mov_imm(ones, -1, sf)
            c.mov_imm(r, 0)
            c.flags()
            c.cmov(COND_CC[COND[f["cond"] ^ 1]], sf, r, ones)
        else:
            c.flags()
            c.setcc(COND_CC[COND[f["cond"] ^ 1]], r)
            c.extend(r, r, 1, False, w=False)
        c.release(RAX)
        c.put(f["Rd"], r, sf, zx=True)
        return
    n = c.operand(f["Rn"], sf)
    if name == "csel" and cond not in ("al", "nv"):
        # d = m, then n where the condition holds (or, d being n: m where it fails)
        h = c.host(f["Rd"])
        m = c.operand(f["Rm"], sf)
        if h is not None and h == n:
            n, m, cc = m, n, COND_CC[COND[f["cond"] ^ 1]]
        else:
            cc = COND_CC[cond]
        r = h if h is not None and h != n else c.tmp()
        c.move(r, m, sf)
        if n is None:
            z = c.tmp()
            c.mov_imm(z, 0)
            n = z
        c.release(RAX)
        c.flags()
        c.cmov(cc, sf, r, n)            # cmov r, r/m (a W cmov zero-extends either way)
        c.put(f["Rd"], r, sf, zx=True)
        return
    m = c.get(f["Rm"], sf)
    if name == "csinc":
        c.lea(sf, m, Mem(m, -1, 1, 1, 0))
    elif name == "csinv":
        c.unary("not", sf, m)
    elif name == "csneg":
        c.unary("neg", sf, m)
    c.release(RAX)
    if cond in ("al", "nv"):
        c.move(m, n, sf)
    else:
        if n is None:
            z = c.tmp()
            c.mov_imm(z, 0)
            n = z
        c.flags()
        c.cmov(COND_CC[cond], sf, m, n)
    c.put(f["Rd"], m, sf, zx=True)


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


def _store(c: Ctx, mem: Mem, rt: int, size: int) -> None:
    """size bytes of guest register rt to memory."""
    v = c.operand(rt, size == 8)
    if v is None:
        c.store_imm(mem, 0, size)
        return
    if isinstance(v, Mem):
        t = c.tmp()
        c.load(t, v, 8 if size == 8 else 4)
        v = t
    c.store(mem, v, size)


@rule("ldst_uimm", "ldst_unscaled", "ldst_pre", "ldst_post", "ldst_roff")
def _ldst(c: Ctx) -> None:
    f = c.fields
    size, opc = 1 << f["size"], f["opc"]
    mem, wb = address(c, f, c.name.removeprefix("ldst_"), size, size)
    if opc == 0:
        _store(c, mem, f["Rt"], size)
    else:
        r = c.dest(f["Rt"])
        c.load(r, mem, size, signed=opc >= 2, w=opc == 2 or size == 8)
        c.put(f["Rt"], r, True, zx=True)
    if wb is not None:
        c.writeback(f["Rn"], wb)


@rule("ldstp_post", "ldstp_off", "ldstp_pre", "ldstnp")
def _ldstp(c: Ctx) -> None:
    f = c.fields
    opc, load = f["opc"], f["L"]
    size = 8 if opc == 2 else 4
    off = sext(f["imm7"], 7) * size
    mode = c.name.removeprefix("ldstp_").replace("ldstnp", "off")
    base = c.reg(f["Rn"], True, sp=True)
    if load and base == c.host(f["Rt"]):        # ldp x0, x1, [x0]: keep the base past the first load
        t = c.tmp()
        c.mov(True, t, base)
        base = t
    disp = 0 if mode == "post" else off
    for i, rt in enumerate((f["Rt"], f["Rt2"])):
        mem = Mem(base, -1, 1, disp + i * size, size)
        if load:
            r = c.dest(rt)
            c.load(r, mem, size, signed=opc == 1)
            c.put(rt, r, True, zx=True)
        else:
            _store(c, mem, rt, size)
    if mode != "off":
        c.writeback(f["Rn"], off)


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
