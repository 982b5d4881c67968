"""Every compute device on this machine, and choosing one: `--gpu auto|cuda|rocm|npu|gpu|cpu|none|INDEX`
or a part of a device name.

Drivers load lazily: importing this module imports no vendor library. Devices that exist but that
no driver here can use (an NVIDIA GPU without an OpenCL platform, an NPU seen as /dev/accel/accel*
or through OpenVINO) are listed separately, each with what it would need.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from vmcli.gpu.driver import KINDS, Device, Driver, GpuError

SPECS = ("auto", *KINDS, "none")

# Kernel driver name (/sys/class/accel/accelN/device/driver) -> the NPU it drives.
ACCEL_DRIVERS: dict[str, str] = {
    "intel_vpu": "Intel NPU",
    "amdxdna": "AMD XDNA NPU",
    "qaic": "Qualcomm Cloud AI 100",
    "habanalabs": "Intel Gaudi",
    "ivpu": "Intel NPU",
}
NEEDS_NPU = ("no vmcli driver for it yet (it exposes no OpenCL; an OpenVINO or Level Zero driver "
             "would be needed)")


@dataclass(frozen=True)
class Unusable:
    """A device seen on this machine that no driver here can run kernels on."""

    kind: str
    name: str
    seen_by: str
    needs: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _opencl_driver() -> Driver | None:
    if importlib.util.find_spec("pyopencl") is None:
        return None
    from vmcli.gpu.opencl import OpenClDriver

    return OpenClDriver()


def _cuda_driver() -> Driver | None:
    if importlib.util.find_spec("cuda") is None or importlib.util.find_spec("cuda.bindings") is None:
        return None
    from vmcli.gpu.cuda import CudaDriver

    return CudaDriver()


# Why a driver that loaded found no device (cuda: no libcuda.so.1, say), for the device list.
problems: dict[str, str] = {}


def _icd_hint() -> str:
    """Where pyopencl's wheel keeps PoCL's ICD file: some loaders only find it through
    OCL_ICD_VENDORS (pyopencl#537). Setting it unasked would list PoCL twice where the loader
    already finds it, so it is only suggested."""
    spec = importlib.util.find_spec("pyopencl")
    for root in (spec.submodule_search_locations or ()) if spec else ():
        libs = Path(root) / ".libs"
        if any(libs.glob("*.icd")) and "OCL_ICD_VENDORS" not in os.environ:
            return f"; if pyopencl finds no platform, try OCL_ICD_VENDORS={libs}"
    return ""


@cache
def drivers() -> tuple[Driver, ...]:
    """The drivers whose Python package is installed here, in the order their devices are numbered:
    the native cuda driver first, so that `--gpu cuda` and `auto` take it over the same GPU's OpenCL
    platform where both exist."""
    found = [_cuda_driver(), _opencl_driver()]
    return tuple(d for d in found if d is not None)


@cache
def list_devices() -> tuple[Device, ...]:
    """All usable devices, numbered in order (the INDEX of `--gpu INDEX`)."""
    devices: list[Device] = []
    for driver in drivers():
        try:
            devices.extend(driver.devices())
        except GpuError as exc:   # a driver that loads but cannot start lists nothing, and says why
            problems[driver.name] = str(exc)
    for i, d in enumerate(devices):
        d.index = i
    return tuple(devices)


NEEDS_CUDA = "no NVIDIA OpenCL platform here: install vmcli[cuda] (cuda-python) for the native cuda driver"


def _needs_cuda() -> str:
    return f"the cuda driver could not start ({problems['cuda']})" if "cuda" in problems else NEEDS_CUDA


def _nvidia_gpus(dev_root: Path, proc_root: Path) -> list[Unusable]:
    """NVIDIA GPUs the kernel driver reports (/proc/driver/nvidia/gpus/*/information), else its
    device nodes."""
    found = []
    for info in sorted(proc_root.glob("driver/nvidia/gpus/*/information")):
        try:
            lines = info.read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        model = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Model:")), "NVIDIA GPU")
        found.append(Unusable("cuda", model, str(info.parent), _needs_cuda()))
    if not found:
        found = [Unusable("cuda", "NVIDIA GPU", str(node), _needs_cuda())
                 for node in sorted(dev_root.glob("nvidia[0-9]*"))]
    return found


def detect_unusable(dev_root: Path = Path("/dev"), sys_root: Path = Path("/sys"),
                    proc_root: Path = Path("/proc"), have: Collection[str] = ()) -> list[Unusable]:
    """Devices no driver here runs kernels on: NVIDIA GPUs when no `cuda` device is usable (`have`
    holds the usable kinds), NPUs the kernel exposes as accel devices, NPUs OpenVINO reports."""
    found: list[Unusable] = [] if "cuda" in have else _nvidia_gpus(dev_root, proc_root)
    for node in sorted([*dev_root.glob("accel/accel*"), *dev_root.glob("accel[0-9]*")]):
        driver = sys_root / "class" / "accel" / node.name / "device" / "driver"
        drv = driver.resolve().name if driver.exists() else ""
        found.append(Unusable("npu", ACCEL_DRIVERS.get(drv, f"accelerator ({drv or 'unknown driver'})"),
                              str(node), NEEDS_NPU))
    if "openvino" in sys.modules or importlib.util.find_spec("openvino") is not None:
        try:
            import openvino

            core = openvino.Core()
            for name in core.available_devices:
                if name.startswith("NPU"):
                    full = str(core.get_property(name, "FULL_DEVICE_NAME"))
                    needs = "no vmcli OpenVINO driver yet (OpenVINO runs models, not OpenCL C)"
                    found.append(Unusable("npu", full, f"OpenVINO {name}", needs))
        except Exception as exc:  # a broken OpenVINO install must not break `vm gpu list`
            found.append(Unusable("npu", "OpenVINO", "openvino", f"OpenVINO failed to start: {exc}"))
    return found


def present(devices: Sequence[Device]) -> str:
    if not devices:
        if importlib.util.find_spec("pyopencl") is None:
            return "no compute devices found: pyopencl is not installed (pip install vmcli brings it)"
        return ("no compute devices found: pyopencl sees no OpenCL platform (pocl-binary-distribution, a "
                f"dependency of vmcli, provides the CPU one){_icd_hint()}")
    return "present: " + ", ".join(f"{i}={d.info.kind}:{d.info.name}" for i, d in enumerate(devices))


def select_device(spec: str, devices: Sequence[Device] | None = None) -> Device | None:
    """The device `spec` names; None for "none". `auto` prefers cuda > rocm > npu > gpu > cpu.

    A kind, index or name that matches nothing is a GpuError naming what is present.
    """
    spec = spec.strip()
    if spec.lower() == "none":
        return None
    devs = list_devices() if devices is None else devices
    key = spec.lower()
    if key == "auto":
        for kind in KINDS:
            for d in devs:
                if d.info.kind == kind:
                    return d
        raise GpuError(f"--gpu auto: {present(devs)}")
    if key in KINDS:
        for d in devs:
            if d.info.kind == key:
                return d
        raise GpuError(f"--gpu {spec}: no {key} device; {present(devs)}")
    if spec.isdigit():
        index = int(spec)
        if index < len(devs):
            return devs[index]
        raise GpuError(f"--gpu {spec}: no device with that index; {present(devs)}")
    matches = [d for d in devs if key in d.info.name.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise GpuError(f"--gpu {spec}: not one of {', '.join(SPECS)}, an index or a device name; "
                       f"{present(devs)}")
    raise GpuError(f"--gpu {spec}: names {len(matches)} devices; {present(devs)}")


def for_opencl_c(device: Device, devices: Sequence[Device] | None = None) -> Device:
    """The device that runs OpenCL C source (guest kernels) in place of `device`: itself when its
    driver builds OpenCL C, else the same GPU's OpenCL platform, else the device `auto` picks among
    the OpenCL ones. A GpuError when there is none."""
    if device.dialect == "opencl":
        return device
    opencl = [d for d in (list_devices() if devices is None else devices) if d.dialect == "opencl"]
    same = [d for d in opencl if d.info.name == device.info.name]
    if same:
        return same[0]
    for kind in KINDS:
        for d in opencl:
            if d.info.kind == kind:
                return d
    raise GpuError(f"kernel source is OpenCL C, and no OpenCL device is present to build it "
                   f"({device.info.name} runs the {device.info.driver.split()[0]} driver)")

