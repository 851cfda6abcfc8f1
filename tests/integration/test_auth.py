"""Auth mode jwt over HTTP: the API against real ElasticMQ + the database and a real JWKS
endpoint on 127.0.0.1 (issue #7: authentication, object-level authorization, no answer keys
in student-facing answers or logs)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from smartpapers.api.app import create_app
from smartpapers.devstack.demo import demo_answers, demo_paper
from tests.conftest import Stack
from tests.integration.conftest import RunWorker, api_settings, wait_for
from tests.jwt_issuer import Issuer, JwksServer, bearer, jwt_settings

INSTITUTE = "demo-institute"


@pytest.fixture
async def jwt_app(stack: Stack, jwks: JwksServer) -> AsyncIterator[FastAPI]:
    application = create_app(api_settings(stack, **jwt_settings(jwks)))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def api(jwt_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=jwt_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
        yield c


@pytest.fixture
async def paper(api: httpx.AsyncClient, issuer: Issuer) -> dict[str, Any]:
    r = await api.post(
        "/api/papers", json=demo_paper(), headers=bearer(issuer.staff_token(institute=INSTITUTE))
    )
    assert r.status_code == 201, r.text
    return demo_paper()


def body(student: str = "student-1", **over: Any) -> dict[str, Any]:
    return {
        "studentId": student,
        "paperId": "demo-paper",
        "instituteId": INSTITUTE,
        "answers": demo_answers(12),
        **over,
    }


def rejected(reason: str) -> float:
    value = REGISTRY.get_sample_value("smartpapers_submissions_rejected_total", {"reason": reason})
    return value or 0.0


async def test_every_api_operation_needs_a_bearer_token(
    api: httpx.AsyncClient, jwt_app: FastAPI, paper: dict[str, Any]
) -> None:
    schema = jwt_app.openapi()
    operations = [
        (method.upper(), path)
        for path, item in schema["paths"].items()
        if path.startswith("/api/")
        for method in item
    ]
    assert len(operations) == 5, operations
    before = rejected("unauthorized")
    for method, path in operations:
        url = path.replace("{job_id}", "00000000-0000-4000-8000-000000000000").replace(
            "{paper_id}", "demo-paper"
        )
        for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}):
            r = await api.request(
                method, url, json=body() if method == "POST" else None, headers=headers
            )
            assert r.status_code == 401, (method, path, headers, r.text)
            assert r.headers["www-authenticate"] == 'Bearer realm="smartpapers"'
            assert r.json() == {"message": "bearer token required", "error": "unauthorized"}
        # the operation documents it
        assert "401" in schema["paths"][path][method.lower()]["responses"]
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert rejected("unauthorized") - before == 3  # the POST /api/submissions attempts
    # health, readiness and metrics stay open (probes and the scraper carry no token)
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await api.get(path)).status_code == 200, path


async def test_forged_expired_and_misaddressed_tokens_are_401(
    api: httpx.AsyncClient, issuer: Issuer, paper: dict[str, Any]
) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    intruder = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tokens = {
        "forged signature": issuer.token(kid="rsa-1", key=intruder),
        "expired": issuer.token(ttl=-3600),
        "wrong audience": issuer.token(aud="someone-else"),
        "wrong issuer": issuer.token(iss="https://evil.example/"),
        "alg none": issuer.unsigned_token(),
        "HS256 keyed with the public key": issuer.hs256_with_public_key(),
        "unknown kid": issuer.token(kid="nope", key=intruder),
    }
    for name, token in tokens.items():
        for r in (
            await api.post("/api/submissions", json=body(), headers=bearer(token)),
            await api.get("/api/papers/demo-paper", headers=bearer(token)),
        ):
            assert r.status_code == 401, (name, r.text)
            assert r.headers["www-authenticate"] == (
                'Bearer realm="smartpapers", error="invalid_token"'
            ), name
            assert r.json()["error"] == "unauthorized", name
    # and a good one passes
    ok = await api.post("/api/submissions", json=body(), headers=bearer(issuer.token()))
    assert ok.status_code == 202, ok.text


async def test_students_submit_only_as_themselves_and_read_only_their_own_jobs(
    api: httpx.AsyncClient, issuer: Issuer, paper: dict[str, Any]
) -> None:
    alice, bob = bearer(issuer.token("alice")), bearer(issuer.token("bob"))
    r = await api.post("/api/submissions", json=body("alice"), headers=alice)
    assert r.status_code == 202, r.text
    job = r.json()["jobId"]
    # a forged submission for another student
    before = rejected("unauthorized")
    forged = await api.post("/api/submissions", json=body("alice"), headers=bob)
    assert forged.status_code == 403 and forged.json()["error"] == "forbidden"
    assert rejected("unauthorized") - before == 1
    # own job: 200; another student's job is indistinguishable from a missing one
    assert (await api.get(f"/api/submissions/status/{job}", headers=alice)).status_code == 200
    other = await api.get(f"/api/submissions/status/{job}", headers=bob)
    missing_id = "00000000-0000-4000-8000-000000000000"
    missing = await api.get(f"/api/submissions/status/{missing_id}", headers=bob)
    assert other.status_code == missing.status_code == 404
    assert other.json()["error"] == missing.json()["error"] == "job_not_found"
    assert set(other.json()) == set(missing.json()) == {"message", "error"}
    # the push variants authorize the same way (SSE stream, long-poll)
    for suffix in ("/events", "?wait=1&since=queued"):
        url = f"/api/submissions/status/{job}{suffix}"
        assert (await api.get(url, headers=bob)).status_code == 404, suffix
        assert (await api.get(url)).status_code == 401, suffix
    # job ids are random UUID4s
    import uuid

    assert uuid.UUID(job).version == 4
    # staff of the institute read it; staff of another institute or without one do not
    for token, expected in (
        (issuer.staff_token(institute=INSTITUTE), 200),
        (issuer.staff_token(institute="other-institute"), 404),
        (issuer.staff_token(institute=None), 404),
        (issuer.token("carol", institute=INSTITUTE), 404),  # a student of the same institute
    ):
        r = await api.get(f"/api/submissions/status/{job}", headers=bearer(token))
        assert r.status_code == expected, (token, r.text)


@pytest.mark.parametrize(
    "subject", ["auth0|64f1c2a9e1b2", "6d1f6a4e-3c2b-4f7a-9a51-0b6f0f3c2d11", "s.lee@uni.example"]
)
async def test_provider_style_subjects_submit_and_read_their_job(
    api: httpx.AsyncClient, issuer: Issuer, paper: dict[str, Any], subject: str
) -> None:
    # Auth0 (`auth0|…`), Keycloak/Entra (UUIDs) and e-mail-like subjects are valid studentIds
    headers = bearer(issuer.token(subject))
    r = await api.post("/api/submissions", json=body(subject), headers=headers)
    assert r.status_code == 202, r.text
    status = await api.get(r.headers["Location"], headers=headers)
    assert status.status_code == 200 and status.json()["jobId"] == r.json()["jobId"]
    assert (
        await api.get(r.headers["Location"], headers=bearer(issuer.token("x")))
    ).status_code == 404


async def test_only_staff_create_papers_and_only_for_their_institute(
    api: httpx.AsyncClient, issuer: Issuer
) -> None:
    new = {**demo_paper(), "paperId": "p-new"}
    student = await api.post("/api/papers", json=new, headers=bearer(issuer.token("alice")))
    assert student.status_code == 403 and student.json()["error"] == "forbidden"
    elsewhere = await api.post(
        "/api/papers", json=new, headers=bearer(issuer.staff_token(institute="other-institute"))
    )
    assert elsewhere.status_code == 403
    ok = await api.post(
        "/api/papers", json=new, headers=bearer(issuer.staff_token(institute=INSTITUTE))
    )
    assert ok.status_code == 201 and ok.json()["questions"][0]["answer"] == "A"  # staff see keys
    # a student reads the paper without its answer key
    r = await api.get("/api/papers/p-new", headers=bearer(issuer.token("alice")))
    assert r.status_code == 200
    assert all(set(q) == {"questionId", "marks"} for q in r.json()["questions"])
    # a token bound to another institute sees neither the paper nor can submit to it
    outsider = bearer(issuer.token("dave", institute="other-institute"))
    assert (await api.get("/api/papers/p-new", headers=outsider)).status_code == 404
    r = await api.post(
        "/api/submissions",
        json=body("dave", paperId="p-new", instituteId="other-institute"),
        headers=outsider,
    )
    assert r.status_code == 404 and r.json()["error"] == "paper_not_found"


async def test_jwks_outage_is_503_with_retry_after(
    stack: Stack, issuer: Issuer, jwks: JwksServer
) -> None:
    jwks.fail = True
    application = create_app(api_settings(stack, **jwt_settings(jwks)))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            r = await c.get("/api/papers/demo-paper", headers=bearer(issuer.token()))
            assert r.status_code == 503 and r.headers["retry-after"] == "2"
            assert r.json()["error"] == "auth_unavailable"
            jwks.fail = False
            # the 503 did not start a cooldown (no fetch succeeded): the next request recovers
            r = await c.get("/api/papers/demo-paper", headers=bearer(issuer.token()))
            assert r.status_code == 404, r.text


SECRET_KEY = [f"KEY-{i}-9f3b7c" for i in range(1, 6)]


async def test_no_answer_key_in_student_answers_or_log_lines(
    api: httpx.AsyncClient,
    issuer: Issuer,
    run_worker: RunWorker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="smartpapers")
    caplog.set_level(logging.INFO)
    staff = bearer(issuer.staff_token(institute=INSTITUTE))
    secret_paper = {
        "paperId": "secret-paper",
        "instituteId": INSTITUTE,
        "title": "Keys that must never leak",
        "questions": [
            {"questionId": f"q{i}", "answer": key, "marks": 2} for i, key in enumerate(SECRET_KEY)
        ],
    }
    assert (await api.post("/api/papers", json=secret_paper, headers=staff)).status_code == 201
    token = issuer.token("alice")
    student = bearer(token)
    answers = [{"questionId": "q0", "answer": "wrong"}, {"questionId": "q1", "answer": "nope"}]
    student_answers: list[httpx.Response] = []
    async with run_worker():
        r = await api.post(
            "/api/submissions",
            json=body("alice", paperId="secret-paper", answers=answers),
            headers=student,
        )
        assert r.status_code == 202, r.text
        student_answers.append(r)
        job = r.json()["jobId"]

        async def done() -> bool:
            s = await api.get(f"/api/submissions/status/{job}", headers=student)
            student_answers.append(s)
            return bool(s.json()["status"] == "completed")

        await wait_for(done, timeout=30, interval=0.2)
        student_answers.append(await api.get("/api/papers/secret-paper", headers=student))
        # failures too: a 422 and a 403 echo nothing of the paper
        student_answers.append(
            await api.post(
                "/api/submissions",
                json=body("alice", paperId="secret-paper", answers=answers * 2),
                headers=student,
            )
        )
        student_answers.append(await api.post("/api/papers", json=secret_paper, headers=student))
    assert student_answers[-3].json()["questions"][0] == {"questionId": "q0", "marks": 2}
    final = student_answers[-4].json()
    assert final["result"]["score"] == 0 and final["result"]["total"] == 10
    for response in student_answers:
        for key in SECRET_KEY:
            assert key not in response.text, (response.request.url, response.text)
    logged = [r.getMessage() + " " + json.dumps(r.__dict__, default=str) for r in caplog.records]
    assert any("smartpapers" in r.name for r in caplog.records)  # the capture works
    for line in logged:
        for key in SECRET_KEY:
            assert key not in line, line
        assert token.split(".")[2][:24] not in line, line
