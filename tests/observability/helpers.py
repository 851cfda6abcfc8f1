"""Shared paths and helpers of the observability suite."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = REPO_ROOT / "deploy/helm/smartpapers/files/prometheus/rules.yaml"
DASHBOARD_FILE = REPO_ROOT / "deploy/helm/smartpapers/files/dashboards/smartpapers.json"
RULE_TESTS_DIR = REPO_ROOT / "deploy/prometheus/tests"
RUNBOOKS_DIR = REPO_ROOT / "docs/runbooks"


def find_tool(tool: str) -> str:
    """Path of a required binary; a missing one FAILS the test (never skips)."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(
            f"`{tool}` not found on PATH: the observability tests need Prometheus' {tool}. "
            "Install it with `bash scripts/install-tools.sh prometheus` (Debian/Ubuntu package "
            "`prometheus`).",
            pytrace=False,
        )
    return path


def run_promtool(promtool: str, *args: str, cwd: Path = REPO_ROOT) -> str:
    proc = subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, (
        f"promtool {' '.join(args)} failed (exit {proc.returncode}):\n{out}"
    )
    return out
