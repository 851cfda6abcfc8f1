"""What the API holds for its lifetime: clients opened in the lifespan, injected into routes
through ``Annotated`` dependencies (see ``dependencies``)."""

from __future__ import annotations

from dataclasses import dataclass

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from smartpapers.api.auth import JwtVerifier
from smartpapers.api.backlog import BacklogEstimator
from smartpapers.api.inline import InlineGrader
from smartpapers.api.notifier import JobNotifier
from smartpapers.api.rate_limit import RateLimiter
from smartpapers.api.settings import Settings
from smartpapers.api.submissions import JobIntake
from smartpapers.common.batching import SendBatcher
from smartpapers.common.lanes import Lane, LaneQueues
from smartpapers.common.mongo import Document
from smartpapers.common.papers import PaperCache
from smartpapers.common.queue import SqsQueue
from smartpapers.common.repositories import JobRepository, PaperRepository


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    mongo: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    lanes: LaneQueues
    dlqs: dict[str, SqsQueue]
    """The dead-letter queues configured (``dlq``, ``priority-dlq``): depth gauges only."""
    jobs: JobRepository
    papers: PaperRepository
    paper_cache: PaperCache
    batchers: dict[Lane, SendBatcher]
    """One send coalescer per lane's queue."""
    intake: JobIntake
    """Job inserts of concurrent requests, one ``insert_many`` per group commit."""
    inline: InlineGrader
    """Grading in the request (sync mode)."""
    limiter: RateLimiter
    notifier: JobNotifier
    """Wakes SSE streams and long-polls (its task runs for the app's lifetime)."""
    backlog: BacklogEstimator
    """Retry-After of 202s and queued status answers, from sampled queue depth and rate."""
    verifier: JwtVerifier | None
    """None in auth mode ``none``."""
