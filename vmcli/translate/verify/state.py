"""Random guest states with edge values, and the data window every memory access is pointed at."""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

from vmcli.translate.isa.a64.registers import VREGS, XREGS
from vmcli.translate.isa.x86.flags import STATUS
from vmcli.translate.isa.x86.registers import GPR64, XMM

DATA = 0x200000       # the data region both CPUs map (identity-mapped on both sides)
DATA_SIZE = 0x200
M64 = (1 << 64) - 1


@dataclass
class GuestState:
    regs: dict[str, int]
    memory: bytes


GPR_EDGES = [0, 1, M64, 1 << 63, (1 << 63) - 1, 0x80000000, 0x7FFFFFFF, 0xFFFFFFFF, 0x80, 0x7F, 0xFF,
             0x8000, 0x7FFF, 0xFFFF, 1 << 32, 0xFFFFFFFF80000000]
F32_EDGES = [0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x3F800000,
             0xBF800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x00800000, 0x4F000000, 0xCF000000, 0x3F000000,
             0x4EFFFFFF, 0x5F000000, 0xDF000000, 0x3FC00000, 0x40200000]
F64_EDGES = [0, 1 << 63, 0x7FF0000000000000, 0xFFF0000000000000, 0x7FF8000000000000,
             0xFFF8000000000000, 0x3FF0000000000000, 0xBFF0000000000000, 0x7FEFFFFFFFFFFFFF,
             0x0010000000000000, 0x41E0000000000000, 0xC1E0000000000000, 0x41DFFFFFFFC00000,
             0x43E0000000000000, 0xC3E0000000000000, 0x3FE0000000000000, 0x3FF8000000000000]


def _f32(rng: random.Random) -> int:
    r = rng.random()
    sign = rng.getrandbits(1) << 31
    if r < 0.3:
        return rng.choice(F32_EDGES)
    if r < 0.38:
        return sign | 0x7FC00000 | rng.getrandbits(22)             # QNaN with payload
    if r < 0.44:
        return sign | 0x7F800000 | (rng.getrandbits(21) + 1)        # SNaN
    if r < 0.5:
        return sign | rng.getrandbits(23)                           # denormal
    if r < 0.8:
        return struct.unpack("<I", struct.pack("<f", rng.uniform(-1000, 1000)))[0]
    return rng.getrandbits(32)


def _f64(rng: random.Random) -> int:
    r = rng.random()
    sign = rng.getrandbits(1) << 63
    if r < 0.3:
        return rng.choice(F64_EDGES)
    if r < 0.38:
        return sign | 0x7FF8000000000000 | rng.getrandbits(51)
    if r < 0.44:
        return sign | 0x7FF0000000000000 | (rng.getrandbits(50) + 1)
    if r < 0.5:
        return sign | rng.getrandbits(52)
    if r < 0.8:
        return struct.unpack("<Q", struct.pack("<d", rng.uniform(-1e6, 1e6)))[0]
    return rng.getrandbits(64)


def _int_lanes(rng: random.Random, bits: int, n: int) -> int:
    edges = [0, 1, (1 << bits) - 1, 1 << (bits - 1), (1 << (bits - 1)) - 1, 2, (1 << bits) - 2]
    v = 0
    for i in range(n):
        lane = rng.choice(edges) if rng.random() < 0.4 else rng.getrandbits(bits)
        v |= lane << (i * bits)
    return v


def random_vector(rng: random.Random) -> int:
    """128 bits: float32 lanes, float64 lanes or integer lanes of some width, with edge values."""
    r = rng.random()
    if r < 0.35:
        return sum(_f32(rng) << (32 * i) for i in range(4))
    if r < 0.6:
        return _f64(rng) | (_f64(rng) << 64)
    if r < 0.9:
        bits = rng.choice([8, 16, 32, 64])
        return _int_lanes(rng, bits, 128 // bits)
    return rng.getrandbits(128)


def random_gpr(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.35:
        return rng.choice(GPR_EDGES)
    if r < 0.5:
        return rng.getrandbits(8) | (rng.getrandbits(56) << 8 if rng.random() < 0.5 else 0)
    if r < 0.6:
        return rng.randrange(0, 70)  # shift counts and small values
    return rng.getrandbits(64)


_POOL: list[int] = []


def pooled_vector(rng: random.Random) -> int:
    """A random 128-bit value with edge values (random_vector); most come from a pool of 8,192
    drawn once, which keeps state generation from dominating the run time (32 vector registers)."""
    if not _POOL:
        prng = random.Random(0x5EED)
        _POOL.extend(random_vector(prng) for _ in range(8192))
    return random_vector(rng) if rng.random() < 0.1 else _POOL[rng.getrandbits(13)]


def x86_state(rng: random.Random, fixed: dict[str, int] | None = None) -> GuestState:
    """rax..r15, xmm0..xmm15 and the upper halves of ymm0..ymm15 (ymmh0..15), rflags (status
    bits), the fs and gs bases (canonical addresses: a CPU refuses others) and the data window."""
    regs = {n: random_gpr(rng) for n in GPR64}
    regs.update({n: random_vector(rng) for n in XMM})
    regs["rflags"] = 0x2 | (rng.getrandbits(12) & STATUS)
    regs["fs_base"] = rng.getrandbits(47)
    regs["gs_base"] = rng.getrandbits(47)
    regs.update({f"ymmh{i}": pooled_vector(rng) for i in range(16)})   # the upper halves of ymm0..15
    if fixed:
        regs.update(fixed)
    memory = b"".join(random_vector(rng).to_bytes(16, "little") for _ in range(DATA_SIZE // 16))
    return GuestState(regs, memory)


# 80-bit values as sign/exponent << 64 | significand: zeros, denormals, pseudo-denormals, the
# smallest and largest normals, 1.0, infinities, quiet and signalling NaNs, the indefinite, and the
# encodings the x87 does not support (unnormal, pseudo-infinity, pseudo-NaN)
J = 1 << 63
F80_EDGES = [0, 0x8000 << 64, 1, (0x8000 << 64) | (J - 1), J, (0x8000 << 64) | J | 5, (1 << 64) | J,
             (0x7FFE << 64) | M64, (0x3FFF << 64) | J, (0xBFFF << 64) | J, (0x7FFF << 64) | J, (0xFFFF << 64) | J,
             (0x7FFF << 64) | J | (1 << 62), (0xFFFF << 64) | J | (1 << 62), (0x7FFF << 64) | J | 1,
             (0x3FFF << 64) | 0x1234, (0x7FFF << 64), (0x7FFF << 64) | (1 << 62),
             # the integer formats' limits: 2^15, 2^31, 2^63 (negated by the random sign), and
             # 2^15 - 1, 2^31 - 1, 2^31 - 0.5
             (0x400E << 64) | J, (0x401E << 64) | J, (0x403E << 64) | J, (0x400D << 64) | (0xFFFE << 48),
             (0x401D << 64) | (0xFFFFFFFE << 32), (0x401D << 64) | (0xFFFFFFFF << 32)]


def random_f80(rng: random.Random) -> int:
    r = rng.random()
    sign = rng.getrandbits(1) << 79
    if r < 0.3:
        return rng.choice(F80_EDGES) ^ sign
    if r < 0.4:
        return sign | (0x7FFF << 64) | J | rng.getrandbits(63)                 # NaNs, payloads
    if r < 0.5:
        return sign | rng.getrandbits(63 if r < 0.45 else 64)                  # (pseudo-)denormals
    if r < 0.7:
        return sign | (rng.randrange(0x3FC0, 0x4040) << 64) | J | rng.getrandbits(63)
    if r < 0.8:
        # near float32's and float64's smallest and largest exponents (the stores that narrow)
        exp = rng.choice([0x3F81, 0x3F6A, 0x407E, 0x3C01, 0x3BCD, 0x43FE]) + rng.randrange(-3, 4)
        return sign | exp << 64 | J | (rng.getrandbits(63) >> rng.choice([0, 0, 20, 40, 60]))
    if r < 0.92:
        # few significant bits (exact products, ties) near 1, the range's ends and below it
        exp = rng.choice([rng.randrange(0x3FF0, 0x4010), rng.randrange(0, 80), rng.randrange(0x7FB0, 0x7FFF)])
        sig = (J | rng.getrandbits(12) << 51) >> (rng.randrange(64) if exp == 0 else 0)
        return sign | exp << 64 | sig
    return rng.getrandbits(80)


def random_float(rng: random.Random, size: int) -> int:
    """A value for an x87 memory operand of `size` bytes, with edge values: float32, float64,
    80-bit, or a 16-bit integer."""
    if size == 10:
        return random_f80(rng)
    if size in (4, 8) and rng.random() < 0.7:
        return _f32(rng) if size == 4 else _f64(rng)
    return rng.choice([0, 1, (1 << (8 * size)) - 1, 1 << (8 * size - 1)]) if rng.random() < 0.3 \
        else rng.getrandbits(8 * size)


def x87_state(rng: random.Random, used: set[int], empty: set[int]) -> dict[str, int]:
    """The x87 state: a random TOP, the registers st(i) for i in `used` in use and those in `empty`
    empty (the others either), random values (some repeated, for compares), C0..C3 random; the
    control word masks every exception, with random rounding and precision control."""
    top = rng.randrange(8)
    values = [random_f80(rng) for _ in range(8)]
    for i in range(8):
        if rng.random() < 0.15:
            values[i] = values[rng.randrange(8)] ^ (rng.getrandbits(1) << 79 if rng.random() < 0.3 else 0)
    tags = rng.getrandbits(8)
    for i in used:
        tags |= 1 << ((top + i) & 7)
    for i in empty:
        tags &= ~(1 << ((top + i) & 7))
    fsw = top << 11 | (rng.getrandbits(16) & 0x4700)
    fcw = 0x007F | rng.getrandbits(2) << 10 | rng.choice([0, 2, 3]) << 8
    return {"fcw": fcw, "fsw": fsw, "ftw": tags, **{f"fpr{i}": v for i, v in enumerate(values)}}


def a64_state(rng: random.Random, fixed: dict[str, int] | None = None) -> GuestState:
    """x0..x30, sp, nzcv, v0..v31, tpidr_el0 (FPCR and FPSR 0: the translations assume FPCR's
    defaults) and the data window."""
    regs = {n: random_gpr(rng) for n in XREGS}
    regs["sp"] = random_gpr(rng)
    regs["nzcv"] = rng.getrandbits(4) << 28
    regs.update({n: pooled_vector(rng) for n in VREGS})
    regs.update(tpidr_el0=rng.getrandbits(64), fpcr=0, fpsr=0)
    if fixed:
        regs.update(fixed)
    memory = b"".join(pooled_vector(rng).to_bytes(16, "little") for _ in range(DATA_SIZE // 16))
    return GuestState(regs, memory)


# ---- real code: the memory a real block's registers point into, the same on both sides -------------
WINDOW = 0x10000000
WINDOW_SIZE = 0x4000


def window_pointer(rng: random.Random) -> int:
    """An address in the middle of the window (so displacements of a few KiB stay in it)."""
    return WINDOW + 0x1000 + rng.randrange(0, (WINDOW_SIZE - 0x2000) // 16) * 16 + rng.choice([0, 8])


def real_register(rng: random.Random) -> int:
    """Mostly a pointer into the window; else a small count, or random."""
    r = rng.random()
    return window_pointer(rng) if r < 0.9 else rng.randrange(0, 64) if r < 0.95 else rng.getrandbits(64)


def real_memory(rng: random.Random, pages: list[int]) -> dict[int, bytes]:
    """The window holding pointers into itself and random bytes, and `pages` (those the block's
    PC-relative forms reach) random."""
    window = bytearray(rng.randbytes(WINDOW_SIZE))
    for k in range(0, WINDOW_SIZE, 8):
        if rng.random() < 0.5:
            window[k:k + 8] = window_pointer(rng).to_bytes(8, "little")
    memory = {WINDOW: bytes(window)}
    memory.update({page: rng.randbytes(0x1000) for page in pages})
    return memory
