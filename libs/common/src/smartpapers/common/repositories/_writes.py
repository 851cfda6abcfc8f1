"""Bulk inserts in which one bad document never fails the others.

pymongo encodes a whole ``insert_many`` before sending it, so one value BSON cannot hold (an
integer beyond 64 bits, an unencodable type) would fail every document of the bulk. When
that happens the documents are encoded one by one, the unstorable ones answered with
:class:`UnstorableDocumentError`, and the rest inserted in the same single retry — no cost
on the normal path.
"""

from __future__ import annotations

from collections.abc import Sequence

import bson
from bson.errors import InvalidDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from smartpapers.common.errors import StorageUnavailableError, UnstorableDocumentError
from smartpapers.common.mongo import Document, storage_errors

DUPLICATE_KEY = 11000

#: what pymongo raises while encoding a document, before anything is sent
ENCODE_ERRORS = (InvalidDocument, OverflowError, TypeError, ValueError)


def _unstorable(doc: Document, collection: AsyncCollection[Document]) -> str | None:
    try:
        bson.encode(doc, codec_options=collection.codec_options)
    except ENCODE_ERRORS as e:
        return str(e)
    return None


async def insert_each(
    collection: AsyncCollection[Document], docs: Sequence[Document], *, action: str
) -> list[BaseException | None]:
    """An unordered ``insert_many`` (ONE round trip): per document ``None`` when it was
    stored, else its own error — :class:`DuplicateKeyError` (the caller decides what a
    duplicate means), :class:`UnstorableDocumentError` or :class:`StorageUnavailableError`.
    Raises :class:`StorageUnavailableError` when the round trip itself fails."""
    out: list[BaseException | None] = [None] * len(docs)
    if not docs:
        return out
    index = list(range(len(docs)))
    try:
        await _insert(collection, docs, index, out, action)
    except ENCODE_ERRORS:
        index = []
        for i, doc in enumerate(docs):
            if (problem := _unstorable(doc, collection)) is not None:
                out[i] = UnstorableDocumentError(f"cannot store document: {problem}")
            else:
                index.append(i)
        if index:
            await _insert(collection, [docs[i] for i in index], index, out, action)
    return out


async def _insert(
    collection: AsyncCollection[Document],
    docs: Sequence[Document],
    index: list[int],
    out: list[BaseException | None],
    action: str,
) -> None:
    try:
        async with storage_errors(action):
            await collection.insert_many(docs, ordered=False)
    except BulkWriteError as e:
        if e.details.get("writeConcernErrors"):
            raise StorageUnavailableError(f"MongoDB {action} failed: {e}") from e
        for error in e.details.get("writeErrors", []):
            i, message = index[error["index"]], str(error.get("errmsg"))
            if error.get("code") == DUPLICATE_KEY:
                out[i] = DuplicateKeyError(message, DUPLICATE_KEY)
            else:
                out[i] = StorageUnavailableError(f"MongoDB {action} failed: {message}")
