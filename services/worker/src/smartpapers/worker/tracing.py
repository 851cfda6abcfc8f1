"""The worker's spans of one receive batch, each job's in its own trace.

A batch shares its round trips (one claim, one ``insert_many``, one finish bulk) across up
to ten jobs that belong to ten different traces. So each job gets a ``process job`` span
whose parent is the job's ``traceparent`` (from its document, else its message attribute),
with children ``receive`` (the ReceiveMessage that delivered it), ``claim``, ``grade``,
``store submission`` and ``finish``: the shared phases are recorded in every job's trace with
the batch's start and end times and the batch size. ``grade`` runs as the current span, so
log lines and client spans inside it carry the job's trace id; :meth:`BatchTrace.job` makes
the job's span current around its other log lines.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from smartpapers.common.job import Job
from smartpapers.common.queue import ReceivedMessage
from smartpapers.common.tracing import context_from

tracer = trace.get_tracer(__name__)


def now_ns() -> int:
    return time.time_ns()


@dataclass
class BatchTrace:
    spans: dict[str, Span] = field(default_factory=dict)
    """By jobId: the job's ``process job`` span (ended by :meth:`end`)."""
    size: int = 0
    """Messages in the receive batch (the shared phases' ``smartpapers.batch_size``)."""

    @classmethod
    def start(
        cls,
        work: Iterable[tuple[ReceivedMessage, Job]],
        *,
        claim_started: int,
        claim_ended: int,
        batch_size: int,
    ) -> BatchTrace:
        batch = cls(size=batch_size)
        for message, job in work:
            parent = context_from(job.traceparent or message.traceparent)
            received = message.received_at_ns or claim_started
            span = tracer.start_span(
                "process job",
                context=parent,
                kind=trace.SpanKind.CONSUMER,
                start_time=received,
                attributes={
                    "smartpapers.job_id": job.job_id,
                    "smartpapers.attempt": job.attempts,
                    "messaging.system": "aws_sqs",
                    "messaging.message.id": message.message_id,
                    "messaging.batch.message_count": batch_size,
                },
            )
            batch.spans[job.job_id] = span
            batch._child(job.job_id, "receive", received, received)
            batch._child(job.job_id, "claim", claim_started, claim_ended)
        return batch

    def _child(self, job_id: str, name: str, start: int, end: int) -> None:
        parent = self.spans.get(job_id)
        if parent is None:
            return
        ctx = trace.set_span_in_context(parent)
        child = tracer.start_span(name, context=ctx, start_time=start)
        child.set_attribute("smartpapers.batch_size", self.size)
        child.end(end_time=end)

    def phase(self, name: str, job_ids: Iterable[str], start: int, end: int) -> None:
        """A round trip these jobs shared, recorded in each one's trace."""
        for job_id in job_ids:
            self._child(job_id, name, start, end)

    @contextlib.contextmanager
    def job(self, job_id: str, span_name: str | None = None) -> Iterator[None]:
        """The job's span (or a new child ``span_name``) as the current span."""
        parent = self.spans.get(job_id)
        if parent is None:
            yield
            return
        if span_name is None:
            with trace.use_span(parent, end_on_exit=False):
                yield
            return
        ctx = trace.set_span_in_context(parent)
        with tracer.start_as_current_span(span_name, context=ctx):
            yield

    def end(self, job_id: str, outcome: str) -> None:
        span = self.spans.pop(job_id, None)
        if span is None:
            return
        span.set_attribute("smartpapers.outcome", outcome)
        if outcome in ("failed", "retried"):
            span.set_status(Status(StatusCode.ERROR, outcome))
        span.end()

    def end_all(self, outcome: str) -> None:
        for job_id in list(self.spans):
            self.end(job_id, outcome)
