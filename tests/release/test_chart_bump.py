"""chart-testing's rule (``ct lint --check-version-increment``), against git history: a change
under the chart since the last ``v*`` tag needs a chart version above the tagged one."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from smartpapers.devstack.release import chart_bump_problem, last_tag, set_version
from tests.conftest import REPO
from tests.deploy.conftest import cache_dir, cached_tool, pinned
from tests.release.conftest import git

TEMPLATE = "deploy/helm/smartpapers/templates/configmap.yaml"


def test_this_repository_keeps_the_rule() -> None:
    assert chart_bump_problem(REPO) is None, chart_bump_problem(REPO)


def test_an_unchanged_chart_needs_no_bump(tagged_repo: Path) -> None:
    (tagged_repo / "CHANGELOG.md").write_text("# elsewhere\n\n## [Unreleased]\n")
    assert chart_bump_problem(tagged_repo) is None


def test_a_changed_template_without_a_bump_is_refused(tagged_repo: Path) -> None:
    template = tagged_repo / TEMPLATE
    template.write_text(template.read_text() + "# a change\n")
    problem = chart_bump_problem(tagged_repo)
    assert problem is not None
    tag = last_tag(tagged_repo)
    assert tag is not None and TEMPLATE in problem and tag in problem
    # committed or not, the change counts
    git(tagged_repo, "commit", "-qam", "change the chart")
    assert chart_bump_problem(tagged_repo) is not None


def test_a_bumped_version_satisfies_the_rule(tagged_repo: Path) -> None:
    template = tagged_repo / TEMPLATE
    template.write_text(template.read_text() + "# a change\n")
    version = (tagged_repo / "VERSION").read_text().strip()
    major, minor, patch = (int(x) for x in version.split("-")[0].split("."))
    set_version(tagged_repo, f"{major}.{minor}.{patch + 1}", today=datetime.date(2027, 1, 1))
    assert chart_bump_problem(tagged_repo) is None


def test_before_the_first_tag_there_is_nothing_to_compare(versioned_copy: Path) -> None:
    git(versioned_copy, "init", "-q", "-b", "main")
    git(versioned_copy, "add", "-A")
    git(versioned_copy, "commit", "-q", "-m", "first")
    assert last_tag(versioned_copy) is None
    assert chart_bump_problem(versioned_copy) is None


def chart_testing_lint(repo: Path) -> subprocess.CompletedProcess[str]:
    """``ct lint`` with the project's ct.yaml, against the repository's origin/main."""
    version = pinned("CHART_TESTING_VERSION")
    ct = cached_tool(
        "ct", pinned=version, version_args=["version"], version_ok=f"Version:\t {version}"
    )
    env = {**os.environ, "PATH": f"{cache_dir() / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [ct, "lint", "--config", str(REPO / "deploy/helm/ct.yaml")],
        cwd=repo, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("bumped", [False, True], ids=["not bumped", "bumped"])
def test_chart_testing_agrees_with_the_tag_rule(versioned_copy: Path, bumped: bool) -> None:
    """The same change judged by ct (against origin/main at the release) and by our rule
    (against the release's tag): both refuse it without a bump and accept it with one."""
    shutil.copytree(REPO / "deploy/helm/smartpapers", versioned_copy / "deploy/helm/smartpapers",
                    dirs_exist_ok=True)  # fmt: skip
    git(versioned_copy, "init", "-q", "-b", "main")
    git(versioned_copy, "add", "-A")
    git(versioned_copy, "commit", "-q", "-m", "release")
    git(versioned_copy, "tag", f"v{(versioned_copy / 'VERSION').read_text().strip()}")
    origin = versioned_copy.parent / f"{versioned_copy.name}-origin.git"
    git(versioned_copy, "clone", "-q", "--bare", str(versioned_copy), str(origin))
    git(versioned_copy, "remote", "add", "origin", str(origin))
    git(versioned_copy, "fetch", "-q", "origin")
    git(versioned_copy, "switch", "-q", "-c", "change")
    template = versioned_copy / TEMPLATE
    template.write_text(template.read_text() + "# a change\n")
    if bumped:
        set_version(versioned_copy, "99.0.0", today=datetime.date(2027, 1, 1))
    git(versioned_copy, "commit", "-qam", "change the chart")
    ours = chart_bump_problem(versioned_copy)
    theirs = chart_testing_lint(versioned_copy)
    output = theirs.stdout + theirs.stderr
    assert (theirs.returncode == 0) is bumped, output
    assert (ours is None) is bumped, ours
    if not bumped:
        assert "Needs a version bump" in output
