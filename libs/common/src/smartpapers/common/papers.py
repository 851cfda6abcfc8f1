"""In-process paper cache with a short TTL (papers change rarely; answer keys are read on
every submission and every grade).

Entries live in a :class:`cachetools.TTLCache` (TTL + least-recently-used bound); on top of
it, concurrent misses for one paper share ONE database read (single flight), which no kept
library does for asyncio while also letting us count hits and misses per call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from cachetools import TTLCache

from smartpapers.common.metrics import PAPER_CACHE_REQUESTS
from smartpapers.common.models import Paper
from smartpapers.common.repositories import PaperRepository


class PaperCache:
    def __init__(
        self,
        *,
        repository: PaperRepository,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self._repository = repository
        self._entries: TTLCache[str, Paper] = TTLCache(
            maxsize=max_entries, ttl=ttl_seconds, timer=clock
        )
        self._loading: dict[str, asyncio.Future[Paper]] = {}

    async def get(self, paper_id: str) -> Paper:
        """Return the paper, loading it at most once concurrently; raises PaperNotFoundError.
        Misses are not cached, so a paper created a moment later is found at once."""
        paper = self._entries.get(paper_id)
        if paper is not None:
            PAPER_CACHE_REQUESTS.labels(result="hit").inc()
            return paper
        PAPER_CACHE_REQUESTS.labels(result="miss").inc()
        pending = self._loading.get(paper_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Paper] = asyncio.get_running_loop().create_future()
        self._loading[paper_id] = future
        try:
            paper = await self._repository.get(paper_id)
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # mark retrieved: waiters re-raise it, nobody else must
            raise
        finally:
            del self._loading[paper_id]
        self._entries[paper_id] = paper
        future.set_result(paper)
        return paper

    def put(self, paper: Paper) -> None:
        self._entries[paper.paper_id] = paper
