"""Chart hardening, settings: auth and abuse values reach the API, the ConfigMap parses as
the API's real Settings, config.extra cannot shadow a chart setting (docs/deploy.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from .conftest import (
    CI_VALUES,
    ci_id,
    configmap_settings,
    one,
    render,
    render_fails,
)
from .hardening import (
    EKS,
    EVERYTHING,
    KIND,
    MINIMAL,
    all_containers,
    api_settings,
)

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
        "SMARTPAPERS_JWT_PREMIUM_CLAIM": "roles",
        "SMARTPAPERS_JWT_PREMIUM_ROLE": "premium",
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
    ("config.api.submissionsMode=later", "/config/api/submissionsMode"),
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
