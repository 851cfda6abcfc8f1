"""One :class:`JobNotifier` per API process: it watches the jobs its clients wait for (SSE
streams, long-polls) and wakes them on every change of a job's status answer.

It reads the database in ONE batched query per interval for all watched jobs of the process
(``_id $in [...]``, chunked), never one read per connection: 1,000 students waiting on one
pod cost ``1 / interval`` reads per second, not ``1,000 / 2``. Batched reads work on every
MongoDB-compatible server the project runs on, including the local stack's, which has no
change streams (docs/push.md#cost-model).

A watched job has one :class:`_Entry` however many clients wait for it; the entry's
``changed`` event is set and replaced when the job's view differs from the last one read, so
each waiter wakes once per change. Leaving :meth:`JobNotifier.watch` (the client hung up,
the stream ended) drops the waiter and, with the last one, the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from smartpapers.api.metrics import NOTIFIER_READS, NOTIFIER_WAITERS, NOTIFIER_WATCHED_JOBS
from smartpapers.common.errors import StorageUnavailableError
from smartpapers.common.models import JobStatus, JobView
from smartpapers.common.repositories import JobRepository

logger = logging.getLogger(__name__)

READ_CHUNK = 500
"""Ids per ``$in`` query: bounds one read's size however many jobs are watched."""

_RANK = {JobStatus.QUEUED: 0, JobStatus.PROCESSING: 1, JobStatus.COMPLETED: 2, JobStatus.FAILED: 2}


def _progress(view: JobView) -> tuple[int, int]:
    """Orders two reads of one job: a retry counts an attempt, a final state is last."""
    return (2**31 if view.status.is_final else view.attempts, _RANK[view.status])


@dataclass(slots=True)
class _Entry:
    view: JobView
    waiters: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def update(self, view: JobView) -> None:
        if view == self.view:
            return
        self.view = view
        self.changed.set()
        self.changed = asyncio.Event()


class Watch:
    """A client's handle on one watched job (from :meth:`JobNotifier.watch`)."""

    def __init__(self, entry: _Entry) -> None:
        self._entry = entry

    @property
    def view(self) -> JobView:
        """The latest view the notifier has (the one the client was given, at first)."""
        return self._entry.view

    async def changed(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (None: no limit) for the next change; True if one
        came."""
        event = self._entry.changed
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            return False
        return True


class JobNotifier:
    def __init__(self, *, jobs: JobRepository, interval_seconds: float) -> None:
        self._jobs = jobs
        self._interval = interval_seconds
        self._entries: dict[str, _Entry] = {}
        self._someone_waits = asyncio.Event()

    @property
    def watched_jobs(self) -> int:
        return len(self._entries)

    @contextlib.asynccontextmanager
    async def watch(self, view: JobView) -> AsyncIterator[Watch]:
        """Watch ``view``'s job, starting from that view (the caller's own read, which
        also authorized it)."""
        entry = self._entries.get(view.job_id)
        if entry is None:
            entry = self._entries[view.job_id] = _Entry(view)
            NOTIFIER_WATCHED_JOBS.inc()
        elif _progress(view) > _progress(entry.view):
            entry.update(view)  # the caller's read is newer: everyone gets it now
        entry.waiters += 1
        NOTIFIER_WAITERS.inc()
        self._someone_waits.set()
        try:
            yield Watch(entry)
        finally:
            entry.waiters -= 1
            NOTIFIER_WAITERS.dec()
            if entry.waiters == 0 and self._entries.get(view.job_id) is entry:
                del self._entries[view.job_id]
                NOTIFIER_WATCHED_JOBS.dec()

    async def run(self) -> None:
        """Runs until cancelled: sleeps while nobody waits, else one poll per interval
        (a poll that takes longer than the interval is followed by the next at once)."""
        loop = asyncio.get_running_loop()
        while True:
            if not self._entries:
                self._someone_waits.clear()
                await self._someone_waits.wait()
                await asyncio.sleep(self._interval)
            started = loop.time()
            await self.poll()
            await asyncio.sleep(max(0.0, self._interval - (loop.time() - started)))

    async def poll(self) -> None:
        """Read every watched job (one query per :data:`READ_CHUNK` ids) and wake the
        waiters of those that changed. A failed read is logged; waiters keep waiting."""
        ids = list(self._entries)
        for start in range(0, len(ids), READ_CHUNK):
            chunk = ids[start : start + READ_CHUNK]
            NOTIFIER_READS.inc()
            try:
                jobs = await self._jobs.get_many(chunk)
            except StorageUnavailableError as e:
                logger.warning("notifier read of %d jobs failed: %s", len(chunk), e)
                continue
            for job in jobs:
                entry = self._entries.get(job.job_id)
                if entry is not None:
                    entry.update(job.view())
