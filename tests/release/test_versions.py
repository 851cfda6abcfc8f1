"""One version source (VERSION): every package, the chart's version and appVersion, the API's
OpenAPI version and the changelog agree with it; ``smartpapers-release set`` moves them all
together; ``notes`` prints a release's section."""

from __future__ import annotations

import datetime
import re
from importlib.metadata import version as installed_version
from pathlib import Path

import pytest

from smartpapers.devstack import release
from smartpapers.devstack.release import (
    CHART,
    PYPROJECTS,
    ReleaseError,
    precedence,
    release_notes,
    set_version,
    version_problems,
)
from tests.conftest import REPO

VERSION = (REPO / "VERSION").read_text().strip()


def test_the_repository_agrees_with_its_version_file() -> None:
    assert version_problems(REPO) == []


def test_the_installed_packages_and_the_openapi_document_carry_the_version() -> None:
    from smartpapers.api.app import create_app
    from smartpapers.api.settings import Settings

    for package in ("smartpapers-api", "smartpapers-worker", "smartpapers-common"):
        assert installed_version(package) == VERSION
    app = create_app(Settings(sqs_queue_url="http://127.0.0.1:1/q"))
    assert app.openapi()["info"]["version"] == VERSION


def test_every_disagreement_is_reported_at_once(versioned_copy: Path) -> None:
    (versioned_copy / "VERSION").write_text("0.9.0\n")
    changelog = versioned_copy / "CHANGELOG.md"
    changelog.write_text(changelog.read_text().replace("## [Unreleased]", "## Next"))
    problems = version_problems(versioned_copy)
    assert len(problems) == len(PYPROJECTS) + 2 + 1, problems  # packages, chart ×2, changelog
    assert any(p.startswith(f"{CHART}: appVersion") for p in problems)
    assert any("CHANGELOG.md" in p for p in problems)


def test_set_writes_every_place_and_dates_the_unreleased_section(versioned_copy: Path) -> None:
    major, minor, _ = (int(x) for x in VERSION.split("-")[0].split("."))
    new = f"{major}.{minor + 1}.0"
    set_version(versioned_copy, new, today=datetime.date(2027, 1, 15))
    assert version_problems(versioned_copy) == []
    assert (versioned_copy / "VERSION").read_text() == f"{new}\n"
    chart = (versioned_copy / CHART).read_text()
    assert f"\nversion: {new}\n" in chart and f'\nappVersion: "{new}"\n' in chart
    changelog = (versioned_copy / "CHANGELOG.md").read_text()
    assert f"## [Unreleased]\n\n## [{new}] - 2027-01-15\n" in changelog


def test_set_refuses_a_version_that_does_not_go_up(versioned_copy: Path) -> None:
    with pytest.raises(ReleaseError, match="not above"):
        set_version(versioned_copy, VERSION, today=datetime.date.today())
    with pytest.raises(ReleaseError, match="SemVer"):
        set_version(versioned_copy, "v9", today=datetime.date.today())
    assert version_problems(versioned_copy) == []  # nothing was written


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("0.9.0", "0.10.0"),
        ("1.0.0-rc.1", "1.0.0"),
        ("1.0.0-rc.1", "1.0.0-rc.2"),
        ("1.2.3", "2.0.0"),
    ],
)
def test_semver_precedence(lower: str, higher: str) -> None:
    assert precedence(lower) < precedence(higher)


@pytest.mark.parametrize("bad", ["1.0", "01.0.0", "1.0.0.0", "v1.0.0", "1.0.0-"])
def test_not_semver_is_refused(bad: str) -> None:
    with pytest.raises(ReleaseError):
        precedence(bad)


def test_the_release_notes_are_the_versions_section_without_link_references() -> None:
    notes = release_notes(REPO, VERSION)
    assert notes.strip()
    assert "## [" not in notes
    assert not re.search(r"(?m)^\[[^\]]+\]: ", notes)
    with pytest.raises(ReleaseError, match="no \\[99.0.0\\] section"):
        release_notes(REPO, "99.0.0")


def test_the_cli_check_fails_with_the_problems(
    versioned_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert release.main(["--root", str(versioned_copy), "check"]) == 0
    (versioned_copy / "VERSION").write_text("0.0.1\n")
    assert release.main(["--root", str(versioned_copy), "check"]) == 1
    assert "pyproject.toml: version" in capsys.readouterr().err
