"""``smartpapers-api``: one uvicorn process serving the API."""

from __future__ import annotations

import logging

import uvicorn

from smartpapers.api.app import create_app
from smartpapers.api.settings import Settings
from smartpapers.common.logging import configure_logging
from smartpapers.common.tracing import configure_tracing

logger = logging.getLogger(__name__)


def main() -> None:
    settings = Settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format, service="api")
    configure_tracing("smartpapers-api")
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        timeout_graceful_shutdown=settings.api_graceful_timeout_seconds,
        timeout_keep_alive=settings.api_keep_alive_seconds,
        limit_concurrency=settings.api_limit_concurrency,
        ws_ping_interval=settings.ws_ping_seconds,
        ws_ping_timeout=settings.ws_ping_seconds,
        ws_max_size=64 * 1024,  # a subscribe message of 50 ids is a few KiB
        backlog=4096,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        server_header=False,
    )


if __name__ == "__main__":
    main()
