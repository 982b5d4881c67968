"""The host CPU as the x86-64 oracle (verify/native.py): the block's last branch is recorded, not
taken; registers, flags, vector registers, fs/gs bases and memory come back; a fault is reported and
the runs after it still run."""

from __future__ import annotations

import random

import pytest

from vmcli.translate.verify import native
from vmcli.translate.verify.native import GPRS, NativeX86, Run
from vmcli.translate.verify.state import DATA
from vmcli.translate.x86_to_a64.check import Verifier, random_state
from vmcli.translate.x86_to_a64.frontend import translate

pytestmark = pytest.mark.skipif(not native.available(), reason="the host is not x86-64 Linux")
AT = 0x110000


@pytest.fixture(scope="module")
def cpu() -> NativeX86:
    return NativeX86()


def _regs(**values: int) -> dict[str, int]:
    regs = dict.fromkeys(GPRS, 0)
    regs["rsp"] = DATA + 0x100
    regs.update(values)
    return regs


def _one(cpu: NativeX86, hexcode: str, memory: bytes | None = None, **values: int) -> tuple[dict[str, int], bytes]:
    window = {DATA: memory if memory is not None else bytes(0x200)}
    out = cpu.run(bytes.fromhex(hexcode), AT, [Run(_regs(**values), window)])[0]
    assert not isinstance(out, str), out
    return out[0], out[1][DATA]


def test_registers_flags_and_the_end_of_a_block(cpu: NativeX86) -> None:
    regs, _ = _one(cpu, "4801c8", rax=(1 << 64) - 1, rcx=1)          # add rax, rcx
    assert regs["rax"] == 0 and regs["rflags"] == 0x55 and regs["rip"] == AT + 3   # CF PF AF ZF
    assert regs["mxcsr"] == native.MXCSR_DEFAULT and regs["syscall"] == 0


@pytest.mark.parametrize(("hexcode", "values", "exit"), [
    ("7505", {"rflags": 0}, AT + 7),                  # jne taken
    ("7505", {"rflags": 0x40}, AT + 2),               # jne not taken
    ("0f8410000000", {"rflags": 0x40}, AT + 0x16),    # je rel32 taken
    ("e3fe", {"rcx": 0}, AT),                         # jrcxz to itself
    ("e9fbffffff", {}, AT),                           # jmp rel32
    ("ffe0", {"rax": 0xDEADBEEF}, 0xDEADBEEF),        # jmp rax
    ("0f05", {}, AT + 2),                             # syscall: not executed, an exit
])
def test_the_last_branch_is_recorded(cpu: NativeX86, hexcode: str, values: dict[str, int], exit: int) -> None:
    regs, _ = _one(cpu, hexcode, **values)
    assert regs["rip"] == exit
    assert regs["syscall"] == (hexcode == "0f05")


def test_call_and_ret_move_the_stack_as_the_cpu_does(cpu: NativeX86) -> None:
    regs, mem = _one(cpu, "e810000000")                                # call +0x10
    assert regs["rip"] == AT + 0x15 and regs["rsp"] == DATA + 0xF8
    assert int.from_bytes(mem[0xF8:0x100], "little") == AT + 5
    memory = bytearray(0x200)
    memory[0x18:0x20] = (0xABCDEF).to_bytes(8, "little")
    regs, mem = _one(cpu, "ff5108", bytes(memory), rcx=DATA + 0x10)      # call [rcx + 8]
    assert regs["rip"] == 0xABCDEF and int.from_bytes(mem[0xF8:0x100], "little") == AT + 3
    memory[0x100:0x108] = (0x123456789).to_bytes(8, "little")
    regs, _ = _one(cpu, "c20800", bytes(memory))                          # ret 8
    assert regs["rip"] == 0x123456789 and regs["rsp"] == DATA + 0x110


def test_segment_bases_and_vector_registers(cpu: NativeX86) -> None:
    memory = bytearray(0x200)
    memory[0x28:0x30] = (0x1122334455).to_bytes(8, "little")
    regs, _ = _one(cpu, "64488b042528000000", bytes(memory), fs_base=DATA)   # mov rax, fs:[0x28]
    assert regs["rax"] == 0x1122334455 and regs["fs_base"] == DATA
    regs, _ = _one(cpu, "65488b0c2510000000", bytes(memory), gs_base=DATA + 0x18)   # mov rcx, gs:[0x10]
    assert regs["rcx"] == 0x1122334455 and regs["gs_base"] == DATA + 0x18
    regs, _ = _one(cpu, "660fefc1", xmm0=3, xmm1=5)                      # pxor xmm0, xmm1
    assert regs["xmm0"] == 6
    if cpu.avx:
        regs, _ = _one(cpu, "c5f574c2", xmm1=1, xmm2=1, ymmh1=5, ymmh2=7)   # vpcmpeqb ymm0, ymm1, ymm2
        assert regs["xmm0"] == (1 << 128) - 1 and regs["ymmh0"] == (1 << 128) - 1 - 0xFF


def test_a_fault_is_reported_and_the_other_runs_go_on(cpu: NativeX86) -> None:
    code = bytes.fromhex("488b00")                                       # mov rax, [rax]
    window = {DATA: (7).to_bytes(8, "little") * 4}
    out = cpu.run(code, AT, [Run(_regs(rax=DATA), window), Run(_regs(rax=0), window),
                             Run(_regs(rax=DATA + 8), window)])
    assert [o if isinstance(o, str) else o[0]["rax"] for o in out] == [7, "source faulted (on the host CPU)", 7]


def test_two_nan_operands_give_the_first_one_quieted() -> None:
    """The SDM's rule, which the translation follows and Unicorn does not: checked on the CPU."""
    verifier = Verifier()
    assert verifier.native is not None
    code = bytes.fromhex("0f58c1")                                       # addps xmm0, xmm1
    st = random_state(random.Random(3))
    st.regs["xmm0"] = 0x7F812345_7FC00001_FFC00000_7FA00000             # SNaN, QNaN, -QNaN, SNaN
    st.regs["xmm1"] = 0x7FC00000_7FE00000_7F800001_7FC00000
    out = verifier.native.run(code, AT, [Run(st.regs, {DATA: st.memory})])[0]
    assert not isinstance(out, str) and out[0]["xmm0"] == 0x7FC12345_7FC00001_FFC00000_7FE00000
    runs, bad = verifier.check(code, translate(code, AT).code, {}, [st], lambda r: 0, random.Random(1))
    assert runs == 1 and not bad
