"""``smartpapers-worker``: one asyncio process consuming the submission queue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass

from smartpapers.common import failpoints
from smartpapers.common.backends import open_backends
from smartpapers.common.lanes import LaneQueues
from smartpapers.common.logging import configure_logging
from smartpapers.common.papers import PaperCache
from smartpapers.common.repositories import (
    JobRepository,
    LockRepository,
    PaperRepository,
    SubmissionRepository,
    SweepRepository,
)
from smartpapers.common.tracing import configure_tracing
from smartpapers.worker.consumer import Worker, new_owner
from smartpapers.worker.health import build_health_app, start_health_server
from smartpapers.worker.processing import JobProcessor
from smartpapers.worker.settings import Settings
from smartpapers.worker.sweeper import Sweeper

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerProcess:
    worker: Worker
    sweeper: Sweeper | None


@contextlib.asynccontextmanager
async def open_worker(settings: Settings) -> AsyncIterator[Worker]:
    async with open_worker_process(settings) as process:
        yield process.worker


@contextlib.asynccontextmanager
async def open_worker_process(settings: Settings) -> AsyncIterator[WorkerProcess]:
    """Open MongoDB and SQS (with bounded retries) and build the worker around them."""
    async with open_backends(
        settings, sqs_pool_connections=max(20, settings.worker_concurrency // 5)
    ) as backends:
        db, sqs = backends.db, backends.sqs
        jobs = JobRepository(db)
        owner = new_owner()
        processor = JobProcessor(
            jobs=jobs,
            submissions=SubmissionRepository(db),
            paper_cache=PaperCache(
                repository=PaperRepository(db), ttl_seconds=settings.paper_cache_ttl_seconds
            ),
            owner=owner,
            lease_seconds=settings.sqs_visibility_timeout_seconds,
            max_attempts=settings.max_attempts,
            retry_base_delay=settings.retry_base_delay_seconds,
            retry_max_delay=settings.retry_max_delay_seconds,
        )
        queues = LaneQueues.from_settings(sqs, settings)
        worker = Worker(
            queue=queues.normal,
            priority_queue=queues.priority,
            priority_share=settings.worker_priority_share,
            processor=processor,
            concurrency=settings.worker_concurrency,
            adaptive=settings.worker_adaptive_concurrency,
            wait_seconds=settings.sqs_wait_time_seconds,
            visibility_timeout=settings.sqs_visibility_timeout_seconds,
            drain_timeout=settings.worker_drain_timeout_seconds,
        )
        sweeper = None
        if settings.sweeper_enabled:
            sweeper = Sweeper(
                sweeps=SweepRepository(db),
                jobs=jobs,
                locks=LockRepository(db),
                queues=queues,
                owner=owner,
                lease_seconds=settings.sqs_visibility_timeout_seconds,
                interval_seconds=settings.sweeper_interval_seconds,
                unsent_grace_seconds=settings.sweeper_unsent_grace_seconds,
                stale_after_seconds=settings.sweeper_stale_after_seconds,
                max_attempts=settings.max_attempts,
            )
        yield WorkerProcess(worker=worker, sweeper=sweeper)


async def serve(settings: Settings) -> None:
    failpoints.configure(settings.failpoints)
    async with open_worker_process(settings) as process:
        worker = process.worker
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        runner = None
        if settings.worker_metrics_port:
            runner = await start_health_server(
                build_health_app(
                    last_poll=lambda: worker.last_poll,
                    stale_after_seconds=3 * settings.sqs_wait_time_seconds + 10,
                ),
                host=settings.worker_metrics_host,
                port=settings.worker_metrics_port,
            )
        sweeping = (
            asyncio.create_task(process.sweeper.run(worker.stopping_event))
            if process.sweeper is not None
            else None
        )
        try:
            await worker.run()
            if sweeping is not None:
                await sweeping
        finally:
            if runner is not None:
                await runner.cleanup()


def main() -> None:
    settings = Settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format, service="worker")
    configure_tracing("smartpapers-worker")
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
