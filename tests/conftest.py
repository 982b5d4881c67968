"""Shared test helpers: integration tests need Debian tools and skip without them, except under CI."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from toolcheck import IN_CI, require_tool  # noqa: F401  (re-exported)

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "guest-images" / "bin"
VM = [sys.executable, "-m", "vmcli"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Integration tests live in tests/integration and under */integration/: mark them."""
    for item in items:
        if "integration" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Under CI a skipped integration test is a failure: the tools it needs must be installed."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and item.get_closest_marker("integration") and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"integration test skipped under CI=true: {report.longrepr}"
