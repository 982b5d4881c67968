"""Which kind (cuda, rocm, npu, gpu, cpu) an OpenCL device is, from what OpenCL reports about it.

Pure functions over plain strings and the CL_DEVICE_TYPE bits, so tests can feed descriptions of
platforms this machine does not have (an NVIDIA GPU, an AMD GPU, an FPGA/NPU accelerator).
"""

from __future__ import annotations

from dataclasses import dataclass

from vmcli.gpu.driver import Kind

# CL_DEVICE_TYPE_* bits (cl.h); duplicated so classification needs no pyopencl.
CL_DEVICE_TYPE_CPU = 1 << 1
CL_DEVICE_TYPE_GPU = 1 << 2
CL_DEVICE_TYPE_ACCELERATOR = 1 << 3
CL_DEVICE_TYPE_CUSTOM = 1 << 4

# Platform name/vendor substrings (lower case) -> kind, for GPUs. First match wins.
GPU_PLATFORMS: tuple[tuple[str, Kind], ...] = (
    ("nvidia", "cuda"),                              # "NVIDIA CUDA", vendor "NVIDIA Corporation"
    ("amd accelerated parallel processing", "rocm"),  # ROCm's OpenCL runtime
    ("advanced micro devices", "rocm"),
)

# Device vendor/name substrings (lower case) of accelerators that are NPUs whatever their CL type.
NPU_VENDORS: tuple[str, ...] = (
    "intel(r) npu", "intel npu", "intel(r) ai boost", "qualcomm", "hexagon", "ethos", "vivante",
    "huawei", "ascend", "cambricon", "rockchip", "mediatek apu", "google tpu", "edge tpu",
)


@dataclass(frozen=True)
class ClDescription:
    """The OpenCL facts classification uses (from a real device or written by a test)."""

    platform_name: str
    platform_vendor: str
    device_name: str
    device_vendor: str
    device_type: int


def classify(d: ClDescription) -> Kind:
    platform = f"{d.platform_name} {d.platform_vendor}".lower()
    device = f"{d.device_vendor} {d.device_name}".lower()
    if any(v in device for v in NPU_VENDORS):
        return "npu"
    if d.device_type & (CL_DEVICE_TYPE_ACCELERATOR | CL_DEVICE_TYPE_CUSTOM):
        return "npu"
    if d.device_type & CL_DEVICE_TYPE_GPU:
        for needle, kind in GPU_PLATFORMS:
            if needle in platform:
                return kind
        return "gpu"
    # A CPU device of any platform (PoCL pthread, Intel CPU runtime, AMD's CPU device).
    return "cpu"
