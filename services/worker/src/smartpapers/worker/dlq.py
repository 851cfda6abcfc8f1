"""DLQ inspection and redrive.

Redrive prefers SQS's StartMessageMoveTask (AWS); where the endpoint lacks it (ElasticMQ),
it falls back to receive → send to the main queue → delete from the DLQ. A message is deleted
from the DLQ only after the main queue accepted it, so a crash mid-way duplicates at worst
(harmless: the workers are idempotent) and never loses one; redriving twice is a no-op once
the DLQ is empty.
"""

from __future__ import annotations

import logging
from typing import Any

from smartpapers.common.errors import QueueUnavailableError
from smartpapers.common.queue import SqsQueue, decode_job_message

logger = logging.getLogger(__name__)


async def inspect_dlq(dlq: SqsQueue, *, sample: int) -> dict[str, Any]:
    depth = await dlq.depth()
    seen: dict[str, Any] = {}
    while len(seen) < sample:
        # peek: a zero visibility timeout leaves the messages where they are
        batch = await dlq.receive(
            max_messages=min(10, sample - len(seen)), wait_seconds=0, visibility_timeout=0
        )
        new = [m for m in batch if m.message_id not in seen]
        if not new:
            break
        for m in new:
            try:
                job: str | None = decode_job_message(m.body)
            except Exception:
                job = None
            seen[m.message_id] = {
                "jobId": job,
                "receiveCount": m.receive_count,
                "body": m.body[:200] if job is None else None,
            }
    return {"dlqUrl": dlq.url, "depth": depth, "sample": list(seen.values())}


async def redrive_dlq(*, dlq: SqsQueue, main: SqsQueue, limit: int | None) -> dict[str, Any]:
    try:
        handle = await main.start_move_task_from(dlq, per_second=min(limit, 500) if limit else None)
        return {"method": "StartMessageMoveTask", "taskHandle": handle}
    except QueueUnavailableError as e:
        logger.info("StartMessageMoveTask unavailable (%s); moving messages one batch at a time", e)
    return await _move_by_hand(dlq=dlq, main=main, limit=limit)


async def _move_by_hand(*, dlq: SqsQueue, main: SqsQueue, limit: int | None) -> dict[str, Any]:
    moved = 0
    while limit is None or moved < limit:
        want = 10 if limit is None else min(10, limit - moved)
        batch = await dlq.receive(max_messages=want, wait_seconds=1, visibility_timeout=60)
        if not batch:
            break
        ok = await main.send_bodies([m.body for m in batch])
        sent = [m for i, m in enumerate(batch) if i in ok]
        if sent:
            await dlq.delete([m.receipt_handle for m in sent])
        moved += len(sent)
        if len(sent) < len(batch):
            raise QueueUnavailableError(f"{len(batch) - len(sent)} messages could not be sent")
    return {"method": "receive-send-delete", "moved": moved}
