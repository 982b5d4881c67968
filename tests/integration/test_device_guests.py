"""The device guests (guest-images/src/tick.c, echo.c, psci.c) under `vm run` and under QEMU's virt
machines: timer interrupts, UART receive interrupts, wfi sleep and PSCI calls give the same output and
exit status on both."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from qemu import require_qemu, run_qemu

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "guest-images" / "bin"
ARCHES = ("arm64", "riscv64")


def vm_run(image: Path, *args: str, stdin: bytes = b"") -> tuple[bytes, int, bytes]:
    proc = subprocess.run([sys.executable, "-m", "vmcli", "run", str(image), *args], input=stdin,
                          capture_output=True, timeout=120, check=False, cwd=ROOT)
    return proc.stdout, proc.returncode, proc.stderr


@pytest.mark.parametrize("arch", ARCHES)
def test_timer_tick_counter_like_qemu(arch: str) -> None:
    require_qemu(arch)
    image = BIN / f"tick-{arch}.elf"
    q_out, q_status = run_qemu(arch, image)
    v_out, v_status, v_err = vm_run(image)
    assert (v_out, v_status) == (q_out, q_status), v_err
    assert v_out == b"ticks: 25, every tick woke the wfi: yes\n" and v_status == 0


@pytest.mark.parametrize("arch", ARCHES)
def test_uart_receive_interrupts_echo_like_qemu(arch: str) -> None:
    require_qemu(arch)
    image = BIN / f"echo-{arch}.elf"
    typed = b"vm and qemu."             # nothing after the dot: what follows it would race the exit
    q_out, q_status = run_qemu(arch, image, stdin=typed)
    v_out, v_status, v_err = vm_run(image, stdin=typed)
    assert (v_out, v_status) == (q_out, q_status), v_err
    assert b"[v][m][ ][a]" in v_out and v_out.endswith(b"[.]\nbye\n")


def test_psci_calls_like_qemu() -> None:
    require_qemu("arm64")
    image = BIN / "psci-arm64.elf"
    q_out, q_status = run_qemu("arm64", image)
    v_out, v_status, v_err = vm_run(image)
    assert (v_out, v_status) == (q_out, q_status), v_err
    assert v_status == 0 and v_out.endswith(b"SYSTEM_OFF\n") and b"CPU_ON(cpu 0): -4\n" in v_out


@pytest.mark.parametrize("arch", ARCHES)
def test_wfi_sleeps_instead_of_spinning(arch: str) -> None:
    """The tick guest spends a quarter of a second in wfi: vm's CPU time over that run stays well
    below its wall time (a spinning loop would use all of it), measured around the same child."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    out, status, err = vm_run(BIN / f"tick-{arch}.elf")
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert status == 0, err
    assert wall > 0.25                                    # 25 ticks at 100 Hz took their time
    startup = _startup_cpu(arch)
    assert cpu - startup < 0.5 * 0.25, (cpu, startup, wall)


def _startup_cpu(arch: str) -> float:
    """CPU time of a run that does nothing (hello): process start, imports, board set-up."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    vm_run(BIN / f"hello-{arch}.elf")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def test_sbi_calls_under_opensbi_like_qemu() -> None:
    """guest-images/src/sbi.c in S-mode under Debian's OpenSBI fw_jump: base extension, probing, timer
    interrupts through SBI set_timer, and a system reset extension shutdown (status 0)."""
    require_qemu("riscv64")
    from debian_packages import debian_package
    firmware = debian_package("opensbi") / "usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"
    image = BIN / "sbi-riscv64.elf"
    qemu = subprocess.run(["qemu-system-riscv64", "-M", "virt", "-m", "128M", "-display", "none", "-monitor", "none",
                           "-serial", "stdio", "-bios", str(firmware), "-kernel", str(image)],
                          capture_output=True, timeout=120, check=False)
    v_out, v_status, v_err = vm_run(image, "--bios", str(firmware))
    payload = v_out[v_out.index(b"spec version"):]
    assert (payload, v_status) == (qemu.stdout[qemu.stdout.index(b"spec version"):], qemu.returncode), v_err
    assert v_status == 0 and b"timer ticks: 10\nshutdown\n" in payload and b"unknown extension: -2" in payload
