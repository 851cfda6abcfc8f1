"""``GET /api/submissions/ws``: status changes of many jobs over one WebSocket
(docs/push.md#websocket; the connection's rules are in :mod:`smartpapers.api.ws`)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketState

from smartpapers.api.dependencies import ServicesDep, authenticate
from smartpapers.api.errors import domain_error_response, status_of
from smartpapers.api.routes.submissions import readable_view
from smartpapers.api.ws import Subscriptions
from smartpapers.common.errors import SmartpapersError
from smartpapers.common.models import JobView

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/submissions", tags=["submissions"])

SUBPROTOCOL = "smartpapers.v1"


@router.websocket("/ws")
async def job_updates(websocket: WebSocket, services: ServicesDep) -> None:
    """Authenticated before the handshake completes (a refused token is an HTTP 401/503
    answer to the upgrade, with the API's error body); then :class:`Subscriptions`."""
    try:
        principal = await authenticate(websocket)
    except SmartpapersError as e:
        await _deny(websocket, services, e)
        return
    offered = websocket.scope.get("subprotocols", [])
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)

    async def read_view(job_id: str) -> JobView:
        """The status endpoint's read: rate limit, authorization, 404 for another's job."""
        return await readable_view(
            job_id, websocket, services, principal, services.limiter, services.jobs
        )

    subscriptions = Subscriptions(
        websocket,
        notifier=services.notifier,
        read_view=read_view,
        send_timeout_seconds=services.settings.ws_send_timeout_seconds,
    )
    await subscriptions.serve()
    if websocket.client_state is WebSocketState.CONNECTED:
        await websocket.close()


async def _deny(websocket: WebSocket, services: ServicesDep, e: SmartpapersError) -> None:
    logger.info("websocket refused (%d): %s", status_of(e), e)
    retry_after = services.settings.retry_after_seconds
    await websocket.send_denial_response(domain_error_response(e, retry_after_seconds=retry_after))
