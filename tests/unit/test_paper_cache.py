from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from smartpapers.common.errors import PaperNotFoundError
from smartpapers.common.models import Paper, QuestionIn
from smartpapers.common.papers import PaperCache


class FakeRepo:
    def __init__(self) -> None:
        self.papers: dict[str, Paper] = {}
        self.reads = 0

    async def get(self, paper_id: str) -> Paper:
        self.reads += 1
        await asyncio.sleep(0.01)
        if paper_id not in self.papers:
            raise PaperNotFoundError(paper_id)
        return self.papers[paper_id]


def make(pid: str, title: str = "t") -> Paper:
    return Paper(
        paper_id=pid,
        institute_id="i",
        title=title,
        questions=[QuestionIn(question_id="q", answer="a")],
        created_at=datetime.now(UTC),
    )


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_hits_until_ttl_then_reloads() -> None:
    repo, clock = FakeRepo(), Clock()
    repo.papers["p"] = make("p", "v1")
    cache = PaperCache(repository=repo, ttl_seconds=30, clock=clock)  # type: ignore[arg-type]
    assert (await cache.get("p")).title == "v1"
    repo.papers["p"] = make("p", "v2")
    clock.now = 29
    assert (await cache.get("p")).title == "v1"
    clock.now = 31
    assert (await cache.get("p")).title == "v2"
    assert repo.reads == 2


async def test_concurrent_misses_load_once() -> None:
    repo = FakeRepo()
    repo.papers["p"] = make("p")
    cache = PaperCache(repository=repo, ttl_seconds=30)  # type: ignore[arg-type]
    results = await asyncio.gather(*(cache.get("p") for _ in range(20)))
    assert {r.paper_id for r in results} == {"p"}
    assert repo.reads == 1


async def test_missing_papers_are_not_cached() -> None:
    repo = FakeRepo()
    cache = PaperCache(repository=repo, ttl_seconds=30)  # type: ignore[arg-type]
    with pytest.raises(PaperNotFoundError):
        await asyncio.gather(*(cache.get("late") for _ in range(3)))
    repo.papers["late"] = make("late")
    assert (await cache.get("late")).paper_id == "late"
