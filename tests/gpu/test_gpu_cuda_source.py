"""The kernel library's CUDA C side: compiled by nvcc (when the CUDA toolkit is installed) to PTX
and on through ptxas, warnings as errors. No GPU is needed; running it needs the cuda driver
(docs/gpu.md: not written yet)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from vmcli.gpu import kernels


@pytest.fixture(scope="module")
def nvcc() -> str:
    path = shutil.which("nvcc")
    if path is None:
        pytest.skip("needs nvcc (the CUDA toolkit) to compile the CUDA C side of the kernel library")
    return path


def test_cuda_library_compiles_with_every_entry_point(nvcc: str, tmp_path: Path) -> None:
    src = tmp_path / "library.cu"
    src.write_text(kernels.source("cuda"))
    ptx = tmp_path / "library.ptx"
    common = [nvcc, *kernels.OPTIONS["cuda"], "-arch=sm_80", "-Werror", "all-warnings"]
    subprocess.run([*common, "--ptx", "-o", str(ptx), str(src)], check=True, capture_output=True)
    text = ptx.read_text()
    entries = set(re.findall(r"\.entry (\w+)\(", text))
    assert entries == {s.symbol for s in kernels.BY_ID.values()}
    assert "fma." not in text   # --fmad=false: the same separate roundings as the OpenCL side
    cubin = tmp_path / "library.cubin"
    subprocess.run([*common, "--cubin", "-o", str(cubin), str(src)], check=True, capture_output=True)
    assert cubin.stat().st_size > 0

