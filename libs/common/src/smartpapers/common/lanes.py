"""Lanes: the normal queue and the priority queue of premium students (docs/priority-lane.md).

A job's lane is decided by the API from the caller's identity (never from the request body),
stored on the job, and names the SQS queue its messages travel on — the API's first send, the
sweeper's re-sends and the worker's acknowledgements all go to that lane's queue. Without a
priority queue configured there is one lane: every job is ``normal``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from smartpapers.common.models import Lane
from smartpapers.common.queue import SQSClient, SqsQueue
from smartpapers.common.settings import CommonSettings

__all__ = ["Lane", "LaneQueues"]


@dataclass(frozen=True, slots=True)
class LaneQueues:
    """The queue of each lane (``priority`` is None: one lane)."""

    normal: SqsQueue
    priority: SqsQueue | None = None

    @classmethod
    def from_settings(cls, client: SQSClient, settings: CommonSettings) -> LaneQueues:
        batching = settings.sqs_batching
        priority = settings.sqs_priority_queue_url
        return cls(
            normal=SqsQueue(client=client, url=settings.sqs_queue_url, batching=batching),
            priority=SqsQueue(client=client, url=priority, batching=batching) if priority else None,
        )

    def lane_for(self, *, premium: bool) -> Lane:
        """The lane of a new job: priority for premium students when that lane exists."""
        return Lane.PRIORITY if premium and self.priority is not None else Lane.NORMAL

    def queue(self, lane: Lane) -> SqsQueue:
        """The queue of ``lane`` (a priority job falls back to the main queue when the
        priority lane has been switched off since it was created: it is still graded)."""
        if lane is Lane.PRIORITY and self.priority is not None:
            return self.priority
        return self.normal

    def items(self) -> Iterator[tuple[Lane, SqsQueue]]:
        """Each configured lane and its queue, priority first."""
        if self.priority is not None:
            yield Lane.PRIORITY, self.priority
        yield Lane.NORMAL, self.normal
