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
from smartpapers.common.queue import SQSClient, SqsQueue, decode_job_message, sqs_errors

logger = logging.getLogger(__name__)


async def inspect_dlq(sqs: SQSClient, *, dlq_url: str, sample: int) -> dict[str, Any]:
    dlq = SqsQueue(client=sqs, url=dlq_url)
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
    return {"dlqUrl": dlq_url, "depth": depth, "sample": list(seen.values())}


async def redrive_dlq(
    sqs: SQSClient, *, dlq_url: str, main_url: str, limit: int | None
) -> dict[str, Any]:
    try:
        async with sqs_errors("GetQueueAttributes"):
            arns = [
                (await sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["QueueArn"]))[
                    "Attributes"
                ]["QueueArn"]
                for u in (dlq_url, main_url)
            ]
        kwargs: dict[str, Any] = {"SourceArn": arns[0], "DestinationArn": arns[1]}
        if limit:
            kwargs["MaxNumberOfMessagesPerSecond"] = min(limit, 500)
        async with sqs_errors("StartMessageMoveTask"):
            task = await sqs.start_message_move_task(**kwargs)
        return {"method": "StartMessageMoveTask", "taskHandle": task.get("TaskHandle")}
    except QueueUnavailableError as e:
        logger.info("StartMessageMoveTask unavailable (%s); moving messages one batch at a time", e)
    return await _move_by_hand(sqs, dlq_url=dlq_url, main_url=main_url, limit=limit)


async def _move_by_hand(
    sqs: SQSClient, *, dlq_url: str, main_url: str, limit: int | None
) -> dict[str, Any]:
    dlq = SqsQueue(client=sqs, url=dlq_url)
    moved = 0
    while limit is None or moved < limit:
        want = 10 if limit is None else min(10, limit - moved)
        batch = await dlq.receive(max_messages=want, wait_seconds=1, visibility_timeout=60)
        if not batch:
            break
        async with sqs_errors("SendMessageBatch"):
            resp = await sqs.send_message_batch(
                QueueUrl=main_url,
                Entries=[{"Id": str(i), "MessageBody": m.body} for i, m in enumerate(batch)],
            )
        ok = {int(s["Id"]) for s in resp.get("Successful", [])}
        sent = [m for i, m in enumerate(batch) if i in ok]
        if sent:
            await dlq.delete([m.receipt_handle for m in sent])
        moved += len(sent)
        if len(sent) < len(batch):
            raise QueueUnavailableError(f"{len(batch) - len(sent)} messages could not be sent")
    return {"method": "receive-send-delete", "moved": moved}
