"""The compute device from guest code: register accesses from arm64, riscv64 and x86_64 instructions,
and the bundled gpu-* programs end to end under `vm run` on both picolibc arches (each checks the
device against its own CPU; the tests check the results against numpy too)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from compute_helpers import (
    buf,
    descriptor,
    f32,
    mandelbrot,
    u32,
    vm_cache,  # noqa: F401 (session fixture: a cache of the tests' own)
)
from guests import A0, A1, T0, T1, asm, load_addr, run_code, rv, rv_la, rv_li, rv_lw, rv_sw

from vmcli.machine.devices import compute as c
from vmcli.machine.devices.compute import ArgType as T

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "guest-images" / "bin"
RV_WFI = 0x10500073
N = 16


def saxpy_data(base: int, data_offset: int) -> tuple[bytes, int, int, int]:
    """Descriptor at `base + data_offset`, x and y after it, the guest's result words after those."""
    desc_at = base + data_offset
    x_at, y_at, result_at = desc_at + 0x200, desc_at + 0x280, desc_at + 0x300
    desc = descriptor(2, [f32(3.0), buf(T.BUF_IN, x_at, 4 * N), buf(T.BUF_INOUT, y_at, 4 * N), u32(N)])
    data = bytearray(0x308)
    data[:len(desc)] = desc
    data[0x200:0x240] = np.arange(N, dtype=np.float32).tobytes()
    data[0x280:0x2C0] = np.full(N, 0.5, np.float32).tobytes()
    return bytes(data), y_at, result_at, desc_at


def guest_code(arch: str, base: int, data_offset: int, doorbell64: int | None = None) -> bytes:
    """DESC (two 32-bit writes; x86_64 one 64-bit write), DOORBELL, then STATUS and ERROR into RAM.
    With `doorbell64`, the doorbell is one 8-byte store of that value (arm64, x86_64)."""
    desc_at, result_at = base + data_offset, base + data_offset + 0x300
    if arch == "arm64" and doorbell64 is not None:
        ring = (f"movz x4, #{doorbell64 & 0xFFFF:#x}; movk x4, #{doorbell64 >> 32 & 0xFFFF:#x}, lsl #32; "
                "str x4, [x1, #0x38]")
    else:
        ring = "mov w4, #1; str w4, [x1, #0x38]"
    if arch == "arm64":
        return asm("arm64", f"""
            movz x1, #0x0b00, lsl #16
            movz x2, #{desc_at & 0xFFFF:#x}
            movk x2, #{desc_at >> 16:#x}, lsl #16
            str w2, [x1, #0x30]
            lsr x3, x2, #32
            str w3, [x1, #0x34]
            {ring}
            movz x6, #{result_at & 0xFFFF:#x}
            movk x6, #{result_at >> 16:#x}, lsl #16
            ldr w5, [x1, #0x3c]
            str w5, [x6]
            ldr w5, [x1, #0x40]
            str w5, [x6, #4]
            wfi
        """, base)
    if arch == "x86_64":
        return asm("x86_64", f"""
            mov rbx, 0xfe000000
            mov rcx, {desc_at:#x}
            mov qword ptr [rbx + 0x30], rcx
            {"mov dword ptr [rbx + 0x38], 1" if doorbell64 is None else
             f"mov rax, {doorbell64:#x}; mov qword ptr [rbx + 0x38], rax"}
            mov eax, dword ptr [rbx + 0x3c]
            mov dword ptr [{result_at:#x}], eax
            mov eax, dword ptr [rbx + 0x40]
            mov dword ptr [{result_at + 4:#x}], eax
            hlt
        """, base)
    words = [*rv_li(T0, 0x1020_0000), *rv_la(T1, data_offset - 8), rv_sw(T1, T0, 0x30), rv_sw(0, T0, 0x34),
             *rv_li(A0, 1), rv_sw(A0, T0, 0x38), rv_lw(A1, T0, 0x3C), *rv_la(T1, data_offset + 0x300 - 40),
             rv_sw(A1, T1, 0), rv_lw(A1, T0, 0x40), rv_sw(A1, T1, 4), RV_WFI]
    return rv(words)


@pytest.mark.parametrize("arch", ["arm64", "riscv64", "x86_64"])
def test_guest_rings_the_doorbell(arch: str) -> None:
    base = load_addr(arch)
    data_offset = 0x200 if arch == "riscv64" else 0x1000     # riscv64: within auipc+addi reach
    data, y_at, result_at, _ = saxpy_data(base, data_offset)
    out = run_code(arch, guest_code(arch, base, data_offset), data=data, data_offset=data_offset)
    assert out.result.reason == "halted", out.result.detail
    memory = out.machine.memory
    status, error = np.frombuffer(memory.read(result_at, 8), np.uint32)
    assert (status, error) == (c.Status.DONE, 0), out.stderr
    y = np.frombuffer(memory.read(y_at, 4 * N), np.float32)
    assert np.array_equal(y, np.float32(3.0) * np.arange(N, dtype=np.float32) + np.float32(0.5))
    assert out.result.device_accesses["compute"] >= 4


@pytest.mark.parametrize("arch", ["arm64", "x86_64"])
@pytest.mark.parametrize(("value", "expected"), [(1, (c.Status.DONE, c.Error.NONE)),
                                                 (0x1_0000_0001, (c.Status.ERROR, c.Error.BAD_DOORBELL))])
def test_eight_byte_doorbell_store(arch: str, value: int, expected: tuple[int, int]) -> None:
    """The CPU hands an 8-byte store to the device as two 4-byte ones: 1 rings, as the docs promise; a
    value above 32 bits is BAD_DOORBELL."""
    base = load_addr(arch)
    data, y_at, result_at, _ = saxpy_data(base, 0x1000)
    out = run_code(arch, guest_code(arch, base, 0x1000, doorbell64=value), data=data, data_offset=0x1000)
    status, error = np.frombuffer(out.machine.memory.read(result_at, 8), np.uint32)
    assert (status, error) == expected, out.stderr


def vm(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    env.pop("VM_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "vmcli", *args], capture_output=True, text=True, timeout=300,
                          check=False, cwd=cwd, env=env)


@pytest.mark.parametrize("arch", ["arm64", "riscv64"])
def test_gpu_saxpy_and_sgemm_pass(arch: str) -> None:
    proc = vm("run", str(BIN / f"gpu-saxpy-{arch}.elf"), "--", "65536", "2")
    assert proc.returncode == 0 and proc.stdout.endswith("PASS\n"), proc.stdout + proc.stderr
    assert "gpu-saxpy: n=65536 device=" in proc.stdout and "launch_us=" in proc.stdout
    proc = vm("run", str(BIN / f"gpu-sgemm-{arch}.elf"), "--gpu", "cpu")
    assert proc.returncode == 0 and proc.stdout.endswith("PASS\n"), proc.stdout + proc.stderr
    assert "gpu-sgemm: 256x256x256 device=" in proc.stdout and "speedup=" in proc.stdout


@pytest.mark.parametrize("arch", ["arm64", "riscv64"])
def test_gpu_mandelbrot_saves_the_picture(arch: str, tmp_path: Path) -> None:
    proc = vm("run", f"gpu-mandelbrot-{arch}", "--semihosting-root", str(tmp_path), "--", "m.pgm")
    assert proc.returncode == 0 and proc.stdout.endswith("gpu-mandelbrot: wrote m.pgm\nPASS\n"), proc.stdout
    data = (tmp_path / "m.pgm").read_bytes()
    header = b"P5\n640 480\n255\n"
    assert data.startswith(header) and len(data) == len(header) + 640 * 480
    f = np.float32
    want = mandelbrot(640, 480, f(-2.2), f(-1.1625), f(3.1) / f(640), f(2.325) / f(480), 255)
    assert np.array_equal(np.frombuffer(data[len(header):], np.uint8).reshape(480, 640), want)
    # Without a root the guest cannot write its file and says so.
    proc = vm("run", f"gpu-mandelbrot-{arch}")
    assert proc.returncode == 2 and "cannot write mandelbrot.pgm" in proc.stdout


def test_gpu_none_and_an_absent_kind() -> None:
    proc = vm("run", "gpu-saxpy-arm64", "--gpu", "none")
    assert proc.returncode == 1 and "FAIL: no compute device" in proc.stdout
    proc = vm("run", "gpu-saxpy-arm64", "--gpu", "npu")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("vm: error: --gpu npu: no npu device; present: 0=")
    assert "Traceback" not in proc.stderr


def test_vm_run_without_gpu_use_imports_no_opencl() -> None:
    code = ("import sys\nfrom vmcli.cli import vm\n"
            "status = vm.main(['run', 'hello-arm64'], standalone_mode=False)\n"
            "print('pyopencl' in sys.modules, status)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
                          cwd=ROOT)
    assert proc.stdout == "Hello from arm64\nFalse 0\n", proc.stderr


SOURCE = b"__kernel void twice(__global float *y) { y[get_global_id(0)] *= 2.0f; }"


def source_guest(path: Path, source: bytes, name: bytes, *, say: bytes = b"") -> Path:
    """An arm64 guest that prints `say` on the UART, submits OpenCL C `source` (kernel `name`, one
    float buffer of N) and exits with STATUS * 16 + ERROR."""
    base = load_addr("arm64")
    desc_at, y_at, src_at, name_at, block_at, say_at = (base + 0x1000, base + 0x1200, base + 0x1300, base + 0x1400,
                                                        base + 0x2000, base + 0x2100)
    desc = descriptor(0, [buf(T.BUF_INOUT, y_at, 4 * N)], opcode=c.Opcode.RUN_SOURCE, source=(src_at, len(source)),
                      name=(name_at, len(name)), work_dim=1, global_size=(N, 0, 0))
    image = bytearray(0x2100 + len(say) + 1)
    image[:0x1000] = asm("arm64", f"""
        movz x7, #0x0900, lsl #16
        movz x8, #{say_at & 0xFFFF:#x}
        movk x8, #{say_at >> 16:#x}, lsl #16
    say:
        ldrb w9, [x8], #1
        cbz w9, ring
        strb w9, [x7]
        b say
    ring:
        movz x1, #0x0b00, lsl #16
        movz x2, #{desc_at & 0xFFFF:#x}
        movk x2, #{desc_at >> 16:#x}, lsl #16
        str x2, [x1, #0x30]
        mov w4, #1
        str w4, [x1, #0x38]
        ldr w5, [x1, #0x3c]
        ldr w6, [x1, #0x40]
        add w5, w6, w5, lsl #4
        movz x1, #{block_at & 0xFFFF:#x}
        movk x1, #{block_at >> 16:#x}, lsl #16
        str x5, [x1, #8]
        mov x0, #0x18
        hlt #0xf000
    """, base).ljust(0x1000, b"\0")
    image[0x1000:0x1000 + len(desc)] = desc
    image[0x1200:0x1200 + 4 * N] = np.ones(N, np.float32).tobytes()
    image[0x1300:0x1300 + len(source)] = source
    image[0x1400:0x1400 + len(name)] = name
    image[0x2000:0x2008] = (0x20026).to_bytes(8, "little")
    image[0x2100:0x2100 + len(say)] = say
    path.write_bytes(bytes(image))
    return path


def test_allow_guest_kernels_from_the_command_line(tmp_path: Path) -> None:
    """An arm64 guest submits OpenCL C source and exits with STATUS * 16 + ERROR."""
    path = source_guest(tmp_path / "source.bin", SOURCE, b"twice")
    proc = vm("run", str(path), "--arch", "arm64", "--allow-guest-kernels")
    assert proc.returncode == c.Status.DONE * 16, proc.stderr
    proc = vm("run", str(path), "--arch", "arm64")
    assert proc.returncode == c.Status.ERROR * 16 + c.Error.DENIED
    assert "DENIED" in proc.stderr and "--allow-guest-kernels" in proc.stderr


SPIN = b"__kernel void spin(__global float *y) { while (y[0] > 0.0f) { y[1] += 1.0f; } }"


def test_timeout_ends_a_running_guest_kernel(tmp_path: Path) -> None:
    """--timeout ends the run while the guest's endless kernel runs: its worker is killed because the
    run was stopped, not after the worker's own time limit."""
    path = source_guest(tmp_path / "spin.bin", SPIN, b"spin")
    # Long enough that the worker has started under load (about 0.5 s here), short for the spin.
    proc = vm("run", str(path), "--arch", "arm64", "--allow-guest-kernels", "--timeout", "3")
    assert proc.returncode == 124, proc.stderr
    assert "the run was stopped" in proc.stderr and "ran over" not in proc.stderr


def worker_started(pid: int, within_s: float = 60.0) -> None:
    """Wait until process `pid` has started a kernel worker (a child running vmcli.gpu.isolated)."""
    import time
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            try:
                stat = (proc / "stat").read_text()
                if int(stat.rpartition(")")[2].split()[1]) == pid and \
                        b"vmcli.gpu.isolated" in (proc / "cmdline").read_bytes():
                    return
            except (OSError, ValueError, IndexError):
                pass                             # not a process, or it ended while being read
        time.sleep(0.01)
    raise AssertionError("no kernel worker started")


def test_ctrl_c_ends_a_running_guest_kernel(tmp_path: Path) -> None:
    import signal
    path = source_guest(tmp_path / "spin.bin", SPIN, b"spin", say=b"launching\n")
    proc = subprocess.Popen([sys.executable, "-m", "vmcli", "run", str(path), "--arch", "arm64",
                             "--allow-guest-kernels"], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"launching\n"   # the doorbell comes next
    worker_started(proc.pid)     # Ctrl-C before the doorbell ends the run too, but not the kernel
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"the run was stopped" in err and b"ran over" not in err
