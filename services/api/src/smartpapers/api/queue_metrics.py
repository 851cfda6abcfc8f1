"""Exports queue depth (main queue and DLQ) as ``smartpapers_sqs_queue_messages``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from smartpapers.api.metrics import QUEUE_MESSAGES
from smartpapers.common.errors import QueueUnavailableError
from smartpapers.common.queue import SqsQueue

logger = logging.getLogger(__name__)


async def export_queue_depth(
    *,
    queues: dict[str, SqsQueue],
    interval_seconds: float,
    on_depth: Callable[[str, dict[str, int]], None] | None = None,
) -> None:
    """Runs until cancelled; one GetQueueAttributes per queue per interval. ``on_depth``
    also gets each answer (the Retry-After estimator reads the main queue's)."""
    while True:
        for name, queue in queues.items():
            try:
                depth = await queue.depth()
            except QueueUnavailableError as e:
                logger.warning("queue depth of %s unavailable: %s", name, e)
                continue
            for state, value in depth.items():
                QUEUE_MESSAGES.labels(queue=name, state=state).set(value)
            if on_depth is not None:
                on_depth(name, depth)
        await asyncio.sleep(interval_seconds)
