"""Integration tests need Debian tools: without them they skip with a reason, except under CI=true,
where a missing tool fails the test. Import as `from toolcheck import require_tool` (tests/ is on
pytest's pythonpath)."""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(*names: str) -> None:
    """Skip the calling test when a tool is missing; under CI=true a missing tool fails it instead."""
    missing = [n for n in names if shutil.which(n) is None]
    if not missing:
        return
    reason = f"needs {', '.join(missing)} (Debian packages; `bash .ci/run` installs them)"
    if IN_CI:
        pytest.fail(f"integration test cannot run under CI: {reason}")
    pytest.skip(reason)
