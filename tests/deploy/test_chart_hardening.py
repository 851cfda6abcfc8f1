"""Deployment hardening: auth/abuse settings, NetworkPolicies, no static AWS keys, no
MongoDB URI outside Secrets (docs/deploy.md, "Hardening").

The ConfigMap is checked twice: key by key, and by building the API's real ``Settings``
from the env a container would see, so a value the API cannot parse fails here.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from smartpapers.api.settings import Settings

from .conftest import (
    ALL_APIS,
    CHART,
    CI_VALUES,
    REPO,
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
    render_text,
)
from .test_chart_render import validate_object

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


def api_settings(docs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The API's Settings built from what its container sees: the ConfigMap (envFrom) and the
    literal env values (secret references stand in as a placeholder URI)."""
    for key in list(os.environ):
        if key.startswith("SMARTPAPERS_"):
            monkeypatch.delenv(key)
    env = dict(configmap_settings(docs))
    for e in api_container(docs).get("env", []):
        env[e["name"]] = e.get("value", "mongodb://from-secret")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


def netpols(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    return one(docs, "NetworkPolicy", "-api"), one(docs, "NetworkPolicy", "-worker")


# --------------------------------------------------------------------------- auth / abuse settings


def test_auth_and_abuse_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render([MINIMAL])
    cm = configmap_settings(docs)
    assert {
        k: v for k, v in cm.items() if k.startswith(("SMARTPAPERS_JWT_", "SMARTPAPERS_RATE_"))
    } == {
        "SMARTPAPERS_JWT_JWKS_URL": "https://auth.example.com/.well-known/jwks.json",
        "SMARTPAPERS_JWT_ISSUER": "https://auth.example.com/",
        "SMARTPAPERS_JWT_AUDIENCE": "smartpapers",
        "SMARTPAPERS_JWT_ALGORITHMS": '["RS256"]',
        "SMARTPAPERS_JWT_STAFF_CLAIM": "roles",
        "SMARTPAPERS_JWT_STAFF_ROLE": "staff",
        "SMARTPAPERS_JWT_INSTITUTE_CLAIM": "institute",
        # limits themselves are left to the API's per-mode defaults (null in values.yaml)
        "SMARTPAPERS_RATE_LIMIT_WINDOW_SECONDS": "60",
    }
    assert cm["SMARTPAPERS_AUTH_MODE"] == "jwt"
    assert cm["SMARTPAPERS_API_CORS_ORIGINS"] == "[]"
    assert cm["SMARTPAPERS_API_DOCS_ENABLED"] == "false"
    assert cm["SMARTPAPERS_API_LIMIT_CONCURRENCY"] == "1000"
    s = api_settings(docs, monkeypatch)
    assert s.auth_mode == "jwt" and s.jwt_config_problems() == []
    assert s.jwt_algorithms == ["RS256"]
    assert (s.jwt_staff_claim, s.jwt_staff_role, s.jwt_institute_claim) == (
        "roles",
        "staff",
        "institute",
    )
    assert (s.submissions_limit, s.status_polls_limit, s.rate_limit_window_seconds) == (30, 120, 60)
    assert s.api_cors_origins == [] and s.api_docs_enabled is False
    assert s.api_limit_concurrency == 1000


def test_auth_and_abuse_values_reach_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render([EVERYTHING])
    s = api_settings(docs, monkeypatch)
    assert s.jwt_algorithms == ["RS256", "ES256"]
    assert (s.jwt_staff_claim, s.jwt_staff_role, s.jwt_institute_claim) == (
        "realm_access.roles",
        "teacher",
        "institute_id",
    )
    # 0 is "off", not "unset": it must be rendered
    assert (s.submissions_limit, s.status_polls_limit, s.rate_limit_window_seconds) == (20, 0, 120)
    assert s.api_cors_origins == ["https://papers.example.com", "http://localhost:5173"]
    assert s.api_docs_enabled is True and s.api_limit_concurrency == 500
    cm = configmap_settings(docs)
    assert json.loads(cm["SMARTPAPERS_API_CORS_ORIGINS"]) == s.api_cors_origins
    assert cm["SMARTPAPERS_RATE_LIMIT_STATUS_POLLS"] == "0"


def test_unset_limits_are_left_out() -> None:
    cm = configmap_settings(render([MINIMAL], sets=["config.api.limitConcurrency=null"]))
    assert "SMARTPAPERS_API_LIMIT_CONCURRENCY" not in cm
    assert "SMARTPAPERS_RATE_LIMIT_SUBMISSIONS" not in cm
    cm = configmap_settings(render([MINIMAL], sets=["config.rateLimit.submissions=0"]))
    assert cm["SMARTPAPERS_RATE_LIMIT_SUBMISSIONS"] == "0"


@pytest.mark.parametrize("values", CI_VALUES, ids=ci_id)
def test_every_ci_file_gives_settings_the_api_accepts(
    values: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render([values])
    s = api_settings(docs, monkeypatch)
    if s.auth_mode == "jwt":
        assert s.jwt_config_problems() == []
        assert s.jwt_jwks_url.startswith("https://")
    else:
        # local clusters only: no JWT settings rendered at all
        assert values == KIND
        assert not [k for k in configmap_settings(docs) if k.startswith("SMARTPAPERS_JWT_")]


@pytest.mark.parametrize("values", [MINIMAL, EKS], ids=ci_id)
def test_production_values_use_jwt_without_docs(values: Path) -> None:
    cm = configmap_settings(render([values]))
    assert cm["SMARTPAPERS_AUTH_MODE"] == "jwt"
    assert cm["SMARTPAPERS_API_DOCS_ENABLED"] == "false"
    assert cm["SMARTPAPERS_API_CORS_ORIGINS"] == "[]"


def test_cors_and_docs_changes_roll_the_pods() -> None:
    def checksum(sets: list[str]) -> str:
        api = one(render([MINIMAL], sets=sets), "Deployment", "-api")
        value: str = api["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        return value

    base = checksum([])
    assert checksum(["config.api.corsOrigins[0]=https://exams.example.edu"]) != base
    assert checksum(["config.api.docsEnabled=true"]) != base


@pytest.mark.parametrize("missing", ["jwksUrl", "issuer", "audience"])
def test_jwt_mode_without_its_settings_fails(missing: str) -> None:
    err = render_fails([MINIMAL], [f"config.auth.jwt.{missing}="])
    assert "config.auth.mode=jwt needs" in err
    assert f"(missing: config.auth.jwt.{missing})" in err


def test_jwt_mode_is_the_chart_default() -> None:
    """No auth values at all: the chart refuses to render rather than run without auth."""
    err = render_fails(
        sets=[
            "config.sqs.queueUrl=https://sqs.eu-west-1.amazonaws.com/1/q",
            "config.mongo.existingSecret=m",
        ]
    )
    assert (
        "missing: config.auth.jwt.jwksUrl, config.auth.jwt.issuer, config.auth.jwt.audience" in err
    )


@pytest.mark.parametrize(
    "key,value_path",
    [
        ("SMARTPAPERS_AUTH_MODE", "config.auth.mode"),
        ("SMARTPAPERS_JWT_STAFF_CLAIM", "config.auth.jwt.staffClaim"),
        ("SMARTPAPERS_JWT_ALGORITHMS", "config.auth.jwt.algorithms"),
        ("SMARTPAPERS_RATE_LIMIT_SUBMISSIONS", "config.rateLimit.submissions"),
        ("SMARTPAPERS_API_DOCS_ENABLED", "config.api.docsEnabled"),
        ("SMARTPAPERS_API_CORS_ORIGINS", "config.api.corsOrigins"),
        ("SMARTPAPERS_WORKER_CONCURRENCY", "worker.concurrency"),
    ],
)
def test_extra_cannot_shadow_a_chart_setting(key: str, value_path: str) -> None:
    err = render_fails([MINIMAL], [f"config.extra.{key}=x"])
    assert f"config.extra.{key} is rendered by the chart: set {value_path} instead" in err


def test_every_rendered_setting_is_protected_from_extra() -> None:
    """Each SMARTPAPERS_* key the chart renders (ConfigMap or literal env) is refused in
    config.extra, so a ConfigMap never carries a duplicate key and env never silently wins."""
    keys: set[str] = set()
    for values in (EVERYTHING, KIND):
        docs = render([values])
        vals = yaml.safe_load(values.read_text())
        extra = set(vals["config"].get("extra", {}))  # user-given: not the chart's own
        for component in ("api", "worker"):
            extra |= {e["name"] for e in vals.get(component, {}).get("extraEnv", [])}
        found = set(configmap_settings(docs))
        for _, c in all_containers(docs):
            found |= {e["name"] for e in c.get("env", []) if e["name"].startswith("SMARTPAPERS_")}
        keys |= {k for k in found - extra if not k.startswith("SMARTPAPERS_TEST_")}
    assert len(keys) > 30
    for key in sorted(keys):
        if key == "SMARTPAPERS_MONGO_URI":
            continue  # refused by the schema before rendering (test_values_schema)
        assert "is rendered by the chart" in render_fails([MINIMAL], [f"config.extra.{key}=1"]), key


BAD_VALUES = [
    ("config.auth.jwt.algorithms[0]=HS256", "/config/auth/jwt/algorithms/0"),
    ("config.auth.jwt.algorithms[0]=none", "/config/auth/jwt/algorithms/0"),
    ("config.auth.jwt.algorithms=null", "missing property 'algorithms'"),
    ("config.auth.jwt.staffRole=", "/config/auth/jwt/staffRole"),
    ("config.auth.jwt.staffClaim=has space", "/config/auth/jwt/staffClaim"),
    ("config.rateLimit.submissions=-1", "/config/rateLimit/submissions"),
    ("config.rateLimit.statusPolls=many", "/config/rateLimit/statusPolls"),
    ("config.rateLimit.windowSeconds=0", "/config/rateLimit/windowSeconds"),
    ("config.rateLimit.windowSeconds=3601", "/config/rateLimit/windowSeconds"),
    ("config.api.corsOrigins[0]=*", "/config/api/corsOrigins/0"),
    ("config.api.corsOrigins[0]=https://exams.example.edu/", "/config/api/corsOrigins/0"),
    ("config.api.corsOrigins[0]=exams.example.edu", "/config/api/corsOrigins/0"),
    ("config.api.docsEnabled=maybe", "/config/api/docsEnabled"),
    ("config.api.limitConcurrency=0", "/config/api/limitConcurrency"),
    ("networkPolicy.apiIngressFrom[0].everything=true", "/networkPolicy/apiIngressFrom/0"),
    ("networkPolicy.metricsIngressFrom[0].ipBlock.cidr=any", "/networkPolicy/metricsIngressFrom/0"),
    ("networkPolicy.extraEgress[0].to[0].ipBlock.cidr=0.0.0.0/0", "missing property 'ports'"),
    ("networkPolicy.dnsTo=null", "missing property 'dnsTo'"),
    ("networkPolicy.egressPorts[0]=443", "additional properties 'egressPorts'"),
    # credentials never go in values, whatever the key
    ("config.extra.SMARTPAPERS_FOO=mongodb+srv://u:p@cluster0.example.net", "/config/extra"),
    ("config.extra.SMARTPAPERS_FOO=https://u:p@example.com", "/config/extra"),
    ("config.extra.SMARTPAPERS_FOO=AKIAABCDEFGHIJKLMNOP", "/config/extra"),
]


@pytest.mark.parametrize("setting,where", BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_schema_rejects_bad_hardening_values(setting: str, where: str) -> None:
    err = render_fails([MINIMAL], [setting])
    assert "values don't meet the specifications of the schema" in err, err
    assert where in err, err


def test_schema_rejects_an_empty_algorithm_list(tmp_path: Path) -> None:
    f = tmp_path / "v.yaml"
    f.write_text(yaml.safe_dump({"config": {"auth": {"jwt": {"algorithms": []}}}}))
    assert "/config/auth/jwt/algorithms" in render_fails([MINIMAL, f])


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


# --------------------------------------------------------------------------- no static AWS keys


@pytest.mark.parametrize("api_versions", [(), ALL_APIS], ids=["plain", "crds"])
def test_eks_renders_no_secret_and_no_static_aws_credentials(
    api_versions: tuple[str, ...],
) -> None:
    docs = render([EKS], api_versions=api_versions)
    assert not by_kind(docs, "Secret")
    for where, c in all_containers(docs):
        assert not STATIC_AWS_ENV & set(env_of(c)), where
        assert not [e for e in c.get("envFrom", []) if "secretRef" in e], where
    for cm in by_kind(docs, "ConfigMap"):
        assert not [k for k in cm.get("data", {}) if k.startswith("AWS_")]
    for ta in by_kind(docs, "TriggerAuthentication"):
        assert set(ta["spec"]) == {"podIdentity"}
    for sa in by_kind(docs, "ServiceAccount"):
        assert not sa.get("secrets")


def key_material(text: str) -> list[str]:
    return AWS_KEY_ID.findall(text) + PRIVATE_KEY.findall(text)


@pytest.mark.parametrize("values", CI_VALUES, ids=ci_id)
def test_no_key_material_in_any_rendering(values: Path) -> None:
    for sets in ([], [NP_ON]):
        for api_versions in ((), ALL_APIS):
            text = render_text([values], sets=sets, api_versions=api_versions)
            assert not key_material(text), (values.name, sets, api_versions)


def test_the_key_scanner_finds_planted_keys() -> None:
    """The scan above can fail: a key smuggled in through an annotation is found."""
    text = render_text(
        [MINIMAL],
        sets=[
            "commonAnnotations.leak=AKIAIOSFODNN7EXAMPLE",
            "commonAnnotations.pem=-----BEGIN RSA PRIVATE KEY-----",
        ],
    )
    assert len(key_material(text)) >= 2


@pytest.mark.parametrize("values", CI_VALUES, ids=ci_id)
def test_mongo_uri_is_only_a_secret_reference(values: Path) -> None:
    vals = yaml.safe_load(values.read_text())["config"]["mongo"]
    secret = (vals["existingSecret"], vals.get("existingSecretKey", "mongo-uri"))
    for api_versions in ((), ALL_APIS):
        docs = render([values], api_versions=api_versions)
        seen = 0
        for where, c in all_containers(docs):
            for e in c.get("env", []):
                assert not URI_WITH_CREDENTIALS.search(str(e.get("value", ""))), where
            uri = env_of(c).get("SMARTPAPERS_MONGO_URI")
            if uri is None:
                continue
            seen += 1
            assert set(uri) == {"name", "valueFrom"}, where
            ref = uri["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == secret, where
        assert seen >= 2  # API and worker (and the bootstrap hook on kind)
        for cm in by_kind(docs, "ConfigMap"):
            for key, value in cm.get("data", {}).items():
                assert "MONGO_URI" not in key
                assert not URI_WITH_CREDENTIALS.search(value), f"{key} holds a URI"


@pytest.mark.parametrize(
    "sets,where",
    [
        (["config.mongo.uri=mongodb://u:p@h"], "/config/mongo"),
        (["config.extra.SMARTPAPERS_MONGO_URI=mongodb://u:p@h"], "SMARTPAPERS_MONGO_URI"),
        (["config.extra.SMARTPAPERS_DB=mongodb://h:27017"], "/config/extra"),
        (
            ["api.extraEnv[0].name=SMARTPAPERS_MONGO_URI", "api.extraEnv[0].value=mongodb://u:p@h"],
            "/api/extraEnv/0",
        ),
        (
            ["worker.extraEnv[0].name=DB_PASSWORD", "worker.extraEnv[0].value=hunter2"],
            "/worker/extraEnv/0",
        ),
        (
            ["worker.extraEnv[0].name=AWS_SECRET_ACCESS_KEY", "worker.extraEnv[0].value=x"],
            "/worker/extraEnv/0",
        ),
    ],
)
def test_credentials_cannot_be_given_as_values(sets: list[str], where: str) -> None:
    err = render_fails([MINIMAL], sets)
    assert "values don't meet the specifications of the schema" in err, err
    assert where in err, err


def test_extra_env_from_a_secret_is_allowed() -> None:
    docs = render(
        [MINIMAL],
        sets=[
            "api.extraEnv[0].name=SMARTPAPERS_EXAMPLE_TOKEN",
            "api.extraEnv[0].valueFrom.secretKeyRef.name=example",
            "api.extraEnv[0].valueFrom.secretKeyRef.key=token",
        ],
    )
    env = env_of(api_container(docs))["SMARTPAPERS_EXAMPLE_TOKEN"]
    assert env["valueFrom"]["secretKeyRef"] == {"name": "example", "key": "token"}


# --------------------------------------------------------------------------- documentation

NEW_VALUES = [
    "config.auth.jwt.algorithms",
    "config.auth.jwt.staffClaim",
    "config.auth.jwt.staffRole",
    "config.auth.jwt.instituteClaim",
    "config.rateLimit.submissions",
    "config.rateLimit.statusPolls",
    "config.rateLimit.windowSeconds",
    "config.api.corsOrigins",
    "config.api.docsEnabled",
    "config.api.limitConcurrency",
    "networkPolicy.ingressController",
    "networkPolicy.apiIngressFrom",
    "networkPolicy.metricsIngressFrom",
    "networkPolicy.dnsTo",
    "networkPolicy.mongo.ports",
    "networkPolicy.sqs.to",
    "networkPolicy.jwks.to",
    "networkPolicy.eksPodIdentityAgent",
    "networkPolicy.extraEgress",
]


@pytest.mark.parametrize("path", NEW_VALUES)
def test_hardening_values_are_described_and_documented(path: str) -> None:
    node: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    for key in path.split("."):
        node = node["properties"][key]
    assert node.get("description"), f"{path}: no description in values.schema.json"
    defaults: Any = yaml.safe_load((CHART / "values.yaml").read_text())
    for key in path.split("."):
        defaults = defaults[key]
    doc = (REPO / "docs" / "deploy.md").read_text()
    assert path in doc[doc.index("## Hardening") :], f"{path}: not in docs/deploy.md Hardening"


def test_hardening_section_covers_iam_per_role() -> None:
    doc = (REPO / "docs" / "deploy.md").read_text()
    hardening = doc[doc.index("## Hardening") :]
    for needle in (
        "api-policy.json",
        "worker-policy.json",
        "keda-scaler-policy.json",
        "sweeper",
        "GetQueueAttributes",
        "SMARTPAPERS_API_DOCS_ENABLED",
        "CORS",
    ):
        assert needle in hardening, needle
