"""Queue administration through the SQS adapter: the bootstrap (the original ``setup-sqs.sh``:
main queue + DLQ + redrive policy, idempotent) and queue look-ups by name. Like
:mod:`smartpapers.common.queue`, the only code that calls the SQS client."""

from __future__ import annotations

import json
from dataclasses import dataclass

from smartpapers.common.errors import QueueNotFoundError, QueueUnavailableError
from smartpapers.common.queue import SQSClient, SqsQueue, sqs_errors

NO_SUCH_QUEUE = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
"""GetQueueUrl's codes for a missing queue (the JSON protocol's and the query protocol's)."""
QUEUE_EXISTS = frozenset({"QueueAlreadyExists", "QueueNameExists"})


def error_code(e: QueueUnavailableError) -> str:
    """The SQS error code behind ``e`` ("" for a transport error)."""
    code = getattr(e.__cause__, "response", {}).get("Error", {}).get("Code", "")
    return str(code)


@dataclass(frozen=True, slots=True)
class QueuePair:
    """A main queue and its dead-letter queue."""

    main: str
    dlq: str

    def env(self, lane: str = "") -> dict[str, str]:
        """The settings naming this pair; ``lane="PRIORITY"``: the priority lane's."""
        infix = f"{lane}_" if lane else ""
        return {
            f"SMARTPAPERS_SQS_{infix}QUEUE_URL": self.main,
            f"SMARTPAPERS_SQS_{infix}DLQ_URL": self.dlq,
        }


@dataclass(frozen=True, slots=True)
class LanePairs:
    """Both lanes' queue pairs (smartpapers.common.lanes)."""

    normal: QueuePair
    priority: QueuePair

    def env(self) -> dict[str, str]:
        return self.normal.env() | self.priority.env("PRIORITY")


class QueueAdmin:
    def __init__(self, client: SQSClient) -> None:
        self._client = client

    async def url_of(self, name: str) -> str:
        """The queue's URL; QueueNotFoundError when there is no queue of that name."""
        try:
            async with sqs_errors("GetQueueUrl"):
                return (await self._client.get_queue_url(QueueName=name))["QueueUrl"]
        except QueueUnavailableError as e:
            if error_code(e) in NO_SUCH_QUEUE:
                raise QueueNotFoundError(name) from e.__cause__
            raise

    async def ensure(self, name: str, attributes: dict[str, str]) -> str:
        """CreateQueue is idempotent for identical attributes; on a mismatch, update them."""
        try:
            async with sqs_errors("CreateQueue"):
                resp = await self._client.create_queue(QueueName=name, Attributes=attributes)  # type: ignore[arg-type]
            return resp["QueueUrl"]
        except QueueUnavailableError as e:
            if error_code(e) not in QUEUE_EXISTS:
                raise
        url = await self.url_of(name)
        async with sqs_errors("SetQueueAttributes"):
            await self._client.set_queue_attributes(QueueUrl=url, Attributes=attributes)  # type: ignore[arg-type]
        return url

    async def create_pair(
        self,
        *,
        name: str,
        dlq_name: str,
        visibility_timeout: int,
        max_receive_count: int,
        retention_seconds: int,
    ) -> QueuePair:
        """The main queue with its DLQ and redrive policy (``maxReceiveCount`` deliveries)."""
        retention = str(retention_seconds)
        dlq_url = await self.ensure(dlq_name, {"MessageRetentionPeriod": retention})
        dlq_arn = await SqsQueue(client=self._client, url=dlq_url).arn()
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
        main_url = await self.ensure(
            name,
            {
                "VisibilityTimeout": str(visibility_timeout),
                "ReceiveMessageWaitTimeSeconds": "20",
                "MessageRetentionPeriod": retention,
                "RedrivePolicy": redrive,
            },
        )
        return QueuePair(main=main_url, dlq=dlq_url)

    async def delete(self, url: str) -> None:
        async with sqs_errors("DeleteQueue"):
            await self._client.delete_queue(QueueUrl=url)
