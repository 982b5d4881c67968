"""Firmware nobody here wrote, under `vm run` and QEMU with the same typed input: Debian's U-Boot for
QEMU's arm64 virt machine (--bios, flash at 0) to its prompt, commands, `poweroff` through PSCI; and
U-Boot's environment saved into the CFI flash (erase and buffered program), checked by CRC."""

from __future__ import annotations

import os
import sys
import threading
import zlib
from pathlib import Path

from console import converse
from debian_packages import debian_package
from toolcheck import require_tool

from vmcli.machine.devices.device import Console
from vmcli.machine.launch import boot

ROOT = Path(__file__).resolve().parents[2]
QEMU_ARM64 = ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72", "-m", "128M", "-display", "none",
              "-monitor", "none", "-serial", "stdio", "-nic", "none"]
# An empty line first, typed during the autoboot countdown: it stops it.
COMMANDS = [b"", b"echo hello from u-boot", b"setenv greeting vm-and-qemu", b"printenv greeting", b"version",
            b"md.l 0 8", b"printenv bootdelay", b"poweroff"]
AUTOBOOT = b"Hit any key to stop autoboot"
ENV_ADDR, ENV_SIZE = 0x0400_0000, 0x4_0000          # qemu_arm64_defconfig: the environment in flash bank 1


def uboot_arm64() -> Path:
    return debian_package("u-boot-qemu") / "usr/lib/u-boot/qemu_arm64/u-boot.bin"


def split(out: bytes) -> tuple[list[bytes], bytes]:
    """(the banner's non-empty lines, everything from the first prompt on)."""
    at = out.index(b"=> ")
    # (trailing blanks: the countdown line ends with one or not, by when the key came)
    return [line.rstrip() for line in out[:at].splitlines() if line.strip()], out[at:]


def test_uboot_arm64_prompt_and_commands_like_qemu() -> None:
    require_tool("qemu-system-aarch64")
    uboot = uboot_arm64()
    q_out, q_status = converse([*QEMU_ARM64, "-bios", str(uboot)], COMMANDS, prompt=b"=> ", first=AUTOBOOT)
    v_out, v_status = converse([sys.executable, "-m", "vmcli", "run", "--arch", "arm64", "--bios", str(uboot)],
                               COMMANDS, prompt=b"=> ", first=AUTOBOOT, cwd=ROOT)
    assert v_status == 0 == q_status, v_out[-400:]
    q_banner, q_session = split(q_out)
    v_banner, v_session = split(v_out)
    assert v_session == q_session
    assert b"hello from u-boot" in v_session and b"greeting=vm-and-qemu" in v_session
    assert b"poweroff ..." in v_session
    # The banner is the same but for the lines about devices vm does not model (docs/running.md):
    # QEMU's tree has more nodes (PCIe, fw-cfg, GPIO), so U-Boot counts more devices.
    assert [line for line in q_banner if not line.startswith(b"Core:")] == \
        [line for line in v_banner if not line.startswith(b"Core:")]


def test_uboot_saveenv_programs_the_cfi_flash() -> None:
    """saveenv erases and programs bank 1 (0x4000000) through the Intel command set; the block it
    leaves holds a CRC32 (zlib's, computed here) over the variables, with the one set before."""
    uboot = uboot_arm64()
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    typed = [b"", b"setenv greeting saved-in-flash", b"saveenv", b"poweroff"]
    seen = bytearray()

    def typist() -> None:                      # types each line once U-Boot shows the next prompt
        marker, searched = AUTOBOOT, 0
        while chunk := os.read(out_r, 65536):
            seen.extend(chunk)
            while typed and (at := seen.find(marker, searched)) >= 0:
                searched, marker = at + len(marker), b"=> "
                os.write(in_w, typed.pop(0) + b"\n")

    reader = threading.Thread(target=typist, daemon=True)
    reader.start()
    machine = boot(None, arch="arm64", bios=str(uboot), console=Console(out_w, in_r, out_w))
    result = machine.run(timeout=60)
    os.close(out_w)
    reader.join(timeout=10)
    for fd in (in_r, in_w, out_r):
        os.close(fd)
    text = bytes(seen)
    assert result.status == 0, text[-500:]
    assert b"Writing to Flash... done" in text and b"OK" in text
    assert machine.flash is not None
    block = machine.flash.storage[ENV_ADDR:ENV_ADDR + ENV_SIZE].tobytes()
    crc, data = int.from_bytes(block[:4], "little"), block[4:]
    assert crc == zlib.crc32(data)
    assert b"greeting=saved-in-flash\0" in data and data.startswith(b"arch=arm\0")
    assert machine.flash.erased >= 1 and machine.flash.programmed >= len(b"greeting=saved-in-flash")


QEMU_RISCV64 = ["qemu-system-riscv64", "-M", "virt", "-m", "128M", "-display", "none", "-monitor", "none",
                "-serial", "stdio", "-nic", "none"]
RISCV_COMMANDS = [b"", b"echo hello from u-boot", b"setenv greeting vm-and-qemu", b"printenv greeting", b"version",
                  b"md.l 0x80200000 8", b"poweroff"]
# Banner lines that describe the CPU (Unicorn's is QEMU 5's RV64GC: privileged spec 1.10, no H
# extension, no Sstc, no counters) or devices vm does not model (QEMU's riscv flash, PCIe, RTC).
RISCV_CPU_LINES = (b"Boot HART Priv Version", b"Boot HART Base ISA", b"Boot HART ISA Extensions",
                   b"Boot HART MHPM Count", b"Boot HART MIDELEG", b"Boot HART MEDELEG", b"CPU:", b"Core:", b"Flash:",
                   b"Working FDT set to")


def opensbi_fw_jump() -> Path:
    return debian_package("opensbi") / "usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"


def test_opensbi_and_uboot_riscv64_like_qemu() -> None:
    require_tool("qemu-system-riscv64")
    firmware = opensbi_fw_jump()
    uboot = debian_package("u-boot-qemu") / "usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin"
    q_out, q_status = converse([*QEMU_RISCV64, "-bios", str(firmware), "-kernel", str(uboot)], RISCV_COMMANDS,
                               prompt=b"=> ", first=AUTOBOOT)
    v_out, v_status = converse([sys.executable, "-m", "vmcli", "run", "--arch", "riscv64", "--bios", str(firmware),
                                str(uboot)], RISCV_COMMANDS, prompt=b"=> ", first=AUTOBOOT, cwd=ROOT)
    assert v_status == 0 == q_status, v_out[-400:]
    q_banner, q_session = split(q_out)
    v_banner, v_session = split(v_out)
    assert v_session == q_session
    assert b"greeting=vm-and-qemu" in v_session and b"OpenSBI v1.1" in v_out

    def same(lines: list[bytes]) -> list[bytes]:
        return [line for line in lines if not line.lstrip().startswith(RISCV_CPU_LINES)]

    assert same(v_banner) == same(q_banner)
