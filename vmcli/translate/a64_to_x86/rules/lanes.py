"""Lane helpers of the vector rules: constants per lane, byte-table permutations (pshufb), elements."""

from __future__ import annotations

from vmcli.translate.a64_to_x86.builder import Ctx


def lane_const(value: int, esize: int) -> int:
    """A 128-bit constant holding `value` in every lane."""
    return sum(value << (esize * i) for i in range(128 // esize))


def vzero(c: Ctx) -> int:
    x = c.vtmp()
    c.sse("pxor", x, x)
    return x


def sign_mask(c: Ctx, x: int, esize: int) -> None:
    """x = all ones in lanes whose sign bit is set (esize 32 or 64)."""
    c.vshift("psra", 32, x, 31)
    if esize == 64:
        c.sse("pshufd", x, x, imm=0xF5)


# ---- permutations through byte tables ----------------------------------------------------------

Lane = tuple[int, int] | None     # (source number, lane) or None for zero


def permute_x(c: Ctx, sources: list[int], lanes: list[Lane], esize: int) -> int:
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
    return vzero(c) if out is None else out


def movq_in(c: Ctx, x: int, r: int) -> None:
    c.sse("movd_in", x, r, w=True)


PINSR = {8: b"\x0f\x3a\x20", 16: b"\x0f\xc4", 32: b"\x0f\x3a\x22", 64: b"\x0f\x3a\x22"}


PEXTR = {8: b"\x0f\x3a\x14", 16: b"\x0f\x3a\x15", 32: b"\x0f\x3a\x16", 64: b"\x0f\x3a\x16"}


def pairs(c: Ctx) -> tuple[int, int]:
    """xmm registers holding the even and the odd lanes of Vm:Vn (pairwise operations)."""
    f = c.fields
    esize, n, _ = c.lanes()
    concat = [(0, i) for i in range(n)] + [(1, i) for i in range(n)]
    even = permute_x(c, [f["Rn"], f["Rm"]], [concat[2 * i] for i in range(n)], esize)
    odd = permute_x(c, [f["Rn"], f["Rm"]], [concat[2 * i + 1] for i in range(n)], esize)
    return even, odd


def element(c: Ctx, esize: int) -> int:
    """An xmm with the instruction's indexed element of Vm in every lane."""
    f = c.fields
    if esize == 16:
        rm, index = f["Rm"], (f["H"] << 2) | (f["L"] << 1) | f["M"]
    elif esize == 32:
        rm, index = (f["M"] << 4) | f["Rm"], (f["H"] << 1) | f["L"]
    else:
        rm, index = (f["M"] << 4) | f["Rm"], f["H"]
    return permute_x(c, [rm], [(0, index)] * (128 // esize), esize)
