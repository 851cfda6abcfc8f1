"""Chart policy, conventions: a config change rolls the pods (checksum annotation), Helm's
recommended labels and 63-character names, image digests over tags, the NOTES and the
chart's metadata."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from .conftest import CHART, by_kind, one, render
from .policy import EKS, EVERYTHING, MINIMAL

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


# --------------------------------------------------------------------------- labels and names


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


# --------------------------------------------------------------------------- images and metadata


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
