"""SIMD&FP loads and stores: s, d and q registers, ld1..ld4/st1..st4, single lanes, ld1r."""

from __future__ import annotations

from vmcli.translate.a64_to_x86.builder import ESIZE, Ctx
from vmcli.translate.a64_to_x86.rules.common import address
from vmcli.translate.a64_to_x86.rules.lanes import PEXTR, PINSR, movq_in, vzero
from vmcli.translate.a64_to_x86.rules.table import RULES as rule
from vmcli.translate.isa.a64.encodings import sext
from vmcli.translate.isa.x86.decoder import Mem
from vmcli.translate.isa.x86.encoder import encode_modrm

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
    f = c.fields
    size = _vbytes(f)
    mem, wb = address(c, f, c.name.removeprefix("vldst_"), size, size)
    if f["opc"] & 1:
        x = c.vtmp()
        _vload(c, x, mem, size)
        c.vput(f["Rt"], x, True)
    else:
        _vstore(c, c.vget(f["Rt"]), mem, size)
    if wb is not None:
        c.writeback(f["Rn"], wb)


@rule("vldstp_post", "vldstp_off", "vldstp_pre", "vldstnp")
def _vldstp(c: Ctx) -> None:
    f = c.fields
    size = 4 << f["opc"]
    base = c.reg(f["Rn"], True, sp=True)
    mode = c.name.removeprefix("vldstp_").replace("vldstnp", "off")
    off = sext(f["imm7"], 7) * size
    disp = 0 if mode == "post" else off
    for i, rt in enumerate((f["Rt"], f["Rt2"])):
        mem = Mem(base, -1, 1, disp + i * size, size)
        if f["L"]:
            x = c.vtmp()
            _vload(c, x, mem, size)
            c.vput(rt, x, True)
        else:
            _vstore(c, c.vget(rt), mem, size)
    if mode != "off":
        c.writeback(f["Rn"], off)


LD1_NAMES = [f"{m}{x}_{k}" for m in ("ld1", "st1") for x in ("", "x2", "x3", "x4") for k in ("v", "post")]


def ld1_registers(name: str) -> int:
    """Registers an ld1/st1 encoding moves (ld1x3_v -> 3)."""
    head = name.split("_")[0]
    return int(head[4]) if "x" in head else 1


@rule(*LD1_NAMES)
def _ld1(c: Ctx) -> None:
    """One to four consecutive registers, any arrangement: in little-endian memory the lanes are
    the registers' bytes."""
    f = c.fields
    size = 16 if f["Q"] else 8
    nregs = ld1_registers(c.name)
    base = c.get(f["Rn"], True, sp=True)
    for i in range(nregs):
        mem = Mem(base, -1, 1, i * size, size)
        rt = (f["Rt"] + i) % 32
        if c.name.startswith("ld1"):
            x = c.vtmp()
            _vload(c, x, mem, size)
            c.vput(rt, x, True)
            c.vrelease(x)
        else:
            x = c.vget(rt)
            _vstore(c, x, mem, size)
            c.vrelease(x)
    if c.name.endswith("post"):
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
    f = c.fields
    esize = 8 << f["size"]
    base = c.get(f["Rn"], True, sp=True)
    r = c.tmp()
    c.load(r, Mem(base, -1, 1, 0, esize // 8), esize // 8)
    x = c.vtmp()
    movq_in(c, x, r)
    index = [k % (esize // 8) for k in range(16)]
    c.sse("pshufb", x, c.vconst(int.from_bytes(bytes(index), "little")))
    c.vput(f["Rt"], x, bool(f["Q"]))
    if c.name.endswith("post"):
        _post_increment(c, f, base, esize // 8)


# ---- ld2..ld4 / st2..st4 ---------------------------------------------------------------------------
#
# Memory element k belongs to register k % N, lane k // N. The memory is moved in 16-byte chunks
# (8 for a trailing half) and every register, or every chunk, is gathered with one pshufb per
# source.

STRUCT_NAMES = [f"{m}{n}_{k}" for m in ("ld", "st") for n in (2, 3, 4) for k in ("v", "post")]


def _gather(c: Ctx, sources: list[int], table: list[tuple[int, int] | None]) -> int:
    """An xmm whose byte i is byte table[i][1] of xmm sources[table[i][0]] (0 for None)."""
    out = vzero(c)
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
    f = c.fields
    name = c.name
    n = int(name[2])
    esize, lanes, q = c.lanes()
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
    f, name = c.fields, c.name
    e = name.split("_")[2]
    esize = ESIZE[e]
    index = lane_index(f, e)
    base = c.get(f["Rn"], True, sp=True)
    mem = Mem(base, -1, 1, 0, esize // 8)
    x = c.vget(f["Rt"])
    r = c.tmp()
    if name.startswith("ld1"):
        c.load(r, mem, esize // 8)
        c(encode_modrm(PINSR[esize], x, r, esize == 64, prefix=b"\x66", imm=bytes([index])))
        c.vput(f["Rt"], x, True)
    else:
        c(encode_modrm(PEXTR[esize], x, r, esize == 64, prefix=b"\x66", imm=bytes([index])))
        c.store(mem, r, esize // 8)
    if name.endswith("post"):
        _post_increment(c, f, base, esize // 8)
