"""Policy assertions on the rendered chart.

These also implement the kube-linter default checks (kube-linter cannot be installed here,
see docs/deploy.md): run-as-non-root, privilege-escalation-container, privileged-container,
drop-net-raw-capability, host-network/pid/ipc, sensitive-host-mounts, docker-sock,
no-read-only-root-fs, no-liveness-probe, no-readiness-probe, unset-cpu/memory-requirements,
latest-tag, env-var-secret, dangling-service, mismatching-selector, non-existent-service-account,
pdb-max-unavailable/min-available, pdb-unhealthy-pod-eviction-policy, no-anti-affinity,
invalid-target-ports, privileged-ports, ssh-port, unsafe-sysctls, duplicate env vars.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import (
    ALL_APIS,
    CHART,
    CI_VALUES,
    by_kind,
    ci_id,
    configmap_settings,
    containers,
    env_of,
    matches,
    one,
    pod_spec,
    render,
    render_fails,
)

MINIMAL = CHART / "ci" / "minimal-values.yaml"
KIND = CHART / "ci" / "kind-dev-values.yaml"
EVERYTHING = CHART / "ci" / "everything-on-values.yaml"
EKS = CHART / "ci" / "eks-pod-identity-values.yaml"

SENSITIVE_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|MONGO_URI|ACCESS_KEY|CREDENTIAL)", re.I)
LONG_RUNNING = ("Deployment",)


def all_renders() -> list[tuple[str, list[dict[str, Any]]]]:
    out = []
    for values in CI_VALUES:
        out.append((f"{ci_id(values)}/plain", render([values], api_versions=())))
        out.append((f"{ci_id(values)}/crds", render([values], api_versions=ALL_APIS)))
    return out


RENDERS = all_renders()
RENDER_IDS = [r[0] for r in RENDERS]


def workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if pod_spec(d) is not None]


# --------------------------------------------------------------------------- KEDA / replicas


@pytest.mark.parametrize("name,docs", RENDERS, ids=RENDER_IDS)
def test_worker_replicas_owned_by_keda_only(name: str, docs: list[dict[str, Any]]) -> None:
    worker = one(docs, "Deployment", "-worker")
    scaled = by_kind(docs, "ScaledObject")
    if scaled:
        assert "replicas" not in worker["spec"], "worker must not set replicas when KEDA is on"
    else:
        assert worker["spec"]["replicas"] >= 1
    # never a plain HPA for the worker beside (or instead of) the ScaledObject
    for hpa in by_kind(docs, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["scaleTargetRef"]["name"] != worker["metadata"]["name"]


@pytest.mark.parametrize("name,docs", RENDERS, ids=RENDER_IDS)
def test_scaled_object_contract(name: str, docs: list[dict[str, Any]]) -> None:
    scaled = by_kind(docs, "ScaledObject")
    if not scaled:
        return
    (so,) = scaled
    spec = so["spec"]
    worker = one(docs, "Deployment", "-worker")
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": worker["metadata"]["name"],
    }
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "aws-sqs-queue"
    assert trigger["metricType"] == "AverageValue"
    md = trigger["metadata"]
    assert all(isinstance(v, str) for v in md.values()), md
    settings = configmap_settings(docs)
    assert md["queueURL"] == settings["SMARTPAPERS_SQS_QUEUE_URL"]
    assert md["awsRegion"] == settings["SMARTPAPERS_AWS_REGION"]
    assert md["scaleOnInFlight"] in ("true", "false")  # explicit, never defaulted
    assert int(md["queueLength"]) >= 1
    assert md.get("awsEndpoint") == settings.get("SMARTPAPERS_SQS_ENDPOINT_URL")
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleUp"]["policies"] and behavior["scaleDown"]["policies"]
    fb = spec["fallback"]
    assert spec["minReplicaCount"] <= fb["replicas"] <= spec["maxReplicaCount"]
    ref = trigger["authenticationRef"]
    if ref["kind"] == "TriggerAuthentication":
        names = [t["metadata"]["name"] for t in by_kind(docs, "TriggerAuthentication")]
        assert ref["name"] in names, (
            "authenticationRef points to a TriggerAuthentication that is not rendered"
        )


def test_default_scaling_bounds_and_queue_length() -> None:
    docs = render([MINIMAL])
    so = one(docs, "ScaledObject")
    assert (so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]) == (1, 20)
    md = so["spec"]["triggers"][0]["metadata"]
    worker_env = env_of(
        one(docs, "Deployment", "-worker")["spec"]["template"]["spec"]["containers"][0]
    )
    # queueLength is derived from the worker concurrency (documented in deploy/keda/SCALING.md)
    assert md["queueLength"] == worker_env["SMARTPAPERS_WORKER_CONCURRENCY"]["value"] == "50"
    assert md["scaleOnInFlight"] == "true"
    assert "awsEndpoint" not in md  # real AWS
    ta = one(docs, "TriggerAuthentication")
    assert ta["spec"] == {"podIdentity": {"provider": "aws", "identityOwner": "keda"}}
    # an explicit queueLength wins over the derived one
    so2 = one(render([MINIMAL], sets=["keda.queueLength=120"]), "ScaledObject")
    assert so2["spec"]["triggers"][0]["metadata"]["queueLength"] == "120"


def test_trigger_authentication_by_values() -> None:
    eks = render([EKS])
    assert one(eks, "TriggerAuthentication")["spec"] == {
        "podIdentity": {
            "provider": "aws",
            "roleArn": "arn:aws:iam::123456789012:role/smartpapers-keda-scaler",
        }
    }
    kind = render([KIND])
    ta = one(kind, "TriggerAuthentication")
    assert {r["parameter"] for r in ta["spec"]["secretTargetRef"]} == {
        "awsAccessKeyID",
        "awsSecretAccessKey",
    }
    assert one(kind, "ScaledObject")["spec"]["triggers"][0]["metadata"]["awsEndpoint"].startswith(
        "http://elasticmq."
    )
    every = render([EVERYTHING])
    assert not by_kind(every, "TriggerAuthentication")
    assert one(every, "ScaledObject")["spec"]["triggers"][0]["authenticationRef"] == {
        "kind": "ClusterTriggerAuthentication",
        "name": "smartpapers-sqs",
    }


def test_api_hpa_only_when_enabled() -> None:
    docs = render([EVERYTHING])
    (hpa,) = by_kind(docs, "HorizontalPodAutoscaler")
    api = one(docs, "Deployment", "-api")
    assert hpa["spec"]["scaleTargetRef"]["name"] == api["metadata"]["name"]
    assert "replicas" not in api["spec"]
    assert not by_kind(render([MINIMAL]), "HorizontalPodAutoscaler")
    assert one(render([MINIMAL]), "Deployment", "-api")["spec"]["replicas"] == 2


# --------------------------------------------------------------------------- shutdown timing


@pytest.mark.parametrize("name,docs", RENDERS, ids=RENDER_IDS)
def test_shutdown_inequalities(name: str, docs: list[dict[str, Any]]) -> None:
    """worker tGPS >= wait + drain + 5; visibility > drain + 10;
    API tGPS >= preStop + graceful + 5."""
    settings = configmap_settings(docs)
    wait = int(settings["SMARTPAPERS_SQS_WAIT_TIME_SECONDS"])
    visibility = int(settings["SMARTPAPERS_SQS_VISIBILITY_TIMEOUT_SECONDS"])
    worker = one(docs, "Deployment", "-worker")["spec"]["template"]["spec"]
    drain = int(
        env_of(worker["containers"][0])["SMARTPAPERS_WORKER_DRAIN_TIMEOUT_SECONDS"]["value"]
    )
    assert worker["terminationGracePeriodSeconds"] >= wait + drain + 5
    assert visibility > drain + 10
    api = one(docs, "Deployment", "-api")["spec"]["template"]["spec"]
    c = api["containers"][0]
    graceful = int(env_of(c)["SMARTPAPERS_API_GRACEFUL_TIMEOUT_SECONDS"]["value"])
    pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pre_stop == 5 or name.startswith("everything")
    assert api["terminationGracePeriodSeconds"] >= pre_stop + graceful + 5


def test_defaults_match_the_runtime_contract() -> None:
    docs = render([MINIMAL])
    settings = configmap_settings(docs)
    assert settings["SMARTPAPERS_SQS_WAIT_TIME_SECONDS"] == "20"
    assert settings["SMARTPAPERS_SQS_VISIBILITY_TIMEOUT_SECONDS"] == "60"
    assert settings["SMARTPAPERS_AUTH_MODE"] == "jwt"
    worker = one(docs, "Deployment", "-worker")["spec"]["template"]["spec"]
    assert worker["terminationGracePeriodSeconds"] == 60
    env = env_of(worker["containers"][0])
    assert env["SMARTPAPERS_WORKER_DRAIN_TIMEOUT_SECONDS"]["value"] == "25"
    assert env["SMARTPAPERS_WORKER_METRICS_PORT"]["value"] == "9100"
    # probes and Prometheus reach the worker from outside the pod (its default is 127.0.0.1)
    assert env["SMARTPAPERS_WORKER_METRICS_HOST"]["value"] == "0.0.0.0"
    api = one(docs, "Deployment", "-api")["spec"]["template"]["spec"]
    aenv = env_of(api["containers"][0])
    assert aenv["SMARTPAPERS_API_HOST"]["value"] == "0.0.0.0"
    assert aenv["SMARTPAPERS_API_PORT"]["value"] == "8000"
    assert aenv["SMARTPAPERS_API_GRACEFUL_TIMEOUT_SECONDS"]["value"] == "20"
    assert api["terminationGracePeriodSeconds"] == 30


@pytest.mark.parametrize(
    "sets,message",
    [
        (
            ["worker.terminationGracePeriodSeconds=49"],
            "worker.terminationGracePeriodSeconds (49) must be >=",
        ),
        (
            ["worker.drainTimeoutSeconds=50"],
            "must be >= config.sqs.waitTimeSeconds + worker.drainTimeoutSeconds + 5",
        ),
        (
            ["config.sqs.visibilityTimeoutSeconds=35"],
            "config.sqs.visibilityTimeoutSeconds (35) must be >",
        ),
        (
            ["api.terminationGracePeriodSeconds=29"],
            "api.terminationGracePeriodSeconds (29) must be >=",
        ),
        (["keda.minReplicaCount=5", "keda.maxReplicaCount=4"], "keda.minReplicaCount must be <="),
        (["keda.fallback.replicas=21"], "keda.fallback.replicas must be within"),
        (["awsEmulatorCredentials.existingSecret=aws"], "only allowed with an SQS emulator"),
        (["keda.authentication.mode=secret"], "keda.authentication.mode=secret reads"),
        (["keda.authentication.mode=existing"], "keda.authentication.mode=existing needs"),
        (["config.auth.jwt.issuer="], "config.auth.mode=jwt needs"),
        (["config.sqs.queueUrl="], "config.sqs.queueUrl is required"),
    ],
)
def test_inconsistent_values_fail_rendering(sets: list[str], message: str) -> None:
    assert message in render_fails([MINIMAL], sets)


def test_every_problem_is_reported_at_once() -> None:
    """templates/validation.yaml collects all problems before failing (Bitnami style)."""
    out = render_fails(
        [MINIMAL],
        ["config.sqs.queueUrl=", "keda.minReplicaCount=5", "keda.maxReplicaCount=4",
         "config.extra.SMARTPAPERS_LOG_LEVEL=DEBUG"],
    )  # fmt: skip
    assert "VALUES VALIDATION (4 problems)" in out  # min > max also puts the fallback outside
    for message in (
        "config.sqs.queueUrl is required",
        "keda.minReplicaCount must be <=",
        "config.extra.SMARTPAPERS_LOG_LEVEL is rendered by the chart: set config.log.level",
    ):
        assert message in out


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


# --------------------------------------------------------------------------- config rollout


def test_checksum_annotation_rolls_pods_on_config_change() -> None:
    def checksums(sets: list[str]) -> set[str]:
        docs = render([MINIMAL], sets=sets)
        return {
            d["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            for d in by_kind(docs, "Deployment")
        }

    base = checksums([])
    assert len(base) == 1, "API and worker must carry the same config checksum"
    assert re.fullmatch(r"[0-9a-f]{64}", next(iter(base)))
    assert checksums(["config.log.level=DEBUG"]) != base
    assert checksums(["config.sqs.visibilityTimeoutSeconds=90"]) != base
    assert checksums(["api.replicaCount=3"]) == base


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


def test_labels_follow_helm_conventions() -> None:
    for obj in render([EVERYTHING]):
        labels = obj["metadata"]["labels"]
        for key in (
            "helm.sh/chart",
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/managed-by",
            "app.kubernetes.io/version",
            "app.kubernetes.io/component",
        ):
            assert key in labels, f"{obj['kind']}/{obj['metadata']['name']} lacks {key}"
        assert labels["team"] == "platform"  # commonLabels
        assert len(obj["metadata"]["name"]) <= 63


def test_long_release_names_stay_valid() -> None:
    docs = render([MINIMAL], release="a" * 53)
    for obj in docs:
        assert len(obj["metadata"]["name"]) <= 63, obj["metadata"]["name"]


# --------------------------------------------------------------------------- monitoring


def test_monitoring_objects_wrap_the_observability_files() -> None:
    docs = render([EVERYTHING])
    rules_file = yaml.safe_load((CHART / "files" / "prometheus" / "rules.yaml").read_text())
    rule = one(docs, "PrometheusRule")
    assert rule["spec"]["groups"] == rules_file["groups"]
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    dash = one(docs, "ConfigMap", "-dashboards")
    assert dash["metadata"]["labels"]["grafana.example.com/dashboard"] == "true"
    files = sorted((CHART / "files" / "dashboards").glob("*.json"))
    assert files and set(dash["data"]) == {f.name for f in files}
    for f in files:
        assert yaml.safe_load(dash["data"][f.name]) == yaml.safe_load(f.read_text())
    default = one(render([MINIMAL]), "ConfigMap", "-dashboards")
    assert default["metadata"]["labels"]["grafana_dashboard"] == "1"
    for kind in ("ServiceMonitor", "PodMonitor"):
        assert one(docs, kind)["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    relabel = one(docs, "PodMonitor")["spec"]["podMetricsEndpoints"][0]["relabelings"][0]
    assert relabel["replacement"] == one(docs, "Deployment", "-worker")["metadata"]["name"]


def test_queue_bootstrap_hook() -> None:
    docs = render([KIND])
    job = one(docs, "Job", "-queue-bootstrap")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    c = job["spec"]["template"]["spec"]["containers"][0]
    assert c["command"] == ["smartpapers-queues", "create"]
    assert c["image"].startswith("smartpapers-worker:")
    env = env_of(c)
    settings = configmap_settings(docs)
    for key in (
        "SMARTPAPERS_SQS_QUEUE_NAME",
        "SMARTPAPERS_SQS_DLQ_NAME",
        "SMARTPAPERS_SQS_MAX_RECEIVE_COUNT",
        "SMARTPAPERS_SQS_VISIBILITY_TIMEOUT_SECONDS",
        "SMARTPAPERS_AWS_REGION",
        "SMARTPAPERS_SQS_ENDPOINT_URL",
    ):
        assert env[key]["value"] == settings[key]
    assert int(settings["SMARTPAPERS_SQS_MAX_RECEIVE_COUNT"]) >= 5
    assert not by_kind(render([MINIMAL]), "Job")


def test_helm_test_pod() -> None:
    docs = render([MINIMAL])
    pod = one(docs, "Pod", "-test-submission")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    c = pod["spec"]["containers"][0]
    assert c["command"] == ["python", "-c"]
    script = (CHART / "files" / "helm-test" / "submit_and_wait.py").read_text()
    assert c["args"] == [script]
    svc = one(docs, "Service", "-api")
    assert env_of(c)["SMARTPAPERS_TEST_BASE_URL"]["value"] == (
        f"http://{svc['metadata']['name']}.smartpapers.svc:{svc['spec']['ports'][0]['port']}"
    )


def test_image_digest_wins_over_tag() -> None:
    docs = render([EKS])
    api = one(docs, "Deployment", "-api")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert api == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/smartpapers-api@sha256:" + "0" * 64
    worker = one(docs, "Deployment", "-worker")["spec"]["template"]["spec"]["containers"][0][
        "image"
    ]
    assert worker.endswith("smartpapers-worker@sha256:" + "1" * 64)
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    default = one(render([MINIMAL]), "Deployment", "-api")["spec"]["template"]["spec"][
        "containers"
    ][0]["image"]
    assert default == f"ghcr.io/smartpapers/smartpapers-api:{chart['appVersion']}"


def test_notes_render() -> None:
    from .conftest import helm

    # `helm install` has no --api-versions: keda.force stands in for an installed KEDA.
    out = helm(
        "install",
        "smartpapers",
        str(CHART),
        "-f",
        str(MINIMAL),
        "--dry-run=client",
        "--namespace",
        "smartpapers",
        "--set",
        "keda.force=true",
    ).stdout
    assert "NOTES:" in out
    assert "KEDA ScaledObject smartpapers-worker: 1..20 replicas" in out
    no_keda = helm(
        "install",
        "smartpapers",
        str(CHART),
        "-f",
        str(MINIMAL),
        "--dry-run=client",
        "--namespace",
        "smartpapers",
    ).stdout
    assert "NO ScaledObject was created" in no_keda


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["type"] == "application"
    assert Path(CHART / "values.schema.json").is_file()
    assert Path(CHART / "templates" / "NOTES.txt").is_file()
