"""Fixtures of the release checks (docs/releasing.md): a scratch copy of the files the
version lives in, and a scratch git repository with a tagged chart."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from smartpapers.devstack.release import CHART, PYPROJECTS
from tests.conftest import REPO


@pytest.fixture
def versioned_copy(tmp_path: Path) -> Path:
    """The VERSION, CHANGELOG, pyproject and Chart.yaml files of the repository, copied."""
    for path in ("VERSION", "CHANGELOG.md", CHART, *PYPROJECTS):
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / path, target)
    return tmp_path


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=ci", "-c", "user.email=ci@localhost", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def tagged_repo(versioned_copy: Path) -> Path:
    """That copy as a git repository whose only commit is tagged v<VERSION>."""
    template = versioned_copy / "deploy/helm/smartpapers/templates/configmap.yaml"
    template.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "deploy/helm/smartpapers/templates/configmap.yaml", template)
    git(versioned_copy, "init", "-q", "-b", "main")
    git(versioned_copy, "add", "-A")
    git(versioned_copy, "commit", "-q", "-m", "release")
    version = (versioned_copy / "VERSION").read_text().strip()
    git(versioned_copy, "tag", f"v{version}")
    return versioned_copy
