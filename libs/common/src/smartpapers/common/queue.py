"""SQS adapter: one place that talks to SQS (AWS or an emulator), counts every request in
``smartpapers_sqs_requests_total`` and turns botocore errors into QueueUnavailableError."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aioboto3
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from smartpapers.common.errors import InvalidMessageError, QueueUnavailableError
from smartpapers.common.metrics import SQS_REQUESTS
from smartpapers.common.models import QueueMessage
from smartpapers.common.tracing import TRACEPARENT

if TYPE_CHECKING:
    from types_aiobotocore_sqs.client import SQSClient
    from types_aiobotocore_sqs.type_defs import (
        MessageAttributeValueTypeDef,
        MessageTypeDef,
        SendMessageBatchRequestEntryTypeDef,
    )
else:
    SQSClient = Any

__all__ = [
    "MAX_BATCH",
    "SQSClient",
    "ReceivedMessage",
    "SqsQueue",
    "decode_job_message",
    "encode_job_message",
    "open_sqs_client",
    "sqs_errors",
]

logger = logging.getLogger(__name__)

MAX_BATCH = 10


def encode_job_message(job_id: str) -> str:
    return json.dumps({"jobId": job_id, "v": 1}, separators=(",", ":"))


def decode_job_message(body: str) -> str:
    try:
        return QueueMessage.model_validate_json(body).job_id
    except ValueError as e:
        raise InvalidMessageError(f"not a job message: {body[:200]!r}") from e


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    traceparent: str | None = None
    """The W3C trace context the API sent with the job (message attribute)."""
    received_at_ns: int = 0
    """``time.time_ns()`` when ReceiveMessage answered (the receive span's end)."""


def _trace_attributes(traceparent: str | None) -> dict[str, MessageAttributeValueTypeDef]:
    if not traceparent:
        return {}
    return {TRACEPARENT: {"DataType": "String", "StringValue": traceparent}}


def _entry(i: int, job_id: str, traceparent: str | None) -> SendMessageBatchRequestEntryTypeDef:
    entry: SendMessageBatchRequestEntryTypeDef = {
        "Id": str(i),
        "MessageBody": encode_job_message(job_id),
    }
    if traceparent:
        entry["MessageAttributes"] = _trace_attributes(traceparent)
    return entry


def _traceparent_of(message: MessageTypeDef) -> str | None:
    attribute = message.get("MessageAttributes", {}).get(TRACEPARENT)
    return attribute.get("StringValue") if attribute else None


@asynccontextmanager
async def sqs_errors(operation: str, *, count: bool = True) -> AsyncIterator[None]:
    if count:
        SQS_REQUESTS.labels(operation=operation).inc()
    try:
        yield
    except (BotoCoreError, ClientError, OSError) as e:
        raise QueueUnavailableError(f"SQS {operation} failed: {e}") from e


@asynccontextmanager
async def open_sqs_client(
    *,
    region: str,
    endpoint_url: str | None,
    max_pool_connections: int = 50,
    static_credentials: tuple[str, str] | None = None,
) -> AsyncIterator[SQSClient]:
    """An aiobotocore SQS client; credentials come from the standard AWS chain
    (``static_credentials``: an emulator's dummy key pair, for local tools only)."""
    config = AioConfig(
        retries={"max_attempts": 3, "mode": "standard"},
        max_pool_connections=max_pool_connections,
        connect_timeout=5,
        read_timeout=30,  # > WaitTimeSeconds 20
    )
    session = aioboto3.Session()
    key_id, secret = static_credentials or (None, None)
    async with session.client(
        "sqs",
        region_name=region,
        endpoint_url=endpoint_url,
        config=config,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    ) as client:
        yield client


class SqsQueue:
    """One queue (main or DLQ). Batches are capped at SQS's limit of 10 entries.
    ``batching=False`` sends and deletes one message per request (the benchmark's naive
    baseline)."""

    def __init__(self, *, client: SQSClient, url: str, batching: bool = True) -> None:
        self.client = client
        self.url = url
        self.batching = batching

    @property
    def max_batch(self) -> int:
        """Messages per send / receive / delete request."""
        return MAX_BATCH if self.batching else 1

    async def arn(self) -> str:
        """The queue's ARN (also the readiness check: one GetQueueAttributes)."""
        async with sqs_errors("GetQueueAttributes"):
            resp = await self.client.get_queue_attributes(
                QueueUrl=self.url, AttributeNames=["QueueArn"]
            )
        return resp["Attributes"]["QueueArn"]

    async def send_bodies(self, bodies: Sequence[str]) -> set[int]:
        """SendMessageBatch of raw bodies (≤10; the DLQ redrive): the indexes accepted."""
        async with sqs_errors("SendMessageBatch"):
            resp = await self.client.send_message_batch(
                QueueUrl=self.url,
                Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)],
            )
        return {int(ok["Id"]) for ok in resp.get("Successful", [])}

    async def start_move_task_from(self, source: SqsQueue, *, per_second: int | None) -> str:
        """StartMessageMoveTask from ``source`` (a DLQ) to this queue (AWS only)."""
        kwargs: dict[str, Any] = {
            "SourceArn": await source.arn(),
            "DestinationArn": await self.arn(),
        }
        if per_second:
            kwargs["MaxNumberOfMessagesPerSecond"] = per_second
        async with sqs_errors("StartMessageMoveTask"):
            task = await self.client.start_message_move_task(**kwargs)
        return str(task.get("TaskHandle", ""))

    async def send_job_ids(
        self, job_ids: Sequence[str], *, traceparents: Mapping[str, str] | None = None
    ) -> list[str]:
        """SendMessageBatch; returns the jobIds that were NOT sent. ``traceparents``: the
        W3C trace context per jobId, sent as the message attribute ``traceparent``."""
        tp = traceparents or {}
        if not self.batching:
            return [j for j in job_ids if not await self._send_one(j, tp.get(j))]
        failed: list[str] = []
        for start in range(0, len(job_ids), MAX_BATCH):
            chunk = job_ids[start : start + MAX_BATCH]
            try:
                async with sqs_errors("SendMessageBatch"):
                    resp = await self.client.send_message_batch(
                        QueueUrl=self.url,
                        Entries=[_entry(i, j, tp.get(j)) for i, j in enumerate(chunk)],
                    )
            except QueueUnavailableError as e:
                logger.warning("SendMessageBatch failed for %d jobs: %s", len(chunk), e)
                failed.extend(chunk)
                continue
            failed.extend(chunk[int(f["Id"])] for f in resp.get("Failed", []))
        return failed

    async def _send_one(self, job_id: str, traceparent: str | None = None) -> bool:
        try:
            async with sqs_errors("SendMessage"):
                await self.client.send_message(
                    QueueUrl=self.url,
                    MessageBody=encode_job_message(job_id),
                    MessageAttributes=_trace_attributes(traceparent),
                )
        except QueueUnavailableError as e:
            logger.warning("SendMessage failed for job %s: %s", job_id, e)
            return False
        return True

    async def receive(
        self,
        *,
        max_messages: int = MAX_BATCH,
        wait_seconds: int = 20,
        visibility_timeout: int | None = None,
    ) -> list[ReceivedMessage]:
        kwargs: dict[str, Any] = {}
        if visibility_timeout is not None:
            kwargs["VisibilityTimeout"] = visibility_timeout
        async with sqs_errors("ReceiveMessage"):
            resp = await self.client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=max_messages,
                WaitTimeSeconds=wait_seconds,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
                MessageAttributeNames=[TRACEPARENT],
                **kwargs,
            )
        now = time.time_ns()
        return [
            ReceivedMessage(
                message_id=m["MessageId"],
                receipt_handle=m["ReceiptHandle"],
                body=m.get("Body", ""),
                receive_count=int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
                traceparent=_traceparent_of(m),
                received_at_ns=now,
            )
            for m in resp.get("Messages", [])
        ]

    async def delete(self, receipt_handles: Sequence[str]) -> int:
        """DeleteMessageBatch; returns how many deletions failed (they will be redelivered
        and acknowledged again, which is harmless)."""
        failed = 0
        if not self.batching:
            for handle in receipt_handles:
                async with sqs_errors("DeleteMessage"):
                    await self.client.delete_message(QueueUrl=self.url, ReceiptHandle=handle)
            return failed
        for start in range(0, len(receipt_handles), MAX_BATCH):
            chunk = receipt_handles[start : start + MAX_BATCH]
            async with sqs_errors("DeleteMessageBatch"):
                resp = await self.client.delete_message_batch(
                    QueueUrl=self.url,
                    Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(chunk)],
                )
            failed += len(resp.get("Failed", []))
        return failed

    async def change_visibility(self, entries: Sequence[tuple[str, int]]) -> int:
        """ChangeMessageVisibilityBatch with (receipt handle, seconds) pairs."""
        failed = 0
        for start in range(0, len(entries), MAX_BATCH):
            chunk = entries[start : start + MAX_BATCH]
            async with sqs_errors("ChangeMessageVisibilityBatch"):
                resp = await self.client.change_message_visibility_batch(
                    QueueUrl=self.url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": s}
                        for i, (h, s) in enumerate(chunk)
                    ],
                )
            failed += len(resp.get("Failed", []))
        return failed

    async def depth(self) -> dict[str, int]:
        """visible / inflight / delayed message counts."""
        async with sqs_errors("GetQueueAttributes"):
            resp = await self.client.get_queue_attributes(
                QueueUrl=self.url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )
        attrs = resp.get("Attributes", {})
        return {
            "visible": int(attrs.get("ApproximateNumberOfMessages", 0)),
            "inflight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
            "delayed": int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)),
        }
