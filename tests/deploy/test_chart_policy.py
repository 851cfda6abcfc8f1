"""Policy assertions on the rendered chart: the kube-linter default checks.

kube-linter cannot be installed here (see docs/deploy.md), so its default checks are explicit
assertions on every CI render: run-as-non-root, privilege-escalation-container,
privileged-container, drop-net-raw-capability, host-network/pid/ipc, sensitive-host-mounts,
docker-sock, no-read-only-root-fs, no-liveness-probe, no-readiness-probe,
unset-cpu/memory-requirements, latest-tag, env-var-secret, dangling-service,
mismatching-selector, non-existent-service-account, pdb-max-unavailable/min-available,
pdb-unhealthy-pod-eviction-policy, no-anti-affinity, invalid-target-ports, privileged-ports,
ssh-port, unsafe-sysctls, duplicate env vars.

The other chart policy modules: test_chart_keda.py (KEDA and replicas), test_chart_contract.py
(shutdown timing, defaults, values validation), test_chart_conventions.py (config rollout,
labels, names, images, NOTES, chart metadata) and test_chart_monitoring_hooks.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from .conftest import by_kind, containers, env_of, matches, one, pod_spec, render
from .policy import EKS, EVERYTHING, KIND, MINIMAL, RENDER_IDS, RENDERS, workloads

SENSITIVE_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|MONGO_URI|ACCESS_KEY|CREDENTIAL)", re.I)
LONG_RUNNING = ("Deployment",)

# --------------------------------------------------------------------------- security


@pytest.mark.parametrize("name,docs", RENDERS, ids=RENDER_IDS)
def test_pod_security_restricted(name: str, docs: list[dict[str, Any]]) -> None:
    for obj in workloads(docs):
        spec = pod_spec(obj)
        assert spec is not None
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        psc = spec.get("securityContext", {})
        assert psc.get("runAsNonRoot") is True, where
        assert psc.get("seccompProfile", {}).get("type") in ("RuntimeDefault", "Localhost"), where
        assert psc.get("runAsUser", 1) != 0, where
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(flag), where
        assert not psc.get("sysctls"), where
        assert spec.get("automountServiceAccountToken") is False, where
        for vol in spec.get("volumes", []):
            assert "hostPath" not in vol, where
        tmp_volumes = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
        for c in containers(spec):
            sc = c.get("securityContext", {})
            cw = f"{where}/{c['name']}"
            assert sc.get("allowPrivilegeEscalation") is False, cw
            assert sc.get("privileged") in (None, False), cw
            assert sc.get("readOnlyRootFilesystem") is True, cw
            assert "ALL" in sc.get("capabilities", {}).get("drop", []), cw
            assert set(sc.get("capabilities", {}).get("add", [])) <= {"NET_BIND_SERVICE"}, cw
            assert sc.get("runAsNonRoot", True) is True and sc.get("runAsUser", 1) != 0, cw
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            assert mounts.get("/tmp") in tmp_volumes, f"{cw}: /tmp must be an emptyDir"
            for port in c.get("ports", []):
                assert port["containerPort"] >= 1024, f"{cw}: privileged port"
                assert port["containerPort"] != 22, f"{cw}: ssh port"
                assert len(port.get("name", "")) <= 15


@pytest.mark.parametrize("name,docs", RENDERS, ids=RENDER_IDS)
def test_service_accounts_do_not_automount(name: str, docs: list[dict[str, Any]]) -> None:
    sas = by_kind(docs, "ServiceAccount")
    assert sas
    for sa in sas:
        assert sa.get("automountServiceAccountToken") is False


@pytest.mark.parametrize("name,docs", RENDERS, ids=RENDER_IDS)
def test_probes_resources_and_images(name: str, docs: list[dict[str, Any]]) -> None:
    for obj in workloads(docs):
        spec = pod_spec(obj)
        assert spec is not None
        for c in containers(spec):
            cw = f"{obj['kind']}/{obj['metadata']['name']}/{c['name']}"
            res = c.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(res.get(kind, {})), f"{cw}: {kind}"
            image = c["image"]
            assert not image.endswith(":latest") and (
                ":" in image.rsplit("/", 1)[-1] or "@sha256:" in image
            ), cw
            names = [e["name"] for e in c.get("env", [])]
            assert len(names) == len(set(names)), f"{cw}: duplicate env {names}"
            if obj["kind"] in LONG_RUNNING:
                assert "livenessProbe" in c and "readinessProbe" in c, cw
    api = one(docs, "Deployment", "-api")["spec"]["template"]["spec"]["containers"][0]
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    worker = one(docs, "Deployment", "-worker")["spec"]["template"]["spec"]["containers"][0]
    assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}


@pytest.mark.parametrize("name,docs", RENDERS, ids=RENDER_IDS)
def test_no_secret_values_rendered(name: str, docs: list[dict[str, Any]]) -> None:
    assert not by_kind(docs, "Secret"), "the chart must only reference existing Secrets"
    for obj in workloads(docs):
        spec = pod_spec(obj)
        assert spec is not None
        for c in containers(spec):
            env = env_of(c)
            if obj["kind"] in ("Deployment", "Job"):
                uri = env["SMARTPAPERS_MONGO_URI"]
                assert "value" not in uri and "secretKeyRef" in uri["valueFrom"]
            for e in c.get("env", []):
                if SENSITIVE_NAME.search(e["name"]):
                    assert "value" not in e, f"{e['name']} has a literal value"
                    assert "secretKeyRef" in e["valueFrom"], e
    for cm in by_kind(docs, "ConfigMap"):
        for key in cm.get("data", {}):
            assert not SENSITIVE_NAME.search(key), f"ConfigMap key {key} looks secret"
    text = yaml.safe_dump_all(docs)
    assert "mongodb://" not in text and "mongodb+srv://" not in text
    assert not re.search(r"AKIA[0-9A-Z]{16}", text)


def test_emulator_credentials_only_on_kind() -> None:
    for values in (MINIMAL, EKS, EVERYTHING):
        for obj in workloads(render([values])):
            spec = pod_spec(obj)
            assert spec is not None
            for c in containers(spec):
                assert "AWS_ACCESS_KEY_ID" not in env_of(c), (
                    f"{values.name}: static AWS creds on AWS"
                )
    worker = one(render([KIND]), "Deployment", "-worker")["spec"]["template"]["spec"]["containers"][
        0
    ]
    assert (
        env_of(worker)["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"]
        == "smartpapers-dev-aws"
    )


# --------------------------------------------------------------------------- wiring (kube-linter)


@pytest.mark.parametrize("name,docs", RENDERS, ids=RENDER_IDS)
def test_selectors_and_references_resolve(name: str, docs: list[dict[str, Any]]) -> None:
    deployments = by_kind(docs, "Deployment")
    pod_labels = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"] for d in deployments
    }
    for d in deployments:  # mismatching-selector
        assert matches(d["spec"]["selector"]["matchLabels"], pod_labels[d["metadata"]["name"]])
    for svc in by_kind(docs, "Service"):  # dangling-service, invalid-target-ports
        targets = [
            n for n, labels in pod_labels.items() if matches(svc["spec"]["selector"], labels)
        ]
        assert targets, f"Service {svc['metadata']['name']} selects no pods"
        for dep in deployments:
            if dep["metadata"]["name"] in targets:
                ports = {
                    p["name"]
                    for c in dep["spec"]["template"]["spec"]["containers"]
                    for p in c["ports"]
                }
                for p in svc["spec"]["ports"]:
                    assert p["targetPort"] in ports
    for pdb in by_kind(docs, "PodDisruptionBudget"):
        sel = pdb["spec"]["selector"]["matchLabels"]
        assert any(matches(sel, lbl) for lbl in pod_labels.values())
        assert pdb["spec"].get("unhealthyPodEvictionPolicy") == "AlwaysAllow"
        assert "minAvailable" not in pdb["spec"]  # never blocks drains of a 1-replica worker
    hook_pods = [p["metadata"]["labels"] for p in by_kind(docs, "Pod")] + [
        j["spec"]["template"]["metadata"]["labels"] for j in by_kind(docs, "Job")
    ]
    for np in by_kind(docs, "NetworkPolicy"):
        sel = np["spec"]["podSelector"]["matchLabels"]
        assert any(matches(sel, lbl) for lbl in [*pod_labels.values(), *hook_pods])
    created_sas = {sa["metadata"]["name"] for sa in by_kind(docs, "ServiceAccount")}
    for d in deployments:  # non-existent-service-account
        assert d["spec"]["template"]["spec"]["serviceAccountName"] in created_sas
    services = {s["metadata"]["name"]: s for s in by_kind(docs, "Service")}
    for sm in by_kind(docs, "ServiceMonitor"):
        svc_targets = [
            s
            for s in services.values()
            if matches(sm["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
        ]
        assert len(svc_targets) == 1
        assert {e["port"] for e in sm["spec"]["endpoints"]} <= {
            p["name"] for p in svc_targets[0]["spec"]["ports"]
        }
    for pm in by_kind(docs, "PodMonitor"):
        matched = [
            d
            for d in deployments
            if matches(
                pm["spec"]["selector"]["matchLabels"], d["spec"]["template"]["metadata"]["labels"]
            )
        ]
        assert [d["metadata"]["name"] for d in matched] == [
            one(docs, "Deployment", "-worker")["metadata"]["name"]
        ]
        ports = {
            p["name"] for p in matched[0]["spec"]["template"]["spec"]["containers"][0]["ports"]
        }
        assert {e["port"] for e in pm["spec"]["podMetricsEndpoints"]} <= ports
    for ing in by_kind(docs, "Ingress"):
        for rule in ing["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["name"] in services


@pytest.mark.parametrize("name,docs", RENDERS, ids=RENDER_IDS)
def test_multi_replica_workloads_spread_across_nodes(name: str, docs: list[dict[str, Any]]) -> None:
    """kube-linter no-anti-affinity: API (2+ replicas) and worker (up to 20) spread over nodes."""
    for suffix in ("-api", "-worker"):
        spec = one(docs, "Deployment", suffix)["spec"]["template"]["spec"]
        aff = spec.get("affinity", {}).get("podAntiAffinity", {})
        assert aff.get("preferredDuringSchedulingIgnoredDuringExecution") or aff.get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        ), suffix
