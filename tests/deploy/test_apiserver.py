"""The chart against a real kube-apiserver (``apiserver.py``): every ``ci/*-values.yaml``
render is applied server-side into its own namespace that ENFORCES and WARNS on the
``restricted`` Pod Security Standard, with the vendored CRDs installed — so the real
server's schemas, the CRDs' CEL rules, defaulting and PodSecurity admission judge every
object, which the offline schema checks cannot. Negative cases prove the checks bite."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .apiserver import ControlPlane, binaries, start
from .conftest import CI_VALUES, by_kind, cache_dir, crd_dir, render, render_text

PSA = "restricted"


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = start(binaries(cache_dir()), tmp_path_factory.mktemp("control-plane"))
    try:
        for crd in sorted(crd_dir().glob("*.yaml")):
            cp.kubectl("apply", "--server-side", "-f", str(crd))
        cp.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
        yield cp
    finally:
        cp.stop()


def namespace(plane: ControlPlane, name: str) -> str:
    """A namespace enforcing (and warning on) the restricted profile, with the ``default``
    ServiceAccount a controller-manager would create."""
    plane.kubectl("create", "namespace", name)
    plane.kubectl("label", "namespace", name, f"pod-security.kubernetes.io/enforce={PSA}",
                  f"pod-security.kubernetes.io/warn={PSA}")  # fmt: skip
    plane.kubectl("create", "serviceaccount", "default", "-n", name)
    return name


def ns_for(values: Path) -> str:
    return re.sub(r"[^a-z0-9-]", "-", values.stem.removesuffix("-values"))


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.stem)
def test_every_ci_render_is_admitted_by_a_real_api_server(
    plane: ControlPlane, values: Path
) -> None:
    ns = namespace(plane, ns_for(values))
    manifest = render_text([values], namespace=ns)
    out = plane.kubectl("apply", "--server-side", "-n", ns, "-f", "-", stdin=manifest, check=False)
    assert out.returncode == 0, out.stderr
    warnings = [line for line in out.stderr.splitlines() if line.startswith("Warning")]
    assert not warnings, "\n".join(warnings)  # PodSecurity warns on Deployments, Jobs
    kinds = {d["kind"] for d in yaml.safe_load_all(manifest) if d}
    stored = plane.kubectl("get", "deployments,services,configmaps,serviceaccounts", "-n", ns,
                           "-o", "name").stdout  # fmt: skip
    assert "deployment.apps/smartpapers-api" in stored and "Deployment" in kinds


def test_restricted_namespace_refuses_a_pod_that_breaks_the_profile(plane: ControlPlane) -> None:
    ns = namespace(plane, "psa-negative")
    docs = render([CI_VALUES[0]], namespace=ns)
    deployment = copy.deepcopy(by_kind(docs, "Deployment")[0])
    spec = copy.deepcopy(deployment["spec"]["template"]["spec"])
    pod: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "spec": spec,
                           "metadata": {"name": "breaks-restricted", "namespace": ns}}  # fmt: skip
    pod["spec"]["serviceAccountName"] = "default"
    pod["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    out = plane.kubectl("apply", "-n", ns, "-f", "-", stdin=yaml.safe_dump(pod), check=False)
    assert out.returncode != 0 and "violates PodSecurity" in out.stderr, out.stderr


def test_scaledobject_validation_rules_run_on_the_server(plane: ControlPlane) -> None:
    """KEDA's CRD carries a CEL rule the offline JSON-schema check cannot evaluate."""
    ns = namespace(plane, "keda-negative")
    docs = render([CI_VALUES[0]], namespace=ns, sets=["keda.enabled=true"])
    scaled = copy.deepcopy(by_kind(docs, "ScaledObject")[0])
    scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"] = 5, 2
    out = plane.kubectl("apply", "--server-side", "-n", ns, "-f", "-",
                        stdin=yaml.safe_dump(scaled), check=False)  # fmt: skip
    assert out.returncode != 0, "a ScaledObject with min > max was admitted"
    assert "minReplicaCount" in out.stderr, out.stderr
