"""The ``papers`` collection: papers with their answer keys."""

from __future__ import annotations

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from smartpapers.common.errors import PaperExistsError, PaperNotFoundError
from smartpapers.common.models import Paper
from smartpapers.common.mongo import PAPERS, Document, storage_errors


class PaperRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._papers: AsyncCollection[Document] = db[PAPERS]

    async def insert(self, paper: Paper) -> None:
        try:
            async with storage_errors("insert paper"):
                await self._papers.insert_one(paper.to_document())
        except DuplicateKeyError as e:
            raise PaperExistsError(paper.paper_id) from e

    async def get(self, paper_id: str) -> Paper:
        async with storage_errors("read paper"):
            doc = await self._papers.find_one({"_id": paper_id})
        if doc is None:
            raise PaperNotFoundError(paper_id)
        return Paper.from_document(doc)
