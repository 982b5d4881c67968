"""Differential tests: every bundled arm64/riscv64 image under `qemu-system-* -M virt` and under
`vm run` must give the same stdout and exit status (and the same files, for the libc program)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from qemu import require_qemu, run_qemu, run_qemu_until_fault
from toolcheck import require_tool

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "guest-images" / "bin"
DATA = ROOT / "guest-images" / "data"
ARCHES = ("arm64", "riscv64")


def vm_run(image: Path, *args: str, cwd: Path | None = None) -> tuple[bytes, int, bytes]:
    proc = subprocess.run([sys.executable, "-m", "vmcli", "run", str(image), *args], capture_output=True,
                          timeout=120, check=False, cwd=cwd or ROOT)
    return proc.stdout, proc.returncode, proc.stderr


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("name", ["hello", "exit", "bench"])
def test_same_output_and_status_as_qemu(arch: str, name: str) -> None:
    require_qemu(arch)
    image = BIN / f"{name}-{arch}.elf"
    q_out, q_status = run_qemu(arch, image, timeout=120)
    v_out, v_status, v_err = vm_run(image)
    assert (v_out, v_status) == (q_out, q_status), v_err


@pytest.mark.parametrize("arch", ARCHES)
def test_raw_image_loads_like_qemu_kernel(arch: str) -> None:
    require_qemu(arch)
    image = BIN / f"hello-{arch}.bin"
    q_out, q_status = run_qemu(arch, image)
    v_out, v_status, v_err = vm_run(image, "--arch", arch)
    assert (v_out, v_status) == (q_out, q_status), v_err


@pytest.mark.parametrize("arch", ARCHES)
def test_picolibc_program_like_qemu(arch: str, tmp_path: Path) -> None:
    """printf, malloc, fopen/fwrite under the root, argv from the command line, `return n`."""
    require_qemu(arch)
    image = BIN / f"libc-{arch}.elf"
    for who in ("qemu", "vm"):
        (tmp_path / who).mkdir()
        shutil.copy(DATA / "input.txt", tmp_path / who / "input.txt")
    q_out, q_status = run_qemu(arch, image, args=("input.txt", "copy.txt"), cwd=tmp_path / "qemu")
    v_out, v_status, v_err = vm_run(image, "--semihosting-root", str(tmp_path / "vm"), "--", "input.txt", "copy.txt")
    assert (v_out, v_status) == (q_out, q_status), v_err
    assert q_status == 5 and b"wrote copy.txt" in v_out
    assert (tmp_path / "vm" / "copy.txt").read_bytes() == (tmp_path / "qemu" / "copy.txt").read_bytes()


@pytest.mark.parametrize("arch", ARCHES)
def test_fault_same_output_pc_and_address_as_qemu(arch: str) -> None:
    """QEMU takes the exception into unset vectors and spins; vm reports it. Both must agree on the
    output before the fault, the faulting PC and the faulting address."""
    require_qemu(arch)
    image = BIN / f"fault-{arch}.elf"
    q_out, q_fault = run_qemu_until_fault(arch, image)
    v_out, v_status, v_err = vm_run(image)
    assert v_out == q_out and v_status == 126
    assert f"pc={q_fault.pc:#x}".encode() in v_err
    assert q_fault.address is not None and f"at {q_fault.address:#x}".encode() in v_err


# A plain `gcc -nostdlib -Wl,-Ttext=RAM` link puts a read-only segment with the ELF headers at the
# linker's default base: arm64 0x400000, in the virt board's flash window (QEMU loads it there, and
# the guest can read it); riscv64 0x10000, where the board has no memory (QEMU drops it).
TTEXT = {
    "arm64": ("aarch64-linux-gnu-gcc", "0x40080000", """
        .global _start
        _start:
          ldr x1, =msg
          bl puts
          ldr x1, =0x400001          // "ELF" of the header segment, read from flash
          mov x4, #3
          bl putn
          ldr x1, =blk
          mov x0, #0x18
          hlt #0xf000
        puts: ldr x2, =0x09000000
        1: ldrb w3, [x1], #1
          cbz w3, 2f
          strb w3, [x2]
          b 1b
        2: ret
        putn: ldr x2, =0x09000000
        3: ldrb w3, [x1], #1
          strb w3, [x2]
          subs x4, x4, #1
          b.ne 3b
          mov w3, #10
          strb w3, [x2]
          ret
        .section .rodata
        msg: .asciz "linked with -Ttext: "
        .data
        .balign 8
        blk: .quad 0x20026, 7
    """),
    "riscv64": ("riscv64-linux-gnu-gcc", "0x80000000", """
        .global _start
        _start:
          la a1, msg
          li a2, 0x10000000
        1: lbu a3, 0(a1)
          beqz a3, 2f
          sb a3, 0(a2)
          addi a1, a1, 1
          j 1b
        2: li a0, 0x100000
          li a1, (7 << 16) | 0x3333
          sw a1, 0(a0)
        3: j 3b
        .section .rodata
        msg: .asciz "linked with -Ttext\\n"
    """),
}


@pytest.mark.parametrize("arch", ARCHES)
def test_plain_ttext_link_runs_like_qemu(arch: str, tmp_path: Path) -> None:
    gcc, text, source = TTEXT[arch]
    require_qemu(arch)
    require_tool(gcc)
    (tmp_path / "prog.S").write_text(source)
    image = tmp_path / "prog.elf"
    subprocess.run([gcc, "-nostdlib", "-static", "-mcmodel=medany" if arch == "riscv64" else "-O0",
                    f"-Wl,-Ttext={text}", str(tmp_path / "prog.S"), "-o", str(image)], check=True)
    headers = subprocess.run(["readelf", "-lW", str(image)], capture_output=True, text=True, check=True).stdout
    assert "0x0000000000400000" in headers if arch == "arm64" else "0x0000000000010000" in headers
    q_out, q_status = run_qemu(arch, image)
    v_out, v_status, v_err = vm_run(image)
    assert (v_out, v_status) == (q_out, q_status) and q_status == 7, v_err
    if arch == "arm64":
        assert v_out == b"linked with -Ttext: ELF\n" and v_err == b""
    else:
        assert v_out == b"linked with -Ttext\n"
        assert v_err.decode().count("\n") == 1 and "[0x10000, " in v_err.decode() and "not loaded" in v_err.decode()
