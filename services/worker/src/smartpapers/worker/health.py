"""The worker's small HTTP server: ``/healthz`` (liveness from the poll loop) and
``/metrics``. aiohttp is already in the process (aiobotocore uses it)."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def build_health_app(
    *, last_poll: Callable[[], float], stale_after_seconds: float
) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        age = time.monotonic() - last_poll()
        if age > stale_after_seconds:
            return web.json_response(
                {"status": "stalled", "secondsSinceLastPoll": round(age, 1)}, status=503
            )
        return web.json_response({"status": "ok", "secondsSinceLastPoll": round(age, 1)})

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


async def start_health_server(app: web.Application, *, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
