"""Structural checks of the service images (Docker cannot run here)."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import CHART, REPO

SERVICES: dict[str, dict[str, Any]] = {
    "api": {"package": "smartpapers-api", "cmd": ["smartpapers-api"], "port": 8000},
    "worker": {"package": "smartpapers-worker", "cmd": ["smartpapers-worker"], "port": 9100},
}


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


def parse(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """Minimal Dockerfile parser: line continuations, comments, ARG defaults, stages."""
    text = re.sub(r"\\\n", " ", path.read_text())
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        op = op.upper()
        rest = rest.strip()
        if op == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            assert m, line
            base = re.sub(r"\$\{(\w+)\}", lambda g: args.get(g.group(1), g.group(0)), m.group(1))
            stages.append(Stage(base, m.group(2)))
        elif op == "ARG" and not stages:
            k, _, v = rest.partition("=")
            args[k] = v
        else:
            assert stages, f"{op} before FROM"
            stages[-1].instructions.append((op, rest))
    return args, stages


def ops(stage: Stage, op: str) -> list[str]:
    return [rest for o, rest in stage.instructions if o == op]


@pytest.mark.parametrize("service", SERVICES)
def test_multi_stage_uv_build(service: str) -> None:
    spec = SERVICES[service]
    args, stages = parse(REPO / "services" / service / "Dockerfile")
    names = [s.name for s in stages]
    assert len(stages) >= 3 and "builder" in names, names
    for s in stages:
        assert not s.base.endswith(":latest") and ":" in s.base, f"unpinned base image {s.base}"
    assert (
        args["UV_IMAGE"] == "ghcr.io/astral-sh/uv:0.13.9"
    )  # == scripts/install-tools.sh UV_VERSION
    assert 'UV_VERSION="0.13.9"' in (REPO / "scripts" / "install-tools.sh").read_text()
    assert args["PYTHON_IMAGE"].startswith("python:3.11-slim")
    builder = stages[names.index("builder")]
    syncs = [r for r in ops(builder, "RUN") if "uv sync" in r]
    assert syncs, "no uv sync in the builder"
    for cmd in syncs:
        assert "--frozen" in cmd and "--no-dev" in cmd, cmd
        assert f"--package {spec['package']}" in cmd, cmd
        for forbidden in ("--dev", "--all-groups", "--group", "--all-extras", "--all-packages"):
            assert not re.search(rf"{forbidden}(\s|$)", cmd), cmd
    assert any("--no-editable" in c for c in syncs), (
        "workspace packages must be installed as wheels"
    )
    env = " ".join(ops(builder, "ENV"))
    assert "UV_PROJECT_ENVIRONMENT=/app/.venv" in env


@pytest.mark.parametrize("service", SERVICES)
def test_runtime_stage(service: str) -> None:
    spec = SERVICES[service]
    _, stages = parse(REPO / "services" / service / "Dockerfile")
    runtime = stages[-1]
    # only the virtualenv from the builder; no uv, no sources, no build tools
    copies = ops(runtime, "COPY")
    assert copies and all(c.startswith("--from=builder /app/.venv /app/.venv") for c in copies), (
        copies
    )
    assert not any("uv" in r.split() for r in ops(runtime, "RUN"))
    assert not ops(runtime, "ADD")
    users = ops(runtime, "USER")
    assert users and re.fullmatch(r"[1-9][0-9]*(:[1-9][0-9]*)?", users[-1]), users
    assert users[-1].split(":")[0] == "10001"
    cmd = ops(runtime, "CMD")
    assert len(cmd) == 1 and json.loads(cmd[0]) == spec["cmd"], "CMD must be exec-form JSON"
    assert not ops(runtime, "ENTRYPOINT")
    assert ops(runtime, "EXPOSE") == [str(spec["port"])]
    env = " ".join(ops(runtime, "ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env  # read-only root filesystem
    assert 'PATH="/app/.venv/bin:' in env
    bind = (
        "SMARTPAPERS_API_HOST=0.0.0.0"
        if service == "api"
        else "SMARTPAPERS_WORKER_METRICS_HOST=0.0.0.0"
    )
    assert bind in env, "the service must listen on all interfaces inside the container"
    pyproject = tomllib.loads((REPO / "services" / service / "pyproject.toml").read_text())
    assert spec["cmd"][0] in pyproject["project"]["scripts"]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    chart_port = values["api"]["port"] if service == "api" else values["worker"]["metricsPort"]
    assert chart_port == spec["port"]


def _dockerignore() -> list[tuple[bool, str]]:
    rules = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            neg = line.startswith("!")
            rules.append((neg, line.lstrip("!").rstrip("/")))
    return rules


def _included(rel: str, rules: list[tuple[bool, str]]) -> bool:
    included = True
    for neg, pattern in rules:
        pat = pattern.removeprefix("**/")
        hit = (
            fnmatch.fnmatch(rel, pattern)
            or rel.startswith(pattern + "/")
            or (
                pattern.startswith("**/")
                and any(fnmatch.fnmatch(part, pat) for part in rel.split("/"))
            )
        )
        if hit:
            included = neg
    return included


@pytest.mark.parametrize("service", SERVICES)
def test_build_context_paths(service: str) -> None:
    """Every COPY source exists (context = repo root) and survives .dockerignore."""
    _, stages = parse(REPO / "services" / service / "Dockerfile")
    rules = _dockerignore()
    sources = []
    for stage in stages:
        for c in ops(stage, "COPY"):
            if c.startswith("--from"):
                continue
            parts = c.split()
            sources += [p.rstrip("/") for p in parts[:-1] if not p.startswith("--")]
    assert "uv.lock" in sources and "pyproject.toml" in sources
    for src in sources:
        assert (REPO / src).exists(), f"COPY source {src} missing"
        assert _included(src, rules), f"{src} is excluded by .dockerignore"
    for member in ("libs/common", "services/api", "services/worker"):
        assert f"{member}/pyproject.toml" in sources, (
            f"workspace member {member} pyproject not copied"
        )
    for excluded in (
        "tests/deploy/test_dockerfiles.py",
        ".venv/bin/python",
        "deploy/helm/smartpapers/values.yaml",
        ".git/HEAD",
    ):
        assert not _included(excluded, rules), f"{excluded} would be sent to the build"
    assert not _included("services/api/src/smartpapers/__pycache__/x.pyc", rules)
