"""Semihosting calls made by real guest code (arm64 HLT #0xF000 and the riscv64 ebreak sequence),
checked against the values the ARM semihosting specification defines, and the --semihosting-root
sandbox against hostile names."""

from __future__ import annotations

import errno
import os
import struct
import time
from pathlib import Path

import pytest
from guests import A0, A1, RV_SEMIHOST, T0, T1, asm, load_addr, run_code, rv, rv_la, rv_li, rv_sw

BASE = load_addr("arm64")
DATA = BASE + 0x1000
RESULTS = BASE + 0x3000
SYS = {"open": 0x01, "close": 0x02, "writec": 0x03, "write0": 0x04, "write": 0x05, "read": 0x06, "istty": 0x09,
       "seek": 0x0A, "flen": 0x0C, "clock": 0x10, "time": 0x11, "errno": 0x13, "get_cmdline": 0x15,
       "heapinfo": 0x16, "exit": 0x18, "exit_extended": 0x20, "elapsed": 0x30, "tickfreq": 0x31}


def mov(reg: str, value: int) -> str:
    parts = [f"movz {reg}, #{value & 0xFFFF}"]
    for shift in (16, 32, 48):
        if (value >> shift) & 0xFFFF:
            parts.append(f"movk {reg}, #{(value >> shift) & 0xFFFF}, lsl #{shift}")
    return "; ".join(parts)


class Blocks:
    """Parameter blocks and strings laid out in the guest's data area."""

    def __init__(self) -> None:
        self.data = bytearray()

    def add(self, payload: bytes, align: int = 8) -> int:
        self.data += bytes(-len(self.data) % align)
        addr = DATA + len(self.data)
        self.data += payload
        return addr

    def words(self, *values: int) -> int:
        return self.add(struct.pack(f"<{len(values)}Q", *values))


def semicalls(calls: list[tuple[str | int, int]], blocks: Blocks, **kw: object):  # type: ignore[no-untyped-def]
    """Make each call in order, store each result in RESULTS[i], then SYS_EXIT(0)."""
    lines = [mov("x9", RESULTS)]
    for i, (op, param) in enumerate(calls):
        number = SYS[op] if isinstance(op, str) else op
        lines += [mov("x1", param), f"mov x0, #{number}", "hlt #0xf000", f"str x0, [x9, #{8 * i}]"]
    exit_block = blocks.words(0x20026, 0)
    lines += [mov("x1", exit_block), "mov x0, #0x18", "hlt #0xf000"]
    outcome = run_code("arm64", asm("arm64", "; ".join(lines), BASE), data=bytes(blocks.data), **kw)
    raw = outcome.machine.memory.read(RESULTS, 8 * len(calls))
    results = [struct.unpack_from("<q", raw, 8 * i)[0] for i in range(len(calls))]
    return outcome, results


def test_console_calls_write_to_stdout() -> None:
    b = Blocks()
    name = b.add(b":tt\0")
    text = b.add(b"via write\n")
    char = b.add(b"c")
    zero = b.add(b"via write0\n\0")
    out, res = semicalls([
        ("open", b.words(name, 4, 3)),
        ("write", b.words(1, text, 10)),
        ("writec", char),
        ("write0", zero),
        ("istty", b.words(1)),
    ], b)
    assert res[0] == 1 and res[1] == 0 and res[4] == 1
    assert out.stdout == b"via write\ncvia write0\n"
    assert out.result.status == 0 and out.result.reason == "exit"
    assert out.result.semihosting_calls["write"] == 1


def test_stderr_handle_goes_to_stderr() -> None:
    b = Blocks()
    name = b.add(b":tt\0")
    text = b.add(b"oops\n")
    out, res = semicalls([("open", b.words(name, 8, 3)), ("write", b.words(1, text, 5))], b)
    assert res == [1, 0] and out.stderr == b"oops\n" and out.stdout == b""


def test_features_file() -> None:
    b = Blocks()
    name = b.add(b":semihosting-features\0")
    buf = b.add(bytes(16))
    out, res = semicalls([
        ("open", b.words(name, 0, 21)), ("flen", b.words(1)), ("read", b.words(1, buf, 16)),
        ("open", b.words(name, 4, 21)), ("errno", 0),
    ], b)
    assert res[:3] == [1, 5, 11]                     # READ returns the bytes *not* read
    assert out.machine.memory.read(buf, 5) == b"SHFB\x03"
    assert res[3] == -1 and res[4] == errno.EACCES   # not writable


def test_files_under_the_root(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_bytes(b"0123456789")
    (tmp_path / "sub").mkdir()                     # names resolve as the kernel does: sub must exist
    b = Blocks()
    name_in = b.add(b"in.txt\0")
    name_abs = b.add(b"/in.txt\0")
    name_out = b.add(b"sub/../out.txt\0")
    buf = b.add(bytes(16))
    text = b.add(b"written")
    out, res = semicalls([
        ("open", b.words(name_in, 1, 6)),          # 1: "rb"
        ("flen", b.words(1)),
        ("seek", b.words(1, 4)),
        ("read", b.words(1, buf, 16)),             # 6 bytes left: returns 10 not read
        ("istty", b.words(1)),
        ("close", b.words(1)),
        ("close", b.words(1)),                     # already closed
        ("errno", 0),
        ("open", b.words(name_abs, 0, 7)),         # absolute names start at the root too
        ("open", b.words(name_out, 4, 14)),        # "w" creates
        ("write", b.words(2, text, 7)),
    ], b, semihosting_root=str(tmp_path))
    assert res[:8] == [1, 10, 0, 10, 0, 0, -1, errno.EBADF]
    assert out.machine.memory.read(buf, 6) == b"456789"
    assert res[8] == 1 and res[9] == 2 and res[10] == 0
    assert (tmp_path / "out.txt").read_bytes() == b"written"


def open_errno(name: bytes, root: Path, mode: int = 0) -> tuple[int, int]:
    """SYS_OPEN of `name` below `root` from a guest: (result, SYS_ERRNO)."""
    b = Blocks()
    addr = b.add(name + b"\0")
    out, res = semicalls([("open", b.words(addr, mode, len(name))), ("errno", 0)], b, semihosting_root=str(root))
    return res[0], res[1]


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """root/ with a file, a subfolder and links; beside it a secret and a sibling root2/ that shares
    root's name as a prefix."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "in.txt").write_text("inside")
    (tmp_path / "secret.txt").write_text("host secret")
    (tmp_path / "root2").mkdir()
    (tmp_path / "root2" / "secret.txt").write_text("sibling secret")
    os.symlink(tmp_path / "secret.txt", root / "link-out")          # absolute, leads out
    os.symlink("../secret.txt", root / "rel-link-out")              # relative, leads out
    os.symlink(tmp_path, root / "dir-link")
    os.symlink("../root2", root / "sibling-link")
    os.symlink(root / "in.txt", root / "abs-link-in")               # absolute, even if it lands inside
    return root


# The docs promise EACCES for every name that leads out of the root, whichever way it tries.
@pytest.mark.parametrize("name", [b"../secret.txt", b"/../secret.txt", b"sub/../../secret.txt",
                                  b"../root2/secret.txt", b"/../root2/secret.txt", b"./../root2/secret.txt",
                                  b"sub/../../root2/secret.txt", b"..", b"../", b"/..", b"link-out",
                                  b"rel-link-out", b"dir-link/secret.txt", b"dir-link/root2/secret.txt",
                                  b"sibling-link/secret.txt", b"abs-link-in"])
@pytest.mark.parametrize("mode", [0, 4])            # "r" and "w" (which would create or truncate)
def test_sandbox_refuses_escapes(sandbox: Path, name: bytes, mode: int) -> None:
    result, err = open_errno(name, sandbox, mode)
    assert (result, err) == (-1, errno.EACCES), name
    assert (sandbox.parent / "secret.txt").read_text() == "host secret"
    assert (sandbox.parent / "root2" / "secret.txt").read_text() == "sibling secret"


@pytest.mark.parametrize("name", [b"in.txt", b"/in.txt", b"/./in.txt", b"./in.txt", b"//in.txt", b"sub/../in.txt",
                                  b"sub/./../in.txt", b"/sub/../in.txt"])
def test_sandbox_names_that_stay_inside(sandbox: Path, name: bytes) -> None:
    assert open_errno(name, sandbox) == (1, 0), name


@pytest.mark.parametrize(("name", "expected"), [
    (b"in.txt/", errno.ENOTDIR),                    # a trailing slash asks for a directory
    (b"sub", errno.EISDIR), (b"sub/", errno.EISDIR), (b"/", errno.EISDIR), (b".", errno.EISDIR),
    (b"missing.txt", errno.ENOENT),
    (b"/secret.txt", errno.ENOENT),                 # absolute names start at the root: no such file there
])
def test_sandbox_exact_errors(sandbox: Path, name: bytes, expected: int) -> None:
    assert open_errno(name, sandbox) == (-1, expected), name


def test_sandbox_host_absolute_path_is_inside_the_root(sandbox: Path) -> None:
    # The host's own path of the secret names a file under the root that does not exist.
    assert open_errno(os.fsencode(sandbox.parent / "secret.txt"), sandbox) == (-1, errno.ENOENT)


def test_symlink_inside_root_is_followed(tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_bytes(b"ok")
    os.symlink("real.txt", tmp_path / "alias.txt")
    b = Blocks()
    addr = b.add(b"alias.txt\0")
    buf = b.add(bytes(8))
    out, res = semicalls([("open", b.words(addr, 0, 9)), ("read", b.words(1, buf, 2))], b,
                         semihosting_root=str(tmp_path))
    assert res == [1, 0] and out.machine.memory.read(buf, 2) == b"ok"


def test_without_root_no_host_file_opens(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("x")
    b = Blocks()
    for name in (b"/etc/hostname", str(tmp_path / "x").encode(), b"x"):
        addr = b.add(name + b"\0")
        out, res = semicalls([("open", b.words(addr, 0, len(name))), ("errno", 0)], b)
        assert res == [-1, errno.EACCES]


def test_directories_are_not_files(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    for mode in (0, 2):                               # "r" and "r+"
        assert open_errno(b"d", tmp_path, mode) == (-1, errno.EISDIR)


def test_clock_time_and_ticks() -> None:
    """The guest's clocks against the host's, read around the same run: never a fixed bound, so a slow
    machine cannot fail it."""
    b = Blocks()
    ticks = b.add(bytes(8))
    before, start = int(time.time()), time.monotonic()
    out, res = semicalls([("clock", 0), ("time", 0), ("tickfreq", 0), ("elapsed", ticks)], b)
    host_s = time.monotonic() - start
    assert 0 <= res[0] <= host_s * 100 + 1            # centiseconds since the run began: within the run
    assert before <= res[1] <= int(time.time())
    assert res[2] == 1_000_000 and res[3] == 0
    elapsed = struct.unpack("<Q", out.machine.memory.read(ticks, 8))[0]
    assert 0 <= elapsed <= host_s * 1_000_000 + 1     # microsecond ticks (TICKFREQ), within the run


def test_cmdline_and_heapinfo() -> None:
    b = Blocks()
    buf = b.add(bytes(64))
    block = b.words(buf, 64)
    info = b.add(bytes(32))
    pointer = b.words(info)
    out, res = semicalls([("get_cmdline", block), ("heapinfo", pointer)], b, cmdline="input.txt -v")
    mem = out.machine.memory
    assert res == [0, 0]
    assert mem.read(buf, 13) == b"input.txt -v\0" and mem.read_u64(block + 8) == 12
    heap_base, heap_limit, stack_base, stack_limit = struct.unpack("<4Q", mem.read(info, 32))
    ram_end = 0x40000000 + (128 << 20)
    assert BASE < heap_base < heap_limit == stack_base == ram_end and stack_limit == heap_base


def test_hostile_parameters_fail_cleanly() -> None:
    b = Blocks()
    name = b.add(b":tt\0")
    out, res = semicalls([
        ("write0", 0x0),                           # not RAM
        ("errno", 0),
        ("open", 0x0900_0000),                     # parameter block in a device window
        ("open", b.words(name, 99, 3)),            # bad mode
        ("open", b.words(name, 0, 1 << 40)),       # absurd length
        ("write", b.words(1, DATA, 1 << 62)),      # absurd length
        ("read", b.words(1, 0x0900_0000, 4)),      # destination is a device
        ("write", b.words(77, DATA, 4)),           # no such handle
        ("errno", 0),
        (0x99, 0),                                 # unknown operation
        ("errno", 0),
    ], b)
    assert res == [-1, errno.EFAULT, -1, -1, -1, -1, -1, -1, errno.EBADF, -1, errno.ENOSYS]
    assert out.result.status == 0


@pytest.mark.parametrize(("reason", "subcode", "status"), [(0x20026, 7, 7), (0x20026, 0, 0), (0x20023, 0, 1)])
def test_exit_reasons(reason: int, subcode: int, status: int) -> None:
    b = Blocks()
    block = b.words(reason, subcode)
    code = asm("arm64", f"{mov('x1', block)}; mov x0, #0x20; hlt #0xf000; b .", BASE)
    out = run_code("arm64", code, data=bytes(b.data))
    assert out.result.status == status and out.result.reason == "exit"


def test_riscv_semihosting_sequence() -> None:
    words = [*rv_li(A0, 0x04), *rv_la(A1, 0x100 - 8), *RV_SEMIHOST,
             *rv_li(T0, 0x100000), *rv_li(T1, (5 << 16) | 0x3333), rv_sw(T1, T0)]
    out = run_code("riscv64", rv(words), data=b"semihosted on riscv64\n\0", data_offset=0x100)
    assert out.stdout == b"semihosted on riscv64\n"
    assert out.result.status == 5 and out.result.semihosting_calls == {"write0": 1}


def test_console_input_through_read_and_readc() -> None:
    b = Blocks()
    name = b.add(b":tt\0")
    buf = b.add(bytes(16))
    out, res = semicalls([("open", b.words(name, 0, 3)), ("read", b.words(1, buf, 16)), (0x07, 0)], b,
                         stdin=b"line one\nX")
    assert res[0] == 1 and res[1] == 16 - 9 and res[2] == ord("X")
    assert out.machine.memory.read(buf, 9) == b"line one\n"


def _device(**boot_args: object):  # type: ignore[no-untyped-def]
    """A machine whose guest has already exited, for calling its semihosting device directly."""
    b = Blocks()
    out, _ = semicalls([], b, **boot_args)
    return out.machine, out.machine.semihosting


def test_handles_are_capped(tmp_path: Path) -> None:
    from vmcli.machine.devices.semihosting import MAX_HANDLES
    (tmp_path / "f").write_text("x")
    machine, sh = _device(semihosting_root=str(tmp_path))
    mem = machine.memory
    mem.write(DATA, b":tt\0f\0")
    tt, f = DATA + 0x100, DATA + 0x120
    mem.write(tt, struct.pack("<3Q", DATA, 0, 3))
    mem.write(f, struct.pack("<3Q", DATA + 4, 0, 1))
    opened = [sh.call(SYS["open"], f if i % 2 else tt) for i in range(MAX_HANDLES)]
    assert opened == list(range(1, MAX_HANDLES + 1))
    assert sh.call(SYS["open"], f) == -1 and sh.call(SYS["errno"], 0) == errno.EMFILE
    assert sh.call(SYS["open"], tt) == -1 and sh.call(SYS["errno"], 0) == errno.EMFILE
    mem.write(DATA + 0x200, struct.pack("<Q", 7))
    assert sh.call(SYS["close"], DATA + 0x200) == 0
    assert sh.call(SYS["open"], f) == 7                  # a freed slot is used again
    host_fds = len(os.listdir("/proc/self/fd"))
    sh.close_all()
    assert len(os.listdir("/proc/self/fd")) <= host_fds - MAX_HANDLES // 2


@pytest.mark.parametrize(("position", "result", "err"), [(10, 0, 0), (2**63 - 1, None, None),
                                                         (2**63, -1, errno.EINVAL), (2**64 - 1, -1, errno.EINVAL)])
def test_seek_positions_are_range_checked(tmp_path: Path, position: int, result: int | None,
                                          err: int | None) -> None:
    (tmp_path / "f").write_text("0123456789abcdef")
    machine, sh = _device(semihosting_root=str(tmp_path))
    machine.memory.write(DATA, b"f\0")
    machine.memory.write(DATA + 0x100, struct.pack("<3Q", DATA, 0, 1))
    assert sh.call(SYS["open"], DATA + 0x100) == 1
    machine.memory.write(DATA + 0x200, struct.pack("<2Q", 1, position))
    got = sh.call(SYS["seek"], DATA + 0x200)
    if result is None:                                  # the file system's own limit decides; no crash
        assert got in (0, -1)
    else:
        assert got == result
        if err:
            assert sh.call(SYS["errno"], 0) == err
    sh.close_all()


def test_open_without_a_root_says_once_which_option_grants_it() -> None:
    b = Blocks()
    name = b.add(b"data.txt\0")
    out, res = semicalls([("open", b.words(name, 0, 8)), ("open", b.words(name, 0, 8)), ("errno", 0)], b)
    assert res == [-1, -1, errno.EACCES]
    assert out.stderr.count(b"\n") == 1 and b"--semihosting-root" in out.stderr


@pytest.mark.parametrize(("kind", "expected"), [("fifo", errno.EACCES), ("socket", errno.ENXIO),
                                               ("device-link", errno.EACCES)])
def test_non_regular_files_in_the_root_are_refused_at_once(tmp_path: Path, kind: str, expected: int) -> None:
    """A FIFO with no writer would block an open forever (and Ctrl-C with it): it is refused; a socket
    cannot be opened at all (ENXIO, the kernel's word); a symlink to a device leads out of the root."""
    import socket
    import subprocess
    import sys

    from guests import asm
    root = tmp_path / "root"
    root.mkdir()
    if kind == "fifo":
        os.mkfifo(root / "node")
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(root / "node"))
    else:
        os.symlink("/dev/zero", root / "node")
    b = Blocks()
    name = b.add(b"node\0")
    block = b.words(name, 0, 4)
    code = asm("arm64", f"{mov('x1', block)}; mov x0, #1; hlt #0xf000; mov x0, #0x13; hlt #0xf000; "
                        f"mov x2, x0; {mov('x1', b.words(0x20026, 0))}; str x2, [x1, #8]; mov x0, #0x18; "
                        "hlt #0xf000", BASE)
    image = bytearray(code) + bytes(0x1000 - len(code)) + b.data
    (tmp_path / "g.bin").write_bytes(bytes(image))
    proc = subprocess.run([sys.executable, "-m", "vmcli", "run", str(tmp_path / "g.bin"), "--arch", "arm64",
                           "--semihosting-root", str(root)], capture_output=True, timeout=60, check=False)
    assert proc.returncode == expected, proc.stderr     # the guest exits with SYS_ERRNO
