"""Fixtures for the offline deployment suite (Helm chart, KEDA, images, skaffold, kind).

Tools are required, never optional: a missing helm binary or a missing vendored CRD
directory FAILS the run with the command that fixes it (nothing is skipped).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "smartpapers"
CI_DIR = CHART / "ci"
CI_VALUES = sorted(CI_DIR.glob("*-values.yaml"))
KEDA_API = "keda.sh/v1alpha1"
MONITORING_API = "monitoring.coreos.com/v1"
ALL_APIS = (KEDA_API, MONITORING_API)
RELEASE = "smartpapers"
NAMESPACE = "smartpapers"


def pinned(name: str) -> str:
    """A version pinned in scripts/install-tools.sh (the one place versions are set; the
    shell twin is scripts/lib/pinned.sh)."""
    text = (REPO / "scripts" / "install-tools.sh").read_text()
    match = re.search(rf'(?m)^{name}="([^"]+)"$', text)
    assert match, f"{name} is not pinned in scripts/install-tools.sh"
    return match.group(1)


HELM_VERSION = pinned("HELM_VERSION")


def cache_dir() -> Path:
    return Path(os.environ.get("SMARTPAPERS_CACHE", Path.home() / ".cache" / "smartpapers"))


def crd_dir() -> Path:
    """The vendored CRDs (deploy/crds/README.md)."""
    return REPO / "deploy" / "crds"


def cached_tool(name: str, *, pinned: str, version_args: list[str], version_ok: str) -> str:
    """A pinned tool from the cache's bin/ (scripts/install-tools.sh installs it); FAILS the
    run with the install command when it is missing or ``version_ok`` is not a prefix of
    what it says its version is."""
    path = cache_dir() / "bin" / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"{name} not found at {path}: install it with `bash scripts/install-tools.sh "
            f"{name}` (pinned {pinned}; SMARTPAPERS_CACHE={cache_dir()})",
            pytrace=False,
        )
    out = subprocess.run([str(path), *version_args], capture_output=True, text=True, timeout=120)
    if out.returncode != 0 or not out.stdout.strip().startswith(version_ok):
        pytest.fail(f"{path} is not {name} {pinned}: {out.stdout}{out.stderr}", pytrace=False)
    return str(path)


class RenderError(Exception):
    pass


@cache
def _helm_checked() -> str:
    return cached_tool(
        "helm", pinned=HELM_VERSION, version_args=["version", "--short"], version_ok=HELM_VERSION
    )


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([_helm_checked(), *args], capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise RenderError(f"helm {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@cache
def _render_text(
    values_files: tuple[str, ...],
    sets: tuple[str, ...],
    api_versions: tuple[str, ...],
    release: str,
    namespace: str,
) -> str:
    args = ["template", release, str(CHART), "--namespace", namespace]
    for f in values_files:
        args += ["-f", f]
    for s in sets:
        args += ["--set", s]
    for a in api_versions:
        args += ["--api-versions", a]
    return helm(*args).stdout


def render(
    values_files: Iterable[str | Path] = (),
    sets: Iterable[str] = (),
    api_versions: Iterable[str] = ALL_APIS,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
) -> list[dict[str, Any]]:
    """`helm template` -> list of objects (cached per argument set)."""
    text = _render_text(
        tuple(str(v) for v in values_files), tuple(sets), tuple(api_versions), release, namespace
    )
    return [d for d in yaml.safe_load_all(text) if d]


def render_text(values_files: Iterable[str | Path] = (), **kw: Any) -> str:
    return _render_text(
        tuple(str(v) for v in values_files),
        tuple(kw.get("sets", ())),
        tuple(kw.get("api_versions", ALL_APIS)),
        kw.get("release", RELEASE),
        kw.get("namespace", NAMESPACE),
    )


def render_fails(values_files: Iterable[str | Path] = (), sets: Iterable[str] = ()) -> str:
    """Render expecting failure; returns helm's error output."""
    args = ["template", RELEASE, str(CHART)]
    for f in values_files:
        args += ["-f", str(f)]
    for s in sets:
        args += ["--set", s]
    proc = helm(*args, check=False)
    assert proc.returncode != 0, f"render unexpectedly succeeded with {list(sets)}"
    return proc.stderr


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, name_suffix: str = "") -> dict[str, Any]:
    found = [d for d in by_kind(docs, kind) if d["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, (
        f"expected one {kind} *{name_suffix}, got {[d['metadata']['name'] for d in found]}"
    )
    return found[0]


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    kind = obj["kind"]
    spec: dict[str, Any] | None = None
    if kind == "Pod":
        spec = obj["spec"]
    elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        spec = obj["spec"]["template"]["spec"]
    elif kind == "CronJob":
        spec = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in container.get("env", [])}


def configmap_settings(docs: list[dict[str, Any]]) -> dict[str, str]:
    data: dict[str, str] = one(docs, "ConfigMap", "-config")["data"]
    return data


def ci_id(path: Path) -> str:
    return path.name.removesuffix("-values.yaml")


@pytest.fixture(scope="session")
def crds() -> Path:
    d = crd_dir()
    if not any(d.glob("*.yaml")):
        pytest.fail(f"no CRDs in {d}: see deploy/crds/README.md", pytrace=False)
    return d


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Init containers and containers of a pod spec."""
    out: list[dict[str, Any]] = spec.get("initContainers", []) + spec["containers"]
    return out


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Whether a matchLabels selector selects these labels."""
    return all(labels.get(k) == v for k, v in selector.items())
