"""What `pip install vmcli` gives a user: the wheel is built from this tree and installed into a fresh
virtual environment, and the commands that README.md and docs/ show run there as written, from the
installed package alone (the bundled images included), never from the source tree.

The wheel's dependencies are not downloaded again: the fresh environment reaches the ones already
installed beside the test run through a .pth file, and a separate check reads the wheel's metadata
to see that they are declared."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# What a user installs with plain `pip install vmcli`: every feature the README shows.
REQUIRED = {"click", "rich", "capstone", "unicorn", "pyelftools", "numpy", "numba", "pyopencl",
            "pocl-binary-distribution"}
# Shown commands that need something a test run cannot give here, and where they are run instead.
ELSEWHERE = {
    "--gdb": "a debugger on the other end (tests/debug/integration)",
    "gpu bench --device rocm": "an AMD GPU",
}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel of this tree; its `bin` folder."""
    tmp = tmp_path_factory.mktemp("install")
    if not (ROOT / "pyproject.toml").exists():
        pytest.skip("not a source tree")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp / "dist"), str(ROOT)], capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stderr
    wheel = next((tmp / "dist").glob("vmcli-*.whl"))
    env = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    purelib = Path(subprocess.run([str(env / "bin" / "python"), "-c", "import sysconfig; "
                                   "print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True,
                                  check=True).stdout.strip())
    # The dependencies installed for this test run, reached without downloading them again.
    (purelib / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    with zipfile.ZipFile(wheel) as whl:
        whl.extractall(purelib)
        (env / "wheel.metadata").write_bytes(whl.read(next(n for n in whl.namelist()
                                                             if n.endswith(".dist-info/METADATA"))))
        entry = whl.read(next(n for n in whl.namelist() if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "vm = vmcli.cli:main" in entry
    script = env / "bin" / "vm"
    script.write_text(f"#!{env / 'bin' / 'python'}\nimport sys\nfrom vmcli.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    return env / "bin"


def test_wheel_declares_every_dependency_and_ships_the_images(installed: Path) -> None:
    metadata = (installed.parent / "wheel.metadata").read_text()
    plain = {re.split(r"[<>=!~ \[;]", line.split(":", 1)[1].strip())[0].lower()
             for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line}
    assert plain >= REQUIRED, REQUIRED - plain
    extras = {line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Provides-Extra:")}
    assert {"cuda", "asm"} <= extras and not {"fast", "compute"} & extras
    where = subprocess.run([str(installed / "python"), "-c", "import vmcli, sys; print(vmcli.__file__)"],
                           capture_output=True, text=True, check=True, cwd="/").stdout
    assert str(installed.parent) in where            # the installed copy, not this tree
    listing = subprocess.run([str(installed / "vm"), "images", "--json"], capture_output=True, text=True,
                             check=True, cwd="/")
    assert '"hello-arm64.elf"' in listing.stdout and str(installed.parent) in listing.stdout


def shown_blocks() -> list[tuple[str, list[str]]]:
    """(file, commands) for every console block in README.md and docs/ whose `$` lines run vm: the
    commands of a block run in order, in one shell, as a reader would type them."""
    found = []
    for doc in DOCS:
        for block in re.findall(r"```[a-z]*\n(.*?)```", doc.read_text(), re.S):
            commands = [re.sub(r"\s{2,}#.*$", "", line[2:]).strip() for line in block.splitlines()
                        if line.startswith("$ ")]
            if any(c.startswith(("vm ", ".venv/bin/python examples/")) for c in commands):
                found.append((doc.name, commands))
    return found


EXPECTED_STATUS = {"fault-x86_64": 126, "libc-arm64": 5}     # what the docs show those guests exit with


@pytest.mark.parametrize(("doc", "commands"), shown_blocks())
def test_shown_commands_run_from_the_installed_package(installed: Path, doc: str, commands: list[str],
                                                       tmp_path: Path) -> None:
    for marker, reason in ELSEWHERE.items():
        if any(marker in command for command in commands):
            pytest.skip(f"needs {reason}")
    # Run in a copy of the tree's guest-images and examples (the paths the docs name), with the
    # installed package first on PATH: the source tree's vmcli is never importable from there.
    work = tmp_path / "work"
    shutil.copytree(ROOT / "guest-images", work / "guest-images", symlinks=False)
    shutil.copytree(ROOT / "examples", work / "examples")
    env = {"PATH": f"{installed}:/usr/bin:/bin", "HOME": str(tmp_path), "VM_CACHE_DIR": str(tmp_path / "cache")}
    for command in commands:
        shell = command.replace(".venv/bin/python", str(installed / "python"))
        proc = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, cwd=work, env=env, timeout=300,
                              check=False)
        assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
        expected = next((status for name, status in EXPECTED_STATUS.items() if name in command), 0)
        assert proc.returncode == expected, f"{doc}: {command}\n{proc.stdout}\n{proc.stderr}"
