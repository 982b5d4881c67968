"""`vm run` end to end as a user runs it: bundled images, exit statuses, and every kind of bad input
ending in one line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from elfs import make_elf

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "guest-images" / "bin"
ARCHES = ("arm64", "riscv64", "x86_64")
RAM = {"arm64": 0x4000_0000, "riscv64": 0x8000_0000, "x86_64": 0x0}
NOP = {"arm64": b"\x1f\x20\x03\xd5", "riscv64": b"\x13\x00\x00\x00", "x86_64": b"\x90"}


def vm(*args: str, stdin: bytes = b"", timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "vmcli", *args], input=stdin, capture_output=True,
                          timeout=timeout, check=False, cwd=ROOT)


@pytest.mark.parametrize("arch", ARCHES)
def test_hello_elf_and_raw(arch: str) -> None:
    for args in ([str(BIN / f"hello-{arch}.elf")], [str(BIN / f"hello-{arch}.bin"), "--arch", arch]):
        proc = vm("run", *args)
        assert proc.stdout == f"Hello from {arch}\n".encode() and proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("arch", ARCHES)
def test_exit_status_is_the_guests(arch: str) -> None:
    proc = vm("run", f"exit-{arch}")                   # bundled images run by name too
    assert proc.returncode == 3 and proc.stderr == b""


@pytest.mark.parametrize("arch", ARCHES)
def test_fault_report(arch: str) -> None:
    proc = vm("run", str(BIN / f"fault-{arch}.elf"))
    err = proc.stderr.decode()
    assert proc.returncode == 126
    assert "guest fault: read from unmapped memory" in err and "pc=0x" in err
    assert "Traceback" not in err and len(err.splitlines()) < 15


def test_timeout_and_max_insns_statuses(tmp_path: Path) -> None:
    spin = tmp_path / "spin.bin"
    spin.write_bytes(b"\x00\x00\x00\x14")                # b .
    proc = vm("run", str(spin), "--arch", "arm64", "--timeout", "0.5")
    assert proc.returncode == 124 and b"--timeout" in proc.stderr
    proc = vm("run", str(spin), "--arch", "arm64", "--max-insns", "1000")
    assert proc.returncode == 125 and b"--max-insns 1000 reached" in proc.stderr


def test_load_addr_and_entry_options(tmp_path: Path) -> None:
    raw = (BIN / "hello-arm64.bin").read_bytes()
    moved = tmp_path / "moved.bin"
    moved.write_bytes(b"\x00" * 16 + raw)               # 16 bytes of junk before the program
    # hello is position-independent up to its literal pool; load it where it was linked, enter after junk
    proc = vm("run", str(moved), "--arch", "arm64", "--load-addr", hex(0x4008_0000 - 16), "--entry", "0x40080000")
    assert proc.stdout == b"Hello from arm64\n" and proc.returncode == 0


BAD_INPUTS = {
    "missing": (lambda d: d / "nope.elf", [], "no such file"),
    "empty": (lambda d: _write(d / "e.bin", b""), ["--arch", "arm64"], "image is empty"),
    "directory": (lambda d: d, [], "directory"),
    "raw without arch": (lambda d: _write(d / "r.bin", b"\x00" * 8), [], "--arch is needed"),
    "unknown arch": (lambda d: _write(d / "r.bin", b"\x00" * 8), ["--arch", "mips"], "unknown --arch"),
    "unknown board": (lambda d: _write(d / "r.bin", b"\x00" * 8), ["--arch", "arm64", "--board", "sbsa"], "no board"),
    "truncated elf": (lambda d: _write(d / "t.elf", (BIN / "hello-arm64.elf").read_bytes()[:100]), [], "ELF"),
    "corrupt elf": (lambda d: _write(d / "c.elf", b"\x7fELF" + b"\xff" * 60), ["--arch", "arm64"], "ELF"),
    "elf for another arch": (lambda d: BIN / "hello-riscv64.elf", ["--arch", "arm64"], "is for riscv64, not arm64"),
    "elf for arm32": (lambda d: _write(d / "a.elf", make_elf("arm", [(0x40080000, b"\0" * 4, 4)], 0x40080000)), [],
                      "does not run"),
    "segment outside ram": (lambda d: _write(d / "o.elf", make_elf("arm64", [(0x0C00_0000, NOP["arm64"], 4)],
                                                                   0x0C00_0000)), [], "outside RAM"),
    "writable segment in flash": (lambda d: _write(d / "w.elf", make_elf("arm64", [(0x1000, NOP["arm64"], 4)], 0x1000,
                                                                         flags=6)), [], "read-only flash"),
    "segment across the end of ram": (lambda d: _write(d / "x.elf", make_elf("arm64", [(0x47FF_FFF0, bytes(32), 32)],
                                                                             0x47FF_FFF0)), [], "outside RAM"),
    "segment past 2**64": (lambda d: _write(d / "p.elf", make_elf("arm64", [(2**64 - 8, bytes(16), 16)], 0x4008_0000)),
                           [], "address space"),
    "phoff past 2**63": (lambda d: _write(d / "h.elf", _patch(make_elf("arm64", [(0x4008_0000, NOP["arm64"], 4)],
                                                                       0x4008_0000), 0x20, 1 << 63)), [], "truncated"),
    "phnum past the end": (lambda d: _write(d / "m.elf", _patch(make_elf("arm64", [(0x4008_0000, NOP["arm64"], 4)],
                                                                        0x4008_0000), 0x38, 0xFFFF, 2)), [],
                           "truncated"),
    "big-endian elf": (lambda d: _write(d / "b.elf", b"\x7fELF\x02\x02\x01" + bytes(57)), [], "big-endian"),
    "elf class 3": (lambda d: _write(d / "k.elf", b"\x7fELF\x03\x01\x01" + bytes(57)), [], "class 3"),
    "linux program": (lambda d: _write(d / "l.elf", make_elf("arm64", [(0x4008_0000, NOP["arm64"], 4)], 0x4008_0000,
                                                             interp=b"/lib/ld-linux-aarch64.so.1")), [],
                      "a Linux program (its interpreter is /lib/ld-linux-aarch64.so.1)"),
    "character device": (lambda d: Path("/dev/zero"), ["--arch", "arm64"], "not a regular file"),
    "random device": (lambda d: Path("/dev/urandom"), ["--arch", "arm64"], "not a regular file"),
    "fifo": (lambda d: _fifo(d / "pipe"), ["--arch", "arm64"], "not a regular file"),
    "over 1 GiB": (lambda d: _sparse(d / "huge.bin", (1 << 30) + 1), ["--arch", "arm64"], "the limit is"),
    "segment on a device": (lambda d: _write(d / "u.elf", make_elf("arm64", [(0x0900_0000, NOP["arm64"], 4)],
                                                                   0x0900_0000)), [], "overlaps device uart0"),
    "overlapping segments": (lambda d: _write(d / "v.elf", make_elf("arm64", [(0x4008_0000, b"\0" * 64, 64),
                                                                             (0x4008_0020, b"\0" * 64, 64)],
                                                                   0x4008_0000)), [], "overlap"),
    "absurd memsz": (lambda d: _write(d / "z.elf", make_elf("arm64", [(0x4008_0000, NOP["arm64"], 1 << 62)],
                                                            0x4008_0000)), [], "absurdly large"),
    "filesz past end": (lambda d: _write(d / "f.elf", make_elf("arm64", [(0x4008_0000, NOP["arm64"], 4)],
                                                               0x4008_0000)[:-2]), [], "truncated ELF"),
    "entry outside ram": (lambda d: _write(d / "n.elf", make_elf("arm64", [(0x4008_0000, NOP["arm64"], 4)],
                                                                 0x0C00_0010)), [],
                          "entry point 0xc000010 lies outside RAM"),
    "mem zero": (lambda d: BIN / "hello-arm64.elf", ["--mem", "0"], "--mem must be larger than 0"),
    "mem unaligned": (lambda d: BIN / "hello-arm64.elf", ["--mem", "1000"], "multiple of 4 KiB"),
    "mem too large": (lambda d: BIN / "hello-arm64.elf", ["--mem", "200T"], "--mem"),
    "mem garbage": (lambda d: BIN / "hello-arm64.elf", ["--mem", "lots"], "is not a size"),
    "raw image larger than ram": (lambda d: _write(d / "big.bin", b"\0" * (1 << 20)), ["--arch", "arm64", "--mem",
                                                                                       "512K"], "outside RAM"),
    "load addr outside ram": (lambda d: _write(d / "r.bin", b"\x00" * 8), ["--arch", "arm64", "--load-addr", "0x10"],
                              "outside RAM"),
    "load addr for an elf": (lambda d: BIN / "hello-arm64.elf", ["--load-addr", "0x40000000"], "raw images"),
    "bad address": (lambda d: _write(d / "r.bin", b"\x00" * 8), ["--arch", "arm64", "--entry", "0xZZ"],
                    "not an address"),
    "semihosting root on x86": (lambda d: BIN / "hello-x86_64.elf", ["--semihosting-root", "."], "no semihosting"),
    "semihosting root missing": (lambda d: BIN / "hello-arm64.elf", ["--semihosting-root", "/nonexistent-dir"],
                                 "does not exist"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _patch(data: bytes, offset: int, value: int, size: int = 8) -> bytes:
    return data[:offset] + value.to_bytes(size, "little") + data[offset + size:]


def _fifo(path: Path) -> Path:
    os.mkfifo(path)                                     # nobody writes: a blocking read would wait forever
    return path


def _sparse(path: Path, size: int) -> Path:
    with path.open("wb") as fh:
        fh.truncate(size)
    return path


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_and_status_2(tmp_path: Path, case: str) -> None:
    make, args, message = BAD_INPUTS[case]
    proc = vm("run", str(make(tmp_path)), *args)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_bad_input_loses_nothing(tmp_path: Path) -> None:
    target = _write(tmp_path / "keep.bin", b"\x01\x02")
    vm("run", str(target), "--arch", "nonsense")
    assert target.read_bytes() == b"\x01\x02"


def test_boards_images_disasm() -> None:
    boards = vm("boards", "--json")
    assert boards.returncode == 0 and b'"pc-flat"' in boards.stdout
    arm = next(b for b in json.loads(boards.stdout) if b["arch"] == "arm64")
    assert {d["kind"]: d["base"] for d in arm["devices"]}["pl031"] == 0x0901_0000      # QEMU's VIRT_RTC
    listing = vm("images")
    assert listing.returncode == 0 and b"hello-arm64.elf" in listing.stdout
    dis = vm("disasm", str(BIN / "hello-x86_64.elf"), "--count", "3")
    assert dis.returncode == 0 and b"0x100000:" in dis.stdout


def test_bad_option_values_are_status_2() -> None:
    proc = vm("run", str(BIN / "hello-arm64.elf"), "--timeout", "-1")
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr


BUG = ("import sys, vmcli.machine.boards as boards\n"
       "def broken(): raise ZeroDivisionError('a bug planted by the test')\n"
       "boards.markdown_tables = broken\n"
       "from vmcli.cli import main\n"
       "main(sys.argv[1:])\n")


def test_internal_errors_are_status_70_and_one_line_without_debug() -> None:
    """A bug (here one planted in the code `vm boards --markdown` calls) ends in status 70 and one
    line naming it; --debug shows the traceback instead."""
    proc = subprocess.run([sys.executable, "-c", BUG, "boards", "--markdown"], capture_output=True, text=True,
                          timeout=60, check=False, cwd=ROOT, env=_no_debug_env())
    assert proc.returncode == 70, proc.stderr
    assert proc.stderr.splitlines() == ["vm: internal error: ZeroDivisionError: a bug planted by the test "
                                        "(this is a bug; run with --debug for the traceback)"]
    proc = subprocess.run([sys.executable, "-c", BUG, "--debug", "boards", "--markdown"], capture_output=True,
                          text=True, timeout=60, check=False, cwd=ROOT, env=_no_debug_env())
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "a bug planted by the test" in proc.stderr


def _no_debug_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VM_DEBUG", None)
    return env


def test_elf32_and_bss_are_loaded(tmp_path: Path) -> None:
    from elfs import make_elf32
    # x86-64 code in an ELF32 container: read a .bss byte (must be 0) and exit with 40 + it
    code = bytes.fromhex("8a0425" + (0x101000).to_bytes(4, "little").hex()) + bytes.fromhex("0428e6f4")
    image = _write(tmp_path / "x.elf", make_elf32("x86_64", [(0x100000, code, 0x2000)], 0x100000))
    proc = vm("run", str(image))
    assert proc.returncode == 40, proc.stderr


READY = """
    movz x7, #0x0900, lsl #16
    mov w8, #0x72
    strb w8, [x7]
    mov w8, #0x0a
    strb w8, [x7]
"""                                                      # "r\n" on the PL011: the guest is about to wait
GUESTS = {"spin": READY + "b .",                         # spins in compiled code
          "wait-for-input": READY + "mov x0, #7; hlt #0xf000; b ."}   # SYS_READC: waits in the host


@pytest.mark.parametrize("guest", list(GUESTS))
def test_ctrl_c_stops_the_guest(tmp_path: Path, guest: str) -> None:
    import signal

    from guests import asm
    image = _write(tmp_path / "g.bin", asm("arm64", GUESTS[guest], 0x4008_0000))
    proc = subprocess.Popen([sys.executable, "-m", "vmcli", "run", str(image), "--arch", "arm64"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout is not None and proc.stdout.readline() == b"r\n"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and b"interrupted" in err and b"Traceback" not in err


@pytest.mark.parametrize("guest", list(GUESTS))
def test_timeout_stops_the_guest_wherever_it_waits(tmp_path: Path, guest: str) -> None:
    """--timeout ends a guest that waits for input that never comes (stdin stays open and empty)."""
    from guests import asm
    image = _write(tmp_path / "g.bin", asm("arm64", GUESTS[guest], 0x4008_0000))
    stdin_r, stdin_w = os.pipe()                     # held open, never written: no input, no end of input
    try:
        proc = subprocess.Popen([sys.executable, "-m", "vmcli", "run", str(image), "--arch", "arm64", "--timeout",
                                 "0.5"], stdin=stdin_r, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
        os.close(stdin_r)
        out, err = proc.communicate(timeout=60)      # without the deadline, the input wait never ends
    finally:
        os.close(stdin_w)
    assert proc.returncode == 124 and out == b"r\n" and b"--timeout 0.5 s reached" in err


def test_closed_stdout_never_becomes_a_guest_file(tmp_path: Path) -> None:
    """The guest opens out.txt for writing, then prints on the console. Were fd 1 left closed, the file
    would take that number and swallow the console text; vm fills it first, so the print fails
    (status 74) and the file stays empty."""
    from guests import asm
    base = 0x4008_0000
    name_at, block_at, text_at, exit_at = base + 0x1000, base + 0x1010, base + 0x1030, base + 0x1050
    code = asm("arm64", f"""
        movz x1, #{block_at & 0xFFFF:#x}
        movk x1, #{block_at >> 16:#x}, lsl #16
        mov x0, #1
        hlt #0xf000
        movz x1, #{text_at & 0xFFFF:#x}
        movk x1, #{text_at >> 16:#x}, lsl #16
        mov x0, #4
        hlt #0xf000
        movz x1, #{exit_at & 0xFFFF:#x}
        movk x1, #{exit_at >> 16:#x}, lsl #16
        mov x0, #0x18
        hlt #0xf000
    """, base)
    image = bytearray(code.ljust(0x1000, b"\0")) + bytes(0x60)
    image[0x1000:0x1008] = b"out.txt\0"
    image[0x1010:0x1028] = struct.pack("<3Q", name_at, 4, 7)          # SYS_OPEN "out.txt", mode "w"
    image[0x1030:0x1040] = b"console text\n\0\0\0"
    image[0x1050:0x1060] = struct.pack("<2Q", 0x20026, 0)
    path = _write(tmp_path / "g.bin", bytes(image))
    (tmp_path / "root").mkdir()
    proc = subprocess.run(["bash", "-c", 'exec "$@" >&-', "bash", sys.executable, "-m", "vmcli", "run", str(path),
                           "--arch", "arm64", "--semihosting-root", str(tmp_path / "root")],
                          stderr=subprocess.PIPE, timeout=60, check=False, cwd=ROOT)
    assert proc.returncode == 74, proc.stderr
    assert (tmp_path / "root" / "out.txt").read_bytes() == b""


def test_guest_ram_beyond_the_address_space_limit_is_bad_input() -> None:
    """Under `ulimit -v`, RAM the process cannot map is a bad --mem (2), found before Unicorn would
    end the process itself for want of its translation buffer."""
    proc = subprocess.run(["bash", "-c", 'ulimit -v 2500000 && exec "$@"', "bash", sys.executable, "-m", "vmcli",
                           "run", "hello-arm64", "--mem", "2G"], capture_output=True, text=True, timeout=60,
                          check=False, cwd=ROOT)
    assert proc.returncode == 2 and "ulimit -v" in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
    proc = subprocess.run(["bash", "-c", 'ulimit -v 2500000 && exec "$@"', "bash", sys.executable, "-m", "vmcli",
                           "run", "hello-arm64", "--mem", "64M"], capture_output=True, text=True, timeout=60,
                          check=False, cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout == "Hello from arm64\n", proc.stderr


def test_a_bss_only_segment_needs_no_file_bytes(tmp_path: Path) -> None:
    """A PT_LOAD with p_filesz 0 (all .bss) may name any file offset, past the end included, as the
    linker writes it for a data segment with nothing initialised: only p_filesz bytes are read."""
    image = make_elf("arm64", [(0x4008_0000, NOP["arm64"] * 2 + bytes.fromhex("00000014"), 12),
                               (0x4009_0000, b"", 0x1000)], 0x4008_0000)
    # the second program header's p_offset (at 64 + 56 + 8) set past the end of the file
    image = _patch(image, 64 + 56 + 8, len(image) + 0x10000)
    proc = vm("run", str(_write(tmp_path / "bss.elf", image)), "--max-insns", "100")
    assert proc.returncode == 125, proc.stderr                # ran (and spun) rather than being refused
