"""The bundled guest images: rebuilt from source they are byte-identical to the committed ones, and
they do what docs/guest-images.md says under independent oracles: QEMU's `virt` machines (arm64,
riscv64), bare Unicorn with the pc-flat ports (x86_64, which QEMU has no board for), Python's zlib
for the checksums."""

from __future__ import annotations

import subprocess
import sys
import zlib
from functools import cache
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from qemu import ROOT, require_qemu, require_tool, run_qemu, run_qemu_until_fault

GUEST = ROOT / "guest-images"
BIN = GUEST / "bin"
ARCHES = ("arm64", "riscv64", "x86_64")
QEMU_ARCHES = ("arm64", "riscv64")
CC = {
    "arm64": "aarch64-linux-gnu-gcc",
    "riscv64": "riscv64-unknown-elf-gcc",
    "x86_64": "x86_64-linux-gnu-gcc",
}
USER_FLAGS = {  # what a user needs beyond the headers (docs/guest-images.md, "Your own guest")
    "arm64": ["-mgeneral-regs-only"],
    "riscv64": ["-march=rv64imac", "-mabi=lp64", "-mcmodel=medany"],
    "x86_64": ["-mgeneral-regs-only", "-mno-red-zone"],
}
UNMAPPED = {"arm64": 0x0F000000, "riscv64": 0x01000000, "x86_64": 0xE0000000}
LIBC_INPUT = GUEST / "data" / "input.txt"


def expected_images() -> set[str]:
    names = {f"{p}-{a}.elf" for p in ("hello", "exit", "fault", "bench") for a in ARCHES}
    names |= {f"hello-{a}.bin" for a in ARCHES} | {f"libc-{a}.elf" for a in QEMU_ARCHES}
    names |= {f"gpu-{p}-{a}.elf" for p in ("saxpy", "sgemm", "mandelbrot") for a in QEMU_ARCHES}  # vm only
    names |= {f"{p}-{a}.elf" for p in ("tick", "echo", "bench-tick") for a in QEMU_ARCHES}   # interrupts
    names |= {"psci-arm64.elf", "sbi-riscv64.elf"}                                            # firmware calls
    return names


def test_committed_images_are_current(tmp_path: Path) -> None:
    require_tool("make", *CC.values(), *(c.replace("gcc", "objcopy") for c in CC.values()))
    subprocess.run(["make", "-s", "-C", str(GUEST), f"OUT={tmp_path}"], check=True, capture_output=True)
    built = {p.name for p in tmp_path.iterdir()}
    assert built == expected_images()
    assert {p.name for p in BIN.iterdir()} == built
    stale = [n for n in sorted(built) if (tmp_path / n).read_bytes() != (BIN / n).read_bytes()]
    assert not stale, f"committed images differ from a fresh build (run `make images`): {stale}"


@cache
def bench_line(rounds: int) -> bytes:
    """bench.c's output computed independently: zlib's CRC-32 and Python integers."""
    data = bytearray(4096)
    x = 0x12345678
    for i in range(len(data)):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        data[i] = x & 0xFF
    crc, mix = 0, 0x9E3779B97F4A7C15
    for r in range(rounds):
        crc = zlib.crc32(data, crc)
        mix = ((mix ^ crc) * 0x100000001B3) & (2**64 - 1)
        mix ^= mix >> 29
        data[r & 4095] ^= mix & 0xFF
    return f"bench: rounds={rounds} crc32={crc:08x} mix={mix:016x}\n".encode()


def bench_rounds() -> int:
    for line in (GUEST / "Makefile").read_text().splitlines():
        if line.startswith("BENCH_ROUNDS :="):
            return int(line.split(":=")[1])
    raise AssertionError("BENCH_ROUNDS not in guest-images/Makefile")


def text_range(image: Path) -> range:
    with image.open("rb") as f:
        text = ELFFile(f).get_section_by_name(".text")
        assert text is not None
        return range(text["sh_addr"], text["sh_addr"] + text["sh_size"])


# --- arm64 and riscv64 under QEMU -------------------------------------------------------------


@pytest.mark.parametrize("arch", QEMU_ARCHES)
@pytest.mark.parametrize("suffix", ["elf", "bin"])
def test_hello_qemu(arch: str, suffix: str) -> None:
    require_qemu(arch)
    assert run_qemu(arch, BIN / f"hello-{arch}.{suffix}") == (f"Hello from {arch}\n".encode(), 0)


@pytest.mark.parametrize("arch", QEMU_ARCHES)
def test_exit_qemu(arch: str) -> None:
    require_qemu(arch)
    assert run_qemu(arch, BIN / f"exit-{arch}.elf") == (b"", 3)


@pytest.mark.parametrize("arch", QEMU_ARCHES)
def test_fault_qemu(arch: str) -> None:
    require_qemu(arch)
    image = BIN / f"fault-{arch}.elf"
    out, fault = run_qemu_until_fault(arch, image)
    assert out == f"fault: reading unmapped address 0x{UNMAPPED[arch]:08x}\n".encode()
    assert fault.kind == {"arm64": "Data Abort", "riscv64": "fault_load"}[arch]
    assert fault.address == UNMAPPED[arch]
    assert fault.pc in text_range(image)


@pytest.mark.parametrize("arch", QEMU_ARCHES)
def test_bench_qemu(arch: str) -> None:
    require_qemu(arch)
    assert run_qemu(arch, BIN / f"bench-{arch}.elf") == (bench_line(bench_rounds()), 0)


def libc_output(text: bytes, in_name: str, out_name: str) -> bytes:
    upper = text.upper()
    lines = text.count(b"\n")
    return (
        f"libc: read {in_name}: {len(text)} bytes, {lines} lines, {len(text.split())} words, "
        f"crc32 {zlib.crc32(text):08x}\n"
        f"libc: wrote {out_name}: {len(upper)} bytes, crc32 {zlib.crc32(upper):08x}\n"
    ).encode()


@pytest.mark.parametrize("arch", QEMU_ARCHES)
def test_libc_qemu_default_names(arch: str, tmp_path: Path) -> None:
    require_qemu(arch)
    text = LIBC_INPUT.read_bytes()
    (tmp_path / "input.txt").write_bytes(text)
    out, status = run_qemu(arch, BIN / f"libc-{arch}.elf", cwd=tmp_path)
    assert (out, status) == (libc_output(text, "input.txt", "output.txt"), 5)
    assert (tmp_path / "output.txt").read_bytes() == text.upper()


@pytest.mark.parametrize("arch", QEMU_ARCHES)
def test_libc_qemu_names_from_command_line(arch: str, tmp_path: Path) -> None:
    require_qemu(arch)
    text = b"one two\nthree\n\nfour five six seven\n" * 40 + b"no newline at the end"
    (tmp_path / "data.txt").write_bytes(text)
    out, status = run_qemu(arch, BIN / f"libc-{arch}.elf", args=("data.txt", "copy.txt"), cwd=tmp_path)
    assert (out, status) == (libc_output(text, "data.txt", "copy.txt"), 99)  # 160 lines, capped
    assert (tmp_path / "copy.txt").read_bytes() == text.upper()


@pytest.mark.parametrize("arch", QEMU_ARCHES)
def test_libc_qemu_missing_input(arch: str, tmp_path: Path) -> None:
    require_qemu(arch)
    out, status = run_qemu(arch, BIN / f"libc-{arch}.elf", args=("missing.txt",), cwd=tmp_path)
    assert (out, status) == (b"libc: cannot read missing.txt\n", 101)
    assert list(tmp_path.iterdir()) == []


USER_GUEST = r"""
#include "guest.h"

int main(void)
{
    char line[64];
    int n = 0, c;
    while ((c = uart_getc()) != '\n' && n < 63)
        line[n++] = (char)c;
    line[n] = 0;
    print("uart read: ");
    print(line);
    print("\n");
#if defined(__x86_64__)
    return 9;
#else
    semihost_write0("semihosting from " BOARD_ARCH "\n");
    semihost_exit(9);
#endif
}
"""


def build_user_guest(arch: str, tmp_path: Path) -> Path:
    """A guest built the way docs/guest-images.md tells users to: the headers, start.S, crt.c and
    image.ld of guest-images/, and a few flags."""
    require_tool(CC[arch])
    source = tmp_path / "guest.c"
    source.write_text(USER_GUEST)
    image = tmp_path / f"guest-{arch}.elf"
    subprocess.run(
        [CC[arch], "-O2", "-ffreestanding", "-nostdlib", "-static", "-no-pie", *USER_FLAGS[arch],
         f"-I{GUEST / 'include'}", "-T", str(GUEST / "arch" / arch / "image.ld"),
         str(GUEST / "arch" / arch / "start.S"), str(GUEST / "src" / "crt.c"), str(source), "-o", str(image)],
        check=True, capture_output=True,
    )  # fmt: skip
    return image


@pytest.mark.parametrize("arch", QEMU_ARCHES)
def test_headers_uart_input_and_semihosting_qemu(arch: str, tmp_path: Path) -> None:
    require_qemu(arch)
    image = build_user_guest(arch, tmp_path)
    out, status = run_qemu(arch, image, stdin=b"a\x01b\n")
    assert (out, status) == (f"uart read: a\x01b\nsemihosting from {arch}\n".encode(), 9)


# --- x86_64 on bare Unicorn with the pc-flat ports ----------------------------------------------


def run_pc_flat(image: Path, stdin: bytes = b"") -> tuple[bytes, int | str]:
    """The pc-flat board reduced to what the images use: RAM from 0, COM1 THR/RBR/LSR, exit port 0xF4.
    Returns (UART output, exit status), or a fault description in place of the status."""
    from unicorn import UC_ARCH_X86, UC_HOOK_INSN, UC_HOOK_MEM_READ_UNMAPPED, UC_MODE_64, Uc, UcError
    from unicorn.x86_const import UC_X86_INS_IN, UC_X86_INS_OUT

    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    uc.mem_map(0, 128 << 20)
    data = image.read_bytes()
    if data[:4] == b"\x7fELF":
        with image.open("rb") as f:
            elf = ELFFile(f)
            for seg in elf.iter_segments("PT_LOAD"):
                uc.mem_write(seg["p_paddr"], seg.data())
            entry = elf.header.e_entry
    else:
        uc.mem_write(0x100000, data)
        entry = 0x100000
    out = bytearray()
    pending = bytearray(stdin)
    status: list[int | str] = []

    def port_in(uc: Uc, port: int, size: int, _: object) -> int:
        if port == 0x3FD:  # LSR: transmitter empty, data ready while stdin lasts
            return 0x60 | (1 if pending else 0)
        if port == 0x3F8 and pending:
            return pending.pop(0)
        return 0

    def port_out(uc: Uc, port: int, size: int, value: int, _: object) -> None:
        if port == 0x3F8:
            out.append(value & 0xFF)
        elif port == 0xF4:
            status.append(value & 0xFF)
            uc.emu_stop()

    def unmapped(uc: Uc, access: int, address: int, size: int, value: int, _: object) -> bool:
        status.append(f"read unmapped 0x{address:x}")
        return False

    uc.hook_add(UC_HOOK_INSN, port_in, None, 1, 0, UC_X86_INS_IN)
    uc.hook_add(UC_HOOK_INSN, port_out, None, 1, 0, UC_X86_INS_OUT)
    uc.hook_add(UC_HOOK_MEM_READ_UNMAPPED, unmapped)
    try:
        uc.emu_start(entry, 0)
    except UcError:
        assert status, "a Unicorn error other than an unmapped read"
    return bytes(out), status[0]


@pytest.mark.parametrize("suffix", ["elf", "bin"])
def test_hello_x86_64(suffix: str) -> None:
    assert run_pc_flat(BIN / f"hello-x86_64.{suffix}") == (b"Hello from x86_64\n", 0)


def test_exit_x86_64() -> None:
    assert run_pc_flat(BIN / "exit-x86_64.elf") == (b"", 3)


def test_fault_x86_64() -> None:
    assert run_pc_flat(BIN / "fault-x86_64.elf") == (
        b"fault: reading unmapped address 0xe0000000\n",
        "read unmapped 0xe0000000",
    )


def test_bench_x86_64() -> None:
    assert run_pc_flat(BIN / "bench-x86_64.elf") == (bench_line(bench_rounds()), 0)


def test_headers_uart_input_x86_64(tmp_path: Path) -> None:
    image = build_user_guest("x86_64", tmp_path)
    assert run_pc_flat(image, stdin=b"xyz\n") == (b"uart read: xyz\n", 9)


PICOLIBC_PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    char *copy = malloc(64);
    strcpy(copy, argc > 1 ? argv[argc - 1] : "none");
    printf("%d words, last %s, %.2f\n", argc - 1, copy, 3.25);
    return (int)strlen(copy);
}
"""


@pytest.mark.parametrize("arch", QEMU_ARCHES)
def test_picolibc_program_built_as_the_docs_say(arch: str, tmp_path: Path) -> None:
    """docs/guest-images.md's one-command build of a printf program, word for word, then the program
    under QEMU and vm: same output, same status."""
    require_qemu(arch)
    text = (ROOT / "docs" / "guest-images.md").read_text()
    section = text.split("### Your own picolibc program", 1)[1].split("##", 1)[0]
    lines = [ln.strip() for ln in section.replace("\\\n", " ").splitlines() if ln.startswith("    ")]
    command = next(ln for ln in lines if f"my-{arch}.elf" in ln and "picolibc.specs" in ln)
    words = command.split()
    require_tool(words[0])
    (tmp_path / "my.c").write_text(PICOLIBC_PROGRAM)
    words = [str(tmp_path / w) if w in ("my.c", f"my-{arch}.elf") else w for w in words]
    subprocess.run(words, check=True, cwd=ROOT, capture_output=True)
    image = tmp_path / f"my-{arch}.elf"
    q_out, q_status = run_qemu(arch, image, args=("two", "words"))
    vm = subprocess.run([sys.executable, "-m", "vmcli", "run", str(image), "--", "two", "words"],
                        capture_output=True, cwd=ROOT, timeout=60, check=False)
    assert (vm.stdout, vm.returncode) == (q_out, q_status) == (b"2 words, last words, 3.25\n", 5), vm.stderr
