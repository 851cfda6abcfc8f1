"""The WebSocket on a real uvicorn server (in this event loop) over the real stack: status
JSON per subscribed job at once and on every change, the subscription rules, authentication
before the handshake, and protocol pings that end a dead peer's connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from smartpapers.api.app import create_app
from smartpapers.api.ws import MAX_SUBSCRIPTIONS
from smartpapers.devstack.demo import demo_paper
from smartpapers.devstack.servers import free_port
from tests.conftest import Stack
from tests.integration.conftest import RunWorker, api_settings
from tests.integration.test_api import submission
from tests.jwt_issuer import Issuer, JwksServer, bearer, jwt_settings

PING = 0.3

Serve = Callable[..., Any]


@pytest.fixture
async def serve(stack: Stack) -> AsyncIterator[Serve]:
    """``async with serve(**settings) as base_url``: the app on a real uvicorn server."""

    @contextlib.asynccontextmanager
    async def run(**over: Any) -> AsyncIterator[str]:
        port = free_port()
        app = create_app(api_settings(stack, notifier_interval_seconds=0.1, **over))
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, ws_ping_interval=PING,
            ws_ping_timeout=PING, lifespan="on",
        )  # fmt: skip
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            assert not task.done(), "uvicorn exited before it started"
            await asyncio.sleep(0.02)
        try:
            yield f"127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, timeout=10)

    yield run


async def post(base: str, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    async with httpx.AsyncClient(base_url=f"http://{base}", timeout=10) as c:
        r = await c.post(path, json=body, headers=headers)
        assert r.status_code in (201, 202), r.text
        return r.json()


async def status_body(base: str, job_id: str, headers: dict[str, str] | None = None) -> bytes:
    async with httpx.AsyncClient(base_url=f"http://{base}", timeout=10) as c:
        return (await c.get(f"/api/submissions/status/{job_id}", headers=headers)).content


async def until_final(ws: ClientConnection, job_ids: set[str]) -> dict[str, list[str]]:
    """Raw messages per job until every one of ``job_ids`` is final."""
    seen: dict[str, list[str]] = {j: [] for j in job_ids}
    pending = set(job_ids)
    while pending:
        raw = str(await asyncio.wait_for(ws.recv(), timeout=20))
        job = json.loads(raw)
        seen[job["jobId"]].append(raw)
        if job["status"] in ("completed", "failed"):
            pending.discard(job["jobId"])
    return seen


async def test_subscribed_jobs_get_their_status_at_once_and_on_every_change(
    serve: Serve, run_worker: RunWorker
) -> None:
    async with serve() as base:
        await post(base, "/api/papers", demo_paper())
        jobs = {
            (await post(base, "/api/submissions", submission(c, studentId=f"s{c}")))["jobId"]: c
            for c in (7, 19)
        }
        async with connect(f"ws://{base}/api/submissions/ws") as ws:
            await ws.send(json.dumps({"subscribe": list(jobs)}))
            first = [json.loads(str(await ws.recv())) for _ in jobs]
            assert {j["jobId"] for j in first} == set(jobs)
            assert {j["status"] for j in first} == {"queued"}
            async with run_worker():
                seen = await until_final(ws, set(jobs))
        for job_id, correct in jobs.items():
            final = json.loads(seen[job_id][-1])
            assert final["status"] == "completed" and final["result"]["score"] == correct
            # the same bytes as the status endpoint's answer
            assert seen[job_id][-1].encode() == await status_body(base, job_id)


async def test_the_subscription_rules(serve: Serve) -> None:
    async with serve() as base:
        await post(base, "/api/papers", demo_paper())
        job_id = (await post(base, "/api/submissions", submission()))["jobId"]
        async with connect(f"ws://{base}/api/submissions/ws") as ws:
            for bad in ("not json", '{"subscribe": []}', '{"subscribe": ["a"], "x": 1}'):
                await ws.send(bad)
                error = json.loads(str(await ws.recv()))
                assert error["error"] == "invalid_message", (bad, error)
            # the connection survives bad messages; an unknown job is that job's error
            await ws.send(json.dumps({"subscribe": ["no-such-job", job_id]}))
            assert json.loads(str(await ws.recv())) == {
                "error": "job_not_found",
                "message": "job 'no-such-job' not found",
                "jobId": "no-such-job",
            }
            assert json.loads(str(await ws.recv()))["jobId"] == job_id
        async with connect(f"ws://{base}/api/submissions/ws") as ws:
            await ws.send(
                json.dumps({"subscribe": [f"j{i}" for i in range(MAX_SUBSCRIPTIONS + 1)]})
            )
            assert json.loads(str(await ws.recv()))["error"] == "invalid_message"  # > 50 ids


async def test_more_than_fifty_watched_jobs_close_the_connection(serve: Serve) -> None:
    async with serve() as base:
        await post(base, "/api/papers", demo_paper())
        ids = [
            (await post(base, "/api/submissions", submission(studentId=f"s{i}")))["jobId"]
            for i in range(MAX_SUBSCRIPTIONS + 1)
        ]
        async with connect(f"ws://{base}/api/submissions/ws") as ws:
            await ws.send(json.dumps({"subscribe": ids[:MAX_SUBSCRIPTIONS]}))
            for _ in range(MAX_SUBSCRIPTIONS):
                assert json.loads(str(await ws.recv()))["status"] == "queued"
            await ws.send(json.dumps({"subscribe": ids[MAX_SUBSCRIPTIONS:]}))
            assert json.loads(str(await ws.recv()))["error"] == "too_many_subscriptions"
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_jwt_mode_authenticates_the_upgrade(
    serve: Serve, issuer: Issuer, jwks: JwksServer
) -> None:
    async with serve(**jwt_settings(jwks)) as base:
        staff = bearer(issuer.staff_token())
        await post(base, "/api/papers", demo_paper(), staff)
        mine = await post(base, "/api/submissions", submission(), bearer(issuer.token()))
        theirs = await post(
            base,
            "/api/submissions",
            submission(studentId="student-2"),
            bearer(issuer.token("student-2")),
        )
        url = f"ws://{base}/api/submissions/ws"
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url):
                pass
        assert refused.value.response.status_code == 401
        assert json.loads(refused.value.response.body or b"{}")["error"] == "unauthorized"
        # a browser's way: the token as a subprotocol next to smartpapers.v1
        protocols = ["smartpapers.v1", f"bearer.{issuer.token()}"]
        async with connect(url, subprotocols=protocols) as ws:  # type: ignore[arg-type]
            assert ws.subprotocol == "smartpapers.v1"
            await ws.send(json.dumps({"subscribe": [theirs["jobId"], mine["jobId"]]}))
            # another student's job is "not found", as on the status endpoint
            assert json.loads(str(await ws.recv()))["error"] == "job_not_found"
            assert json.loads(str(await ws.recv()))["jobId"] == mine["jobId"]
        async with connect(url, additional_headers=bearer(issuer.token())) as ws:
            await ws.send(json.dumps({"subscribe": [mine["jobId"]]}))
            assert json.loads(str(await ws.recv()))["status"] == "queued"


def _handshake(base: str) -> socket.socket:
    host, port = base.split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.sendall(
        b"GET /api/submissions/ws HTTP/1.1\r\nHost: " + base.encode() + b"\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1024)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _frames_until_eof(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(4096):
            data += chunk
    return data


async def test_server_pings_and_drops_a_peer_that_never_answers(serve: Serve) -> None:
    async with serve() as base:
        # a live client answers pings (websockets does) and stays connected
        async with connect(f"ws://{base}/api/submissions/ws") as ws:
            await asyncio.sleep(4 * PING)
            await ws.send(json.dumps({"subscribe": ["x"]}))
            assert json.loads(str(await ws.recv()))["error"] == "job_not_found"
        # a dead one (never reads, never answers a ping) is closed after ping + timeout
        sock = await asyncio.to_thread(_handshake, base)
        with sock:
            started = asyncio.get_running_loop().time()
            received = await asyncio.to_thread(_frames_until_eof, sock, 10 * PING + 5)
            elapsed = asyncio.get_running_loop().time() - started
        assert received[:1] == b"\x89", received[:16]  # a ping frame came first
        assert elapsed < 10 * PING + 5
