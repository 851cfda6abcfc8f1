"""Push on the real local stack: SSE, long-poll, ETag (docs/push.md)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from smartpapers.api.app import create_app
from smartpapers.common.models import JobView
from tests.conftest import Stack
from tests.integration.conftest import RunWorker, api_settings
from tests.integration.test_api import submission


def parse_sse(text: str) -> tuple[list[dict[str, str]], int]:
    """(events as field dicts, heartbeat comment count) of a whole SSE stream."""
    events: list[dict[str, str]] = []
    comments = 0
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                comments += 1
            elif line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        if fields:
            events.append(fields)
    return events, comments


def reads() -> float:
    return REGISTRY.get_sample_value("smartpapers_notifier_reads_total") or 0.0


@pytest.fixture
async def fast_app(stack: Stack) -> AsyncIterator[FastAPI]:
    application = create_app(
        api_settings(
            stack,
            notifier_interval_seconds=0.1,
            sse_heartbeat_seconds=0.2,
            sse_max_seconds=1.0,
        )
    )
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def api(fast_app: FastAPI, demo_on: None) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fast_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api", timeout=30) as c:
        yield c


@pytest.fixture
async def demo_on(fast_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=fast_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
        from smartpapers.devstack.demo import demo_paper

        assert (await c.post("/api/papers", json=demo_paper())).status_code == 201


async def submit(api: httpx.AsyncClient, correct: int = 15) -> str:
    r = await api.post("/api/submissions", json=submission(correct))
    assert r.status_code == 202, r.text
    job_id: str = r.json()["jobId"]
    return job_id


async def test_sse_sends_the_status_json_at_once_and_on_change_and_ends_when_final(
    api: httpx.AsyncClient, run_worker: RunWorker
) -> None:
    job_id = await submit(api, correct=13)
    url = f"/api/submissions/status/{job_id}/events"
    stream = asyncio.create_task(api.get(url))
    await asyncio.sleep(0.3)  # the stream holds its first event (queued)
    async with run_worker():
        r = await asyncio.wait_for(stream, timeout=20)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["cache-control"] == "no-store"
    events, _ = parse_sse(r.text)
    assert events[0]["event"] == "status"
    assert json.loads(events[0]["data"])["status"] == "queued"
    final = events[-1]
    assert json.loads(final["data"])["status"] == "completed"
    assert json.loads(final["data"])["result"]["score"] == 13
    assert len({e["id"] for e in events}) == len(events)  # one id per distinct state
    # data is byte for byte the status endpoint's answer, id its ETag
    status = await api.get(f"/api/submissions/status/{job_id}")
    assert final["data"].encode() == status.content
    assert final["id"] == status.headers["etag"]


async def test_sse_heartbeats_ends_at_max_and_honours_last_event_id(
    api: httpx.AsyncClient,
) -> None:
    job_id = await submit(api)
    url = f"/api/submissions/status/{job_id}/events"
    r = await api.get(url)  # no worker: queued until sse_max_seconds (1 s)
    events, comments = parse_sse(r.text)
    assert [json.loads(e["data"])["status"] for e in events] == ["queued"]
    assert comments >= 3  # a heartbeat every 0.2 s
    again = await api.get(url, headers={"Last-Event-ID": events[0]["id"]})
    assert parse_sse(again.text)[0] == []  # the client has that state already
    assert (await api.get(url, headers={"Last-Event-ID": "stale"})).text.count("event:") == 1


async def test_sse_of_a_final_job_always_sends_it_and_an_unknown_job_is_404(
    api: httpx.AsyncClient, run_worker: RunWorker
) -> None:
    job_id = await submit(api)
    async with run_worker():
        r = await api.get(f"/api/submissions/status/{job_id}?wait=20&since=queued")
        if r.json()["status"] != "completed":
            r = await api.get(f"/api/submissions/status/{job_id}?wait=20&since=processing")
    assert r.json()["status"] == "completed"
    url = f"/api/submissions/status/{job_id}/events"
    events, _ = parse_sse((await api.get(url, headers={"Last-Event-ID": r.headers["etag"]})).text)
    assert [json.loads(e["data"])["status"] for e in events] == ["completed"]
    missing = await api.get("/api/submissions/status/00000000-0000-4000-8000-000000000000/events")
    assert missing.status_code == 404 and missing.json()["error"] == "job_not_found"


async def test_long_poll_answers_at_the_first_change_or_after_wait(
    api: httpx.AsyncClient, run_worker: RunWorker
) -> None:
    job_id = await submit(api)
    url = f"/api/submissions/status/{job_id}"
    loop = asyncio.get_running_loop()
    started = loop.time()
    idle = await api.get(url, params={"wait": 0.5, "since": "queued"})
    assert idle.json()["status"] == "queued" and loop.time() - started >= 0.5
    # the status already differs from `since`: at once
    started = loop.time()
    at_once = await api.get(url, params={"wait": 20, "since": "processing"})
    assert at_once.json()["status"] == "queued" and loop.time() - started < 0.5
    before = reads()
    poll = asyncio.create_task(api.get(url, params={"wait": 20, "since": "queued"}))
    await asyncio.sleep(0.3)
    started = loop.time()
    async with run_worker():
        r = await asyncio.wait_for(poll, timeout=20)
        assert r.json()["status"] in ("processing", "completed")
        assert loop.time() - started < 10
    assert reads() > before  # woken by the notifier's batched read
    bad_params: list[dict[str, str | int]] = [
        {"wait": 26},
        {"wait": -1},
        {"wait": 1, "since": "lost"},
    ]
    for bad in bad_params:
        assert (await api.get(url, params=bad)).status_code == 422, bad


async def test_status_etag_and_if_none_match(api: httpx.AsyncClient) -> None:
    job_id = await submit(api)
    url = f"/api/submissions/status/{job_id}"
    r = await api.get(url)
    tag = r.headers["etag"]
    assert tag.startswith('"') and tag.endswith('"')
    not_modified = await api.get(url, headers={"If-None-Match": tag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == tag
    for header in (f'"other", W/{tag}', "*"):
        assert (await api.get(url, headers={"If-None-Match": header})).status_code == 304
    assert (await api.get(url, headers={"If-None-Match": '"other"'})).status_code == 200


async def test_status_body_is_what_fastapi_renders_for_the_model(
    api: httpx.AsyncClient,
) -> None:
    """Old clients see the bytes they always did: same as a plain ``response_model`` route."""
    job_id = await submit(api)
    r = await api.get(f"/api/submissions/status/{job_id}")
    view = JobView.model_validate_json(r.content)
    plain = FastAPI()

    @plain.get("/v", response_model=JobView)
    async def v() -> Any:
        return view

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=plain), base_url="http://plain"
    ) as c:
        reference = await c.get("/v")
    assert r.content == reference.content
    assert r.headers["content-type"] == reference.headers["content-type"]
