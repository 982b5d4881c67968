"""vmcli.hostfs: names resolved below a root by the kernel (openat2) and by the hand walk that stands in
for it, with another process swapping a folder for a symlink all the while; and only regular files
opened, without blocking, for images and guest files."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vmcli import hostfs

WAYS = {"openat2": True, "walk": False}


@pytest.fixture(params=list(WAYS))
def use_openat2(request: pytest.FixtureRequest) -> bool:
    if WAYS[request.param]:
        try:
            os.close(hostfs.openat2(-100, b".", os.O_PATH, 0, 0))      # AT_FDCWD
        except OSError as exc:
            pytest.skip(f"this kernel has no openat2 ({exc.strerror}); the walk stands in for it")
    return WAYS[request.param]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "in.txt").write_text("inside")
    (root / "sub" / "deep" / "f.txt").write_text("deep")
    (tmp_path / "secret.txt").write_text("secret")
    (tmp_path / "root2").mkdir()
    (tmp_path / "root2" / "s.txt").write_text("sibling")
    os.symlink("../in.txt", root / "sub" / "up-in")                # relative, stays inside
    os.symlink("deep/f.txt", root / "sub" / "down")
    os.symlink("../../secret.txt", root / "sub" / "out")           # relative, leads out
    os.symlink(str(tmp_path / "secret.txt"), root / "abs-out")
    os.symlink("loop", root / "loop")
    return root


def read_beneath(root: Path, name: bytes, use_openat2: bool, flags: int = os.O_RDONLY) -> bytes:
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        fd = hostfs.open_beneath(root_fd, name, flags, 0o644, use_openat2=use_openat2)
    finally:
        os.close(root_fd)
    with os.fdopen(fd, "rb") as fh:
        return fh.read() if not flags & (os.O_WRONLY | os.O_RDWR) else b""


@pytest.mark.parametrize(("name", "content"), [
    (b"in.txt", b"inside"), (b"/in.txt", b"inside"), (b"sub/../in.txt", b"inside"), (b"sub/up-in", b"inside"),
    (b"sub/down", b"deep"), (b"sub/deep/../../in.txt", b"inside"), (b"//sub/./deep/f.txt", b"deep"),
])
def test_names_inside(tree: Path, use_openat2: bool, name: bytes, content: bytes) -> None:
    assert read_beneath(tree, name, use_openat2) == content


@pytest.mark.parametrize(("name", "err"), [
    (b"../secret.txt", errno.EXDEV), (b"../root2/s.txt", errno.EXDEV), (b"sub/../../secret.txt", errno.EXDEV),
    (b"sub/out", errno.EXDEV), (b"abs-out", errno.EXDEV), (b"..", errno.EXDEV),
    (b"loop", errno.ELOOP), (b"missing", errno.ENOENT), (b"in.txt/x", errno.ENOTDIR),
])
def test_names_refused(tree: Path, use_openat2: bool, name: bytes, err: int) -> None:
    with pytest.raises(OSError) as caught:
        read_beneath(tree, name, use_openat2)
    assert caught.value.errno == err, name


def test_create_through_a_link_that_leads_out(tree: Path, use_openat2: bool) -> None:
    os.symlink("../../made.txt", tree / "sub" / "dangling-out")
    with pytest.raises(OSError) as caught:
        read_beneath(tree, b"sub/dangling-out", use_openat2, os.O_WRONLY | os.O_CREAT)
    assert caught.value.errno == errno.EXDEV
    assert not (tree.parent / "made.txt").exists()


RACER = textwrap.dedent("""
    import ctypes, os, sys
    libc = ctypes.CDLL(None, use_errno=True)
    a, b = sys.argv[1].encode(), sys.argv[2].encode()
    swaps = 0
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    while True:
        if libc.renameat2(-100, a, -100, b, 2) == 0:     # RENAME_EXCHANGE
            swaps += 1
""")


def test_a_racing_swap_never_leads_out(tree: Path, use_openat2: bool) -> None:
    """Another process exchanges sub/deep (a real folder) with a symlink to the folder above the root,
    over and over, while names under it are opened for reading and for creating: nothing outside the
    root is ever read or created."""
    outside = tree.parent
    (outside / "f.txt").write_text("OUTSIDE")
    os.symlink(str(outside), tree / "sub" / "swap")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(-100, bytes(tree / "sub" / "deep"), -100, bytes(tree / "sub" / "swap"), 2) != 0:
        pytest.skip(f"renameat2(RENAME_EXCHANGE) is not available here: {os.strerror(ctypes.get_errno())}")
    libc.renameat2(-100, bytes(tree / "sub" / "deep"), -100, bytes(tree / "sub" / "swap"), 2)
    racer = subprocess.Popen([sys.executable, "-c", RACER, str(tree / "sub" / "deep"), str(tree / "sub" / "swap")],
                             stdout=subprocess.PIPE)
    try:
        assert racer.stdout is not None and racer.stdout.readline() == b"ready\n"
        seen: dict[str, int] = {}
        for i in range(6000):
            try:
                data = read_beneath(tree, b"sub/deep/f.txt", use_openat2)
                seen[data.decode()] = seen.get(data.decode(), 0) + 1
            except OSError as exc:
                seen[errno.errorcode[exc.errno]] = seen.get(errno.errorcode[exc.errno], 0) + 1
            if i % 3 == 0:
                with contextlib.suppress(OSError):
                    read_beneath(tree, b"sub/deep/new-%d.txt" % i, use_openat2, os.O_WRONLY | os.O_CREAT)
    finally:
        racer.kill()
        racer.wait()
    assert "OUTSIDE" not in seen, seen
    assert not list(outside.glob("new-*.txt")), "a file was created outside the root"
    assert seen.get("deep", 0) > 0 and sum(seen.values()) > seen.get("deep", 0), \
        f"the swap never interleaved with the opens, so nothing was tested: {seen}"


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(hostfs.NotRegular) as caught:
        hostfs.read_regular_file(tmp_path / "fifo", 1 << 20)
    assert caught.value.errno == errno.EACCES


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_devices_are_refused(device: str) -> None:
    with pytest.raises(hostfs.NotRegular):
        hostfs.read_regular_file(device, 1 << 20)


def test_size_limit_and_directory(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 100)
    assert hostfs.read_regular_file(tmp_path / "big", 100) == b"x" * 100
    with pytest.raises(OSError) as caught:
        hostfs.read_regular_file(tmp_path / "big", 99)
    assert caught.value.errno == errno.EFBIG
    with pytest.raises(hostfs.NotRegular) as dir_error:
        hostfs.read_regular_file(tmp_path, 100)
    assert dir_error.value.errno == errno.EISDIR
