"""Boards and devices seen from guest code: UARTs both ways, exit devices, halts, limits and faults."""

from __future__ import annotations

import pytest
from guests import (
    A0,
    RV_LOOP,
    RV_WFI,
    T0,
    T1,
    asm,
    load_addr,
    run_code,
    rv,
    rv_la,
    rv_li,
    rv_lw,
    rv_sw,
)
from unicorn.arm64_const import UC_ARM64_REG_X0

from vmcli.errors import ExitStatus

A64 = load_addr("arm64")
X86 = load_addr("x86_64")
A64_EXIT = "movz x1, #0x2000; movk x1, #0x4008, lsl #16; mov x0, #0x18; hlt #0xf000"
EXIT_BLOCK = (0x20026).to_bytes(8, "little") + (0).to_bytes(8, "little")


def test_pl011_echo_polls_the_flag_register() -> None:
    # Echo input bytes until the receive FIFO stays empty at end of input, then exit.
    code = asm("arm64", f"""
        movz x2, #0x0900, lsl #16
    poll:
        ldr w3, [x2, #0x18]
        tbnz w3, #4, done
        ldr w4, [x2]
        add w4, w4, #1
        str w4, [x2]
        b poll
    done:
        {A64_EXIT}
    """, A64)
    out = run_code("arm64", code, data=EXIT_BLOCK, data_offset=0x2000, stdin=b"HAL")
    assert out.stdout == b"IBM" and out.result.status == 0
    assert out.result.device_accesses["uart0"] == 3 * 3 + 1


# PL011 TRM (ARM DDI 0183G), tables 3-1 and 4-1: reset values and the identification registers of
# an r1p5 PL011 (QEMU's model gives the same). FR at reset: TXFE and RXFE set (0x90).
PL011_RESET = {0x018: 0x90, 0x030: 0x0300, 0x034: 0x12, 0x02C: 0x00, 0x038: 0x00, 0x004: 0x00, 0x024: 0x00,
               0x028: 0x00, 0xFE0: 0x11, 0xFE4: 0x10, 0xFE8: 0x34, 0xFEC: 0x00, 0xFF0: 0x0D, 0xFF4: 0xF0,
               0xFF8: 0x05, 0xFFC: 0xB1}


def pl011_reads(offsets: list[int], stdin: bytes = b"") -> dict[int, int]:
    """Each PL011 register as arm64 code reads it (32-bit loads), stored to RAM by the guest."""
    results = A64 + 0x3000
    lines = ["movz x2, #0x0900, lsl #16", f"movz x3, #{results & 0xFFFF:#x}", f"movk x3, #{results >> 16:#x}, lsl #16"]
    for i, off in enumerate(offsets):
        lines += [f"ldr w4, [x2, #{off:#x}]", f"str w4, [x3, #{4 * i}]"]
    out = run_code("arm64", asm("arm64", "; ".join([*lines, "wfi"]), A64), stdin=stdin)
    raw = out.machine.memory.read(results, 4 * len(offsets))
    return {off: int.from_bytes(raw[4 * i:4 * i + 4], "little") for i, off in enumerate(offsets)}


def test_pl011_registers_match_the_trm() -> None:
    assert pl011_reads(list(PL011_RESET)) == PL011_RESET


def test_pl011_flags_follow_the_receive_fifo() -> None:
    assert pl011_reads([0x018]) == {0x018: 0x90}                  # TXFE | RXFE: nothing to read
    assert pl011_reads([0x018], stdin=b"x") == {0x018: 0x80}      # TXFE: a byte waits (RXFE clear)


# PC16550D datasheet, table "UART Reset Configuration": IER 0, IIR 0x01 (no interrupt pending), LCR 0,
# MCR 0, LSR 0x60 (THRE | TEMT); MSR reports CTS, DSR and DCD as QEMU's serial does (0xB0).
NS16550_RESET = {1: 0x00, 2: 0x01, 3: 0x00, 4: 0x00, 5: 0x60, 6: 0xB0}


def ns16550_reads_riscv(offsets: list[int], *, before: list[tuple[int, int]] = (), stdin: bytes = b"") -> list[int]:
    """Each NS16550 register as riscv64 code reads it (byte loads), after the given byte writes."""
    words = [*rv_li(T0, 0x1000_0000), *rv_la(T1, 0x400 - 4 * 2)]
    for off, value in before:
        words += [*rv_li(A0, value), _sb(A0, T0, off)]
    for i, off in enumerate(offsets):
        words += [_lbu(A0, T0, off), _sb(A0, T1, i)]
    out = run_code("riscv64", rv([*words, RV_WFI]), stdin=stdin)
    return list(out.machine.memory.read(load_addr("riscv64") + 0x400, len(offsets)))


def test_ns16550_registers_match_the_datasheet() -> None:
    assert ns16550_reads_riscv(list(NS16550_RESET)) == list(NS16550_RESET.values())


def test_ns16550_status_and_fifo_bits() -> None:
    assert ns16550_reads_riscv([5], stdin=b"y") == [0x61]                 # LSR: DR | THRE | TEMT
    assert ns16550_reads_riscv([2], before=[(2, 0x01)]) == [0xC1]         # FCR FIFO enable: IIR bits 7:6 set
    assert ns16550_reads_riscv([7], before=[(7, 0x5A)]) == [0x5A]         # scratch register
    # DLAB: offsets 0 and 1 are the divisor latch (QEMU's reset divisor 12), then the registers again
    assert ns16550_reads_riscv([0, 1, 3], before=[(3, 0x80)]) == [0x0C, 0x00, 0x80]
    assert ns16550_reads_riscv([0, 1], before=[(3, 0x80), (0, 0x34), (1, 0x12), (3, 0x03)]) == [0x00, 0x00]


def test_ns16550_on_x86_ports_matches_the_datasheet() -> None:
    reads = "; ".join(f"mov dx, {0x3F8 + off:#x}; in al, dx; mov byte ptr [{0x2000 + i:#x}], al"
                      for i, off in enumerate(NS16550_RESET))
    out = run_code("x86_64", asm("x86_64", reads + "; hlt", X86))
    assert list(out.machine.memory.read(0x2000, len(NS16550_RESET))) == list(NS16550_RESET.values())


def test_ns16550_on_x86_ports_echo_and_exit_port() -> None:
    code = asm("x86_64", """
    poll:
        mov dx, 0x3fd
        in al, dx
        test al, 1
        jz done
        mov dx, 0x3f8
        in al, dx
        sub al, 32
        out dx, al
        jmp poll
    done:
        mov al, 42
        out 0xf4, al
        hlt
    """, X86)
    out = run_code("x86_64", code, stdin=b"abc")
    assert out.stdout == b"ABC" and out.result.status == 42 and out.result.reason == "exit"


def test_x86_unknown_ports_read_all_ones() -> None:
    code = asm("x86_64", "mov dx, 0x80; in al, dx; mov bl, al; mov al, bl; out 0xf4, al", X86)
    assert run_code("x86_64", code).result.status == 0xFF


def test_riscv_ns16550_lsr_and_finisher_codes() -> None:
    # t1 = LSR; write 'K' to THR, then exit with code LSR (0x60: THRE | TEMT, no input)
    words = [*rv_li(T0, 0x1000_0000), _lbu(T1, T0, 5), *rv_li(A0, ord("K")), _sb(A0, T0, 0),
             _slli(T1, T1, 16), *rv_li(A0, 0x3333), _or(T1, T1, A0), *rv_li(T0, 0x100000), rv_sw(T1, T0), RV_LOOP]
    out = run_code("riscv64", rv(words))
    assert out.stdout == b"K" and out.result.status == 0x60


@pytest.mark.parametrize(("value", "status", "reason"), [
    (0x5555, 0, "exit"), ((3 << 16) | 0x3333, 3, "exit"), (0x7777, ExitStatus.GUEST_RESET, "reset"),
])
def test_sifive_test_finisher(value: int, status: int, reason: str) -> None:
    out = run_code("riscv64", rv([*rv_li(T0, 0x100000), *rv_li(T1, value), rv_sw(T1, T0), RV_LOOP]))
    assert out.result.status == status and out.result.reason == reason


def test_wfi_without_interrupts_is_reported_not_hung() -> None:
    for arch, code in (("arm64", asm("arm64", "wfi", A64)), ("x86_64", asm("x86_64", "hlt", X86)),
                       ("riscv64", rv([RV_WFI, RV_LOOP]))):
        out = run_code(arch, code, timeout=5)
        assert out.result.status == ExitStatus.GUEST_HALTED, arch


def test_timeout_stops_a_spinning_guest() -> None:
    out = run_code("arm64", asm("arm64", "b .", A64), timeout=0.3)
    assert out.result.status == ExitStatus.TIMEOUT and out.result.reason == "timeout"


@pytest.mark.parametrize("limit", [1, 2, 11, 1000])
def test_max_insns_is_exact(limit: int) -> None:
    # mov x0, #0 then `add; b` pairs: after N instructions x0 = N // 2
    out = run_code("arm64", asm("arm64", "mov x0, #0; loop: add x0, x0, #1; b loop", A64), max_insns=limit)
    assert out.result.status == ExitStatus.INSN_LIMIT and out.result.insns == limit
    assert out.machine.uc.reg_read(UC_ARM64_REG_X0) == limit // 2


def test_max_insns_counts_across_riscv_semihosting_restarts() -> None:
    from guests import A1, RV_SEMIHOST, rv_la
    words = [*rv_li(A0, 0x03), *rv_la(A1, 0x200 - 8), *RV_SEMIHOST, RV_LOOP]   # writec, then spin
    out = run_code("riscv64", rv(words), data=b"!", data_offset=0x200, max_insns=50)
    assert out.stdout == b"!" and out.result.status == ExitStatus.INSN_LIMIT and out.result.insns == 50


def test_x86_starts_in_long_mode_with_a_stack() -> None:
    code = asm("x86_64", "mov rax, 0x123456789; push rax; pop rbx; cmp rax, rbx; jne bad; mov al, 7; out 0xf4, al;"
                         "bad: mov al, 1; out 0xf4, al", X86)
    out = run_code("x86_64", code)
    assert out.result.status == 7 and out.result.device_accesses["exit"] == 1


@pytest.mark.parametrize(("arch", "code", "reason"), [
    ("arm64", asm("arm64", "movz x1, #0x0f00, lsl #16; ldr x0, [x1]", A64), "read from unmapped memory"),
    ("arm64", asm("arm64", "movz x1, #0x0f00, lsl #16; str x0, [x1]", A64), "write to unmapped memory"),
    ("arm64", asm("arm64", "movz x1, #0x0f00, lsl #16; br x1", A64), "instruction fetch from unmapped memory"),
    ("arm64", b"\x00\x00\x00\x00", "undefined instruction"),
    ("arm64", asm("arm64", "svc #0", A64), "supervisor call (svc) with no handler"),
    ("arm64", asm("arm64", "brk #1", A64), "breakpoint (brk)"),
    ("x86_64", asm("x86_64", "ud2", X86), "undefined instruction"),
    ("x86_64", asm("x86_64", "int3", X86), "breakpoint (int3)"),
    ("riscv64", rv([0x00000073]), "environment call (ecall) with no handler"),
    ("x86_64", asm("x86_64", "mov rax, 0xe0000000; mov rbx, [rax]", X86), "read from unmapped memory"),
    ("x86_64", asm("x86_64", "xor ecx, ecx; xor edx, edx; mov eax, 1; div ecx", X86), "divide error (#DE)"),
    ("riscv64", rv([0x00000000]), "undefined instruction"),
    ("riscv64", rv([*rv_li(T0, 0x0100_0000), rv_lw(T1, T0)]), "read from unmapped memory"),
])
def test_guest_faults_are_reported(arch: str, code: bytes, reason: str) -> None:
    out = run_code(arch, code, timeout=5)
    assert out.result.status == ExitStatus.GUEST_FAULT and out.result.reason == "fault"
    fault = out.result.fault
    assert fault is not None and fault.reason == reason
    assert fault.registers and (fault.insn_text or "fetch" in reason)


def test_fault_report_names_the_faulting_instruction() -> None:
    code = asm("arm64", "nop; movz x1, #0x0f00, lsl #16; ldr w5, [x1, #8]", A64)
    fault = run_code("arm64", code).result.fault
    assert fault is not None
    assert fault.pc == A64 + 8 and fault.address == 0x0F00_0008 and fault.size == 4
    assert fault.insn_text == "ldr w5, [x1, #8]"


def _lbu(rd: int, rs1: int, imm: int) -> int:
    return ((imm & 0xFFF) << 20) | (rs1 << 15) | (4 << 12) | (rd << 7) | 0x03


def _sb(rs2: int, rs1: int, imm: int) -> int:
    return ((imm >> 5 & 0x7F) << 25) | (rs2 << 20) | (rs1 << 15) | ((imm & 0x1F) << 7) | 0x23


def _slli(rd: int, rs1: int, sh: int) -> int:
    return (sh << 20) | (rs1 << 15) | (1 << 12) | (rd << 7) | 0x13


def _or(rd: int, rs1: int, rs2: int) -> int:
    return (rs2 << 20) | (rs1 << 15) | (6 << 12) | (rd << 7) | 0x33


def test_nothing_reaches_a_device_after_the_guest_exits() -> None:
    # The exit and the writes after it sit in one translated block.
    code = asm("x86_64", "mov al, 5; out 0xf4, al; mov dx, 0x3f8; mov al, 0x41; out dx, al; out 0xf4, al", X86)
    out = run_code("x86_64", code)
    assert out.result.status == 5 and out.stdout == b""


@pytest.mark.parametrize("words", [[0x00000013, 0x00000073], [0x00000013, 0xFFFFFFFF], [0x00010001, 0x00000000]])
def test_riscv_fault_pc_is_the_trapping_instruction(words: list[int]) -> None:
    # nop; ecall / nop; illegal / c.nop; c.nop; c.unimp: the report points at the second instruction
    fault = run_code("riscv64", rv(words)).result.fault
    assert fault is not None and fault.pc == load_addr("riscv64") + 4


@pytest.mark.parametrize(("arch", "text", "insn"), [
    ("arm64", "nop; svc #0", "svc #0"), ("arm64", "nop; brk #1", "brk #1"),
    ("x86_64", "nop; int3", "int3"), ("x86_64", "nop; int 0x80", "int 0x80"), ("x86_64", "nop; syscall", "syscall"),
])
def test_traps_report_the_trapping_instruction(arch: str, text: str, insn: str) -> None:
    fault = run_code(arch, asm(arch, text, load_addr(arch))).result.fault
    assert fault is not None and fault.insn_text == insn and fault.pc == load_addr(arch) + 1 + 3 * (arch == "arm64")
