"""The ``submissions`` collection: one graded submission per job, written idempotently."""

from __future__ import annotations

from collections.abc import Sequence

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from smartpapers.common.job import Submission
from smartpapers.common.mongo import SUBMISSIONS, Document
from smartpapers.common.repositories._writes import insert_each


class SubmissionRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._submissions: AsyncCollection[Document] = db[SUBMISSIONS]

    async def store_many(self, submissions: Sequence[Submission]) -> list[BaseException | None]:
        """Insert the graded submissions of several jobs in ONE round trip: per job
        ``None`` when its submission is stored — also when it was stored before (a
        redelivery after a crash: the ``_id`` derives from the jobId, so a second write is a
        no-op) — else that submission's own error. Raises StorageUnavailableError when the
        round trip itself fails."""
        outcomes = await insert_each(
            self._submissions, [s.to_document() for s in submissions], action="store submissions"
        )
        return [None if isinstance(o, DuplicateKeyError) else o for o in outcomes]
