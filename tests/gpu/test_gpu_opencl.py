"""What only the OpenCL driver does: the cache directory it shares, PoCL's need for a linker.
The operations every driver has are tested on PoCL in test_gpu_driver.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmcli.gpu.driver import GpuError


def test_cache_root_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from vmcli.gpu.cache import ProgramCache

    monkeypatch.delenv("VM_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert ProgramCache().root == tmp_path / "vmcli" / "gpu"
    from vmcli.cachedir import cache_root
    assert cache_root() == tmp_path / "vmcli"
    monkeypatch.setenv("VM_CACHE_DIR", str(tmp_path / "x"))
    assert cache_root() == tmp_path / "x"


def test_pocl_without_a_linker_is_an_error_not_an_abort(monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil as _shutil

    from vmcli.gpu import opencl
    from vmcli.gpu.devices import select_device

    device = select_device("cpu")
    assert device is not None
    if "portable computing language" not in device.info.platform.lower():
        pytest.skip("the CPU device here is not PoCL")
    real_which = _shutil.which
    monkeypatch.setattr(opencl.shutil, "which", lambda name: None if name == "ld" else real_which(name))
    with pytest.raises(GpuError, match="needs the system linker"):
        device.compile("__kernel void k(__global float *a) { a[0] = 1; }")


@pytest.mark.parametrize("env,allowed,want", [
    ({}, "all", "1"),                              # every CPU: pin PoCL's threads
    ({}, "one", None),                             # taskset to fewer CPUs: leave the choice alone
    ({"POCL_AFFINITY": "0"}, "all", "0"),          # the user's setting wins
])
def test_pocl_threads_are_pinned_unless_the_user_chose(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                                       allowed: str, want: str | None) -> None:
    import os

    from vmcli.gpu import pocl_env

    monkeypatch.delenv("POCL_AFFINITY", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3} if allowed == "all" else {2})
    pocl_env.pin_threads()
    assert os.environ.get("POCL_AFFINITY") == want
