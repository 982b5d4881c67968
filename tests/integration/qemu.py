"""Run guest images under QEMU's `virt` machines: the oracle for `vm run` on arm64 and riscv64.

    from qemu import require_qemu, run_qemu
    require_qemu("arm64")
    out, status = run_qemu("arm64", IMAGES / "hello-arm64.elf")

The PL011/NS16550 UART and the semihosting console share one stdio chardev (mux), so both reach
stdout in the order the guest wrote them, as under `vm run` (plain QEMU sends semihosting output to
stderr). stdin goes to the UART; QEMU's mux treats byte 0x01 as its escape key, so run_qemu doubles
it to pass it through. The semihosting command line (GET_CMDLINE) is the words of `args` joined by
spaces, like the words after `--` on a vm command line; with no args it is empty (plain QEMU would
give the kernel's file name). Relative file names in SYS_OPEN resolve from `cwd`.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from toolcheck import require_tool

ROOT = Path(__file__).resolve().parents[2]

# Machine, CPU and memory per arch: the boards vm copies (docs/guest-images.md).
MACHINES: dict[str, tuple[str, ...]] = {
    "arm64": ("qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72", "-m", "128M"),
    "riscv64": ("qemu-system-riscv64", "-M", "virt", "-bios", "none", "-m", "128M"),
}
CONSOLE = (
    "-display", "none", "-monitor", "none", "-chardev", "stdio,mux=on,id=con0", "-serial", "chardev:con0",
)  # fmt: skip
MUX_ESCAPE = b"\x01"




def qemu_binary(arch: str) -> str:
    return MACHINES[arch][0]


def require_qemu(arch: str) -> None:
    """Skip (fail under CI=true) when QEMU for `arch` is not installed."""
    require_tool(qemu_binary(arch))


def _opt_value(word: str) -> str:
    """QEMU option values separate with commas; a literal comma is written twice."""
    return word.replace(",", ",,")


def qemu_command(arch: str, image: Path | str, args: Sequence[str] = ()) -> list[str]:
    """The full QEMU command line that runs `image` (an ELF, or a raw file loaded like -kernel does)."""
    cmdline = ",".join(f"arg={_opt_value(a)}" for a in args) or "arg="
    return [
        *MACHINES[arch],
        *CONSOLE,
        "-semihosting-config",
        f"enable=on,target=native,chardev=con0,{cmdline}",
        "-kernel",
        str(Path(image).resolve()),
    ]


def run_qemu(
    arch: str,
    image: Path | str,
    *,
    args: Sequence[str] = (),
    cwd: Path | str | None = None,
    timeout: float = 30,
    stdin: bytes = b"",
) -> tuple[bytes, int]:
    """Run `image` to its end: (stdout bytes, exit status). The status is QEMU's, which is the guest's
    (semihosting SYS_EXIT/SYS_EXIT_EXTENDED, the SiFive test finisher). A guest still running after
    `timeout` seconds is killed and subprocess.TimeoutExpired raised; a QEMU that fails to start
    raises RuntimeError with its message."""
    proc = subprocess.run(
        qemu_command(arch, image, args),
        input=stdin.replace(MUX_ESCAPE, MUX_ESCAPE * 2),
        capture_output=True,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0 and proc.stderr.strip():
        raise RuntimeError(f"QEMU failed ({proc.returncode}): {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout, proc.returncode


@dataclass(frozen=True)
class QemuFault:
    """The first exception QEMU's CPU took: what vm reports as a guest fault."""

    kind: str  # "Data Abort", "fault_load", ...
    pc: int  # the faulting instruction (ELR / mepc)
    address: int | None  # the faulting data address (FAR / mtval), when the exception has one


# `-d int` lines, each matched only once complete (the log is read while QEMU writes it).
# arm64: "Taking exception 4 [Data Abort]" ... "...with FAR 0x..." "...with ELR 0x...".
_ARM_EXC = re.compile(
    r"Taking exception \d+ \[(?P<kind>[^\]]+)\].*?(?:with FAR 0x(?P<far>[0-9a-f]+)\s+)?"
    r"\.\.\.with ELR 0x(?P<elr>[0-9a-f]+)\n",
    re.S,
)
# riscv64: "riscv_cpu_do_interrupt: hart:0, async:0, cause:..., epc:0x..., tval:0x..., desc=fault_load"
_RISCV_EXC = re.compile(
    r"async:0, cause:[0-9a-f]+, epc:0x(?P<epc>[0-9a-f]+), tval:0x(?P<tval>[0-9a-f]+), desc=(?P<kind>\w+)\n"
)


def _parse_fault(arch: str, log: str) -> QemuFault | None:
    if arch == "arm64":
        m = _ARM_EXC.search(log)
        if m:
            far = m.group("far")
            return QemuFault(m.group("kind"), int(m.group("elr"), 16), int(far, 16) if far else None)
    else:
        m = _RISCV_EXC.search(log)
        if m:
            return QemuFault(m.group("kind"), int(m.group("epc"), 16), int(m.group("tval"), 16))
    return None


def run_qemu_until_fault(arch: str, image: Path | str, *, timeout: float = 30) -> tuple[bytes, QemuFault]:
    """Run a guest that faults: (stdout bytes, the first exception). With no trap handler installed
    QEMU's CPU spins on exceptions forever, so this watches QEMU's exception log (`-d int`) and stops
    QEMU at the first synchronous one. TimeoutError if none comes within `timeout` seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "int.log"
        out = Path(tmp) / "stdout"
        with out.open("wb") as stdout:
            proc = subprocess.Popen(
                [*qemu_command(arch, image), "-d", "int", "-D", str(log)],
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.DEVNULL,
            )
            try:
                deadline = time.monotonic() + timeout
                fault = None
                while fault is None and proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.02)
                    if log.exists():
                        # The first exception's lines come within the first few hundred bytes.
                        with log.open("rb") as f:
                            fault = _parse_fault(arch, f.read(4096).decode(errors="replace"))
            finally:
                proc.kill()
                proc.wait()
        if fault is None:
            raise TimeoutError(f"{image}: no exception under QEMU in {timeout} s (exit {proc.returncode})")
        return out.read_bytes(), fault
