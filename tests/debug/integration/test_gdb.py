"""The real gdb-multiarch against `vm run --gdb` on every arch: attach, stepi, breakpoints, continue,
watchpoints, register and memory reads and writes, Ctrl-C, kill, detach, faults and exits.

Oracles: the ELF file (entry, symbols, bytes, via pyelftools), capstone (instruction lengths), zlib's
CRC table and the bench program's xorshift (values the watchpoints must see), and the guest's own
output and exit status after gdb changed its registers or memory.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import capstone
import pytest
from gdb_driver import ARCHES, IMAGES, ROOT, entry, gdb_session, symbols

from vmcli.machine.cpu import ARCHES as SPECS

RESULT_REG = {"arm64": "x0", "riscv64": "a0", "x86_64": "rax"}
STORE = {"arm64": ("str",), "riscv64": ("sw", "c.sw"), "x86_64": ("mov",)}


def insn_at(arch: str, image: Path, address: int) -> capstone.CsInsn:
    from elftools.elf.elffile import ELFFile
    with image.open("rb") as f:
        for seg in ELFFile(f).iter_segments("PT_LOAD"):
            start = seg["p_paddr"]
            data = seg.data()
            if start <= address < start + len(data):
                spec = SPECS[arch]
                md = capstone.Cs(spec.cs_arch, spec.cs_mode)
                return next(md.disasm(data[address - start:address - start + 16], address))
    raise AssertionError(f"{address:#x} not in {image}")


def pc_values(out: str) -> list[int]:
    return [int(v, 16) for v in re.findall(r"^PC=(0x[0-9a-f]+)", out, re.M)]


@pytest.mark.parametrize("arch", ARCHES)
def test_attach_stepi_breakpoint_continue_and_exit(arch: str) -> None:
    image = IMAGES / f"hello-{arch}.elf"
    start, main = entry(image), symbols(image)["main"]
    first = insn_at(arch, image, start)
    s = gdb_session(image, [
        'printf "PC=%#lx\\n", $pc', "stepi", 'printf "PC=%#lx\\n", $pc',
        f"break *{main:#x}", "continue", 'printf "PC=%#lx\\n", $pc',
        "delete", "continue",
    ])
    assert pc_values(s.gdb) == [start, start + first.size, main], s.gdb
    assert "exited normally" in s.gdb
    assert s.stdout == f"Hello from {arch}\n"
    assert s.status == 0


@pytest.mark.parametrize("arch", ARCHES)
def test_register_and_memory_writes_change_what_the_guest_does(arch: str) -> None:
    # exit-<arch> returns 3 from main; stop at main's return, make it 7.
    image = IMAGES / f"exit-{arch}.elf"
    main = symbols(image)["main"]
    ret = main + insn_at(arch, image, main).size       # main is "set result; return"
    reg = RESULT_REG[arch]
    s = gdb_session(image, [
        f"hbreak *{ret:#x}", "continue", f'printf "R=%d\\n", ${reg}', f"set var ${reg} = 7", "continue",
    ])
    assert "R=3" in s.gdb, s.gdb
    assert "exited with code 07" in s.gdb
    assert s.status == 7

    # Patch the greeting in guest memory: "Hello" becomes "Hallo" (the compilers keep the first
    # character in an immediate, so the second is patched).
    image = IMAGES / f"hello-{arch}.elf"
    data = image.read_bytes()
    from elftools.elf.elffile import ELFFile
    with image.open("rb") as f:
        address = next(seg["p_paddr"] + seg.data().index(b"Hello from")
                       for seg in ELFFile(f).iter_segments("PT_LOAD") if b"Hello from" in seg.data())
    word = int.from_bytes(data[data.index(b"Hello from"):][:4], "little")
    s = gdb_session(image, [
        f'printf "W=%#x\\n", *(unsigned int *){address:#x}',
        f"set var *(unsigned char *){address + 1:#x} = 0x61", "continue",
    ])
    assert f"W={word:#x}" in s.gdb, s.gdb
    assert s.stdout == f"Hallo from {arch}\n"


VECTOR = {
    "arm64": ("set var $v1.d[0] = 2.5", 'printf "V=%#lx\\n", $v1.ud[0]', "V=0x4004000000000000"),
    "x86_64": ("set var $xmm1.v2_double[0] = 2.5", 'printf "V=%#lx\\n", $xmm1.v2_int64[0]', "V=0x4004000000000000"),
    "riscv64": ("set var $ft1.double = 2.5", 'printf "V=%f\\n", $ft1.double', "V=2.500000"),
}


@pytest.mark.parametrize("arch", ARCHES)
def test_simd_fp_registers_and_monitor_commands(arch: str) -> None:
    image = IMAGES / f"hello-{arch}.elf"
    write, read, expect = VECTOR[arch]
    s = gdb_session(image, [write, read, "stepi", "stepi", "monitor reset",
                            "maintenance flush register-cache",   # gdb caches registers across `monitor`
                            'printf "PC=%#lx\\n", $pc', "monitor regs", "kill"])
    assert expect in s.gdb, s.gdb
    assert pc_values(s.gdb) == [entry(image)]                 # reset: back at the entry point
    assert re.search(r"\b(sp|rsp) = 0x[0-9a-f]{16}", s.gdb)       # the register dump
    assert s.status == 130 and s.stdout == ""


@pytest.mark.parametrize("arch", ARCHES)
def test_watchpoints(arch: str) -> None:
    image = IMAGES / f"bench-{arch}.elf"
    syms = symbols(image)
    table, buf = syms["crc_table"], syms["buf"]
    # crc_table[1] of the IEEE CRC-32 is 0x77073096; buf[0] is the first xorshift32 byte of 0x12345678.
    x = 0x12345678
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    x ^= (x << 5) & 0xFFFFFFFF
    first_byte = x & 0xFF
    s = gdb_session(image, [
        f"watch *(unsigned int *){table + 4:#x}", "continue", 'printf "PC=%#lx\\n", $pc', "delete",
        f"awatch *(unsigned char *){buf:#x}", "continue", "delete",
        f"rwatch *(unsigned char *){buf:#x}", "continue", "kill",
    ])
    assert "Old value = 0\nNew value = 1996959894" in s.gdb, s.gdb          # 0x77073096
    pc = pc_values(s.gdb)[0]
    # gdb reports the stop right after the store that wrote crc_table[1].
    ending_here = [i for i in _insns_before(arch, image, pc) if i.address + i.size == pc]
    assert any(i.mnemonic.startswith(STORE[arch]) and (arch != "x86_64" or i.op_str.split(",")[0].endswith("]"))
               for i in ending_here), (hex(pc), ending_here)
    assert f"New value = {first_byte} " in s.gdb          # awatch: buf[0] written by the fill loop
    assert f"Value = {first_byte} " in s.gdb              # rwatch: read by the first CRC round
    assert s.status == 130


def _insns_before(arch: str, image: Path, pc: int) -> list[capstone.CsInsn]:
    out = []
    for back in range(1, 16):
        try:
            insn = insn_at(arch, image, pc - back)
        except (StopIteration, AssertionError):
            continue
        out.append(insn)
    return out


@pytest.mark.parametrize("arch", ARCHES)
def test_ctrl_c_interrupts_a_running_guest_and_kill_ends_it(arch: str) -> None:
    image = IMAGES / f"bench-{arch}.elf"
    main = symbols(image)["main"]
    # Stopped in main first: Ctrl-C, which follows the continue at once, then stops it in main's loop.
    s = gdb_session(image, ["break main", "continue", "delete", 'echo RUNNING\\n', "continue",
                            'printf "PC=%#lx\\n", $pc', "kill"], interrupt_after="RUNNING")
    assert "received signal SIGINT" in s.gdb, s.gdb
    assert main <= pc_values(s.gdb)[0] < main + 0x400
    assert "bench:" not in s.stdout
    assert s.status == 130


UNDEFINED = {"arm64": "0x00000000", "riscv64": "0x00000000", "x86_64": "0x0b0f"}    # udf #0, illegal, ud2


@pytest.mark.parametrize("arch", ARCHES)
def test_fault_stops_with_sigsegv_and_detach_lets_the_guest_run_on(arch: str) -> None:
    s = gdb_session(IMAGES / f"fault-{arch}.elf", ["continue", 'printf "PC=%#lx\\n", $pc', "kill"])
    assert "received signal SIGSEGV" in s.gdb, s.gdb
    assert "fault: reading unmapped address" in s.stdout
    # an undefined instruction written at the entry point: SIGILL, with the PC on it
    image = IMAGES / f"hello-{arch}.elf"
    s = gdb_session(image, [f"set var *(unsigned int *)$pc = {UNDEFINED[arch]}", "continue",
                            'printf "PC=%#lx\\n", $pc', "kill"])
    assert "received signal SIGILL" in s.gdb, s.gdb
    assert pc_values(s.gdb) == [entry(image)]
    s = gdb_session(IMAGES / f"hello-{arch}.elf", ["stepi", "detach"])
    assert "Detaching" in s.gdb or "detached" in s.gdb
    assert s.stdout == f"Hello from {arch}\n" and s.status == 0


@pytest.mark.parametrize("arch", ["arm64", "riscv64"])
def test_stepping_through_semihosting_calls_keeps_them(arch: str, tmp_path: Path) -> None:
    # sys_semihost is `hlt #0xf000; ret` on arm64 and `slli; ebreak; srai; ret` on riscv64. gdb
    # single-steps it (riscv64: by breakpoints, and it moves the PC over the ebreak itself, taking
    # it for a breakpoint instruction); every call must still happen exactly once.
    image = IMAGES / f"libc-{arch}.elf"
    call = symbols(image)["sys_semihost"]
    steps = ["stepi"] * 4
    shutil.copy(ROOT / "guest-images" / "data" / "input.txt", tmp_path)
    s = gdb_session(image, [f"break *{call:#x}", "continue", *steps, "continue", *steps, "delete", "continue"],
                    vm_args=("--semihosting-root", str(tmp_path)))
    assert s.stdout == ("libc: read input.txt: 193 bytes, 5 lines, 37 words, crc32 f1273916\n"
                        "libc: wrote output.txt: 193 bytes, crc32 b6bd802c\n"), s.gdb
    assert s.status == 5 and "exited with code 05" in s.gdb


WAIT_FOR_INTERRUPT = {"x86_64": "0xf4f4f4f4", "arm64": "0xd503207f", "riscv64": "0x10500073"}   # hlt, wfi, wfi


@pytest.mark.parametrize("arch", ARCHES)
def test_a_halted_guest_keeps_running_until_ctrl_c(arch: str) -> None:
    # No device raises interrupts: plain vm run ends such a guest (status 122); under gdb it stays
    # "running", as on QEMU, until the debugger interrupts it.
    image = IMAGES / f"hello-{arch}.elf"
    s = gdb_session(image, [f"set var *(unsigned int *)$pc = {WAIT_FOR_INTERRUPT[arch]}", "echo RUNNING\\n",
                            "continue", 'printf "PC=%#lx\\n", $pc', "kill"], interrupt_after="RUNNING")
    assert "received signal SIGINT" in s.gdb, s.gdb
    # Ctrl-C follows the continue at once: it may stop the guest before or just after the wait
    # instruction (tests/debug/test_gdbstub.py holds one that is surely halted first).
    assert pc_values(s.gdb)[0] in (entry(image), entry(image) + (1 if arch == "x86_64" else 4))
    assert s.status == 130 and s.stdout == ""


def test_the_session_in_the_docs_runs_as_written() -> None:
    """docs/debugging.md's gdb session, command for command, prints what the docs show."""
    text = (ROOT / "docs" / "debugging.md").read_text()
    block = text.split("$ gdb-multiarch guest-images/bin/hello-arm64.elf\n", 1)[1].split("```", 1)[0]
    commands = [line[len("(gdb) "):].split("  #")[0].strip() for line in block.splitlines()
                if line.startswith("(gdb) ")]
    shown = [line for line in block.splitlines() if line and not line.startswith("(gdb) ")]
    assert commands[0].startswith("target remote") and commands[-1] == "kill"
    s = gdb_session(IMAGES / "hello-arm64.elf", commands[1:])
    for line in shown:
        assert line in s.gdb, (line, s.gdb)
    assert s.status == 130
