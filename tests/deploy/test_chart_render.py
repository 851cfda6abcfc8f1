"""helm lint --strict, helm template and schema validation of every rendered object."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from .conftest import (
    ALL_APIS,
    CHART,
    CI_VALUES,
    KEDA_API,
    MONITORING_API,
    by_kind,
    ci_id,
    crd_dir,
    helm,
    render,
)

# Oldest supported (Chart.yaml kubeVersion >=1.30) and newest kubernetes-validate schemas.
K8S_VERSIONS = ("1.30.0", "1.37.0")
CRD_FILES = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_scaledobjects.yaml",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda.sh_triggerauthentications.yaml",
    (
        "keda.sh/v1alpha1",
        "ClusterTriggerAuthentication",
    ): "keda.sh_clustertriggerauthentications.yaml",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_servicemonitors.yaml",
    ("monitoring.coreos.com/v1", "PodMonitor"): "monitoring.coreos.com_podmonitors.yaml",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "monitoring.coreos.com_prometheusrules.yaml",
}


def test_ci_values_cover_the_documented_combinations() -> None:
    assert {ci_id(p) for p in CI_VALUES} >= {
        "minimal",
        "eks-pod-identity",
        "kind-dev",
        "everything-on",
    }


@pytest.mark.parametrize("values", CI_VALUES, ids=ci_id)
@pytest.mark.parametrize("forced", [False, True], ids=["as-is", "crds-forced"])
def test_helm_lint_strict(values: Path, forced: bool) -> None:
    args = ["lint", "--strict", str(CHART), "-f", str(values)]
    if forced:  # lint has no --api-versions: force the KEDA/monitoring templates on
        args += ["--set", "keda.force=true", "--set", "monitoring.force=true"]
    proc = helm(*args, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout
    assert "[WARNING]" not in proc.stdout and "[ERROR]" not in proc.stdout, proc.stdout


@cache
def crd_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    path = crd_dir() / CRD_FILES[(api_version, kind)]
    crd = yaml.safe_load(path.read_text())
    group, version = api_version.split("/")
    assert crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind
    (ver,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema = ver["schema"]["openAPIV3Schema"]
    # No check_schema(): the prometheus-operator CRDs carry Go RE2 patterns such as
    # '^(?i)(abort|warn)?$' that Python's `re` rejects as a metaschema "regex" format; they
    # are only compiled when a rendered object uses that field.
    return jsonschema.Draft7Validator(schema)


def validate_object(obj: dict[str, Any]) -> list[str]:
    """Return the validation errors of one object (empty = valid)."""
    key = (obj["apiVersion"], obj["kind"])
    if key in CRD_FILES:
        return [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in crd_validator(*key).iter_errors(obj)
        ]
    errors = []
    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"k8s {version}: {exc.path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"k8s {version}: no schema for {key}: {exc}")
    return errors


@pytest.mark.parametrize("values", CI_VALUES, ids=ci_id)
@pytest.mark.parametrize(
    "api_versions", [(), ALL_APIS], ids=["plain-cluster", "keda+prometheus-operator"]
)
def test_every_rendered_object_is_schema_valid(
    values: Path, api_versions: tuple[str, ...], crds: Path
) -> None:
    docs = render([values], api_versions=api_versions)
    assert docs, "nothing rendered"
    problems = {
        f"{d['kind']}/{d['metadata']['name']}": errs for d in docs if (errs := validate_object(d))
    }
    assert not problems, yaml.safe_dump(problems)


def test_validation_catches_a_broken_object(crds: Path) -> None:
    """The validators used above do reject invalid objects (so the test above can fail)."""
    docs = render([CHART / "ci" / "minimal-values.yaml"])
    so = dict(by_kind(docs, "ScaledObject")[0])
    bad_so = yaml.safe_load(yaml.safe_dump(so))
    bad_so["spec"]["triggers"][0]["metadata"]["scaleOnInFlight"] = True  # unquoted boolean
    assert any("is not of type 'string'" in e for e in validate_object(bad_so))
    dep = yaml.safe_load(yaml.safe_dump(by_kind(docs, "Deployment")[0]))
    dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 7
    dep["spec"]["template"]["spec"]["containerz"] = []
    assert validate_object(dep)


@pytest.mark.parametrize("values", CI_VALUES, ids=ci_id)
def test_capability_gating(values: Path) -> None:
    """KEDA and prometheus-operator objects appear only with their APIs (or when forced)."""
    vals = yaml.safe_load(values.read_text())
    forced_keda = vals.get("keda", {}).get("force", False)
    mon_forced = vals.get("monitoring", {}).get("force", False)
    plain = {d["kind"] for d in render([values], api_versions=())}
    keda_only = {d["kind"] for d in render([values], api_versions=(KEDA_API,))}
    mon_only = {d["kind"] for d in render([values], api_versions=(MONITORING_API,))}
    assert ("ScaledObject" in plain) == forced_keda
    assert "ScaledObject" in keda_only
    assert ("ScaledObject" in mon_only) == forced_keda
    for kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule"):
        assert kind in mon_only
        assert (kind in plain) == mon_forced
        assert (kind in keda_only) == mon_forced


def test_helm_template_fails_on_missing_required_settings() -> None:
    proc = helm("template", "x", str(CHART), check=False)
    assert proc.returncode != 0
    assert "config.mongo.existingSecret is required" in proc.stderr
