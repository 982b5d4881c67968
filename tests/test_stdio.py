"""A stdout that cannot be written (closed, a full disk, a reader that went away) ends every command
with one line on stderr and exit status 74, never a traceback. (That a guest's file never takes a
closed stdout's number is in tests/machine/test_cli_run.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "run": ["run", "hello-arm64"],
    "boards": ["boards"],
    "disasm": ["disasm", "hello-riscv64"],
    "translate": ["translate", "--hex", "4801d8"],
    "images-json": ["images", "--json"],
}


def run_with_stdout(args: list[str], how: str) -> subprocess.CompletedProcess[bytes]:
    vm = [sys.executable, "-m", "vmcli", *args]
    if how == "closed":
        return subprocess.run(["bash", "-c", 'exec "$@" >&-', "bash", *vm], capture_output=False,
                              stderr=subprocess.PIPE, timeout=120, check=False, cwd=ROOT)
    if how == "full":
        with open("/dev/full", "wb") as full:
            return subprocess.run(vm, stdout=full, stderr=subprocess.PIPE, timeout=120, check=False, cwd=ROOT)
    read_end, write_end = os.pipe()
    os.close(read_end)                                # the reader is gone before the first write
    try:
        return subprocess.run(vm, stdout=write_end, stderr=subprocess.PIPE, timeout=120, check=False, cwd=ROOT)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("how", ["closed", "full", "broken-pipe"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_unwritable_stdout_is_status_74_and_one_line(command: str, how: str) -> None:
    if how == "full" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this host")
    proc = run_with_stdout(COMMANDS[command], how)
    err = proc.stderr.decode()
    assert proc.returncode == 74, err
    assert len(err.strip().splitlines()) == 1 and "cannot write" in err and "Traceback" not in err, err
    expected = {"closed": "Bad file descriptor", "full": "No space left on device", "broken-pipe": "broken pipe"}
    assert expected[how] in err


def test_closed_standard_fds_are_filled_before_anything_opens(tmp_path: Path) -> None:
    """With fds 0-2 closed, the next files opened would take their numbers (a guest's file would be
    fd 1 and get the console output); after guard_std_streams they are taken by stand-ins that fail
    in the direction the stream is used."""
    code = ("import os, sys\n"
            "from vmcli.stdio import guard_std_streams\n"
            "guard_std_streams()\n"
            f"fd = os.open({str(tmp_path / 'f')!r}, os.O_WRONLY | os.O_CREAT)\n"
            "try:\n    os.write(1, b'x'); wrote = 'yes'\nexcept OSError as exc:\n    wrote = exc.strerror\n"
            "os.write(fd, f'{fd} {wrote}'.encode())\n")
    subprocess.run(["bash", "-c", 'exec "$@" <&- >&- 2>&-', "bash", sys.executable, "-c", code], timeout=60,
                   check=True, cwd=ROOT)
    fd, wrote = (tmp_path / "f").read_text().split(" ", 1)
    assert int(fd) > 2 and wrote == "Bad file descriptor"
