"""checkov over the chart as rendered with every ``ci/*-values.yaml``.

kube-linter is not served by the Go module proxy this project installs from, so checkov
(PyPI, pinned in ``scripts/install-tools.sh``, its own virtual environment) is the chart's
static analyser. A render must be clean except for the findings in ``EXCEPTIONS``, each with
the reason it is accepted and the exact resources it covers; an exception that no render
needs any more fails too, so the list cannot rot. Each render is analysed on its own: checkov
links Pods to NetworkPolicies across the files it is given.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import CI_VALUES, cached_tool, pinned, render_text

CHECKOV_VERSION = pinned("CHECKOV_VERSION")


@dataclass(frozen=True, slots=True)
class Finding:
    values: str  # the ci values file's name
    check: str
    resource: str  # checkov's id: Kind.namespace.name[...]

    @property
    def kind(self) -> str:
        return self.resource.split(".", 1)[0]


def _values(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CI_VALUES[0].parent / name).read_text()) or {}
    return loaded


def _dig(values: dict[str, Any], path: str) -> Any:
    node: Any = values
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _test_pod(f: Finding) -> bool:
    return f.kind == "Pod" and ".smartpapers-test-submission" in f.resource


def _pinned_by_tag(f: Finding) -> bool:
    v = _values(f.values)
    return not (_dig(v, "api.image.digest") and _dig(v, "worker.image.digest"))


def _network_policy_off(f: Finding) -> bool:
    return not _dig(_values(f.values), "networkPolicy.enabled")


@dataclass(frozen=True, slots=True)
class Accepted:
    covers: Callable[[Finding], bool]
    reason: str


EXCEPTIONS: dict[str, Accepted] = {
    # "Prefer using secrets as files over secrets as environment variables"
    "CKV_K8S_35": Accepted(
        lambda f: f.kind in {"Deployment", "Job", "Pod"},
        "the services are configured by environment (pydantic-settings); the MongoDB URI and "
        "the emulator's dummy AWS keys come from an existing Secret via secretKeyRef and are "
        "never rendered; containers run non-root with a read-only root filesystem",
    ),
    # "Liveness / Readiness Probe Should be Configured"
    "CKV_K8S_8": Accepted(_test_pod, "the helm test pod runs once and exits; nothing probes it"),
    "CKV_K8S_9": Accepted(_test_pod, "the helm test pod runs once and exits; no Service"),
    # "Image should use digest" / "Image Pull Policy should be Always"
    "CKV_K8S_43": Accepted(
        _pinned_by_tag,
        "values without image digests: kind loads images by tag (skaffold) and the minimal "
        "install follows the chart's appVersion; production sets api/worker.image.digest "
        "(ci/eks-pod-identity-values.yaml), where this check passes",
    ),
    "CKV_K8S_15": Accepted(
        _pinned_by_tag,
        "IfNotPresent with immutable version tags; Always would break kind's loaded images; "
        "with a digest (production) the check passes",
    ),
    # "Minimize the admission of pods which lack an associated NetworkPolicy"
    "CKV2_K8S_6": Accepted(
        _network_policy_off,
        "networkPolicy.enabled is off in these values (it needs a CNI that enforces it); "
        "with it on, every pod the chart creates is selected by a policy",
    ),
}


@cache
def _checkov() -> str:
    return cached_tool(
        "checkov", pinned=CHECKOV_VERSION, version_args=["--version"], version_ok=CHECKOV_VERSION
    )


def _scan(rendered: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [_checkov(), "--framework", "kubernetes", "-f", str(rendered), "-o", "json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        # offline: no download of the guideline mapping from the vendor platform
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    # exit 1 = failed checks (reported in the JSON); anything else without JSON is an error
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov on {rendered.name} exited {proc.returncode}: {proc.stderr[-2000:]}")
    if isinstance(report, list):
        (report,) = [r for r in report if r.get("check_type") == "kubernetes"]
    assert isinstance(report, dict)
    return report


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[Finding]]]:
    out = tmp_path_factory.mktemp("checkov")
    files = []
    for values in CI_VALUES:
        rendered = out / values.name
        rendered.write_text(render_text([values]))
        files.append(rendered)
    _checkov()
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = dict(zip(files, pool.map(_scan, files), strict=True))
    result: dict[str, list[Finding]] = {}
    for rendered, report in reports.items():
        summary = report.get("summary", {})
        assert summary.get("resource_count", 0) > 5, (rendered.name, summary)
        assert summary.get("parsing_errors", 0) == 0, (rendered.name, summary)
        failed = report.get("results", {}).get("failed_checks", [])
        result[rendered.name] = [
            Finding(rendered.name, f["check_id"], f["resource"]) for f in failed
        ]
    yield result


def test_checkov_finds_nothing_beyond_the_listed_exceptions(
    findings: dict[str, list[Finding]],
) -> None:
    unexplained = [
        f
        for found in findings.values()
        for f in found
        if not (f.check in EXCEPTIONS and EXCEPTIONS[f.check].covers(f))
    ]
    assert unexplained == [], "\n".join(f"{f.values}: {f.check} {f.resource}" for f in unexplained)


def test_every_exception_is_still_needed(findings: dict[str, list[Finding]]) -> None:
    used = {f.check for found in findings.values() for f in found}
    assert sorted(set(EXCEPTIONS) - used) == []


def test_the_production_values_need_only_the_environment_secret_exception(
    findings: dict[str, list[Finding]],
) -> None:
    eks = findings["eks-pod-identity-values.yaml"]
    # digests set: the tag exceptions do not apply; probes: only the test pod
    assert {f.check for f in eks} <= {"CKV_K8S_35", "CKV_K8S_8", "CKV_K8S_9"}, eks
    assert not [f for f in eks if f.check in {"CKV_K8S_8", "CKV_K8S_9"} and not _test_pod(f)]


def test_a_regression_is_caught(tmp_path: Path) -> None:
    """The scan does see the chart: a container made privileged is reported."""
    docs = list(yaml.safe_load_all(render_text([CI_VALUES[0]])))
    for d in docs:
        if d and d["kind"] == "Deployment":
            d["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    bad = tmp_path / "privileged.yaml"
    bad.write_text(yaml.safe_dump_all([d for d in docs if d]))
    checks = {f["check_id"] for f in _scan(bad)["results"]["failed_checks"]}
    assert "CKV_K8S_16" in checks  # "Container should not be privileged"


def test_a_missing_or_wrong_tool_fails_with_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTPAPERS_CACHE", str(tmp_path))
    args: dict[str, Any] = {
        "pinned": CHECKOV_VERSION,
        "version_args": ["--version"],
        "version_ok": CHECKOV_VERSION,
    }
    with pytest.raises(pytest.fail.Exception, match=r"scripts/install-tools.sh checkov"):
        cached_tool("checkov", **args)
    fake = tmp_path / "bin" / "checkov"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 2.0.0\n")
    fake.chmod(0o755)
    with pytest.raises(pytest.fail.Exception, match=r"is not checkov 3\.3\.30: 2\.0\.0"):
        cached_tool("checkov", **args)
