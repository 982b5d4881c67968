"""Fixtures for the compute tests: PoCL's CPU device (from pip, always present) with a program cache
in a temporary directory, so the tests never touch the user's cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from gpu_helpers import pocl_device

from vmcli.gpu.cache import ProgramCache
from vmcli.gpu.opencl import ClDevice
from vmcli.gpu.runtime import Runner


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vm-cache")


@pytest.fixture(scope="session")
def pocl(cache_dir: Path) -> ClDevice:
    return pocl_device(ProgramCache(cache_dir))


@pytest.fixture(scope="session")
def runner(pocl: ClDevice) -> Runner:
    return Runner(pocl)
