"""JWT verification against a real JWKS endpoint on 127.0.0.1, the authorization rules, and
the auth / rate-limit settings."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from smartpapers.api.auth import (
    ANONYMOUS,
    AuthenticationError,
    AuthUnavailableError,
    ForbiddenError,
    JwtVerifier,
    Principal,
    authorize_paper_creation,
    authorize_submission,
    can_read_job,
    claim,
)
from smartpapers.api.settings import Settings
from smartpapers.common.job import Job
from smartpapers.common.models import SubmissionIn
from smartpapers.common.timeutil import utcnow
from tests.jwt_issuer import Issuer, JwksServer, jwt_settings


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer.create()


@pytest.fixture
def server(issuer: Issuer) -> Iterator[JwksServer]:
    issuer.published = {"rsa-1", "ec-1"}
    with JwksServer(issuer) as s:
        yield s


def settings(server: JwksServer, **over: Any) -> Settings:
    return Settings(sqs_queue_url="http://q", **jwt_settings(server, **over))


async def test_valid_rs256_and_es256_tokens_give_the_principal(
    issuer: Issuer, server: JwksServer
) -> None:
    v = JwtVerifier(settings(server))
    p = await v.verify(issuer.token("student-7"))
    assert p == Principal(subject="student-7", staff=False, institute_id=None, authenticated=True)
    staff = await v.verify(issuer.token("t1", kid="ec-1", roles=["staff"], institute="inst-a"))
    assert staff == Principal(subject="t1", staff=True, institute_id="inst-a", authenticated=True)
    assert server.fetches == 1  # one JWKS fetch served both kids


async def test_rejected_tokens(issuer: Issuer, server: JwksServer) -> None:
    v = JwtVerifier(settings(server))
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = {
        "forged signature (right kid, wrong key)": issuer.token(kid="rsa-1", key=other_key),
        "tampered payload": _tamper(issuer.token("student-1"), sub="student-2"),
        "expired": issuer.token(ttl=-120),  # beyond the 30 s leeway
        "not yet valid": issuer.token(nbf=int(time.time()) + 600),
        "wrong audience": issuer.token(aud="another-api"),
        "wrong issuer": issuer.token(iss="https://evil.example/"),
        "alg none": issuer.unsigned_token(),
        "alg None, capitalised": issuer.unsigned_token(alg="None"),
        "HS256 keyed with the public key": issuer.hs256_with_public_key(),
        "RS256 header on the EC key": _resign_header(issuer, kid="ec-1", alg="RS256"),
        "no exp": issuer.token(exp=None),
        "no sub": issuer.token(sub=None),
        "no kid": issuer.token(kid=None),
        "unknown kid": issuer.token(kid="nobody", key=issuer.keys["rsa-1"]),
        "garbage": "not.a.jwt",
        "empty": "",
        "huge": "a" * 20_000,
    }
    for name, token in cases.items():
        with pytest.raises(AuthenticationError) as e:
            await v.verify(token)
        assert e.value.bearer_error == "invalid_token", name
    with pytest.raises(AuthenticationError, match="expired"):
        await v.verify(issuer.token(ttl=-120))
    with pytest.raises(AuthenticationError, match="audience"):
        await v.verify(issuer.token(aud="another-api"))


async def test_small_clock_skew_is_tolerated(issuer: Issuer, server: JwksServer) -> None:
    v = JwtVerifier(settings(server))
    assert (await v.verify(issuer.token(ttl=-5))).subject == "student-1"
    strict = JwtVerifier(settings(server, jwt_leeway_seconds=0))
    with pytest.raises(AuthenticationError, match="expired"):
        await strict.verify(issuer.token(ttl=-5))


async def test_an_audience_list_containing_ours_is_accepted(
    issuer: Issuer, server: JwksServer
) -> None:
    v = JwtVerifier(settings(server))
    token = issuer.token(aud=["account", issuer.audience])
    assert (await v.verify(token)).subject == "student-1"


async def test_a_rotated_key_is_fetched_on_unknown_kid_within_the_cooldown(
    issuer: Issuer, server: JwksServer
) -> None:
    v = JwtVerifier(settings(server, jwt_jwks_refresh_cooldown_seconds=0.5))
    await v.warm_up()
    assert server.fetches == 1
    issuer.add_key("rsa-2", rsa.generate_private_key(public_exponent=65537, key_size=2048))
    # the first attempt is inside the cooldown that the warm-up fetch started: no refetch
    with pytest.raises(AuthenticationError, match="unknown key"):
        await v.verify(issuer.token(kid="rsa-2"))
    assert server.fetches == 1
    await asyncio.sleep(0.6)
    assert (await v.verify(issuer.token("s2", kid="rsa-2"))).subject == "s2"
    assert server.fetches == 2
    # random kids cannot hammer the provider: one refetch per cooldown at most
    for i in range(20):
        with pytest.raises(AuthenticationError):
            await v.verify(issuer.token(kid=f"random-{i}", key=issuer.keys["rsa-1"]))
    assert server.fetches <= 3


async def test_unreachable_jwks_is_503_not_401(issuer: Issuer, server: JwksServer) -> None:
    server.fail = True
    v = JwtVerifier(settings(server))
    await v.warm_up()  # logs, does not raise
    with pytest.raises(AuthUnavailableError):
        await v.verify(issuer.token())
    server.fail = False
    assert (await v.verify(issuer.token())).subject == "student-1"


async def test_a_provider_outage_after_the_cache_aged_keeps_known_keys(
    issuer: Issuer, server: JwksServer
) -> None:
    v = JwtVerifier(settings(server, jwt_jwks_cache_seconds=1))
    assert (await v.verify(issuer.token())).subject == "student-1"
    server.fail = True
    await asyncio.sleep(1.1)
    assert (await v.verify(issuer.token("s3"))).subject == "s3"  # stale key, not a 503
    assert server.fetches >= 2  # it did try to refresh
    with pytest.raises(AuthUnavailableError):  # a kid never seen cannot be verified
        await v.verify(issuer.token(kid="ec-1"))


async def test_nested_and_namespaced_claims(issuer: Issuer, server: JwksServer) -> None:
    keycloak = JwtVerifier(
        settings(server, jwt_staff_claim="realm_access.roles", jwt_institute_claim="org.id")
    )
    p = await keycloak.verify(
        issuer.token("t", realm_access={"roles": ["staff", "x"]}, org={"id": "inst-9"})
    )
    assert p.staff and p.institute_id == "inst-9"
    auth0 = JwtVerifier(settings(server, jwt_staff_claim="https://exams.example/roles"))
    namespaced: dict[str, Any] = {"https://exams.example/roles": ["staff"]}
    assert (await auth0.verify(issuer.token("t", **namespaced))).staff
    scopes = JwtVerifier(settings(server, jwt_staff_claim="scope", jwt_staff_role="papers:write"))
    assert (await scopes.verify(issuer.token("t", scope="openid papers:write"))).staff
    assert not (await scopes.verify(issuer.token("t", scope="openid"))).staff
    assert claim({"a": {"b": 1}}, "a.c") is None


def test_authorization_rules() -> None:
    student = Principal(subject="s1", staff=False, institute_id="i1", authenticated=True)
    staff = Principal(subject="t1", staff=True, institute_id="i1", authenticated=True)
    staff_no_inst = Principal(subject="t2", staff=True, institute_id=None, authenticated=True)
    own = SubmissionIn.model_validate(
        {"studentId": "s1", "paperId": "p", "instituteId": "i1", "answers": []}
    )
    authorize_submission(student, own)
    authorize_submission(ANONYMOUS, own)
    with pytest.raises(ForbiddenError):
        authorize_submission(student, own.model_copy(update={"student_id": "s2"}))
    with pytest.raises(ForbiddenError):
        authorize_submission(staff, own)  # staff cannot submit for a student either
    with pytest.raises(ForbiddenError):
        authorize_submission(student, own.model_copy(update={"institute_id": "i2"}))
    job = Job.new(submission=own, idempotency_key=None, now=utcnow())
    assert can_read_job(student, job) and can_read_job(staff, job) and can_read_job(ANONYMOUS, job)
    assert not can_read_job(staff_no_inst, job)
    assert not can_read_job(student, replace(job, student_id="s2"))
    assert not can_read_job(staff, replace(job, student_id="s2", institute_id="i2"))
    authorize_paper_creation(staff, "i1")
    authorize_paper_creation(staff_no_inst, "any")
    authorize_paper_creation(ANONYMOUS, "any")
    with pytest.raises(ForbiddenError):
        authorize_paper_creation(student, "i1")
    with pytest.raises(ForbiddenError):
        authorize_paper_creation(staff, "i2")


@pytest.mark.parametrize("algorithms", [["HS256"], ["none"], ["RS256", "HS512"], []])
def test_symmetric_or_no_algorithms_are_refused(algorithms: list[str]) -> None:
    with pytest.raises(ValidationError, match="jwt_algorithms"):
        Settings(sqs_queue_url="http://q", jwt_algorithms=algorithms)


def test_jwt_mode_without_its_settings_refuses_to_start() -> None:
    from smartpapers.api.app import AuthNotAvailableError, create_app

    with pytest.raises(AuthNotAvailableError, match="SMARTPAPERS_JWT_ISSUER"):
        create_app(
            Settings(sqs_queue_url="http://q", auth_mode="jwt", jwt_jwks_url="https://x/jwks")
        )


def test_rate_limits_default_on_in_jwt_mode_and_off_in_none_mode() -> None:
    none = Settings(sqs_queue_url="http://q")
    assert (none.submissions_limit, none.status_polls_limit) == (0, 0)
    jwt_mode = Settings(sqs_queue_url="http://q", auth_mode="jwt")
    assert (jwt_mode.submissions_limit, jwt_mode.status_polls_limit) == (30, 120)
    explicit = Settings(
        sqs_queue_url="http://q", rate_limit_submissions=5, rate_limit_status_polls=0
    )
    assert (explicit.submissions_limit, explicit.status_polls_limit) == (5, 0)


# -- helpers --------------------------------------------------------------------------------


def _tamper(token: str, **claims: Any) -> str:
    header, payload, sig = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(claims)
    new = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{header}.{new}.{sig}"


def _resign_header(issuer: Issuer, *, kid: str, alg: str) -> str:
    """A token whose header names ``alg`` but points at a key of another type."""
    return issuer.token(kid=kid, alg=alg, key=issuer.keys["rsa-1"])
