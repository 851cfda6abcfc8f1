"""Per-student rate limits kept in MongoDB (the local database here): they engage, answer 429 with
Retry-After, recover at the window's end, are shared by API replicas, and fail open."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from smartpapers.api.app import create_app
from smartpapers.api.rate_limit import RATE_LIMITS, RateLimiter
from smartpapers.api.services import Services
from smartpapers.common.mongo import Document
from smartpapers.devstack.demo import demo_answers, demo_paper
from tests.conftest import Stack
from tests.integration.conftest import api_settings
from tests.jwt_issuer import Issuer, JwksServer, bearer, jwt_settings

WINDOW = 2


@asynccontextmanager
async def serve(settings: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            yield application, c


def body(student: str) -> dict[str, Any]:
    return {
        "studentId": student,
        "paperId": "demo-paper",
        "instituteId": "demo-institute",
        "answers": demo_answers(3),
    }


def rate_limited_total() -> float:
    value = REGISTRY.get_sample_value(
        "smartpapers_submissions_rejected_total", {"reason": "rate_limited"}
    )
    return value or 0.0


async def fresh_window() -> None:
    """Wait for the start of a window, so a short burst never straddles two."""
    await asyncio.sleep(WINDOW - (time.time() % WINDOW) + 0.02)


async def test_submission_limit_engages_per_student_and_recovers(
    stack: Stack, issuer: Issuer, jwks: JwksServer
) -> None:
    settings = api_settings(
        stack,
        **jwt_settings(jwks),
        rate_limit_submissions=3,
        rate_limit_window_seconds=WINDOW,
    )
    async with serve(settings) as (_, api):
        staff = bearer(issuer.staff_token())
        assert (await api.post("/api/papers", json=demo_paper(), headers=staff)).status_code == 201
        alice, bob = bearer(issuer.token("alice")), bearer(issuer.token("bob"))
        before = rate_limited_total()
        await fresh_window()
        codes = [
            (await api.post("/api/submissions", json=body("alice"), headers=alice)).status_code
            for _ in range(3)
        ]
        assert codes == [202, 202, 202]
        limited = await api.post("/api/submissions", json=body("alice"), headers=alice)
        assert limited.status_code == 429, limited.text
        assert limited.json()["error"] == "rate_limited"
        retry_after = int(limited.headers["retry-after"])
        assert 1 <= retry_after <= WINDOW
        assert rate_limited_total() - before == 1
        # per student: bob is not affected
        assert (
            await api.post("/api/submissions", json=body("bob"), headers=bob)
        ).status_code == 202
        # recovers once the window is over
        await asyncio.sleep(retry_after)
        again = await api.post("/api/submissions", json=body("alice"), headers=alice)
        assert again.status_code == 202, again.text


async def test_status_poll_limit_is_shared_by_two_api_replicas(
    stack: Stack, issuer: Issuer, jwks: JwksServer
) -> None:
    settings = api_settings(
        stack, **jwt_settings(jwks), rate_limit_status_polls=4, rate_limit_window_seconds=WINDOW
    )
    async with AsyncExitStack() as es:
        _, one = await es.enter_async_context(serve(settings))
        _, two = await es.enter_async_context(serve(settings))
        alice = bearer(issuer.token("alice"))
        url = "/api/submissions/status/00000000-0000-4000-8000-000000000000"
        await fresh_window()
        codes = [(await c.get(url, headers=alice)).status_code for c in (one, two, one, two)]
        assert codes == [404, 404, 404, 404]  # 4 polls spread over two replicas
        for c in (one, two):
            r = await c.get(url, headers=alice)
            assert r.status_code == 429 and "retry-after" in r.headers
        # staff polling is keyed by their own sub
        assert (await one.get(url, headers=bearer(issuer.staff_token()))).status_code == 404


async def test_none_mode_keys_submissions_by_student_and_status_by_client_ip(
    stack: Stack,
) -> None:
    settings = api_settings(
        stack,
        rate_limit_submissions=2,
        rate_limit_status_polls=2,
        rate_limit_window_seconds=WINDOW,
    )
    async with serve(settings) as (_, api):
        assert (await api.post("/api/papers", json=demo_paper())).status_code == 201
        await fresh_window()
        s1 = [(await api.post("/api/submissions", json=body("s1"))).status_code for _ in range(3)]
        s2 = [(await api.post("/api/submissions", json=body("s2"))).status_code for _ in range(2)]
        assert s1 == [202, 202, 429] and s2 == [202, 202]
        url = "/api/submissions/status/00000000-0000-4000-8000-000000000000"
        polls = [(await api.get(url)).status_code for _ in range(3)]
        assert polls == [404, 404, 429]  # every poll here comes from one client address


async def test_limits_are_off_by_default_in_none_mode(
    client: httpx.AsyncClient, demo: dict[str, Any], mongo_db: AsyncDatabase[Document]
) -> None:
    codes = [
        (await client.post("/api/submissions", json=body("s1"))).status_code for _ in range(40)
    ]
    assert set(codes) == {202}
    assert RATE_LIMITS not in await mongo_db.list_collection_names()  # no I/O when off


async def test_counters_live_in_one_document_per_student_and_window(
    stack: Stack, issuer: Issuer, jwks: JwksServer, mongo_db: AsyncDatabase[Document]
) -> None:
    settings = api_settings(stack, **jwt_settings(jwks), rate_limit_window_seconds=60)
    async with serve(settings) as (_, api):
        alice = bearer(issuer.token("alice"))
        for _ in range(3):
            await api.get("/api/submissions/status/x", headers=alice)
    docs = await mongo_db[RATE_LIMITS].find().to_list()
    assert len(docs) == 1
    window = int(time.time() // 60)
    assert docs[0]["_id"] in (f"status:{window}:alice", f"status:{window - 1}:alice")
    assert docs[0]["n"] == 3 and docs[0]["expiresAt"] is not None


@pytest.mark.parametrize("failure", ["unreachable", "slow"])
async def test_the_limiter_fails_open_when_mongodb_fails(
    stack: Stack,
    issuer: Issuer,
    jwks: JwksServer,
    caplog: pytest.LogCaptureFixture,
    failure: str,
) -> None:
    settings = api_settings(
        stack,
        **jwt_settings(jwks),
        rate_limit_submissions=1,
        rate_limit_status_polls=1,
        rate_limit_timeout_seconds=0.3,
    )
    # a MongoDB that is not there: either the driver gives up at once, or it hangs past the
    # limiter's timeout (server selection 5 s > 0.3 s)
    dead: AsyncMongoClient[Document] = AsyncMongoClient(
        "mongodb://127.0.0.1:9/",
        serverSelectionTimeoutMS=50 if failure == "unreachable" else 5000,
    )
    try:
        async with serve(settings) as (app, api):
            services: Services = app.state.services
            broken = RateLimiter(dead["x"], window_seconds=60, timeout_seconds=0.3)
            app.state.services = dataclasses.replace(services, limiter=broken)
            staff = bearer(issuer.staff_token())
            assert (
                await api.post("/api/papers", json=demo_paper(), headers=staff)
            ).status_code == 201
            alice = bearer(issuer.token("alice"))
            started = time.perf_counter()
            for _ in range(3):  # limit 1, yet nobody is rejected
                r = await api.post("/api/submissions", json=body("alice"), headers=alice)
                assert r.status_code == 202, r.text
                job = r.json()["jobId"]
                poll = await api.get(f"/api/submissions/status/{job}", headers=alice)
                assert poll.status_code == 200
            assert time.perf_counter() - started < 6 * 0.3 + 3  # bounded by the timeout
    finally:
        await dead.close()
    warnings = [r for r in caplog.records if "rate limiter unavailable" in r.getMessage()]
    assert warnings, "the fail-open path logs"
    assert len(warnings) <= 2  # throttled: not one line per request
