"""Helpers shared by the chart_hardening test modules."""

from __future__ import annotations

import os
import re
from typing import Any, TypeVar

import pytest
from pydantic_settings import BaseSettings

from smartpapers.api.settings import Settings

from .conftest import (
    CHART,
    configmap_settings,
    containers,
    one,
    pod_spec,
)

MINIMAL = CHART / "ci" / "minimal-values.yaml"
KIND = CHART / "ci" / "kind-dev-values.yaml"
EVERYTHING = CHART / "ci" / "everything-on-values.yaml"
EKS = CHART / "ci" / "eks-pod-identity-values.yaml"
NP_ON = "networkPolicy.enabled=true"

AWS_KEY_ID = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
URI_WITH_CREDENTIALS = re.compile(r"(?i)mongodb(\+srv)?://|://[^/\s:@]+:[^/\s@]+@")
STATIC_AWS_ENV = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}

DNS_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
DNS_RULE = {
    "to": [DNS_PEER],
    "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
}
POD_IDENTITY_RULE = {
    "to": [{"ipBlock": {"cidr": "169.254.170.23/32"}}, {"ipBlock": {"cidr": "fd00:ec2::23/128"}}],
    "ports": [{"port": 80, "protocol": "TCP"}],
}
MONITORING_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
}
INGRESS_NGINX_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
    "podSelector": {},
}


def tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"port": p, "protocol": "TCP"} for p in ports]


def all_containers(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for obj in docs:
        spec = pod_spec(obj)
        if spec is not None:
            for c in containers(spec):
                out.append((f"{obj['kind']}/{obj['metadata']['name']}/{c['name']}", c))
    return out


def api_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    c: dict[str, Any] = one(docs, "Deployment", "-api")["spec"]["template"]["spec"]["containers"][0]
    return c


def worker_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    spec = one(docs, "Deployment", "-worker")["spec"]["template"]["spec"]
    c: dict[str, Any] = spec["containers"][0]
    return c


S = TypeVar("S", bound=BaseSettings)


def container_settings(
    docs: list[dict[str, Any]],
    container: dict[str, Any],
    cls: type[S],
    monkeypatch: pytest.MonkeyPatch,
) -> S:
    """A service's Settings built from what its container sees: the ConfigMap (envFrom) and
    the literal env values (secret references stand in as a placeholder URI)."""
    for key in list(os.environ):
        if key.startswith("SMARTPAPERS_"):
            monkeypatch.delenv(key)
    env = dict(configmap_settings(docs))
    for e in container.get("env", []):
        env[e["name"]] = e.get("value", "mongodb://from-secret")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return cls()


def api_settings(docs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> Settings:
    return container_settings(docs, api_container(docs), Settings, monkeypatch)


def netpols(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    return one(docs, "NetworkPolicy", "-api"), one(docs, "NetworkPolicy", "-worker")
