"""Advanced SIMD (NEON) integer and permutation instructions -> SSE .. SSE4.1.

Vn is loaded from the env block into a scratch xmm, computed on, and stored back whole; a 64-bit
arrangement (Q = 0) clears bits 127:64 of the result as AArch64 does (Ctx.vput). Permutations
(zip/uzp/trn/ext/rev/dup/ins) are one byte table per source, applied with pshufb.
"""

from __future__ import annotations

from vmcli.translate.a64_to_x86.builder import ESIZE, LANE_OPS, Ctx
from vmcli.translate.a64_to_x86.rules.common import vfp_expand
from vmcli.translate.a64_to_x86.rules.lanes import (
    PEXTR,
    PINSR,
    Lane,
    element,
    lane_const,
    movq_in,
    pairs,
    permute_x,
    sign_mask,
    vzero,
)
from vmcli.translate.a64_to_x86.rules.table import RULES as rule
from vmcli.translate.isa.x86.encoder import encode_modrm


def _ones(c: Ctx) -> int:
    x = c.vtmp()
    c.sse("pcmpeqb", x, x)
    return x


def _gt64(c: Ctx, a: int, b: int, unsigned: bool) -> None:
    """a = (a > b) on 64-bit lanes without SSE4.2's pcmpgtq: the high dwords compare signed (or
    unsigned), the low dwords unsigned, both through the dword compare with flipped sign bits."""
    flip = c.vconst(lane_const((0x80000000_80000000 if unsigned else 0x80000000), 64))
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
    sign_mask(c, ov, esize)
    sat = c.vtmp()                         # INT_MAX, or INT_MIN where a is negative
    c.vcopy(sat, a)
    sign_mask(c, sat, esize)
    c.sse("pxor", sat, c.vconst(lane_const((1 << (esize - 1)) - 1, esize)))
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
    c.sse("pand", a, c.vconst(lane_const(0xFF, 16)))
    c.sse("por", a, ao)


@rule(*(f"{m}_v" for m in ("add", "sub", "mul", "cmeq", "cmgt", "sqadd", "uqadd", "sqsub", "uqsub", "smax",
                           "smin", "umax", "umin")))
def _v3(c: Ctx) -> None:
    f, m, esize, _, q, a, b = c.vector_op()
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
    f, m, esize, _, q, a, b = c.vector_op()
    if esize == 64 and m != "cmtst":
        if m == "cmhi":
            _gt64(c, a, b, True)
            r = a
        else:                     # n >= m  <=>  not (m > n)
            _gt64(c, b, a, m == "cmhs")
            c.sse("pxor", b, _ones(c))
            r = b
    elif m == "cmhi":             # unsigned >: flip the sign bits, compare signed
        k = c.vconst(lane_const(1 << (esize - 1), esize))
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
        c.sse(LANE_OPS["cmeq"][esize], a, vzero(c))
        c.sse("pxor", a, _ones(c))
        r = a
    c.vput(f["Rd"], r, q)


@rule("and_v", "bic_v", "orr_v", "orn_v", "eor_v", "bsl_v", "bit_v", "bif_v")
def _vlogic(c: Ctx) -> None:
    f, m = c.fields, c.name[:-2]
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


def _permute(c: Ctx, sources: list[int], lanes: list[Lane], esize: int, q: bool, rd: int) -> None:
    """Vd = lanes picked from the guest registers `sources`."""
    c.vput(rd, permute_x(c, sources, lanes, esize), q)


@rule("zip1_v", "zip2_v", "uzp1_v", "uzp2_v", "trn1_v", "trn2_v")
def _zip(c: Ctx) -> None:
    f, m = c.fields, c.name[:-2]
    esize, n, q = c.lanes()
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
    f = c.fields
    nbytes = 16 if f["Q"] else 8
    concat = [(0, i) for i in range(nbytes)] + [(1, i) for i in range(nbytes)]
    lanes: list[Lane] = list(concat[f["imm4"]:f["imm4"] + nbytes])
    _permute(c, [f["Rn"], f["Rm"]], lanes, 8, bool(f["Q"]), f["Rd"])


@rule("rev64_v", "rev32_v", "rev16_v")
def _vrev(c: Ctx) -> None:
    f = c.fields
    esize, n, q = c.lanes()
    k = int(c.name[3:5]) // esize          # lanes per container
    lanes: list[Lane] = [(0, (e // k) * k + (k - 1 - e % k)) for e in range(n)]
    _permute(c, [f["Rn"]], lanes, esize, q, f["Rd"])


def _elem(c: Ctx) -> int:
    """Lane bits of an element encoding (dup_elem_h -> 16)."""
    return ESIZE[c.name[-1]]


@rule("dup_elem_b", "dup_elem_h", "dup_elem_s", "dup_elem_d")
def _dup_elem(c: Ctx) -> None:
    f = c.fields
    esize, n, q = c.lanes()
    _permute(c, [f["Rn"]], [(0, f["idx"])] * n, esize, q, f["Rd"])


@rule("dup_scalar_b", "dup_scalar_h", "dup_scalar_s", "dup_scalar_d")
def _dup_scalar(c: Ctx) -> None:
    """mov b/h/s/d, vn.t[i]: the element alone, the rest of Vd cleared."""
    f = c.fields
    _permute(c, [f["Rn"]], [(0, f["idx"])], _elem(c), True, f["Rd"])


@rule("ins_elem_b", "ins_elem_h", "ins_elem_s", "ins_elem_d")
def _ins_elem(c: Ctx) -> None:
    f = c.fields
    esize = _elem(c)
    lanes: list[Lane] = [(0, i) for i in range(128 // esize)]
    lanes[f["idx"]] = (1, f["src"])
    _permute(c, [f["Rd"], f["Rn"]], lanes, esize, True, f["Rd"])


@rule("dup_gen_b", "dup_gen_h", "dup_gen_s", "dup_gen_d")
def _dup_gen(c: Ctx) -> None:
    f = c.fields
    esize, _, q = c.lanes()
    r = c.get(f["Rn"], esize == 64)
    x = c.vtmp()
    movq_in(c, x, r)
    index = [k % (esize // 8) for k in range(16)]
    c.sse("pshufb", x, c.vconst(int.from_bytes(bytes(index), "little")))
    c.vput(f["Rd"], x, q)


@rule("ins_gen_b", "ins_gen_h", "ins_gen_s", "ins_gen_d")
def _ins_gen(c: Ctx) -> None:
    f = c.fields
    esize = _elem(c)
    x = c.vget(f["Rd"])
    r = c.get(f["Rn"], esize == 64)
    c(encode_modrm(PINSR[esize], x, r, esize == 64, prefix=b"\x66", imm=bytes([f["idx"]])))
    c.vput(f["Rd"], x, True)


@rule("umov_b", "umov_h", "umov_s", "umov_d", "smov_b", "smov_h", "smov_s")
def _umov(c: Ctx) -> None:
    f = c.fields
    esize = _elem(c)
    x = c.vget(f["Rn"])
    r = c.tmp()
    c(encode_modrm(PEXTR[esize], x, r, esize == 64, prefix=b"\x66", imm=bytes([f["idx"]])))
    sf = esize == 64 or c.sf
    if c.name.startswith("smov"):
        c.extend(r, r, esize // 8, True, w=sf)
    c.put(f["Rd"], r, sf)


@rule("tbl_v")
def _tbl(c: Ctx) -> None:
    """pshufb reads index bit 7 as 'zero' and the low 4 bits as the lane: adding 0x70 with unsigned
    saturation turns every index >= 16 into one >= 0x80 and leaves 0..15 alone."""
    f = c.fields
    idx = c.vget(f["Rm"])
    c.sse("paddusb", idx, c.vconst(lane_const(0x70, 8)))
    t = c.vget(f["Rn"])
    c.sse("pshufb", t, idx)
    c.vput(f["Rd"], t, bool(f["Q"]))


# ---- two-register misc ----------------------------------------------------------------------------

@rule("not_v", "neg_v", "abs_v", "cmgt0_v", "cmeq0_v", "cmlt0_v", "cmge0_v", "cmle0_v", "cnt_v")
def _v2(c: Ctx) -> None:
    f, m = c.fields, c.name[:-2]
    esize, _, q = c.lanes()
    a = c.vget(f["Rn"])
    if m == "not":
        c.sse("pxor", a, _ones(c))
        r = a
    elif m == "abs" and esize == 64:      # (x ^ s) - s with s the sign mask
        s = c.vtmp()
        c.vcopy(s, a)
        sign_mask(c, s, 64)
        c.sse("pxor", a, s)
        c.sse("psubq", a, s)
        r = a
    elif m == "abs":
        c.sse(LANE_OPS["abs"][esize], a, a)
        r = a
    elif m == "cnt":              # popcount of each byte from a nibble table
        lut = c.vconst(int.from_bytes(bytes(bin(i).count("1") for i in range(16)), "little"))
        low = c.vconst(lane_const(0x0F, 8))
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
        sign_mask(c, r, 64)
        if m in ("cmgt0", "cmle0"):
            c.sse("pcmpeqq", a, vzero(c))
            c.sse("por", r, a)
        if m in ("cmgt0", "cmge0"):
            c.sse("pxor", r, _ones(c))
    else:
        z = vzero(c)
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
    f = c.fields
    immh = (f["h3"] << 3) | (f["h2"] << 2) | (f["h1"] << 1) | f["h0"]
    src = 8 << (immh.bit_length() - 1)
    shift = ((immh << 3) | f["immb"]) - src
    a = c.vget(f["Rn"])
    if f["Q"]:
        c.vbytes_shift(True, a, 8)
    op = {8: 0x20, 16: 0x23, 32: 0x25}[src] + (0x10 if c.name == "ushll_v" else 0)
    r = c.vtmp()
    c(encode_modrm(bytes([0x0F, 0x38, op]), r, a, prefix=b"\x66"))
    if shift:
        c.vshift("psll", 2 * src, r, shift)
    c.vput(f["Rd"], r, True)


@rule("xtn_v")
def _xtn(c: Ctx) -> None:
    """xtn: the low half of each lane; xtn2 writes the upper half of Vd and keeps the lower."""
    f = c.fields
    esize, n, q = c.lanes()
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
    f = c.fields
    esize, n, q = c.lanes()
    op = LANE_OPS[{"addv": "add", "umaxv": "umax", "uminv": "umin", "smaxv": "smax", "sminv": "smin"}[
        c.name[:-2]]][esize]
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
        c.sse("pand", x, c.vconst(lane_const((0xFF << n) & 0xFF, 8)))


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
        c.sse("pand", x, c.vconst(lane_const(0xFF >> n, 8)))
    if signed:
        k = c.vconst(lane_const(1 << (esize - 1 - n), esize))
        c.sse("pxor", x, k)
        c.sse("psubb" if esize == 8 else "psubq", x, k)


@rule("shl_v", "ushr_v", "sshr_v", "usra_v", "ssra_v", "sli_v", "sri_v", "shl_d", "ushr_d", "sshr_d", "usra_d",
      "ssra_d", "sli_d", "sri_d")
def _vshift(c: Ctx) -> None:
    """Shifts by immediate; usra/ssra add the shifted value to Vd, sli/sri insert it into Vd
    (the bits the shift vacates keep Vd's). The scalar forms (_d) are the 2d forms' lane 0, the
    upper half cleared."""
    f, m = c.fields, c.name[:-2]
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
        c.sse("pand", d, c.vconst(lane_const(kept, esize)))
        c.sse("por", a, d)
    c.vput(f["Rd"], a, bool(f.get("Q", 0)))


@rule("shrn_v", "rshrn_v")
def _shrn(c: Ctx) -> None:
    """Shift the double-width lanes right (rshrn adds the rounding bit first; a carry out of the
    lane would only reach bits the narrowing drops), then keep their low halves."""
    f = c.fields
    wide, value = _shift_amount(f)          # immh gives the narrow size; the source is twice it
    esize = wide
    n = 2 * esize - value
    a = c.vget(f["Rn"])
    if c.name == "rshrn_v":
        c.sse(LANE_OPS["add"][2 * esize], a, c.vconst(lane_const(1 << (n - 1), 2 * esize)))
    _shr_lanes(c, a, 2 * esize, n, False)
    half = 64 // esize
    index = [k for i in range(half) for k in range(2 * i * esize // 8, 2 * i * esize // 8 + esize // 8)]
    c.sse("pshufb", a, c.vconst(int.from_bytes(bytes(index + [0x80] * (16 - len(index))), "little")))
    if f["Q"]:
        d = c.vget(f["Rd"])
        c.sse("punpcklqdq", d, a)
        a = d
    c.vput(f["Rd"], a, bool(f["Q"]))


# ---- long (widening) arithmetic and pairwise operations ---------------------------------------------

_PMOVX = {8: 0x20, 16: 0x23, 32: 0x25}     # pmovsx{bw,wd,dq}; pmovzx is +0x10


def _widened(c: Ctx, n: int, src: int, signed: bool, high: bool) -> int:
    a = c.vget(n)
    if high:
        c.vbytes_shift(True, a, 8)
    r = c.vtmp()
    c(encode_modrm(bytes([0x0F, 0x38, _PMOVX[src] + (0 if signed else 0x10)]), r, a, prefix=b"\x66"))
    return r


_LONG_MUL = {16: ("pmullw", "pmullw"), 32: ("pmulld", "pmulld"), 64: ("pmuldq", "pmuludq")}


@rule(*(f"{m}_v" for m in ("saddl", "uaddl", "ssubl", "usubl", "smlal", "umlal", "smlsl", "umlsl", "smull", "umull")))
def _long(c: Ctx) -> None:
    f, m = c.fields, c.name[:-2]
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
            c(encode_modrm(b"\x0f\x38\x28", a, b, prefix=b"\x66"))
        else:
            c.sse(mul, a, b)
        if m[1:4] == "mul":
            r = a
        else:
            r = c.vget(f["Rd"])
            c.sse(LANE_OPS["add" if m[1:4] == "mla" else "sub"][2 * src], r, a)
    c.vput(f["Rd"], r, True)


@rule("addp_v", "smaxp_v", "sminp_v", "umaxp_v", "uminp_v")
def _pairwise(c: Ctx) -> None:
    f = c.fields
    esize, _, q = c.lanes()
    even, odd = pairs(c)
    c.sse(LANE_OPS[c.name[:-3]][esize], even, odd)
    c.vput(f["Rd"], even, q)


def simd_expand(op: int, cmode: int, imm8: int) -> int:
    """AdvSIMDExpandImm: the 64-bit value of a modified immediate."""
    def rep(v: int, bits: int) -> int:
        return lane_const(v, bits) & ((1 << 64) - 1)

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
    word = c.insn.word
    op, cmode = word >> 29 & 1, word >> 12 & 0xF
    imm8 = ((word >> 16) & 7) << 5 | ((word >> 5) & 0x1F)
    value = simd_expand(op, cmode, imm8)
    if c.name.startswith("mvni"):
        value ^= (1 << 64) - 1
    return value | (value << 64) if c.fields["Q"] else value


@rule("movi_32", "movi_16", "movi_msl", "movi_8", "movi_64", "mvni_32", "mvni_16", "mvni_msl", "fmovi_s",
      "fmovi_d")
def _movi(c: Ctx) -> None:
    c.vput(c.fields["Rd"], c.vconst(_modimm(c)), True)


@rule("orri_32", "orri_16", "bici_32", "bici_16")
def _orri(c: Ctx) -> None:
    f = c.fields
    value = _modimm(c)
    d = c.vget(f["Rd"])
    if c.name.startswith("bic"):
        c.sse("pand", d, c.vconst(~value & ((1 << (128 if f["Q"] else 64)) - 1)))
    else:
        c.sse("por", d, c.vconst(value))
    c.vput(f["Rd"], d, bool(f["Q"]))


def _mul_lanes(c: Ctx, esize: int, a: int, b: int) -> None:
    if esize == 8:
        _mul8(c, a, b)
    else:
        c.sse(LANE_OPS["mul"][esize], a, b)


def _accumulate(c: Ctx, m: str, esize: int, rd: int, product: int) -> int:
    d = c.vget(rd)
    c.sse(LANE_OPS["add" if m == "mla" else "sub"][esize], d, product)
    return d


@rule("mla_v", "mls_v")
def _mla(c: Ctx) -> None:
    f, m, esize, _, q, a, b = c.vector_op()
    _mul_lanes(c, esize, a, b)
    c.vput(f["Rd"], _accumulate(c, m, esize, f["Rd"], a), q)


@rule("mul_elem_h", "mul_elem_s", "mla_elem_h", "mla_elem_s", "mls_elem_h", "mls_elem_s")
def _mul_elem(c: Ctx) -> None:
    f, m = c.fields, c.name[:3]
    esize, _, q = c.lanes()
    a = c.vget(f["Rn"])
    _mul_lanes(c, esize, a, element(c, esize))
    if m != "mul":
        a = _accumulate(c, m, esize, f["Rd"], a)
    c.vput(f["Rd"], a, q)


@rule("saddw_v", "uaddw_v", "ssubw_v", "usubw_v")
def _wide(c: Ctx) -> None:
    """Vd.<2T> = Vn.<2T> +/- the widened low (or, '2', high) half of Vm."""
    f, m = c.fields, c.name[:-2]
    src = 8 << f["size"]
    a = c.vget(f["Rn"])
    b = _widened(c, f["Rm"], src, m[0] == "s", bool(f["Q"]))
    c.sse(LANE_OPS[m[1:4]][2 * src], a, b)
    c.vput(f["Rd"], a, True)


@rule("addp_s")
def _addp_s(c: Ctx) -> None:
    f = c.fields
    a = c.vget(f["Rn"])
    t = c.vtmp()
    c.vcopy(t, a)
    c.vbytes_shift(True, t, 8)
    c.sse("paddq", a, t)
    c.vput(f["Rd"], a, False)


@rule("sqxtn_v", "uqxtn_v", "sqxtun_v")
def _qxtn(c: Ctx) -> None:
    """packss (signed), packus (signed to unsigned), or pminu then packus (unsigned); the '2' form
    writes the upper half of Vd and keeps the lower."""
    f, m = c.fields, c.name[:-2]
    esize, _, q = c.lanes()                  # the narrow lanes
    x = c.vget(f["Rn"])
    if m == "uqxtn":
        limit = c.vconst(lane_const((1 << esize) - 1, 2 * esize))
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
    f, m = c.fields, c.name[:-2]
    esize, _, q = c.lanes()
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
    f, m, esize, _, q, a, b = c.vector_op()
    x = c.vtmp()
    c.vcopy(x, a)
    c.sse("pxor", x, b)
    _shr_lanes(c, x, esize, 1, m[0] == "s")
    rounding = m[1] == "r"
    c.sse("por" if rounding else "pand", a, b)
    c.sse(LANE_OPS["sub" if rounding else "add"][esize], a, x)
    c.vput(f["Rd"], a, q)


@rule("uaddlv_v", "saddlv_v")
def _addlv(c: Ctx) -> None:
    """Sum of all lanes, widened to twice the lane size (the sum always fits)."""
    f = c.fields
    esize, n, q = c.lanes()
    signed = c.name.startswith("s")
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
    def const(value: int) -> int:
        k = c.vconst(value)
        consts.append(k)
        return k

    consts: list[int] = []
    lut = c.vconst(int.from_bytes(bytes([4, 3, 2, 2, 1, 1, 1, 1] + [0] * 8), "little"))
    low = const(lane_const(0x0F, 8))
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
    c.sse("paddb", lut, const(lane_const(4, 8)))
    zero = vzero(c)
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
        c.sse("pand", top, const(lane_const(((1 << half) - 1) << half, width)))
        c.sse(LANE_OPS["cmeq"][width], top, zero)
        upper = c.vtmp()
        c.vcopy(upper, r)
        c.vshift("psrl", width, upper, half)
        c.sse("pand", r, const(lane_const((1 << half) - 1, width)))
        c.sse(LANE_OPS["add"][width], r, const(lane_const(half, width)))
        c.vselect(top, r, upper)
        c.vrelease(top, r, *consts)
        consts.clear()
        r = upper
    c.vrelease(zero)
    return r


@rule("clz_v", "cls_v")
def _vclz(c: Ctx) -> None:
    """cls(x) = clz(x ^ (x asr 1)) - 1."""
    f = c.fields
    esize, _, q = c.lanes()
    x = c.vget(f["Rn"])
    if c.name == "cls_v":
        t = c.vtmp()
        c.vcopy(t, x)
        _shr_lanes(c, t, esize, 1, True)
        c.sse("pxor", x, t)
    r = _clz_lanes(c, x, esize)
    if c.name == "cls_v":
        c.sse(LANE_OPS["sub"][esize], r, c.vconst(lane_const(1, esize)))
    c.vput(f["Rd"], r, q)
