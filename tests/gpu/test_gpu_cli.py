"""`vm gpu list` and `vm gpu bench` end to end, and that nothing imports pyopencl before it is needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

VM = [sys.executable, "-m", "vmcli"]


@pytest.fixture(autouse=True)
def private_cache(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`vm` in a subprocess keeps its program cache with the tests', not in the user's."""
    monkeypatch.setenv("VM_CACHE_DIR", str(cache_dir))


def vm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VM, *args], capture_output=True, text=True, timeout=300, env=dict(os.environ))


def test_list_json_has_pocl() -> None:
    done = vm("gpu", "list", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    pocl = [d for d in data["devices"] if d["platform"] == "Portable Computing Language"]
    assert pocl and pocl[0]["kind"] == "cpu" and pocl[0]["compute_units"] >= 1
    assert [d["index"] for d in data["devices"]] == list(range(len(data["devices"])))


def test_list_table() -> None:
    done = vm("gpu", "list")
    assert done.returncode == 0, done.stderr
    assert "Portable" in done.stdout and "cpu" in done.stdout   # PoCL's platform, its kind


def test_bench_one_device_json() -> None:
    done = vm("gpu", "bench", "--device", "cpu", "--size", "64", "--copy-mb", "1", "--repeats", "1", "--json")
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)
    assert row["kind"] == "cpu" and row["sgemm_n"] == 64
    assert row["sgemm_gflops"] > 0 and row["h2d_gbs"] > 0 and row["d2h_gbs"] > 0 and row["d2d_gbs"] > 0
    assert row["sgemm_max_rel_err"] < 1e-4


def test_bench_absent_kind_is_one_line_and_status_2() -> None:
    done = vm("gpu", "bench", "--device", "rocm")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("vm: error: --gpu rocm: no rocm device")
    assert "present: 0=" in done.stderr and "=cpu:" in done.stderr


def test_pyopencl_is_imported_lazily() -> None:
    code = ("import sys, vmcli, vmcli.cli, vmcli.gpu, vmcli.gpu.driver, vmcli.gpu.devices, "
            "vmcli.gpu.kernels, vmcli.gpu.runtime, vmcli.gpu.scheduler, vmcli.commands.gpu; "
            "assert 'pyopencl' not in sys.modules, 'pyopencl imported too early'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_list_shows_unusable_devices_with_what_they_need(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from vmcli.commands.gpu import gpu
    from vmcli.gpu import devices

    seen = devices.Unusable("npu", "Intel NPU", "/dev/accel/accel0", devices.NEEDS_NPU)
    monkeypatch.setattr(devices, "detect_unusable", lambda have=(): [seen])
    monkeypatch.setenv("COLUMNS", "200")   # one line per entry
    table = CliRunner().invoke(gpu, ["list"])
    assert table.exit_code == 0, table.output
    assert "seen, not usable: npu Intel NPU (/dev/accel/accel0): no vmcli driver" in table.output
    as_json = CliRunner().invoke(gpu, ["list", "--json"])
    assert json.loads(as_json.output)["unusable"] == [seen.to_dict()]


def test_list_shows_names_and_hints_as_plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names and hints come from drivers and the system: a `[...]` in them is shown, not taken for
    rich markup (which would drop `[cuda]` from an install hint)."""
    from click.testing import CliRunner

    from vmcli.commands.gpu import gpu
    from vmcli.gpu import devices

    monkeypatch.setattr(devices, "list_devices", lambda: ())
    monkeypatch.setattr(devices, "detect_unusable", lambda have: [
        devices.Unusable("cuda", "GPU [bold]0[/bold]", "/dev/nvidia0", "install vmcli[cuda] (cuda-python)")])
    result = CliRunner().invoke(gpu, ["list"], terminal_width=200)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())             # rich wraps long lines at its width
    assert "GPU [bold]0[/bold]" in text and "install vmcli[cuda] (cuda-python)" in text
    assert "no compute devices found" in text
