"""``smartpapers-queues``: the queue bootstrap (the original ``setup-sqs.sh``) and DLQ tools.

    smartpapers-queues create           # main queue + DLQ + redrive policy; idempotent
    smartpapers-queues dlq-inspect      # DLQ depth and a sample of jobIds
    smartpapers-queues dlq-redrive      # move DLQ messages back to the main queue

Works against AWS (standard credential chain) and ElasticMQ (SMARTPAPERS_SQS_ENDPOINT_URL).
Output is machine-readable: ``create`` prints ``SMARTPAPERS_SQS_QUEUE_URL=…`` lines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartpapers.common.errors import QueueUnavailableError
from smartpapers.common.logging import configure_logging
from smartpapers.common.queue import SQSClient, open_sqs_client, sqs_errors
from smartpapers.worker.dlq import inspect_dlq, redrive_dlq

logger = logging.getLogger(__name__)


class QueueSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTPAPERS_", extra="ignore", frozen=True)

    aws_region: str = "us-east-1"
    sqs_endpoint_url: str | None = None
    sqs_queue_name: str = "smartpapers-submissions"
    sqs_dlq_name: str = "smartpapers-submissions-dlq"
    sqs_max_receive_count: int = Field(default=5, ge=5, le=1000)
    sqs_visibility_timeout_seconds: int = Field(default=60, ge=1, le=43_200)
    sqs_message_retention_seconds: int = Field(default=1_209_600, ge=60, le=1_209_600)
    log_level: str = "WARNING"
    log_format: str = "text"


async def _ensure_queue(sqs: SQSClient, name: str, attributes: dict[str, str]) -> str:
    """CreateQueue is idempotent for identical attributes; on a mismatch, update them."""
    try:
        async with sqs_errors("CreateQueue"):
            resp = await sqs.create_queue(QueueName=name, Attributes=attributes)  # type: ignore[arg-type]
        return resp["QueueUrl"]
    except QueueUnavailableError as e:
        cause = e.__cause__
        code = getattr(cause, "response", {}).get("Error", {}).get("Code", "")
        if "QueueAlreadyExists" not in code and "QueueNameExists" not in code:
            raise
    async with sqs_errors("GetQueueUrl"):
        url = (await sqs.get_queue_url(QueueName=name))["QueueUrl"]
    async with sqs_errors("SetQueueAttributes"):
        await sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)  # type: ignore[arg-type]
    return url


async def create_queues(sqs: SQSClient, settings: QueueSettings) -> dict[str, str]:
    retention = str(settings.sqs_message_retention_seconds)
    dlq_url = await _ensure_queue(sqs, settings.sqs_dlq_name, {"MessageRetentionPeriod": retention})
    async with sqs_errors("GetQueueAttributes"):
        attrs = await sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
    dlq_arn = attrs["Attributes"]["QueueArn"]
    redrive = json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": settings.sqs_max_receive_count}
    )
    main_url = await _ensure_queue(
        sqs,
        settings.sqs_queue_name,
        {
            "VisibilityTimeout": str(settings.sqs_visibility_timeout_seconds),
            "ReceiveMessageWaitTimeSeconds": "20",
            "MessageRetentionPeriod": retention,
            "RedrivePolicy": redrive,
        },
    )
    return {"SMARTPAPERS_SQS_QUEUE_URL": main_url, "SMARTPAPERS_SQS_DLQ_URL": dlq_url}


async def _run(args: argparse.Namespace, settings: QueueSettings) -> dict[str, Any]:
    async with open_sqs_client(
        region=settings.aws_region, endpoint_url=settings.sqs_endpoint_url
    ) as sqs:
        if args.command == "create":
            return await create_queues(sqs, settings)
        async with sqs_errors("GetQueueUrl"):
            main_url = (await sqs.get_queue_url(QueueName=settings.sqs_queue_name))["QueueUrl"]
        async with sqs_errors("GetQueueUrl"):
            dlq_url = (await sqs.get_queue_url(QueueName=settings.sqs_dlq_name))["QueueUrl"]
        if args.command == "dlq-inspect":
            return await inspect_dlq(sqs, dlq_url=dlq_url, sample=args.sample)
        return await redrive_dlq(sqs, dlq_url=dlq_url, main_url=main_url, limit=args.limit)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smartpapers-queues", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("create", help="create main queue + DLQ + redrive policy (idempotent)")
    inspect = sub.add_parser("dlq-inspect", help="DLQ depth and sample jobIds")
    inspect.add_argument("--sample", type=int, default=10, help="messages to peek at")
    redrive = sub.add_parser("dlq-redrive", help="move DLQ messages back to the main queue")
    redrive.add_argument("--limit", type=int, default=None, help="at most this many messages")
    args = parser.parse_args(argv)
    settings = QueueSettings()
    configure_logging(level=settings.log_level, fmt=settings.log_format, service="queues")
    try:
        result = asyncio.run(_run(args, settings))
    except QueueUnavailableError as e:
        sys.stderr.write(f"smartpapers-queues: {e}\n")
        return 1
    if args.command == "create":
        sys.stdout.write("".join(f"{k}={v}\n" for k, v in result.items()))
    else:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
