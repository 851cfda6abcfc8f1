"""KEDA's own admission webhook (``cmd/webhooks`` of github.com/kedacore/keda/v2, built by
``scripts/install-tools.sh keda`` from ``deploy/local/keda``) registered on the test API
server (``apiserver.py``), so ScaledObjects and (Cluster)TriggerAuthentications are judged by
the code KEDA runs in a cluster: its warnings, its checks of triggers, fallback and replica
counts, and its refusal of a second autoscaler on the same workload.

The webhook runs in the control plane's network namespace (loopback only): its webhook
server binds every address of that namespace (no flag for the host), its metrics and health
endpoints bind 127.0.0.1. TLS: a self-signed certificate for IP 127.0.0.1 made with openssl,
whose PEM is the webhook configuration's caBundle. ``failurePolicy: Fail``: a webhook that
does not answer fails the apply instead of being skipped."""

from __future__ import annotations

import base64
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from smartpapers.devstack.servers import ManagedProcess, free_port, port_open

from .apiserver import TOKEN, ControlPlane
from .conftest import pinned

KEDA_VERSION = pinned("KEDA_VERSION")
# KEDA's paths (config/webhooks/validation_webhooks.yaml of the module) for the kinds we render
HOOKS = {
    "scaledobjects": "/validate-keda-sh-v1alpha1-scaledobject",
    "triggerauthentications": "/validate-keda-sh-v1alpha1-triggerauthentication",
    "clustertriggerauthentications": "/validate-keda-sh-v1alpha1-clustertriggerauthentication",
}


def binary(cache: Path) -> Path:
    path = cache / f"keda-{KEDA_VERSION}" / "bin" / "webhooks"
    if not path.is_file():
        pytest.fail(
            f"{path} missing: build it with `bash scripts/install-tools.sh keda` (KEDA "
            f"{KEDA_VERSION} from the Go module proxy, deploy/local/keda)",
            pytrace=False,
        )
    return path


def _kubeconfig(plane: ControlPlane) -> str:
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {
            "server": plane.server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "admin", "user": {"token": TOKEN}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}],
    })  # fmt: skip


def configuration(port: int, ca_pem: bytes) -> dict[str, object]:
    """A ValidatingWebhookConfiguration like KEDA's, pointing at 127.0.0.1:port."""
    ca = base64.b64encode(ca_pem).decode()
    hooks = [
        {
            "name": f"v{resource.removesuffix('s')}.keda.sh",
            "admissionReviewVersions": ["v1"],
            "clientConfig": {"url": f"https://127.0.0.1:{port}{path}", "caBundle": ca},
            "failurePolicy": "Fail",
            "matchPolicy": "Equivalent",
            "sideEffects": "None",
            "timeoutSeconds": 10,
            "rules": [
                {
                    "apiGroups": ["keda.sh"],
                    "apiVersions": ["v1alpha1"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": [resource],
                }
            ],
        }  # fmt: skip
        for resource, path in HOOKS.items()
    ]
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "keda-admission"},
        "webhooks": hooks,
    }


PROBE = {
    "apiVersion": "keda.sh/v1alpha1",
    "kind": "TriggerAuthentication",
    "metadata": {"name": "webhook-probe", "namespace": "default"},
    "spec": {"podIdentity": {"provider": "aws", "identityOwner": "keda"}},
}


def start(plane: ControlPlane, webhooks: Path, work: Path) -> ManagedProcess:
    """Start the webhook, register it and wait until the API server gets its answers.
    The KEDA CRDs must be Established first. Stopped with the plane."""
    certs = work / "certs"
    certs.mkdir(parents=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(certs / "tls.key"), "-out", str(certs / "tls.crt"),
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    (work / "kubeconfig").write_text(_kubeconfig(plane))
    port = free_port()
    proc = plane.spawn("keda-webhooks", [
        str(webhooks), f"--kubeconfig={work / 'kubeconfig'}", f"--cert-dir={certs}",
        f"--port={port}", f"--health-probe-bind-address=127.0.0.1:{free_port()}",
        f"--metrics-bind-address=127.0.0.1:{free_port()}", "--zap-log-level=error",
    ])  # fmt: skip
    vwc = configuration(port, (certs / "tls.crt").read_bytes())
    plane.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(vwc))
    deadline = time.monotonic() + 60
    probe = yaml.safe_dump(PROBE)
    while True:
        out = plane.kubectl("create", "--dry-run=server", "-f", "-", stdin=probe, check=False)
        if out.returncode == 0:
            # the namespace's loopback only: not reachable from the host's network
            assert not port_open(port), f"the webhook's port {port} is open on the host"
            return proc
        if not proc.running or time.monotonic() > deadline or "webhook" not in out.stderr:
            pytest.fail(
                f"KEDA's webhook did not answer the API server:\n{out.stderr}\n{proc.tail()}",
                pytrace=False,
            )
        time.sleep(0.5)
