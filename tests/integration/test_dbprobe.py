"""``smartpapers-loadtest dbprobe`` against the session's database: every operation of the
job path is timed at every size, and the probe cleans up after itself."""

from __future__ import annotations

from pymongo import MongoClient

from smartpapers.loadtest import dbprobe
from tests.conftest import Backends


def test_dbprobe_times_every_operation_and_drops_its_collection(backends: Backends) -> None:
    rows = dbprobe.probe(backends.mongo_uri, [60, 120], samples=5)
    assert {(size, name) for size, name, _ in rows} == {
        (size, name) for size in (60, 120) for name in dbprobe.OPERATIONS
    }
    assert all(ms > 0 for _, _, ms in rows)
    client: MongoClient[dict[str, object]] = MongoClient(backends.mongo_uri)
    try:
        assert client["smartpapers_dbprobe"].list_collection_names() == []
    finally:
        client.close()
