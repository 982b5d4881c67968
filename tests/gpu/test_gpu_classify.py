"""Device kinds from OpenCL descriptions of platforms this machine does not have."""

from __future__ import annotations

import pytest

from vmcli.gpu.classify import (
    CL_DEVICE_TYPE_ACCELERATOR,
    CL_DEVICE_TYPE_CPU,
    CL_DEVICE_TYPE_CUSTOM,
    CL_DEVICE_TYPE_GPU,
    ClDescription,
    classify,
)
from vmcli.gpu.opencl import ClDevice

CASES = [
    # platform name, platform vendor, device name, device vendor, type -> kind
    ("NVIDIA CUDA", "NVIDIA Corporation", "NVIDIA H100 80GB HBM3", "NVIDIA Corporation", CL_DEVICE_TYPE_GPU,
     "cuda"),
    ("AMD Accelerated Parallel Processing", "Advanced Micro Devices, Inc.", "gfx90a:sramecc+:xnack-",
     "Advanced Micro Devices, Inc.", CL_DEVICE_TYPE_GPU, "rocm"),
    ("AMD Accelerated Parallel Processing", "Advanced Micro Devices, Inc.", "AMD EPYC 7763",
     "AuthenticAMD", CL_DEVICE_TYPE_CPU, "cpu"),
    ("Intel(R) OpenCL Graphics", "Intel(R) Corporation", "Intel(R) Arc(TM) A770 Graphics",
     "Intel(R) Corporation", CL_DEVICE_TYPE_GPU, "gpu"),
    ("Intel(R) OpenCL", "Intel(R) Corporation", "Intel(R) Xeon(R) Gold", "Intel(R) Corporation",
     CL_DEVICE_TYPE_CPU, "cpu"),
    ("Portable Computing Language", "The pocl project", "pthread-AMD EPYC", "AuthenticAMD",
     CL_DEVICE_TYPE_CPU, "cpu"),
    ("Intel(R) FPGA SDK for OpenCL(TM)", "Intel(R) Corporation", "Agilex FPGA", "Intel(R) Corporation",
     CL_DEVICE_TYPE_ACCELERATOR, "npu"),
    ("Portable Computing Language", "The pocl project", "tce-custom", "pocl", CL_DEVICE_TYPE_CUSTOM, "npu"),
    ("Vendor X", "Vendor X", "Vivante GC7000 NPU", "Vivante Corporation", CL_DEVICE_TYPE_GPU, "npu"),
    ("Clover", "Mesa", "AMD Radeon RX 6800 (radeonsi)", "AMD", CL_DEVICE_TYPE_GPU, "gpu"),
    ("rusticl", "Mesa/X.org", "Mali-G610", "ARM", CL_DEVICE_TYPE_GPU, "gpu"),
]


@pytest.mark.parametrize(("pname", "pvendor", "dname", "dvendor", "dtype", "kind"), CASES)
def test_classify(pname: str, pvendor: str, dname: str, dvendor: str, dtype: int, kind: str) -> None:
    assert classify(ClDescription(pname, pvendor, dname, dvendor, dtype)) == kind


def test_pocl_device_is_cpu(pocl: ClDevice) -> None:
    assert pocl.info.kind == "cpu"
    assert pocl.info.compute_units >= 1 and pocl.info.global_mem > 0
