"""Oracle notes: where Unicorn 2.1 (= QEMU 5 TCG) departs from the x86 hardware, and the hardware rule.

The verifier compares translations with Unicorn running the original code, except in the cases
below, where Unicorn's x86 emulation is known to differ from Intel's manuals; there the expected
value comes from the rule quoted here.

1. NaN propagation in SSE arithmetic. QEMU 5's softfloat applies x87 rules to SSE (a QNaN beats
   an SNaN; of two NaNs the larger significand wins). The hardware returns the *first* source
   operand's NaN, quieted, whenever it is a NaN (Intel SDM Vol. 1, 4.8.3.5 and Table 4-7, "SSE and
   SSE2 ... first source operand"). Lanes where both inputs are NaN take that rule here.
2. Horizontal SSSE3 ops (phaddw/d/sw, phsubw/d/sw) with the same register as both operands: QEMU
   writes the destination while still reading it as the source. The verifier runs the oracle on
   the same operation with the source moved to an unused register holding the same value.
"""

from __future__ import annotations

from vmcli.translate.isa.x86.decoder import Insn, Mem, Reg
from vmcli.translate.isa.x86.registers import GPR64

UNALIAS = {"phaddw", "phaddd", "phaddsw", "phsubw", "phsubd", "phsubsw"}

_BINARY = {f"{op}{t}" for op in ("add", "sub", "mul", "div") for t in ("ps", "pd", "ss", "sd")}
_PAIRS = {"haddps", "haddpd", "hsubps", "hsubpd"}
_ADDSUB = {"addsubps", "addsubpd"}


def _is_nan(v: int, bits: int) -> bool:
    exp_mask = 0x7F800000 if bits == 32 else 0x7FF0000000000000
    frac_mask = 0x007FFFFF if bits == 32 else 0x000FFFFFFFFFFFFF
    return (v & exp_mask) == exp_mask and (v & frac_mask) != 0


def _quiet(v: int, bits: int) -> int:
    return v | (1 << (22 if bits == 32 else 51))


def _lanes(v: int, bits: int) -> list[int]:
    return [(v >> (bits * i)) & ((1 << bits) - 1) for i in range(128 // bits)]


def _join(lanes: list[int], bits: int) -> int:
    return sum(lane << (bits * i) for i, lane in enumerate(lanes))


def source_value(insn: Insn, op: Reg | Mem, regs: dict[str, int], memory: bytes, data: int) -> int:
    if isinstance(op, Reg):
        return regs[f"xmm{op.num}"]
    ea = insn.next_ip + op.disp if op.base == 16 else (
        (regs[GPR64[op.base]] if op.base >= 0 else 0) + (regs[GPR64[op.index]] * op.scale if op.index >= 0 else 0)
        + op.disp)
    ea &= (1 << 64) - 1
    off = ea - data
    return int.from_bytes(memory[off:off + op.size], "little")


def hardware_nan_fix(insn: Insn, regs: dict[str, int], memory: bytes, want: dict[str, int], data: int) -> None:
    """Replace Unicorn's result in lanes where both inputs are NaN by the SDM's first-operand rule."""
    m = insn.spec.mnemonic
    if m not in _BINARY | _PAIRS | _ADDSUB:
        return
    dst, src = insn.operands[0], insn.operands[1]
    assert isinstance(dst, Reg) and isinstance(src, Reg | Mem)
    bits = 32 if m.endswith(("ps", "ss")) else 64
    a = _lanes(regs[f"xmm{dst.num}"], bits)
    b = _lanes(source_value(insn, src, regs, memory, data), bits)
    out = _lanes(want[f"xmm{dst.num}"], bits)
    n = len(a)
    if m in _PAIRS:
        pairs = [(a[2 * i], a[2 * i + 1]) for i in range(n // 2)] + [(b[2 * i], b[2 * i + 1]) for i in range(n // 2)]
    else:
        pairs = list(zip(a, b, strict=True))
    lanes = range(1) if m[-2] == "s" and m not in _PAIRS | _ADDSUB else range(n)
    for i in lanes:
        x, y = pairs[i]
        if _is_nan(x, bits) and _is_nan(y, bits):
            out[i] = _quiet(x, bits)
    want[f"xmm{dst.num}"] = _join(out, bits)

# instructions whose oracle answer needs one of the corrections above
CORRECTED = _BINARY | _PAIRS | _ADDSUB | UNALIAS
