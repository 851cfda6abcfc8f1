"""``smartpapers-release``: the project's version, kept in one place (docs/releasing.md).

    smartpapers-release check            # VERSION = every package, the chart, the changelog
    smartpapers-release chart-bump       # chart changed since the last tag -> version bumped
    smartpapers-release set X.Y.Z        # write X.Y.Z everywhere; Unreleased -> [X.Y.Z]
    smartpapers-release notes [X.Y.Z]    # that version's CHANGELOG section (release body)

``VERSION`` holds the version (SemVer 2). The packages' ``pyproject.toml`` files, the chart's
``version`` and its ``appVersion`` (the images' default tag) repeat it because their tools
read it there; ``check`` fails when any of them differs. The chart-bump rule is
chart-testing's (``ct lint --check-version-increment``), which cannot be built here: a change
under the chart since the last ``v*`` tag needs a chart version above the tagged one.
"""

from __future__ import annotations

import argparse
import datetime
import re
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path

import yaml
from packaging.version import InvalidVersion, Version

CHART_DIR = "deploy/helm/smartpapers"
CHART = f"{CHART_DIR}/Chart.yaml"
PYPROJECTS = (
    "pyproject.toml",
    "libs/common/pyproject.toml",
    "services/api/pyproject.toml",
    "services/worker/pyproject.toml",
    "tools/devstack/pyproject.toml",
    "tools/loadtest/pyproject.toml",
)
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?$"
)
PROJECT_VERSION = re.compile(r'(?m)^version = "([^"]*)"')
CHART_FIELD = r'(?m)^({field}:[ \t]*)"?([^"\n]*)"?[ \t]*$'
LINK_REFERENCE = re.compile(r"(?m)^\[[^\]]+\]: ")
SECTION = re.compile(r"(?m)^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?[ \t]*$")


class ReleaseError(Exception):
    pass


def read_version(root: Path) -> str:
    return (root / "VERSION").read_text().strip()


def precedence(version: str) -> Version:
    """SemVer order for X.Y.Z[-pre] (PEP 440 orders those the same way: pre-releases first)."""
    if not SEMVER.match(version):
        raise ReleaseError(f"{version!r} is not a SemVer 2 version X.Y.Z[-pre]")
    try:
        return Version(version)
    except InvalidVersion as e:
        raise ReleaseError(f"{version!r}: pre-release tags must be like rc.1, beta.2") from e


def chart_field(text: str, field: str) -> str | None:
    match = re.search(CHART_FIELD.format(field=field), text)
    return match.group(2).strip() if match else None


def version_problems(root: Path) -> list[str]:
    """Every place that disagrees with VERSION (all of them at once)."""
    version = read_version(root)
    problems: list[str] = []
    try:
        precedence(version)
    except ReleaseError as e:
        problems.append(f"VERSION: {e}")
    for path in PYPROJECTS:
        found = PROJECT_VERSION.search((root / path).read_text())
        if found is None or found.group(1) != version:
            problems.append(f"{path}: version {found and found.group(1)!r} != VERSION {version}")
    chart = (root / CHART).read_text()
    for field in ("version", "appVersion"):
        if (value := chart_field(chart, field)) != version:
            problems.append(f"{CHART}: {field} {value!r} != VERSION {version}")
    sections = [m.group(1) for m in SECTION.finditer((root / "CHANGELOG.md").read_text())]
    if version not in sections and "Unreleased" not in sections:
        problems.append(f"CHANGELOG.md: no section [Unreleased] or [{version}]")
    return problems


def git(root: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def last_tag(root: Path) -> str | None:
    """The newest ``v*`` tag reachable from HEAD (None before the first release)."""
    try:
        return git(root, "describe", "--tags", "--abbrev=0", "--match", "v*").strip() or None
    except ReleaseError:
        return None


def chart_bump_problem(root: Path) -> str | None:
    """The chart changed since the last tag but its version did not go up (else None)."""
    tag = last_tag(root)
    if tag is None:
        return None
    changed = git(root, "diff", "--name-only", tag, "--", CHART_DIR).split()
    if not changed:
        return None
    before = chart_field(git(root, "show", f"{tag}:{CHART}"), "version") or "0.0.0"
    now = chart_field((root / CHART).read_text(), "version") or "0.0.0"
    if precedence(now) > precedence(before):
        return None
    return (
        f"{len(changed)} chart files changed since {tag} ({', '.join(changed[:5])}"
        f"{', …' if len(changed) > 5 else ''}) but the chart version is still {now} "
        f"(tagged: {before}): bump it with `make release-set VERSION=…`"
    )


def set_version(root: Path, version: str, *, today: datetime.date) -> None:
    """Write ``version`` everywhere ``check`` looks, and date the Unreleased section."""
    if precedence(version) <= precedence(read_version(root)):
        raise ReleaseError(f"{version} is not above the current {read_version(root)}")
    (root / "VERSION").write_text(version + "\n")
    for path in PYPROJECTS:
        file = root / path
        file.write_text(PROJECT_VERSION.sub(f'version = "{version}"', file.read_text(), count=1))
    chart = root / CHART
    text = chart.read_text()
    for field, value in (("version", version), ("appVersion", f'"{version}"')):
        text = re.sub(CHART_FIELD.format(field=field), rf"\g<1>{value}", text, count=1)
    chart.write_text(text)
    changelog = root / "CHANGELOG.md"
    changelog.write_text(
        changelog.read_text().replace(
            "## [Unreleased]", f"## [Unreleased]\n\n## [{version}] - {today.isoformat()}", 1
        )
    )


def release_notes(root: Path, version: str) -> str:
    """The body of ``version``'s CHANGELOG section."""
    text = (root / "CHANGELOG.md").read_text()
    sections = list(SECTION.finditer(text))
    for i, match in enumerate(sections):
        if match.group(1) == version:
            links = LINK_REFERENCE.search(text, match.end())
            end = sections[i + 1].start() if i + 1 < len(sections) else len(text)
            body = text[match.end() : min(end, links.start() if links else end)].strip()
            if not body:
                raise ReleaseError(f"CHANGELOG.md: the [{version}] section is empty")
            return body + "\n"
    raise ReleaseError(f"CHANGELOG.md has no [{version}] section")


def chart_metadata(packaged: Path) -> dict[str, str]:
    """``Chart.yaml`` of a ``helm package`` archive."""
    with tarfile.open(packaged) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/Chart.yaml"))
        stream = tar.extractfile(member)
        assert stream is not None
        meta = yaml.safe_load(stream.read())
    return {k: str(v) for k, v in meta.items() if isinstance(v, str | int | float)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smartpapers-release", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="VERSION agrees with every package, the chart and the changelog")
    sub.add_parser("chart-bump", help="the chart's version went up if it changed since the tag")
    setter = sub.add_parser("set", help="write a new version everywhere")
    setter.add_argument("version")
    notes = sub.add_parser("notes", help="print a version's CHANGELOG section")
    notes.add_argument("version", nargs="?")
    args = parser.parse_args(argv)
    root: Path = args.root
    try:
        if args.command == "check":
            problems = version_problems(root)
        elif args.command == "chart-bump":
            problems = [p] if (p := chart_bump_problem(root)) else []
        elif args.command == "set":
            set_version(root, args.version, today=datetime.datetime.now(datetime.UTC).date())
            problems = version_problems(root)
        else:
            sys.stdout.write(release_notes(root, args.version or read_version(root)))
            return 0
    except ReleaseError as e:
        problems = [str(e)]
    for problem in problems:
        sys.stderr.write(f"smartpapers-release: {problem}\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
