"""``GET /api/submissions/status/{jobId}/events``: the status answer pushed as Server-Sent
Events (docs/push.md). sse-starlette writes the stream, its heartbeat comments and notices
the client hanging up; the :class:`~smartpapers.api.notifier.JobNotifier` wakes it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from smartpapers.api.dependencies import (
    AuthenticatedRoute,
    JobsDep,
    LimiterDep,
    NotifierDep,
    PrincipalDep,
    ServicesDep,
)
from smartpapers.api.errors import error_responses
from smartpapers.api.job_views import status_response
from smartpapers.api.notifier import JobNotifier
from smartpapers.api.routes.submissions import readable_view
from smartpapers.common.models import JobView

router = APIRouter(prefix="/api/submissions", tags=["submissions"], route_class=AuthenticatedRoute)


@router.get(
    "/status/{job_id}/events",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "status events"},
        **error_responses(401, 404, 422, 429, 503),
    },
    summary="Status of a submission job, pushed as Server-Sent Events",
)
async def job_events(
    job_id: str,
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    limiter: LimiterDep,
    jobs: JobsDep,
    notifier: NotifierDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> EventSourceResponse:
    """``event: status`` with the status endpoint's JSON at once and on every change, ``id:``
    its ETag; ends after ``completed`` or ``failed`` (always sent, so a client that
    reconnects learns it is done). A ``Last-Event-ID`` equal to the current state skips
    that state's event."""
    view = await readable_view(job_id, request, services, principal, limiter, jobs)
    settings = services.settings
    return EventSourceResponse(
        _events(notifier, view, last_event_id, max_seconds=settings.sse_max_seconds),
        ping=settings.sse_heartbeat_seconds,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(
    notifier: JobNotifier, view: JobView, last_sent: str | None, *, max_seconds: float
) -> AsyncIterator[ServerSentEvent]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_seconds
    async with notifier.watch(view) as watch:
        while True:
            current = watch.view
            response = status_response(current)
            tag = response.headers["ETag"]
            if tag != last_sent or current.status.is_final:
                yield ServerSentEvent(data=bytes(response.body).decode(), event="status", id=tag)
                last_sent = tag
            if current.status.is_final or (left := deadline - loop.time()) <= 0:
                return
            await watch.changed(left)
