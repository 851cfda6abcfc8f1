"""JobNotifier: one batched read per interval for all waiters, wake-ups on change, cleanup."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from smartpapers.api import notifier as notifier_module
from smartpapers.api.notifier import JobNotifier
from smartpapers.common.errors import StorageUnavailableError
from smartpapers.common.models import JobStatus, JobView
from smartpapers.common.repositories import JobRepository

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def view(job_id: str, status: JobStatus = JobStatus.QUEUED, attempts: int = 0) -> JobView:
    return JobView(
        job_id=job_id,
        status=status,
        result=None,
        error=None,
        attempts=attempts,
        created_at=NOW,
        started_at=None,
        completed_at=None,
    )


class _Job:
    def __init__(self, v: JobView) -> None:
        self.job_id = v.job_id
        self._view = v

    def view(self) -> JobView:
        return self._view


class FakeJobs:
    """get_many over a dict of views; records every call's ids."""

    def __init__(self) -> None:
        self.views: dict[str, JobView] = {}
        self.calls: list[list[str]] = []
        self.fail = False

    async def get_many(self, job_ids: Sequence[str]) -> list[_Job]:
        self.calls.append(list(job_ids))
        if self.fail:
            raise StorageUnavailableError("read jobs: down")
        return [_Job(self.views[i]) for i in job_ids if i in self.views]


def make(jobs: FakeJobs) -> JobNotifier:
    return JobNotifier(jobs=cast(JobRepository, jobs), interval_seconds=0.01)


async def test_one_read_for_many_waiters_of_many_jobs() -> None:
    jobs = FakeJobs()
    notifier = make(jobs)
    async with notifier.watch(view("a")), notifier.watch(view("a")), notifier.watch(view("b")):
        assert notifier.watched_jobs == 2
        await notifier.poll()
    assert len(jobs.calls) == 1 and sorted(jobs.calls[0]) == ["a", "b"]
    assert notifier.watched_jobs == 0


async def test_reads_are_chunked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notifier_module, "READ_CHUNK", 2)
    jobs = FakeJobs()
    notifier = make(jobs)
    async with notifier.watch(view("a")), notifier.watch(view("b")), notifier.watch(view("c")):
        await notifier.poll()
    assert [len(c) for c in jobs.calls] == [2, 1]


async def test_every_waiter_wakes_on_a_change_and_sees_the_new_view() -> None:
    jobs = FakeJobs()
    jobs.views["a"] = view("a")
    notifier = make(jobs)
    async with notifier.watch(view("a")) as w1, notifier.watch(view("a")) as w2:
        waits = [asyncio.create_task(w.changed(5)) for w in (w1, w2)]
        await notifier.poll()  # unchanged: nobody wakes
        await asyncio.sleep(0)
        assert not any(t.done() for t in waits)
        jobs.views["a"] = view("a", JobStatus.PROCESSING, attempts=1)
        await notifier.poll()
        assert await asyncio.gather(*waits) == [True, True]
        assert w1.view.status is w2.view.status is JobStatus.PROCESSING


async def test_a_wait_without_change_times_out() -> None:
    notifier = make(FakeJobs())
    async with notifier.watch(view("a")) as w:
        assert await w.changed(0.02) is False


async def test_run_polls_while_someone_waits_and_sleeps_otherwise() -> None:
    jobs = FakeJobs()
    jobs.views["a"] = view("a")
    notifier = make(jobs)
    task = asyncio.create_task(notifier.run())
    try:
        await asyncio.sleep(0.05)
        assert jobs.calls == []  # nobody waits: no reads
        async with notifier.watch(view("a")) as w:
            jobs.views["a"] = view("a", JobStatus.COMPLETED, attempts=1)
            assert await w.changed(2) is True
            assert w.view.status is JobStatus.COMPLETED
        reads = len(jobs.calls)
        await asyncio.sleep(0.05)
        assert len(jobs.calls) <= reads + 1  # at most the poll already sleeping
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_failed_read_keeps_waiters_waiting(caplog: pytest.LogCaptureFixture) -> None:
    jobs = FakeJobs()
    jobs.fail = True
    notifier = make(jobs)
    async with notifier.watch(view("a")) as w:
        await notifier.poll()
        assert w.view.status is JobStatus.QUEUED and notifier.watched_jobs == 1
    assert "notifier read of 1 jobs failed" in caplog.text


async def test_a_newer_read_of_a_joining_client_updates_everyone() -> None:
    notifier = make(FakeJobs())
    async with notifier.watch(view("a")) as first:
        waiting = asyncio.create_task(first.changed(5))
        await asyncio.sleep(0)
        async with notifier.watch(view("a", JobStatus.PROCESSING, attempts=1)):
            assert await waiting is True
            assert first.view.status is JobStatus.PROCESSING
        # an older read does not move the shared view back
        async with notifier.watch(view("a")) as late:
            assert late.view.status is JobStatus.PROCESSING


async def test_cleanup_when_a_waiter_is_cancelled() -> None:
    notifier = make(FakeJobs())

    async def wait_forever() -> Any:
        async with notifier.watch(view("a")) as w:
            await w.changed(60)

    task = asyncio.create_task(wait_forever())
    await asyncio.sleep(0.01)
    assert notifier.watched_jobs == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert notifier.watched_jobs == 0
