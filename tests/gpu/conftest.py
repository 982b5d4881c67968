"""Fixtures for the compute tests: PoCL's CPU device (from pip, always present) and, where the
native cuda driver finds an NVIDIA GPU, that GPU too, each with a program cache in a temporary
directory, so the tests never touch the user's cache. `device` and `runner` run a test on both."""

from __future__ import annotations

from pathlib import Path

import pytest
from gpu_helpers import cuda_device, pocl_device

from vmcli.gpu.cache import ProgramCache
from vmcli.gpu.driver import Device
from vmcli.gpu.opencl import ClDevice
from vmcli.gpu.runtime import Runner


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vm-cache")


@pytest.fixture(scope="session")
def pocl(cache_dir: Path) -> ClDevice:
    return pocl_device(ProgramCache(cache_dir))


@pytest.fixture(scope="session")
def cuda(cache_dir: Path) -> Device:
    return cuda_device(ProgramCache(cache_dir))


@pytest.fixture(scope="session", params=["pocl", "cuda"])
def device(request: pytest.FixtureRequest) -> Device:
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="session")
def runner(device: Device) -> Runner:
    return Runner(device)
