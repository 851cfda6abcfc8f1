"""``Retry-After`` from the backlog: when will a job accepted now be done?

The estimate uses two numbers every API pod already samples in the background — never I/O
per request:

- ``waiting``: the main queue's visible messages, from the GetQueueAttributes
  poll that also feeds ``smartpapers_sqs_queue_messages`` (every
  ``SMARTPAPERS_QUEUE_METRICS_INTERVAL_SECONDS``);
- ``rate``: jobs the whole system finished (``completed`` or ``failed``) in the last
  :data:`RATE_WINDOW_SECONDS`, divided by that window — one ``count`` per final status per
  interval on the ``(status, updatedAt)`` index.

A job accepted now waits behind the ``waiting`` (visible) messages; the ones in flight are
being graded already. While there is a backlog the workers are saturated, so the observed
rate is their capacity, and the job is done in about ``waiting / rate`` seconds plus its own
grading (1 s)::

    Retry-After = clamp(1 + ceil(waiting / rate), 1, horizon)
    horizon     = clamp(sampling interval, 15, 60)      # 15 s by default

With nothing waiting that is 1 s, however low the rate of a quiet system. The horizon bounds
what a lagging estimate costs: at the start of a burst the rate still counts the idle minute
before it and the workers KEDA is adding, so the estimate runs high (the cluster test's
clients, told 60 s, saw results ~50 s after they existed); a client told to come back within
one interval meets a fresh estimate.

and ``SMARTPAPERS_RETRY_AFTER_SECONDS`` (2) when nothing is known: no sample yet, a sample
older than three intervals, or no job finished in the window (an idle system, or workers that
have not finished anything yet — a cold start is not a reason to send students away for a
minute). The status answer of a queued job carries the same estimate: an upper bound that
shrinks as the queue drains. See docs/push.md#retry-after.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from datetime import timedelta

from smartpapers.common.errors import StorageUnavailableError
from smartpapers.common.repositories import JobRepository
from smartpapers.common.timeutil import utcnow

logger = logging.getLogger(__name__)

RATE_WINDOW_SECONDS = 60.0
"""Finished jobs are counted over this window (long enough to smooth batches, short enough to
follow KEDA adding workers)."""
MIN_SECONDS, MAX_SECONDS = 1, 60
MIN_HORIZON = 15
STALE_AFTER_INTERVALS = 3


class BacklogEstimator:
    """Holds the latest samples; :meth:`retry_after` is arithmetic on them."""

    def __init__(
        self,
        *,
        default_seconds: int,
        interval_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._default = default_seconds
        self._max_age = STALE_AFTER_INTERVALS * interval_seconds
        self._horizon = max(MIN_HORIZON, min(MAX_SECONDS, math.ceil(interval_seconds)))
        self._clock = clock
        self._depth: tuple[float, int] | None = None
        self._rate: tuple[float, float] | None = None

    def observe_depth(self, depth: dict[str, int]) -> None:
        """A GetQueueAttributes answer of the main queue (its ``visible`` messages wait)."""
        self._depth = (self._clock(), depth.get("visible", 0))

    def observe_finished(self, count: int, window_seconds: float = RATE_WINDOW_SECONDS) -> None:
        """``count`` jobs finished in the last ``window_seconds``."""
        self._rate = (self._clock(), count / window_seconds)

    def _fresh(self, sample: tuple[float, float] | tuple[float, int] | None) -> bool:
        return sample is not None and self._clock() - sample[0] <= self._max_age

    def retry_after(self) -> int:
        """Seconds until a job accepted now is probably done, in [1, horizon]; the default when
        the samples say nothing."""
        if self._depth is None or self._rate is None:
            return self._default
        if not (self._fresh(self._depth) and self._fresh(self._rate)) or self._rate[1] <= 0:
            return self._default
        estimate = 1 + math.ceil(self._depth[1] / self._rate[1])
        return max(MIN_SECONDS, min(self._horizon, estimate))


async def sample_finished(
    *, estimator: BacklogEstimator, jobs: JobRepository, interval_seconds: float
) -> None:
    """Runs until cancelled: counts the jobs finished in the last window, every interval."""
    while True:
        since = utcnow() - timedelta(seconds=RATE_WINDOW_SECONDS)
        try:
            estimator.observe_finished(await jobs.count_finished_since(since))
        except StorageUnavailableError as e:
            logger.warning("finished-jobs count unavailable: %s", e)
        await asyncio.sleep(interval_seconds)
