"""skaffold.yaml (schema v4beta13) and the kind dev environment, checked offline."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from .conftest import CHART, REPO, by_kind, configmap_settings, one, render

SCHEMA = Path(__file__).parent / "schemas" / "skaffold-v4beta13.json"
SKAFFOLD = [d for d in yaml.safe_load_all((REPO / "skaffold.yaml").read_text()) if d]
CONFIGS = {d["metadata"]["name"]: d for d in SKAFFOLD}
DEV_DEPS = [d for d in yaml.safe_load_all((REPO / "deploy/kind/dev-deps.yaml").read_text()) if d]
KIND_VALUES = CHART / "ci" / "kind-dev-values.yaml"


def test_skaffold_matches_the_official_v4beta13_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    for doc in SKAFFOLD:
        errors = [e.message for e in validator.iter_errors(doc)]
        assert not errors, (doc["metadata"]["name"], errors)
    broken = yaml.safe_load(yaml.safe_dump(CONFIGS["smartpapers"]))
    broken["deploy"]["helm"]["releases"][0]["valueFiles"] = []  # typo: valuesFiles
    assert list(validator.iter_errors(broken)), "schema must reject unknown fields"


def test_the_vendored_schema_is_the_one_skaffold_ships() -> None:
    """schemas/refresh.sh copies it from skaffold's Go module and pins its sha256."""
    script = (SCHEMA.parent / "refresh.sh").read_text()
    pinned = re.search(r'^SCHEMA_SHA256="([0-9a-f]{64})"$', script, re.M)
    assert pinned, "no SCHEMA_SHA256 in tests/deploy/schemas/refresh.sh"
    assert 'SCHEMA="v4beta13"' in script and "skaffold/v2@v2.16.1" in script
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == pinned[1], (
        "skaffold-v4beta13.json differs from skaffold's: run tests/deploy/schemas/refresh.sh"
    )


def test_skaffold_structure() -> None:
    assert all(d["apiVersion"] == "skaffold/v4beta13" and d["kind"] == "Config" for d in SKAFFOLD)
    assert list(CONFIGS) == ["dev-deps", "keda", "smartpapers"]
    app = CONFIGS["smartpapers"]
    assert app["requires"] == [{"configs": ["dev-deps", "keda"]}]
    for d in SKAFFOLD:
        assert d["deploy"]["kubeContext"] == "kind-smartpapers"
    arts = {a["image"]: a for a in app["build"]["artifacts"]}
    assert set(arts) == {"smartpapers-api", "smartpapers-worker"}
    for image, art in arts.items():
        assert art["context"] == "."
        assert (REPO / art["docker"]["dockerfile"]).is_file()
        assert (
            art["docker"]["dockerfile"]
            == f"services/{image.removeprefix('smartpapers-')}/Dockerfile"
        )
    assert app["build"]["local"]["push"] is False
    (rel,) = app["deploy"]["helm"]["releases"]
    assert (REPO / rel["chartPath"] / "Chart.yaml").is_file()
    for f in rel["valuesFiles"]:
        assert (REPO / f).is_file()
    tmpl = rel["setValueTemplates"]
    assert set(tmpl) == {
        "api.image.repository",
        "api.image.tag",
        "worker.image.repository",
        "worker.image.tag",
    }
    for key, value in tmpl.items():
        assert "DIGEST" not in value, "no digests on kind"
        comp = key.split(".")[0]
        field = "TAG" if key.endswith(".tag") else "REPO"
        assert value == f"{{{{.IMAGE_{field}_smartpapers_{comp}}}}}"
    (keda,) = CONFIGS["keda"]["deploy"]["helm"]["releases"]
    assert keda["remoteChart"] == "keda" and re.fullmatch(r"\d+\.\d+\.\d+", keda["version"])
    assert (REPO / keda["valuesFiles"][0]).is_file()
    assert CONFIGS["dev-deps"]["manifests"]["rawYaml"] == ["deploy/kind/dev-deps.yaml"]


def test_port_forward_targets_the_rendered_api_service() -> None:
    rel = CONFIGS["smartpapers"]["deploy"]["helm"]["releases"][0]
    docs = render(
        [REPO / f for f in rel["valuesFiles"]], release=rel["name"], namespace=rel["namespace"]
    )
    svc = one(docs, "Service", "-api")
    (pf,) = CONFIGS["smartpapers"]["portForward"]
    assert pf["resourceType"] == "service"
    assert pf["resourceName"] == svc["metadata"]["name"]
    assert pf["namespace"] == rel["namespace"]
    assert pf["port"] == svc["spec"]["ports"][0]["port"]
    assert pf["address"] == "127.0.0.1" and pf["localPort"] == 8000


def test_kind_cluster_config() -> None:
    cfg = yaml.safe_load((REPO / "deploy/kind/cluster.yaml").read_text())
    assert cfg["apiVersion"] == "kind.x-k8s.io/v1alpha4" and cfg["kind"] == "Cluster"
    assert f"kind-{cfg['name']}" == CONFIGS["smartpapers"]["deploy"]["kubeContext"]
    assert {n["role"] for n in cfg["nodes"]} == {"control-plane", "worker"}


def test_dev_dependencies_validate_and_match_the_kind_values() -> None:
    for obj in DEV_DEPS:
        kubernetes_validate.validate(obj, "1.33.0", strict=True)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in DEV_DEPS}
    assert {
        ("Deployment", "mongo"),
        ("Deployment", "elasticmq"),
        ("Service", "mongo"),
        ("Service", "elasticmq"),
    } <= kinds
    images = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
        for d in DEV_DEPS
        if d["kind"] == "Deployment"
    }
    assert images["mongo"].startswith("mongo:")
    elasticmq_version = re.search(
        r'ELASTICMQ_VERSION="([^"]+)"', (REPO / "scripts/install-tools.sh").read_text()
    )
    assert (
        elasticmq_version
        and images["elasticmq"] == f"softwaremill/elasticmq-native:{elasticmq_version.group(1)}"
    )

    rel = CONFIGS["smartpapers"]["deploy"]["helm"]["releases"][0]
    docs = render([KIND_VALUES], release=rel["name"], namespace=rel["namespace"])
    settings = configmap_settings(docs)
    svc_host = "elasticmq.smartpapers-dev.svc.cluster.local"
    assert settings["SMARTPAPERS_SQS_ENDPOINT_URL"] == f"http://{svc_host}:9324"
    assert (
        settings["SMARTPAPERS_SQS_QUEUE_URL"]
        == f"http://{svc_host}:9324/000000000000/{settings['SMARTPAPERS_SQS_QUEUE_NAME']}"
    )
    conf = next(d for d in DEV_DEPS if d["kind"] == "ConfigMap")["data"]["elasticmq.conf"]
    assert f'host = "{svc_host}"' in conf and "accountId = 000000000000" in conf
    # the Secrets the chart references exist, in the release namespace, with the keys it reads
    secrets = {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d["stringData"]
        for d in DEV_DEPS
        if d["kind"] == "Secret"
    }
    values = yaml.safe_load(KIND_VALUES.read_text())
    mongo = secrets[(rel["namespace"], values["config"]["mongo"]["existingSecret"])]
    assert values["config"]["mongo"]["existingSecretKey"] in mongo
    assert (
        "mongo.smartpapers-dev.svc.cluster.local:27017"
        in mongo[values["config"]["mongo"]["existingSecretKey"]]
    )
    aws = secrets[(rel["namespace"], values["awsEmulatorCredentials"]["existingSecret"])]
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(aws)
    # restricted Pod Security is enforced in the release namespace on kind
    ns = next(
        d
        for d in DEV_DEPS
        if d["kind"] == "Namespace" and d["metadata"]["name"] == rel["namespace"]
    )
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # images are referenced by tag (what skaffold loads into kind), no digest
    for dep in by_kind(docs, "Deployment"):
        image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
        assert "@" not in image and image.split(":")[0] in ("smartpapers-api", "smartpapers-worker")


def _dev_pod_specs() -> list[dict[str, Any]]:
    return [d["spec"]["template"]["spec"] for d in DEV_DEPS if d["kind"] == "Deployment"]


def test_dev_dependencies_are_hardened() -> None:
    for spec in _dev_pod_specs():
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["automountServiceAccountToken"] is False
        for c in spec["containers"]:
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
            assert "limits" in c["resources"]
