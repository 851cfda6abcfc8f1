"""One WebSocket client's subscriptions (``GET /api/submissions/ws``, docs/push.md#websocket).

The client sends ``{"subscribe": [jobId, …]}`` (≤ :data:`MAX_SUBSCRIPTIONS` ids per message
and watched at a time); for each job it receives the status endpoint's JSON at once and on
every change, until the job is final. Errors come as ``{"error", "message"}`` (+ ``jobId``
for one job's), in the error codes of the HTTP API.

Memory per connection is bounded: outgoing messages wait in a queue of
:data:`OUTBOX_SIZE`; a client that lets it fill, or does not take one message within the
send timeout, is disconnected (close code 1008) — never buffered without limit. The server's
protocol pings (uvicorn's ``ws_ping_interval``) end connections whose peer went away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from smartpapers.api.job_views import status_response
from smartpapers.api.metrics import WS_CONNECTIONS, WS_DISCONNECTS
from smartpapers.api.notifier import JobNotifier
from smartpapers.common.errors import SmartpapersError
from smartpapers.common.models import MAX_ID_LENGTH, JobView

logger = logging.getLogger(__name__)

MAX_SUBSCRIPTIONS = 50
OUTBOX_SIZE = 4 * MAX_SUBSCRIPTIONS
"""Each job has at most a handful of states to send; more waiting means a client that does
not read."""
POLICY_VIOLATION = 1008

JobId = str
ReadView = Callable[[JobId], Awaitable[JobView]]
"""The status endpoint's check: the job's view if this principal may read it, else raises
(``JobNotFoundError`` for another student's job, ``RateLimitedError``, …)."""


class Subscribe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subscribe: list[str] = Field(min_length=1, max_length=MAX_SUBSCRIPTIONS)


class SlowClientError(Exception):
    """The client does not read its messages."""


class Subscriptions:
    def __init__(
        self,
        websocket: WebSocket,
        *,
        notifier: JobNotifier,
        read_view: ReadView,
        send_timeout_seconds: float,
        outbox_size: int = OUTBOX_SIZE,
    ) -> None:
        self._ws = websocket
        self._notifier = notifier
        self._read_view = read_view
        self._send_timeout = send_timeout_seconds
        self._outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=outbox_size)
        self._watchers: dict[JobId, asyncio.Task[None]] = {}
        self._overflow = asyncio.Event()

    async def serve(self) -> None:
        """Until the client leaves, breaks the protocol, or is too slow."""
        WS_CONNECTIONS.inc()
        tasks = {
            asyncio.create_task(self._receive(), name="ws-receive"),
            asyncio.create_task(self._send(), name="ws-send"),
            asyncio.create_task(self._overflow.wait(), name="ws-overflow"),
        }
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            reason = self._outcome(done)
        finally:
            WS_CONNECTIONS.dec()
            for task in [*tasks, *self._watchers.values()]:
                task.cancel()
            for task in [*tasks, *self._watchers.values()]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        WS_DISCONNECTS.labels(reason=reason).inc()
        if reason not in ("client", "protocol"):
            await self._close(reason)

    def _outcome(self, done: set[asyncio.Task[Any]]) -> str:
        for task in done:
            if task.get_name() == "ws-overflow" or isinstance(task.exception(), SlowClientError):
                return "slow_client"
            if isinstance(task.exception(), WebSocketDisconnect):
                return "client"
            if task.exception() is not None:
                logger.error("websocket failed", exc_info=task.exception())
                return "error"
        return "protocol"  # the receiver ended after closing the connection itself

    async def _close(self, reason: str) -> None:
        code = POLICY_VIOLATION if reason == "slow_client" else 1011
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._ws.close(code=code, reason=reason), self._send_timeout)

    # -- client → server ---------------------------------------------------------------

    async def _receive(self) -> None:
        while True:
            text = await self._ws.receive_text()
            try:
                request = Subscribe.model_validate_json(text)
            except ValidationError as e:
                self._put(_error("invalid_message", _first_problem(e)))
                continue
            if not await self._subscribe(request.subscribe):
                return

    async def _subscribe(self, job_ids: list[JobId]) -> bool:
        """False when the connection was closed for exceeding the limit."""
        self._forget_finished()
        new = [j for j in dict.fromkeys(job_ids) if j not in self._watchers]
        if len(self._watchers) + len(new) > MAX_SUBSCRIPTIONS:
            self._put(
                _error(
                    "too_many_subscriptions",
                    f"at most {MAX_SUBSCRIPTIONS} jobs are watched per connection",
                )
            )
            await self._drain()
            await self._ws.close(code=POLICY_VIOLATION, reason="too many subscriptions")
            return False
        for job_id in new:
            try:
                view = await self._read_view(job_id)
            except SmartpapersError as e:
                self._put(_error(e.code, str(e), job_id=job_id[:MAX_ID_LENGTH]))
                continue
            self._watchers[job_id] = asyncio.create_task(self._watch(view))
        return True

    def _forget_finished(self) -> None:
        for job_id in [j for j, t in self._watchers.items() if t.done()]:
            del self._watchers[job_id]

    # -- server → client ---------------------------------------------------------------

    async def _watch(self, view: JobView) -> None:
        async with self._notifier.watch(view) as watch:
            while True:
                current = watch.view
                self._put(bytes(status_response(current).body).decode())
                if current.status.is_final:
                    return
                while watch.view == current:
                    await watch.changed(None)

    def _put(self, message: str) -> None:
        try:
            self._outbox.put_nowait(message)
        except asyncio.QueueFull:
            self._overflow.set()

    async def _send(self) -> None:
        while True:
            message = await self._outbox.get()
            try:
                await asyncio.wait_for(self._ws.send_text(message), self._send_timeout)
            except TimeoutError as e:
                raise SlowClientError from e
            self._outbox.task_done()

    async def _drain(self) -> None:
        """Give the sender a moment to flush what is queued (the limit's error message)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._outbox.join(), self._send_timeout)


def _error(code: str, message: str, *, job_id: str | None = None) -> str:
    body: dict[str, str] = {"error": code, "message": message}
    if job_id is not None:
        body["jobId"] = job_id
    return json.dumps(body, separators=(",", ":"))


def _first_problem(e: ValidationError) -> str:
    problem = e.errors()[0]
    where = ".".join(str(p) for p in problem.get("loc", ())) or "message"
    return f'expected {{"subscribe": [jobId, …]}}: {where}: {problem.get("msg", "invalid")}'
