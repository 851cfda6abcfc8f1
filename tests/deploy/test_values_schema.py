"""values.schema.json: covers every value, accepts the shipped values, rejects bad ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from .conftest import CHART, CI_VALUES, ci_id, render_fails

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
DEFAULTS = yaml.safe_load((CHART / "values.yaml").read_text())
MINIMAL = CHART / "ci" / "minimal-values.yaml"


def _leaves(node: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(node, dict) and node:
        out = []
        for k, v in node.items():
            out += _leaves(v, (*path, k))
        return out
    return [path]


def _schema_at(path: tuple[str, ...]) -> dict[str, Any]:
    node: dict[str, Any] = SCHEMA
    for key in path:
        props = node.get("properties", {})
        if key in props:
            node = props[key]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        elif node.get("type") == "object" and "properties" not in node:
            return node  # free-form map (labels, annotations, affinity, ...)
        else:
            raise AssertionError(f"values path {'.'.join(path)} is not described by the schema")
    return node


def test_schema_is_valid_draft7() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)


def test_every_value_is_described_by_the_schema() -> None:
    leaves = _leaves(DEFAULTS)
    assert len(leaves) > 150
    for path in leaves:
        node = _schema_at(path)
        assert (
            node.get("type")
            or node.get("oneOf")
            or node.get("enum")
            or node.get("const") is not None
        ), path


def test_every_schema_property_exists_in_values_yaml() -> None:
    """No schema-only keys: values.yaml documents every setting."""

    def walk(schema: dict[str, Any], values: Any, path: str) -> None:
        for key, sub in schema.get("properties", {}).items():
            if key == "global":
                continue
            assert isinstance(values, dict) and key in values, (
                f"{path}{key} missing from values.yaml"
            )
            if sub.get("additionalProperties") is False:
                walk(sub, values[key], f"{path}{key}.")

    walk(SCHEMA, DEFAULTS, "")


@pytest.mark.parametrize("values", CI_VALUES, ids=ci_id)
def test_shipped_values_validate(values: Path) -> None:
    jsonschema.Draft7Validator(SCHEMA).validate(DEFAULTS)
    merged = _merge(DEFAULTS, yaml.safe_load(values.read_text()))
    jsonschema.Draft7Validator(SCHEMA).validate(merged)


def _merge(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = _merge(a.get(k), v) if k in a else v
        return out
    return b


BAD_VALUES = [
    ("keda.maxReplicaCount=0", "/keda/maxReplicaCount"),
    ("keda.minReplicaCount=-1", "/keda/minReplicaCount"),
    ("keda.scaleOnInFlight=maybe", "/keda/scaleOnInFlight"),
    ("keda.authentication.mode=static", "/keda/authentication/mode"),
    (
        "keda.authentication.podIdentity.roleArn=not-an-arn",
        "/keda/authentication/podIdentity/roleArn",
    ),
    ("config.auth.mode=basic", "/config/auth/mode"),
    ("config.log.format=xml", "/config/log/format"),
    ("config.sqs.waitTimeSeconds=30", "/config/sqs/waitTimeSeconds"),
    ("config.sqs.maxReceiveCount=1", "/config/sqs/maxReceiveCount"),
    ("config.sqs.queueUrl=sqs-queue", "/config/sqs/queueUrl"),
    ("config.sqs.region=Europe", "/config/sqs/region"),
    # (helm v4 reports propertyNames errors at a wrong JSON pointer; match the name instead)
    (
        "config.extra.SMARTPAPERS_MONGO_URI=mongodb://u:p@h",
        "invalid propertyName 'SMARTPAPERS_MONGO_URI'",
    ),
    ("config.extra.OTHER_SETTING=1", "invalid propertyName 'OTHER_SETTING'"),
    ("config.mongo.uri=mongodb://u:p@h", "/config/mongo"),
    ("api.image.digest=latest", "/api/image/digest"),
    ("api.image.pullPolicy=Sometimes", "/api/image/pullPolicy"),
    ("api.port=80", "/api/port"),
    ("api.replicaCount=0", "/api/replicaCount"),
    ("api.service.type=ExternalName", "/api/service/type"),
    ("api.resources.requests.cpu=lots", "/api/resources/requests/cpu"),
    ("worker.concurrency=0", "/worker/concurrency"),
    ("worker.podAntiAffinityPreset=maybe", "/worker/podAntiAffinityPreset"),
    ("podSecurityContext.runAsNonRoot=false", "/podSecurityContext/runAsNonRoot"),
    (
        "containerSecurityContext.allowPrivilegeEscalation=true",
        "/containerSecurityContext/allowPrivilegeEscalation",
    ),
    ("containerSecurityContext.privileged=true", "/containerSecurityContext/privileged"),
    ("monitoring.serviceMonitor.interval=often", "/monitoring/serviceMonitor/interval"),
    ("networkPolicy.mongo.ports[0]=70000", "/networkPolicy/mongo/ports/0"),
    ("tests.timeoutSeconds=1", "/tests/timeoutSeconds"),
    ("unknownTopLevel=1", "unknownTopLevel"),
    ("worker.replicas=3", "replicas"),
]


@pytest.mark.parametrize("setting,where", BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_schema_rejects_bad_values(setting: str, where: str) -> None:
    err = render_fails([MINIMAL], [setting])
    assert "values don't meet the specifications of the schema" in err, err
    assert where in err, err


def test_schema_rejects_capabilities_added() -> None:
    err = render_fails([MINIMAL], ["containerSecurityContext.capabilities.add[0]=SYS_ADMIN"])
    assert "/containerSecurityContext/capabilities/add/0" in err
