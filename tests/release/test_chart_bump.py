"""chart-testing's rule (``ct lint --check-version-increment``), against git history: a change
under the chart since the last ``v*`` tag needs a chart version above the tagged one."""

from __future__ import annotations

import datetime
from pathlib import Path

from smartpapers.devstack.release import chart_bump_problem, last_tag, set_version
from tests.conftest import REPO
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
