"""The GitHub Actions workflows (docs/releasing.md): actionlint (with shellcheck over every
``run:`` script) passes, every action is pinned to a commit, every job has least-privilege
permissions, and the release workflow does what docs/install.md promises."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.deploy.conftest import cached_tool, pinned

WORKFLOWS = REPO / ".github" / "workflows"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def actionlint(*files: Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    version = pinned("ACTIONLINT_VERSION")
    binary = cached_tool(
        "actionlint", pinned=version, version_args=["-version"], version_ok=version
    )
    if shutil.which("shellcheck") is None:
        pytest.fail(
            "shellcheck not found: `bash scripts/install-tools.sh actionlint` installs it",
            pytrace=False,
        )
    return subprocess.run(
        [binary, "-no-color", "-shellcheck", "shellcheck", "-pyflakes", "", *map(str, files)],
        cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def workflow(name: str) -> dict[Any, Any]:
    doc: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return doc


def steps(doc: dict[Any, Any]) -> list[dict[str, Any]]:
    return [s for job in doc["jobs"].values() for s in job["steps"]]


def test_actionlint_passes_over_the_workflows() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [f.name for f in files] == ["ci.yml", "release.yml"]
    out = actionlint(*files)
    assert out.returncode == 0, out.stdout + out.stderr


def test_actionlint_and_shellcheck_catch_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on: push\n"
        "permissions: {contents: writ}\n"
        "jobs:\n"
        "  a:\n"
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        "      - run: echo ${{ github.event.head_commit.message }}\n"
        "      - run: for f in $(ls *.txt); do cat $f; done\n"
    )
    out = actionlint(broken, cwd=tmp_path)
    assert out.returncode == 1
    assert '"writ"' in out.stdout  # an unknown permission level
    assert "potentially untrusted" in out.stdout  # script injection
    assert "shellcheck reported issue" in out.stdout  # SC2045 / SC2086


@pytest.mark.parametrize("name", ["ci.yml", "release.yml"])
def test_every_action_is_pinned_to_a_commit_with_its_version_noted(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    uses = re.findall(r"uses: (\S+)(?: # (\S+))?", text)
    assert uses
    for ref, comment in uses:
        assert PINNED.match(ref), f"{name}: {ref} is not pinned to a commit SHA"
        assert re.fullmatch(r"v\d+\.\d+\.\d+", comment or ""), f"{name}: {ref} lacks # vX.Y.Z"


@pytest.mark.parametrize("name", ["ci.yml", "release.yml"])
def test_permissions_are_none_by_default_and_granted_per_job(name: str) -> None:
    doc = workflow(name)
    assert doc["permissions"] == {}
    for job_name, job in doc["jobs"].items():
        granted = job.get("permissions")
        assert isinstance(granted, dict), f"{name}: job {job_name} declares no permissions"
        assert set(granted.values()) <= {"read", "write"}
        writes = {scope for scope, level in granted.items() if level == "write"}
        allowed = {"contents", "packages", "id-token"}
        assert writes <= allowed, f"{job_name}: {writes}"


def test_ci_runs_the_readme_test_command_with_the_tool_cache() -> None:
    doc = workflow("ci.yml")
    on = doc[True]  # YAML 1.1 reads the key `on` as a boolean
    assert "pull_request" in on
    run = " ".join(s.get("run", "") for s in steps(doc))
    assert "bash .ci/run" in run
    assert "make test" in (REPO / ".ci" / "run").read_text()
    cache = next(s for s in steps(doc) if s.get("uses", "").startswith("actions/cache@"))
    assert "/.cache/smartpapers" in cache["with"]["path"]
    assert "scripts/install-tools.sh" in cache["with"]["key"]
    ct = next(s for s in steps(doc) if "ct lint" in s.get("run", ""))
    assert ct["if"] == "github.event_name == 'pull_request'"
    assert "--config deploy/helm/ct.yaml" in ct["run"]
    assert (REPO / "deploy/helm/ct.yaml").is_file()


def test_the_release_publishes_signed_multi_arch_images_sboms_and_the_chart() -> None:
    doc = workflow("release.yml")
    assert doc[True] == {"push": {"tags": ["v*"]}}
    jobs = doc["jobs"]
    assert jobs["images"]["strategy"]["matrix"]["service"] == ["api", "worker"]
    build = next(s for s in jobs["images"]["steps"] if s.get("id") == "build")
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert build["with"]["push"] is True
    assert "REVISION=${{ github.sha }}" in build["with"]["build-args"]
    image_runs = " ".join(s.get("run", "") for s in jobs["images"]["steps"])
    assert 'cosign sign --yes "$IMAGE@$DIGEST"' in image_runs
    assert "cosign attest --yes --type spdxjson" in image_runs
    chart_runs = " ".join(s.get("run", "") for s in jobs["chart"]["steps"])
    for command in ("helm package", "helm push", 'cosign sign --yes "$CHART_REF@$digest"'):
        assert command in chart_runs
    assert "ci/minimal-values.yaml" in chart_runs
    release_runs = " ".join(s.get("run", "") for s in jobs["github-release"]["steps"])
    assert "smartpapers-release notes" in release_runs and "gh release create" in release_runs
    assert jobs["github-release"]["needs"] == ["verify", "images", "chart"]
    assert jobs["github-release"]["permissions"] == {"contents": "write"}


def test_the_release_refuses_a_tag_that_is_not_the_version() -> None:
    verify = workflow("release.yml")["jobs"]["verify"]
    script = next(s["run"] for s in verify["steps"] if s.get("id") == "version")
    assert '"$TAG" != "v$version"' in script and "exit 1" in script
