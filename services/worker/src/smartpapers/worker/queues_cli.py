"""``smartpapers-queues``: the queue bootstrap (the original ``setup-sqs.sh``) and DLQ tools.

    smartpapers-queues create           # both lanes' queue + DLQ + redrive policy; idempotent
    smartpapers-queues dlq-inspect      # DLQ depth and a sample of jobIds
    smartpapers-queues dlq-redrive      # move DLQ messages back to their lane's queue

``--lane priority`` points the DLQ tools at the priority lane (docs/priority-lane.md).

Works against AWS (standard credential chain) and ElasticMQ (SMARTPAPERS_SQS_ENDPOINT_URL).
Output is machine-readable: ``create`` prints ``SMARTPAPERS_SQS_QUEUE_URL=…`` lines (also
``SMARTPAPERS_SQS_PRIORITY_QUEUE_URL=…``).
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

from smartpapers.common.errors import QueueNotFoundError, QueueUnavailableError
from smartpapers.common.logging import configure_logging
from smartpapers.common.models import Lane
from smartpapers.common.queue import SqsQueue, open_sqs_client
from smartpapers.common.queue_admin import LanePairs, QueueAdmin, QueuePair
from smartpapers.worker.dlq import inspect_dlq, redrive_dlq

logger = logging.getLogger(__name__)


class QueueSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTPAPERS_", extra="ignore", frozen=True)

    aws_region: str = "us-east-1"
    sqs_endpoint_url: str | None = None
    sqs_queue_name: str = Field(
        default="smartpapers-submissions",
        description="name of the main queue (bootstrap, DLQ tools)",
    )
    sqs_dlq_name: str = Field(
        default="smartpapers-submissions-dlq", description="name of the dead-letter queue"
    )
    sqs_priority_queue_name: str = Field(
        default="smartpapers-submissions-priority",
        description="name of the priority lane's queue (bootstrap, DLQ tools)",
    )
    sqs_priority_dlq_name: str = Field(
        default="smartpapers-submissions-priority-dlq",
        description="name of the priority lane's dead-letter queue",
    )
    sqs_max_receive_count: int = Field(
        description="receives before SQS moves a message to the DLQ", default=5, ge=5, le=1000
    )
    sqs_visibility_timeout_seconds: int = Field(default=60, ge=1, le=43_200)
    sqs_message_retention_seconds: int = Field(
        description="how long SQS keeps a message", default=1_209_600, ge=60, le=1_209_600
    )
    log_level: str = "WARNING"
    log_format: str = "text"


async def create_queues(admin: QueueAdmin, settings: QueueSettings) -> LanePairs:
    """Both lanes' pairs, with the same visibility, redrive and retention."""

    async def pair(name: str, dlq_name: str) -> QueuePair:
        return await admin.create_pair(
            name=name,
            dlq_name=dlq_name,
            visibility_timeout=settings.sqs_visibility_timeout_seconds,
            max_receive_count=settings.sqs_max_receive_count,
            retention_seconds=settings.sqs_message_retention_seconds,
        )

    return LanePairs(
        normal=await pair(*lane_names(settings, Lane.NORMAL)),
        priority=await pair(*lane_names(settings, Lane.PRIORITY)),
    )


def lane_names(settings: QueueSettings, lane: Lane) -> tuple[str, str]:
    """(queue, DLQ) names of ``lane``."""
    if lane is Lane.PRIORITY:
        return settings.sqs_priority_queue_name, settings.sqs_priority_dlq_name
    return settings.sqs_queue_name, settings.sqs_dlq_name


async def _run(args: argparse.Namespace, settings: QueueSettings) -> dict[str, Any]:
    async with open_sqs_client(
        region=settings.aws_region, endpoint_url=settings.sqs_endpoint_url
    ) as sqs:
        admin = QueueAdmin(sqs)
        if args.command == "create":
            return (await create_queues(admin, settings)).env()
        name, dlq_name = lane_names(settings, Lane(args.lane))
        main = SqsQueue(client=sqs, url=await admin.url_of(name))
        dlq = SqsQueue(client=sqs, url=await admin.url_of(dlq_name))
        if args.command == "dlq-inspect":
            return await inspect_dlq(dlq, sample=args.sample)
        return await redrive_dlq(dlq=dlq, main=main, limit=args.limit)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smartpapers-queues", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("create", help="create both lanes' queue + DLQ + redrive (idempotent)")
    inspect = sub.add_parser("dlq-inspect", help="DLQ depth and sample jobIds")
    inspect.add_argument("--sample", type=int, default=10, help="messages to peek at")
    redrive = sub.add_parser("dlq-redrive", help="move DLQ messages back to their queue")
    redrive.add_argument("--limit", type=int, default=None, help="at most this many messages")
    for tool in (inspect, redrive):
        tool.add_argument(
            "--lane", choices=[lane.value for lane in Lane], default=Lane.NORMAL.value
        )
    args = parser.parse_args(argv)
    settings = QueueSettings()
    configure_logging(level=settings.log_level, fmt=settings.log_format, service="queues")
    try:
        result = asyncio.run(_run(args, settings))
    except (QueueUnavailableError, QueueNotFoundError) as e:
        sys.stderr.write(f"smartpapers-queues: {e}\n")
        return 1
    if args.command == "create":
        sys.stdout.write("".join(f"{k}={v}\n" for k, v in result.items()))
    else:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
