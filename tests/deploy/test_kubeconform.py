"""kubeconform ``-strict`` over the chart as rendered with every ``ci/*-values.yaml``, with
LOCAL schemas only (no network, no schema cache):

- Kubernetes: the ``v1.35.0-local-strict`` JSON schemas of the ``kubernetes-validate`` package
  (dev dependency). Their ``$ref``s point at ``/api/_definitions.json``, which kubeconform
  cannot resolve (it then says "could not find schema" and counts the resource as an error
  or, with ``-ignore-missing-schemas``, silently skips it), so they are copied to a temporary
  directory with every reference rewritten to an absolute ``file://`` path.
- CRDs (KEDA, prometheus-operator): the ``openAPIV3Schema`` of every served version of
  ``deploy/crds/*.yaml``, converted the way kubeconform's ``openapi2jsonschema.py`` does
  (``additionalProperties: false`` wherever ``properties`` are listed, unless the schema
  preserves unknown fields; ``nullable`` -> ``null`` allowed) into
  ``{group}/{kind}_{version}.json``.

Every resource must be ``valid``: an error, an invalid resource and a skipped one (no
schema) all fail. A negative case proves a wrong field type is reported.
"""

from __future__ import annotations

import copy
import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .conftest import CI_VALUES, by_kind, cached_tool, ci_id, crd_dir, pinned, render, render_text

KUBECONFORM_VERSION = pinned("KUBECONFORM_VERSION")
K8S_SCHEMAS = "v1.35.0-local-strict"


@cache
def _kubeconform() -> str:
    return cached_tool(
        "kubeconform", pinned=KUBECONFORM_VERSION, version_args=["-v"], version_ok="v0.8."
    )


def _json_schema(node: Any) -> Any:
    """An OpenAPI v3 CRD schema as strict JSON schema (openapi2jsonschema.py's rules)."""
    if isinstance(node, list):
        return [_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v) for k, v in node.items()}
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """kubeconform ``-schema-location`` templates of the local schema directory."""
    root = tmp_path_factory.mktemp("kubeconform-schemas")
    src = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / K8S_SCHEMAS
    files = sorted(src.glob("*.json"))
    assert len(files) > 500 and (src / "_definitions.json").is_file(), f"no schemas in {src}"
    k8s = root / "k8s"
    k8s.mkdir()
    absolute = f'"{(k8s / "_definitions.json").as_uri()}#'
    for f in files:
        text = f.read_text().replace('"/api/_definitions.json#', absolute)
        (k8s / f.name).write_text(text)
    assert '"/api/' not in (k8s / "deployment-apps-v1.json").read_text()
    for crd_file in sorted(crd_dir().glob("*.yaml")):
        for crd in (d for d in yaml.safe_load_all(crd_file.read_text()) if d):
            spec = crd["spec"]
            kind = spec["names"]["kind"].lower()
            for version in spec["versions"]:
                out = root / spec["group"] / f"{kind}_{version['name']}.json"
                out.parent.mkdir(exist_ok=True)
                schema = _json_schema(version["schema"]["openAPIV3Schema"])
                out.write_text(json.dumps(schema, indent=1))
    return [
        f"{k8s}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
        f"{root}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
    ]


def kubeconform(manifest: str, locations: list[str]) -> dict[str, Any]:
    args = [_kubeconform(), "-strict", "-summary", "-output", "json", "-verbose"]
    for loc in locations:
        args += ["-schema-location", loc]
    proc = subprocess.run([*args, "-"], input=manifest, capture_output=True, text=True, timeout=120)
    try:
        report: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"kubeconform said (rc {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    report["returncode"] = proc.returncode
    return report


def _not_valid(report: dict[str, Any]) -> list[str]:
    return [
        f"{r['kind']}/{r['name']}: {r['status']} {r.get('msg', '')}"
        for r in report["resources"]
        if r["status"] != "statusValid"
    ]


@pytest.mark.parametrize("values", CI_VALUES, ids=ci_id)
def test_every_ci_render_is_valid_against_local_strict_schemas(
    schemas: list[str], values: Path
) -> None:
    manifest = render_text([values])
    report = kubeconform(manifest, schemas)
    assert not _not_valid(report), "\n".join(_not_valid(report))
    summary = report["summary"]
    objects = [d for d in yaml.safe_load_all(manifest) if d]
    assert summary["valid"] == len(objects), summary
    assert summary["invalid"] == summary["errors"] == summary["skipped"] == 0, summary
    assert report["returncode"] == 0
    kinds = {r["kind"] for r in report["resources"]}
    assert {"Deployment", "ServiceAccount", "ConfigMap"} <= kinds


def test_a_mutated_field_type_is_reported_invalid(schemas: list[str]) -> None:
    docs = render([CI_VALUES[0]], sets=["keda.enabled=true"])
    deployment = copy.deepcopy(by_kind(docs, "Deployment")[0])
    deployment["spec"]["replicas"] = "three"  # integer in the schema
    scaled = copy.deepcopy(by_kind(docs, "ScaledObject")[0])
    scaled["spec"]["maxReplicaCount"] = "twenty"  # CRD schema: integer
    scaled["spec"]["notAField"] = True  # strict: no unknown fields
    report = kubeconform(yaml.safe_dump_all([deployment, scaled]), schemas)
    bad = _not_valid(report)
    assert report["returncode"] != 0 and report["summary"]["invalid"] == 2, bad
    text = "\n".join(bad)
    assert "replicas" in text and "maxReplicaCount" in text and "notAField" in text, text


def test_a_kind_without_schema_fails_instead_of_being_skipped(schemas: list[str]) -> None:
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    report = kubeconform(yaml.safe_dump(unknown), schemas)
    assert report["returncode"] != 0, report
    assert "could not find schema" in "\n".join(_not_valid(report))
