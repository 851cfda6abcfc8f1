"""Chart hardening: the NetworkPolicies (opt-in; ingress only from the ingress controller and
scrapers; egress only DNS, MongoDB, SQS, credentials and the JWKS)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from .conftest import (
    ALL_APIS,
    CI_VALUES,
    by_kind,
    ci_id,
    matches,
    one,
    render,
)
from .hardening import (
    DNS_RULE,
    EVERYTHING,
    INGRESS_NGINX_PEER,
    KIND,
    MINIMAL,
    MONITORING_PEER,
    NP_ON,
    POD_IDENTITY_RULE,
    api_container,
    netpols,
    tcp,
)
from .test_chart_render import validate_object

# --------------------------------------------------------------------------- NetworkPolicy


def test_network_policies_are_opt_in() -> None:
    assert not by_kind(render([MINIMAL]), "NetworkPolicy")
    # API, worker and the helm test pod (tests are on in the minimal values)
    assert len(by_kind(render([MINIMAL], sets=[NP_ON]), "NetworkPolicy")) == 3


def test_api_ingress_only_from_the_ingress_controller_and_scrapers() -> None:
    docs = render([MINIMAL], sets=[NP_ON])
    api, _ = netpols(docs)
    test_pod = one(docs, "Pod", "-test-submission")
    test_peer = {
        "podSelector": {
            "matchLabels": {
                "app.kubernetes.io/name": "smartpapers",
                "app.kubernetes.io/instance": "smartpapers",
                "app.kubernetes.io/component": "test",
            }
        }
    }
    assert api["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert api["spec"]["ingress"] == [
        {"from": [INGRESS_NGINX_PEER, test_peer], "ports": [{"port": "http", "protocol": "TCP"}]},
        {"from": [MONITORING_PEER], "ports": [{"port": "http", "protocol": "TCP"}]},
    ]
    # the helm test pod (same namespace, no namespaceSelector) is the one the peer selects
    labels = test_pod["metadata"]["labels"]
    assert all(labels[k] == v for k, v in test_peer["podSelector"]["matchLabels"].items())
    assert test_pod["metadata"]["namespace"] == api["metadata"]["namespace"]
    # and the API port is the container's port named http
    ports = api_container(docs)["ports"]
    assert [p["name"] for p in ports] == ["http"]


def test_api_ingress_without_the_helm_test_pod() -> None:
    api, _ = netpols(render([MINIMAL], sets=[NP_ON, "tests.enabled=false"]))
    assert api["spec"]["ingress"][0]["from"] == [INGRESS_NGINX_PEER]


def test_ingress_controller_selectors_by_values() -> None:
    api, _ = netpols(
        render(
            [MINIMAL],
            sets=[
                NP_ON,
                "tests.enabled=false",
                "networkPolicy.ingressController.namespaceSelector.matchLabels.team=edge",
                "networkPolicy.ingressController.podSelector.matchLabels.app=traefik",
            ],
        )
    )
    assert api["spec"]["ingress"][0]["from"] == [
        {
            "namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx", "team": "edge"}
            },
            "podSelector": {"matchLabels": {"app": "traefik"}},
        }
    ]
    # no controller (ALB in IP mode): only the configured ipBlock
    api, _ = netpols(
        render(
            [MINIMAL],
            sets=[
                NP_ON,
                "tests.enabled=false",
                "networkPolicy.ingressController.namespaceSelector=null",
                "networkPolicy.apiIngressFrom[0].ipBlock.cidr=10.0.0.0/16",
            ],
        )
    )
    assert api["spec"]["ingress"][0]["from"] == [{"ipBlock": {"cidr": "10.0.0.0/16"}}]
    # nobody may reach the API port: the rule disappears (it never becomes allow-all)
    api, _ = netpols(
        render(
            [MINIMAL],
            sets=[
                NP_ON,
                "tests.enabled=false",
                "networkPolicy.ingressController.namespaceSelector=null",
                "networkPolicy.metricsIngressFrom=null",
            ],
        )
    )
    assert api["spec"]["ingress"] == []


def test_worker_accepts_only_metrics_scrapes() -> None:
    docs = render([MINIMAL], sets=[NP_ON])
    _, worker = netpols(docs)
    assert worker["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert worker["spec"]["ingress"] == [
        {"from": [MONITORING_PEER], "ports": [{"port": "metrics", "protocol": "TCP"}]}
    ]
    c = one(docs, "Deployment", "-worker")["spec"]["template"]["spec"]["containers"][0]
    assert [p["name"] for p in c["ports"]] == ["metrics"]
    _, worker = netpols(render([MINIMAL], sets=[NP_ON, "networkPolicy.metricsIngressFrom=null"]))
    assert worker["spec"]["ingress"] == []


def test_egress_on_aws_is_dns_mongo_sqs_credentials_and_jwks() -> None:
    api, worker = netpols(render([MINIMAL], sets=[NP_ON]))
    base = [DNS_RULE, {"ports": tcp(27017)}, {"ports": tcp(443)}, POD_IDENTITY_RULE]
    assert worker["spec"]["egress"] == base
    assert api["spec"]["egress"] == [*base, {"ports": tcp(443)}]  # + JWKS


def test_egress_to_the_sqs_emulator_port() -> None:
    api, worker = netpols(render([KIND], sets=[NP_ON]))
    base = [DNS_RULE, {"ports": tcp(27017)}, {"ports": tcp(9324)}]
    # no 443 (no AWS, auth mode none: no JWKS) and no credential agent
    assert worker["spec"]["egress"] == base
    assert api["spec"]["egress"] == base


@pytest.mark.parametrize(
    "url,port",
    [
        ("https://sso.example.edu:8443/realms/exams/protocol/openid-connect/certs", 8443),
        ("http://keycloak.auth.svc.cluster.local:8080/realms/exams/certs", 8080),
        ("http://keycloak.auth.svc.cluster.local/certs", 80),
        ("https://auth.example.com/.well-known/jwks.json", 443),
    ],
)
def test_jwks_egress_port_follows_the_url(url: str, port: int) -> None:
    api, worker = netpols(render([MINIMAL], sets=[NP_ON, f"config.auth.jwt.jwksUrl={url}"]))
    assert api["spec"]["egress"][-1] == {"ports": tcp(port)}
    # the worker never talks to the OIDC provider
    assert worker["spec"]["egress"] == [
        DNS_RULE,
        {"ports": tcp(27017)},
        {"ports": tcp(443)},
        POD_IDENTITY_RULE,
    ]


def test_egress_peers_by_values() -> None:
    docs = render([EVERYTHING])
    values = yaml.safe_load(EVERYTHING.read_text())["networkPolicy"]
    api, worker = netpols(docs)
    for np in (api, worker):
        rules = np["spec"]["egress"]
        assert {"ports": tcp(27017), "to": values["mongo"]["to"]} in rules
        assert {"ports": tcp(443), "to": values["sqs"]["to"]} in rules
        assert rules[-1] == values["extraEgress"][0]
    assert api["spec"]["ingress"][0]["from"][:2] == [
        {
            "namespaceSelector": values["ingressController"]["namespaceSelector"],
            "podSelector": values["ingressController"]["podSelector"],
        },
        *values["apiIngressFrom"],
    ]
    _, worker = netpols(render([MINIMAL], sets=[NP_ON, "networkPolicy.eksPodIdentityAgent=false"]))
    assert POD_IDENTITY_RULE not in worker["spec"]["egress"]


def _np_renders() -> list[tuple[str, list[dict[str, Any]]]]:
    return [(ci_id(v), render([v], sets=[NP_ON], api_versions=ALL_APIS)) for v in CI_VALUES]


NP_RENDERS = _np_renders()


@pytest.mark.parametrize("name,docs", NP_RENDERS, ids=[r[0] for r in NP_RENDERS])
def test_network_policies_never_allow_everything(name: str, docs: list[dict[str, Any]]) -> None:
    policies = by_kind(docs, "NetworkPolicy")
    # API and worker, plus one each for the helm test pod and the queue-bootstrap hook
    hooks = sum(1 for kind in ("Pod", "Job") if by_kind(docs, kind))
    assert len(policies) == 2 + hooks, [np["metadata"]["name"] for np in policies]
    for np in policies:
        where = np["metadata"]["name"]
        assert not validate_object(np), where
        spec = np["spec"]
        assert spec["policyTypes"] == ["Ingress", "Egress"], where
        for rule in spec["ingress"]:
            # a rule without `from` admits every source, without `ports` every port
            assert rule.get("from") and rule.get("ports"), where
        for rule in spec["egress"]:
            assert rule.get("ports"), f"{where}: egress rule without ports opens every port"
        peers = [p for r in spec["ingress"] for p in r["from"]] + [
            p for r in spec["egress"] for p in r.get("to", [])
        ]
        for peer in peers:
            assert peer.get("ipBlock", {}).get("cidr") not in ("0.0.0.0/0", "::/0"), where
            assert not (peer.get("namespaceSelector") == {} and not peer.get("podSelector")), (
                f"{where}: a peer selecting every namespace"
            )
        assert DNS_RULE in spec["egress"], where
        ports = {(p["port"], p["protocol"]) for r in spec["egress"] for p in r["ports"]}
        assert (53, "UDP") in ports and (53, "TCP") in ports
        for rule in spec["egress"]:
            if any(p["port"] == 80 for p in rule["ports"]):
                assert rule == POD_IDENTITY_RULE, f"{where}: port 80 only to the credential agent"


def test_the_test_pod_and_the_bootstrap_hook_have_their_own_policies() -> None:
    docs = render([EVERYTHING], sets=[NP_ON])
    api_port = {"port": "http", "protocol": "TCP"}
    test = one(docs, "NetworkPolicy", "-test")
    pod = one(docs, "Pod", "-test-submission")
    assert matches(test["spec"]["podSelector"]["matchLabels"], pod["metadata"]["labels"])
    api = one(docs, "Deployment", "-api")["spec"]["template"]["metadata"]["labels"]
    assert test["spec"]["ingress"] == []
    # DNS, then the API pods' HTTP port: nothing else, not even MongoDB or SQS
    assert test["spec"]["egress"][0] == DNS_RULE
    (to_api,) = test["spec"]["egress"][1:]
    assert to_api["ports"] == [api_port]
    (peer,) = to_api["to"]
    assert set(peer) == {"podSelector"} and matches(peer["podSelector"]["matchLabels"], api)

    boot = one(docs, "NetworkPolicy", "-queue-bootstrap")
    job = one(docs, "Job", "-queue-bootstrap")
    assert matches(
        boot["spec"]["podSelector"]["matchLabels"], job["spec"]["template"]["metadata"]["labels"]
    )
    assert boot["spec"]["ingress"] == []
    ports = {p["port"] for r in boot["spec"]["egress"] for p in r["ports"]}
    assert 27017 not in ports and 443 in ports and 53 in ports  # SQS, never MongoDB

    # no hook, no policy
    off = render([EVERYTHING], sets=[NP_ON, "tests.enabled=false", "queueBootstrap.enabled=false"])
    assert {np["metadata"]["name"] for np in by_kind(off, "NetworkPolicy")} == {
        one(off, "NetworkPolicy", "-api")["metadata"]["name"],
        one(off, "NetworkPolicy", "-worker")["metadata"]["name"],
    }
