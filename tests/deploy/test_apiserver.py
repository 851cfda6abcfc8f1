"""The chart against a real kube-apiserver (``apiserver.py``): every ``ci/*-values.yaml``
render is applied server-side into its own namespace that ENFORCES and WARNS on the
``restricted`` Pod Security Standard, with the vendored CRDs installed and KEDA's own
admission webhook registered (``keda_webhook.py``, failurePolicy Fail) — so the real
server's schemas, the CRDs' CEL rules, defaulting, PodSecurity admission and KEDA's
validation judge every object, which the offline schema checks cannot. Any ``Warning:``
line (PodSecurity, KEDA) fails. Negative cases prove the checks bite."""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from . import keda_webhook
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
        work = tmp_path_factory.mktemp("keda-webhooks")
        keda_webhook.start(cp, keda_webhook.binary(cache_dir()), work)
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
    assert not warnings, "\n".join(warnings)  # PodSecurity (Deployments, Jobs), KEDA
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


def test_keda_webhook_refuses_a_second_autoscaler_for_the_worker(plane: ControlPlane) -> None:
    """The webhook is really called: KEDA denies a second ScaledObject on the same worker
    Deployment (it would fight the first one's HPA); the CRD schema alone admits it."""
    ns = namespace(plane, "keda-webhook")
    docs = render([CI_VALUES[0]], namespace=ns, sets=["keda.enabled=true"])
    scaled = by_kind(docs, "ScaledObject")[0]
    plane.kubectl("apply", "--server-side", "-n", ns, "-f", "-", stdin=yaml.safe_dump(scaled))
    second = copy.deepcopy(scaled)
    second["metadata"]["name"] = "second-scaler"
    deadline = time.monotonic() + 20
    while True:  # the webhook's cache may not hold the first one yet
        out = plane.kubectl("apply", "--server-side", "--dry-run=server", "-n", ns, "-f", "-",
                            stdin=yaml.safe_dump(second), check=False)  # fmt: skip
        if out.returncode != 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert out.returncode != 0, "a second ScaledObject on the worker was admitted"
    assert "admission webhook" in out.stderr, out.stderr
    assert f"is already managed by the ScaledObject '{scaled['metadata']['name']}'" in out.stderr


def test_keda_webhook_refuses_role_arn_with_workload_identity(plane: ControlPlane) -> None:
    ns = namespace(plane, "keda-webhook-auth")
    auth = copy.deepcopy(keda_webhook.PROBE)
    auth["metadata"] = {"name": "both", "namespace": ns}
    auth["spec"] = {"podIdentity": {"provider": "aws", "identityOwner": "workload",
                                    "roleArn": "arn:aws:iam::123456789012:role/r"}}  # fmt: skip
    out = plane.kubectl("create", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(auth),
                        check=False)  # fmt: skip
    assert out.returncode != 0 and "admission webhook" in out.stderr, out.stderr
    assert "roleArn of PodIdentity can't be set if KEDA isn't identityOwner" in out.stderr


def test_keda_webhook_warnings_reach_kubectl(plane: ControlPlane) -> None:
    """What the no-warning check above would catch: KEDA warns on a pollingInterval that a
    ScaledObject with minReplicaCount >= 1 does not use (why the chart omits it then)."""
    ns = namespace(plane, "keda-webhook-warn")
    docs = render([CI_VALUES[0]], namespace=ns, sets=["keda.enabled=true"])
    scaled = copy.deepcopy(by_kind(docs, "ScaledObject")[0])
    scaled["spec"]["pollingInterval"] = 5
    out = plane.kubectl("apply", "--server-side", "--dry-run=server", "-n", ns, "-f", "-",
                        stdin=yaml.safe_dump(scaled))  # fmt: skip
    assert "Warning: PollingInterval is configured but is not relevant" in out.stderr, out.stderr
