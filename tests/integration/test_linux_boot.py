"""Debian's arm64 kernel (linux-image-arm64) with an initramfs holding Debian's busybox-static and an
/init script, booted as a Linux Image with --initrd and --append under `vm run` and under QEMU: /init
mounts /proc, prints `uname -r`, the CPU count and some arithmetic, and powers off (PSCI SYSTEM_OFF).
The /init output and the exit status must be the same; both wall times are printed (docs/running.md
has the figures; never asserted)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from debian_packages import debian_package, depends
from toolcheck import require_tool

ROOT = Path(__file__).resolve().parents[2]
INIT = b"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc
/bin/busybox mount -t proc proc /proc
echo "init: uname -r: $(/bin/busybox uname -r)"
echo "init: cpus: $(/bin/busybox grep -c ^processor /proc/cpuinfo)"
echo "init: 6 * 7 + 100 = $((6 * 7 + 100))"
/bin/busybox poweroff -f
"""
APPEND = "console=ttyAMA0 quiet"


def newc(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A cpio archive in the kernel's initramfs format ("newc", Documentation/driver-api/early-userspace)."""
    out = bytearray()
    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], start=1):
        encoded = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0]
        out += b"070701" + b"".join(b"%08X" % f for f in fields) + encoded
        out += bytes(-len(out) % 4)                     # the name, then the data, each padded to 4 bytes
        out += data
        out += bytes(-len(out) % 4)
    return bytes(out)


def initramfs(tmp: Path) -> Path:
    busybox = (debian_package("busybox-static", "arm64") / "bin" / "busybox").read_bytes()
    path = tmp / "initrd.cpio"
    path.write_bytes(newc([("bin", 0o040755, b""), ("bin/busybox", 0o100755, busybox), ("init", 0o100755, INIT)]))
    return path


def kernel() -> Path:
    image = next(name for name in depends("linux-image-arm64", "arm64") if name.startswith("linux-image-"))
    tree = debian_package(image, "arm64", only="./boot/vmlinuz-*")
    return next((tree / "boot").glob("vmlinuz-*"))


def timed(cmd: list[str]) -> tuple[bytes, int, float]:
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, timeout=240, check=False, stdin=subprocess.DEVNULL, cwd=ROOT)
    return proc.stdout + proc.stderr, proc.returncode, time.monotonic() - start


def init_lines(out: bytes) -> list[bytes]:
    return [line.strip() for line in out.splitlines() if line.startswith(b"init:")]


def test_debian_kernel_boots_busybox_init_like_qemu(tmp_path: Path) -> None:
    require_tool("qemu-system-aarch64")
    image, initrd = kernel(), initramfs(tmp_path)
    q_out, q_status, q_wall = timed(["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72", "-m", "512M",
                                     "-display", "none", "-monitor", "none", "-serial", "stdio", "-nic", "none",
                                     "-kernel", str(image), "-initrd", str(initrd), "-append", APPEND])
    v_out, v_status, v_wall = timed([sys.executable, "-m", "vmcli", "run", "--mem", "512M", str(image),
                                     "--initrd", str(initrd), "--append", APPEND, "--timeout", "200"])
    print(f"\nDebian arm64 kernel to /init and power-off: QEMU {q_wall:.2f} s, vm {v_wall:.2f} s "
          f"({v_wall / q_wall:.1f}x)")
    assert q_status == 0 and v_status == 0, v_out[-2000:]
    assert init_lines(v_out) == init_lines(q_out)
    assert len(init_lines(v_out)) == 3 and b"init: cpus: 1" in v_out and b"= 142" in v_out


def test_gzip_image_and_bad_images(tmp_path: Path) -> None:
    """A gzip-compressed Image boots the same way; a corrupt header, a kernel too big for --mem and an
    initrd that does not fit are each one line and status 2."""
    import gzip
    image = kernel().read_bytes()
    packed = tmp_path / "Image.gz"
    packed.write_bytes(gzip.compress(image[:4096]))          # enough to parse; it does not boot far
    bad = tmp_path / "bad.Image"
    bad.write_bytes(image[:16] + (1).to_bytes(8, "little") + image[24:4096])   # image_size 1 < file size
    big = tmp_path / "initrd.big"
    big.write_bytes(bytes(70 << 20))
    cases = [
        ([str(bad)], b"corrupt arm64 Image header"),
        ([str(kernel()), "--mem", "16M"], b"does not fit"),
        ([str(kernel()), "--initrd", str(big), "--mem", "64M"], b"the initrd"),
        ([str(packed), "--mem", "1M"], b"does not fit"),
    ]
    for args, message in cases:
        proc = subprocess.run([sys.executable, "-m", "vmcli", "run", *args], capture_output=True, timeout=120,
                              check=False, cwd=ROOT)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1
