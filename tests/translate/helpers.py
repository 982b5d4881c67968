"""Shared pieces of the translator tests."""

from __future__ import annotations

import os

FULL = os.environ.get("VM_TRANSLATE_FULL", "") not in ("", "0")
# random states per form: >= 1,000 in the full run, fewer by default (2-core budget)
STATES = 1000 if FULL else 200
