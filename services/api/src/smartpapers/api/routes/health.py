"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from smartpapers.api.dependencies import ServicesDep
from smartpapers.common.errors import QueueUnavailableError, StorageUnavailableError
from smartpapers.common.mongo import ping

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the event loop answers. No external calls."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep) -> JSONResponse:
    """Readiness: MongoDB and SQS both answer within the Mongo timeout."""
    checks: dict[str, str] = {}

    async def mongo() -> None:
        try:
            await ping(services.mongo)
            checks["mongo"] = "ok"
        except StorageUnavailableError as e:
            checks["mongo"] = f"error: {e.__cause__.__class__.__name__}"

    async def sqs() -> None:
        try:
            await services.lanes.normal.arn()
            checks["sqs"] = "ok"
        except QueueUnavailableError as e:
            checks["sqs"] = f"error: {e.__cause__.__class__.__name__}"

    timeout = services.settings.mongo_timeout_ms / 1000
    try:
        async with asyncio.timeout(timeout):
            await asyncio.gather(mongo(), sqs())
    except TimeoutError:
        checks.setdefault("mongo", "timeout")
        checks.setdefault("sqs", "timeout")
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
