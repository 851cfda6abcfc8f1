"""The FastAPI application: ``create_app(settings)`` builds it; the lifespan opens and closes
every client."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from importlib.metadata import version
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prometheus_fastapi_instrumentator import Instrumentator

from smartpapers.api.auth import JwtVerifier
from smartpapers.api.backlog import BacklogEstimator, sample_finished
from smartpapers.api.demo_page import mount_demo_page
from smartpapers.api.errors import install_error_handlers
from smartpapers.api.inline import InlineGrader
from smartpapers.api.limits import BodySizeLimitMiddleware
from smartpapers.api.metrics import HTTP_LATENCY_BUCKETS
from smartpapers.api.notifier import JobNotifier
from smartpapers.api.queue_metrics import export_queue_depth
from smartpapers.api.rate_limit import RateLimiter
from smartpapers.api.routes import events, health, papers, submissions, ws
from smartpapers.api.services import Services
from smartpapers.api.settings import Settings
from smartpapers.api.submissions import JobIntake
from smartpapers.common.backends import open_backends
from smartpapers.common.batching import SendBatcher
from smartpapers.common.lanes import LaneQueues
from smartpapers.common.papers import PaperCache
from smartpapers.common.queue import SqsQueue
from smartpapers.common.repositories import JobRepository, PaperRepository, SubmissionRepository
from smartpapers.common.tracing import tracing_enabled

logger = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    async with open_backends(settings) as backends:
        db = backends.db
        lanes = LaneQueues.from_settings(backends.sqs, settings)
        dlq_urls = {"dlq": settings.sqs_dlq_url, "priority-dlq": settings.sqs_priority_dlq_url}
        dlqs = {
            name: SqsQueue(client=backends.sqs, url=url) for name, url in dlq_urls.items() if url
        }
        jobs = JobRepository(db)
        paper_repo = PaperRepository(db)
        paper_cache = PaperCache(
            repository=paper_repo, ttl_seconds=settings.paper_cache_ttl_seconds
        )
        batchers = {
            lane: SendBatcher(
                queue=queue,
                on_failed=jobs.mark_unsent,
                linger_seconds=settings.send_linger_seconds,
            )
            for lane, queue in lanes.items()
        }
        intake = JobIntake(
            jobs=jobs,
            batch_size=settings.api_insert_batch_size,
            max_inflight=settings.api_insert_max_inflight,
            max_pending=settings.api_admission_limit,
            deadline_seconds=settings.api_accept_deadline_seconds,
        )
        limiter = RateLimiter(
            db,
            window_seconds=settings.rate_limit_window_seconds,
            timeout_seconds=settings.rate_limit_timeout_seconds,
        )
        purger: asyncio.Task[None] | None = None
        if settings.submissions_limit or settings.status_polls_limit:
            await limiter.ensure_indexes()
            if not limiter.ttl_index:
                purger = asyncio.create_task(limiter.run_purger())
        notifier = JobNotifier(jobs=jobs, interval_seconds=settings.notifier_interval_seconds)
        notifying = asyncio.create_task(notifier.run())
        verifier: JwtVerifier | None = None
        if settings.auth_mode == "jwt":
            verifier = JwtVerifier(settings)
            await verifier.warm_up()
        try:
            yield Services(
                settings=settings,
                mongo=backends.mongo,
                db=db,
                lanes=lanes,
                dlqs=dlqs,
                jobs=jobs,
                papers=paper_repo,
                paper_cache=paper_cache,
                batchers=batchers,
                intake=intake,
                inline=InlineGrader(
                    intake=intake,
                    jobs=jobs,
                    submissions=SubmissionRepository(db),
                    paper_cache=paper_cache,
                ),
                limiter=limiter,
                notifier=notifier,
                backlog=BacklogEstimator(
                    default_seconds=settings.retry_after_seconds,
                    interval_seconds=settings.queue_metrics_interval_seconds,
                ),
                verifier=verifier,
            )
        finally:
            notifying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await notifying
            if purger is not None:
                purger.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await purger
            await intake.close()
            for batcher in batchers.values():
                await batcher.close()


def _start_samplers(services: Services) -> list[asyncio.Task[None]]:
    """Queue depth (metrics and Retry-After) and the finished-jobs rate, every
    ``queue_metrics_interval_seconds`` (0: neither; Retry-After stays the default)."""
    interval = services.settings.queue_metrics_interval_seconds
    if interval <= 0:
        return []
    queues = {"main": services.lanes.normal, **services.dlqs}
    if services.lanes.priority is not None:
        queues["priority"] = services.lanes.priority

    def on_depth(name: str, depth: dict[str, int]) -> None:
        if name == "main":
            services.backlog.observe_depth(depth)

    return [
        asyncio.create_task(
            export_queue_depth(queues=queues, interval_seconds=interval, on_depth=on_depth)
        ),
        asyncio.create_task(
            sample_finished(
                estimator=services.backlog, jobs=services.jobs, interval_seconds=interval
            )
        ),
    ]


class AuthNotAvailableError(RuntimeError):
    """Raised at start-up instead of serving unauthenticated requests when ``jwt`` mode
    lacks its settings (fail closed)."""


def _document_without_auth(app: FastAPI) -> None:
    """Auth mode none: the schema declares no bearer scheme and no 401/403 answers, so
    clients and schema-driven tests see what this mode actually does."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for item in schema.get("paths", {}).values():
                for operation in item.values():
                    operation.pop("security", None)
                    for status in ("401", "403"):
                        operation.get("responses", {}).pop(status, None)
            schema.get("components", {}).pop("securitySchemes", None)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings) -> FastAPI:
    if settings.auth_mode == "jwt" and (missing := settings.jwt_config_problems()):
        raise AuthNotAvailableError(
            f"SMARTPAPERS_AUTH_MODE=jwt needs {', '.join(missing)}; refusing to start without "
            "authentication. Use auth mode 'none' only on a trusted network."
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(settings) as services:
            app.state.services = services
            samplers = _start_samplers(services)
            logger.info("API ready", extra={"port": settings.api_port})
            try:
                yield
            finally:
                for task in samplers:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                logger.info("API stopping: flushing pending queue sends")

    docs = settings.api_docs_enabled
    app = FastAPI(
        title="smartpapers API",
        version=version("smartpapers-api"),
        summary="Accepts quiz submissions and reports their grading status.",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    install_error_handlers(app, retry_after_seconds=settings.retry_after_seconds)
    if settings.auth_mode == "none":
        _document_without_auth(app)
    app.include_router(health.router)
    app.include_router(submissions.router)
    app.include_router(events.router)
    app.include_router(ws.router)
    app.include_router(papers.router)
    Instrumentator(
        should_group_status_codes=True,
        should_ignore_untemplated=True,
        excluded_handlers=["/metrics", "/healthz", "/readyz"],
    ).instrument(
        app,
        metric_namespace="smartpapers",
        latency_lowr_buckets=HTTP_LATENCY_BUCKETS,
        latency_highr_buckets=HTTP_LATENCY_BUCKETS,
    )
    if settings.api_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api_cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "If-None-Match",
                "Last-Event-ID",
            ],
            expose_headers=["Location", "Retry-After", "ETag"],
        )
    if tracing_enabled():
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
    if settings.demo_page:
        mount_demo_page(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.api_max_body_bytes)
    return app
