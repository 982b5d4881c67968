"""Choosing a device (`--gpu`), and seeing NPUs no driver here can use."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from gpu_helpers import fakes

from vmcli.gpu import devices
from vmcli.gpu.devices import detect_unusable, list_devices, select_device
from vmcli.gpu.driver import GpuError, Kind


@pytest.mark.parametrize(("kinds", "expect"), [
    (("cpu", "gpu", "npu", "rocm", "cuda"), 4),
    (("cpu", "gpu", "npu", "rocm"), 3),
    (("cpu", "gpu", "npu"), 2),
    (("cpu", "gpu"), 1),
    (("cpu",), 0),
    (("cpu", "cuda", "cuda"), 1),
])
def test_auto_prefers_cuda_rocm_npu_gpu_cpu(kinds: tuple[Kind, ...], expect: int) -> None:
    devs = fakes(*kinds)
    assert select_device("auto", devs) is devs[expect]


def test_kind_index_name_none() -> None:
    devs = fakes("cpu", "rocm", "gpu")
    assert select_device("rocm", devs) is devs[1]
    assert select_device("ROCM", devs) is devs[1]
    assert select_device("2", devs) is devs[2]
    assert select_device("gpu device", devs) is devs[2]
    assert select_device("none", devs) is None


@pytest.mark.parametrize(("spec", "words"), [
    ("cuda", "no cuda device"),
    ("npu", "no npu device"),
    ("7", "no device with that index"),
    ("tpu", "not one of auto, cuda"),
    ("device", "names 2 devices"),
])
def test_absent_lists_present(spec: str, words: str) -> None:
    devs = fakes("cpu", "gpu")
    with pytest.raises(GpuError) as err:
        select_device(spec, devs)
    assert words in str(err.value)
    assert "present: 0=cpu:cpu device 0, 1=gpu:gpu device 1" in str(err.value)


def test_auto_with_nothing_says_why() -> None:
    with pytest.raises(GpuError, match="no compute devices found: pyopencl sees no OpenCL platform "
                                       "\\(pocl-binary-distribution, a dependency of vmcli"):
        select_device("auto", ())


def test_real_list_has_pocl_and_indexes() -> None:
    devs = list_devices()
    assert any(d.info.platform == "Portable Computing Language" for d in devs)
    assert [d.index for d in devs] == list(range(len(devs)))
    assert select_device("cpu") is not None


def test_accel_nodes_are_listed_with_their_driver(tmp_path: Path) -> None:
    dev, sys_ = tmp_path / "dev", tmp_path / "sys"
    (dev / "accel").mkdir(parents=True)
    (dev / "accel" / "accel0").touch()
    drivers = sys_ / "bus" / "pci" / "drivers" / "intel_vpu"
    drivers.mkdir(parents=True)
    (sys_ / "class" / "accel" / "accel0" / "device").mkdir(parents=True)
    (sys_ / "class" / "accel" / "accel0" / "device" / "driver").symlink_to(drivers)
    found = detect_unusable(dev, sys_, tmp_path)
    node = str(dev / "accel" / "accel0")
    assert [(u.kind, u.name, u.seen_by) for u in found] == [("npu", "Intel NPU", node)]
    assert "OpenCL" in found[0].needs


def test_no_accel_nodes(tmp_path: Path) -> None:
    assert detect_unusable(tmp_path, tmp_path, tmp_path) == []


def test_nvidia_gpu_without_opencl_is_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = tmp_path / "proc" / "driver" / "nvidia" / "gpus" / "0000:01:00.0" / "information"
    info.parent.mkdir(parents=True)
    info.write_text("Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   42\n")
    monkeypatch.setattr(devices, "problems", {})
    found = detect_unusable(tmp_path, tmp_path, tmp_path / "proc")
    assert [(u.kind, u.name) for u in found] == [("cuda", "NVIDIA H100 80GB HBM3")]
    assert "vmcli[cuda]" in found[0].needs
    # With cuda-bindings installed but the driver unable to start, the list says why.
    monkeypatch.setattr(devices, "problems", {"cuda": "cuda: Failed to dlopen libcuda.so.1"})
    found = detect_unusable(tmp_path, tmp_path, tmp_path / "proc")
    assert found[0].needs == "the cuda driver could not start (cuda: Failed to dlopen libcuda.so.1)"
    # Where an OpenCL cuda device is usable, the GPU is not listed again.
    assert detect_unusable(tmp_path, tmp_path, tmp_path / "proc", have={"cuda", "cpu"}) == []


def test_nvidia_device_node_without_proc_info(tmp_path: Path) -> None:
    (tmp_path / "nvidia0").touch()
    (tmp_path / "nvidiactl").touch()
    found = detect_unusable(tmp_path, tmp_path, tmp_path)
    assert [(u.kind, u.name, u.seen_by) for u in found] == [("cuda", "NVIDIA GPU", str(tmp_path / "nvidia0"))]


def test_openvino_npu_is_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Core:
        available_devices = ["CPU", "NPU"]

        def get_property(self, name: str, prop: str) -> str:
            assert (name, prop) == ("NPU", "FULL_DEVICE_NAME")
            return "Intel(R) AI Boost"

    monkeypatch.setitem(sys.modules, "openvino", types.SimpleNamespace(Core=Core))
    found = detect_unusable(tmp_path, tmp_path, tmp_path)
    assert [(u.name, u.seen_by) for u in found] == [("Intel(R) AI Boost", "OpenVINO NPU")]


def test_without_driver_packages_nothing_is_listed_and_the_error_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "_opencl_driver", lambda: None)
    monkeypatch.setattr(devices, "_cuda_driver", lambda: None)
    devices.drivers.cache_clear()
    devices.list_devices.cache_clear()
    try:
        assert devices.list_devices() == ()
        with pytest.raises(GpuError, match="no compute devices found"):
            select_device("auto")
    finally:
        monkeypatch.undo()
        devices.drivers.cache_clear()
        devices.list_devices.cache_clear()


def test_opencl_c_goes_to_the_same_gpu_then_to_auto_among_opencl_devices() -> None:
    from gpu_helpers import FakeDevice

    native = FakeDevice("cuda", "NVIDIA H100", 0)
    native.dialect = "cuda"
    cpu, twin, other = FakeDevice("cpu", "pocl", 1), FakeDevice("cuda", "NVIDIA H100", 2), FakeDevice("gpu", "x", 3)
    assert devices.for_opencl_c(cpu, [native, cpu]) is cpu          # an OpenCL device runs it itself
    assert devices.for_opencl_c(native, [native, cpu, other, twin]) is twin
    assert devices.for_opencl_c(native, [native, cpu, other]) is other   # gpu before cpu, as auto
    with pytest.raises(GpuError, match="no OpenCL device"):
        devices.for_opencl_c(native, [native])


def test_cuda_driver_without_libcuda_lists_nothing_and_says_why() -> None:
    """Where cuda-bindings is installed but the NVIDIA driver is not (CI), `vm gpu list` still works
    and keeps the reason for the device list's "seen, not usable" rows."""
    import ctypes.util
    import importlib.util

    if importlib.util.find_spec("cuda") is None or importlib.util.find_spec("cuda.bindings") is None:
        pytest.skip("cuda-bindings is not installed")
    if ctypes.util.find_library("cuda"):
        pytest.skip("this machine has libcuda: the cuda driver's own tests run instead")
    from vmcli.gpu.cuda import CudaDriver

    with pytest.raises(GpuError) as err:   # the wording is cuda-bindings': which library, where it looked
        CudaDriver().devices()
    devices.list_devices.cache_clear()
    try:
        assert all(d.info.driver.startswith("opencl") for d in devices.list_devices())
        assert devices.problems["cuda"] == str(err.value) and str(err.value).startswith("cuda: ")
    finally:
        devices.list_devices.cache_clear()
