"""Differential tests: every bundled arm64/riscv64 image under `qemu-system-* -M virt` and under
`vm run` must give the same stdout and exit status (and the same files, for the libc program)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from qemu import require_qemu, run_qemu, run_qemu_until_fault

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
