"""Exports queue depth (main queue and DLQ) as ``smartpapers_sqs_queue_messages``."""

from __future__ import annotations

import asyncio
import logging

from smartpapers.api.metrics import QUEUE_MESSAGES
from smartpapers.common.errors import QueueUnavailableError
from smartpapers.common.queue import SqsQueue

logger = logging.getLogger(__name__)


async def export_queue_depth(*, queues: dict[str, SqsQueue], interval_seconds: float) -> None:
    """Runs until cancelled; one GetQueueAttributes per queue per interval."""
    while True:
        for name, queue in queues.items():
            try:
                depth = await queue.depth()
            except QueueUnavailableError as e:
                logger.warning("queue depth of %s unavailable: %s", name, e)
                continue
            for state, value in depth.items():
                QUEUE_MESSAGES.labels(queue=name, state=state).set(value)
        await asyncio.sleep(interval_seconds)
