"""Fixtures for the observability suite (dashboard, rules, local Prometheus config).

promtool is required: a missing binary is a test FAILURE, never a skip
(install it with `bash scripts/install-tools.sh prometheus`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_REPO_ROOT = Path(__file__).resolve().parents[2]
if str(_REPO_ROOT) not in sys.path:  # make the top-level `dashboards` package importable
    sys.path.insert(0, str(_REPO_ROOT))

from .helpers import find_tool  # noqa: E402


@pytest.fixture(scope="session")
def promtool() -> str:
    return find_tool("promtool")
