"""An in-flight limit that follows the database's latency (AIMD), so a worker never queues more
work into a slow database than it can answer before the timeouts.

Without it a worker keeps ``worker_concurrency`` jobs in flight whatever the database does: on
a database that serialises writes, fifty claims queue up, time out and come back as retries
that add more load (congestion collapse). Here every claim round trip is a sample:

- the **baseline** is the lowest latency of the recent samples (what the database does
  when it is not queueing our work);
- a sample within ``tolerance`` × baseline (+ ``slack``) **adds** one job to the limit;
- a slower sample **multiplies** it by ``backoff`` (at most once per ``cooldown`` seconds,
  so one slow burst counts once), a failed round trip (timeout, unreachable) halves it.

The limit stays within [``minimum``, ``maximum``]; ``maximum`` is the configured
``worker_concurrency``. Written here because no maintained Python library offers adaptive
concurrency limits (Netflix's ``concurrency-limits`` is Java); the rule is TCP's AIMD with a
Vegas-style latency signal.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class AdaptiveLimit:
    def __init__(
        self,
        *,
        maximum: int,
        minimum: int = 10,
        initial: int | None = None,
        tolerance: float = 2.0,
        slack: float = 0.02,
        backoff: float = 0.75,
        cooldown: float = 1.0,
        window: int = 100,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= minimum <= maximum:
            raise ValueError("need 1 <= minimum <= maximum")
        self.minimum = minimum
        self.maximum = maximum
        self._limit = float(min(max(initial or maximum, minimum), maximum))
        self._tolerance = tolerance
        self._slack = slack
        self._backoff = backoff
        self._cooldown = cooldown
        self._samples: deque[float] = deque(maxlen=window)
        self._clock = clock
        self._last_decrease = -cooldown

    @property
    def limit(self) -> int:
        return int(self._limit)

    @property
    def baseline(self) -> float | None:
        return min(self._samples) if self._samples else None

    def record(self, latency: float) -> None:
        """A round trip that succeeded after ``latency`` seconds."""
        self._samples.append(latency)
        baseline = min(self._samples)
        if latency <= baseline * self._tolerance + self._slack:
            self._limit = min(self._limit + 1, self.maximum)
        else:
            self._decrease(self._backoff)

    def failed(self) -> None:
        """A round trip that failed (timed out, or the database was unreachable)."""
        self._decrease(0.5)

    def _decrease(self, factor: float) -> None:
        now = self._clock()
        if now - self._last_decrease < self._cooldown:
            return
        self._last_decrease = now
        self._limit = max(self._limit * factor, float(self.minimum))
