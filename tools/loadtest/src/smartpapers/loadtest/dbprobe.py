"""``smartpapers-loadtest dbprobe``: what each database operation of the job path costs on a
MongoDB-compatible server as the jobs collection grows — the evidence behind the choice of
the local database (docs/performance.md#the-local-database).

By default it starts a throw-away local database (SecantusDB) on a free 127.0.0.1 port;
``--mongo-uri`` probes any other server (a real MongoDB, FerretDB, …). At every collection
size, each operation is timed ``--samples`` times on jobs picked at random positions (a
server that scans stops early for the first-inserted documents, so sampling only those
would understate the cost for new jobs), with the filters the repositories use.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import MongoClient, UpdateOne
from pymongo.collection import Collection

from smartpapers.devstack.servers import free_port, mongo_uri, start_database

Coll = Collection[dict[str, Any]]
Op = Callable[[Coll, list[str], datetime], object]
BATCH = 10


def _claim(c: Coll, ids: list[str], now: datetime) -> object:
    return c.update_many(
        {"_id": {"$in": ids}, "status": "queued"},
        {
            "$set": {"status": "processing", "leaseOwner": "w/1", "leaseUntil": now},
            "$inc": {"attempts": 1},
            "$min": {"startedAt": now},
        },
    )


def _finish(c: Coll, ids: list[str], now: datetime) -> object:
    return c.bulk_write(
        [
            UpdateOne(
                {"_id": i, "status": "processing", "leaseOwner": "w/1"},
                {"$set": {"status": "completed", "completedAt": now}, "$unset": {"leaseOwner": ""}},
            )
            for i in ids
        ],
        ordered=False,
    )


#: the job path's operations, each on a batch of 10 random jobs (the status read on one)
OPERATIONS: dict[str, Op] = {
    "status read: find {_id}": lambda c, ids, now: c.find_one({"_id": ids[0]}),
    "claim: updateMany {_id $in 10, status}": _claim,
    "claim read-back: find {_id $in 10}": lambda c, ids, now: list(c.find({"_id": {"$in": ids}})),
    "finish: bulk of 10 {_id, status, leaseOwner}": _finish,
    "sweeper: expired leases": lambda c, ids, now: list(
        c.find(
            {
                "status": "processing",
                "updatedAt": {"$lte": now - timedelta(seconds=60)},
                "leaseUntil": {"$lt": now},
            }
        ).limit(500)
    ),
    "sweeper: stale queued": lambda c, ids, now: list(
        c.find(
            {"status": "queued", "updatedAt": {"$lt": now - timedelta(days=1)}, "enqueued": True}
        ).limit(500)
    ),
}


def job(now: datetime) -> dict[str, Any]:
    return {
        "_id": str(uuid.uuid4()),
        "status": "queued",
        "studentId": "s1",
        "paperId": "demo-paper",
        "instituteId": "demo-institute",
        "payload": '[{"questionId":"q1","answer":"A"}]' * 20,
        "attempts": 0,
        "enqueued": True,
        "createdAt": now,
        "updatedAt": now,
        "result": None,
        "error": None,
    }


def _indexes(coll: Coll) -> None:
    """The job indexes of ``smartpapers.common.mongo.ensure_indexes``."""
    coll.create_index([("idempotencyKey", 1)], unique=True, sparse=True, name="idempotencyKey")
    coll.create_index([("status", 1), ("updatedAt", 1)], name="sweep")


def probe(
    uri: str, sizes: list[int], samples: int, *, seed: int = 1
) -> list[tuple[int, str, float]]:
    """(collection size, operation, median ms) for every size and operation."""
    rng = random.Random(seed)
    client: MongoClient[dict[str, Any]] = MongoClient(uri, tz_aware=True)
    try:
        coll = client["smartpapers_dbprobe"][f"jobs_{uuid.uuid4().hex[:8]}"]
        _indexes(coll)
        now = datetime.now(UTC)
        queued: list[str] = []
        rows = []
        try:
            for size in sorted(sizes):
                while (missing := size - coll.estimated_document_count()) > 0:
                    docs = [job(now) for _ in range(min(missing, 5_000))]
                    coll.insert_many(docs, ordered=False)
                    queued.extend(d["_id"] for d in docs)
                times: dict[str, list[float]] = {name: [] for name in OPERATIONS}
                for _ in range(samples):
                    # ten jobs still queued, at random positions: claimed, then finished
                    picked = [queued.pop(rng.randrange(len(queued))) for _ in range(BATCH)]
                    for name, op in OPERATIONS.items():
                        started = time.perf_counter()
                        op(coll, picked, now + timedelta(seconds=1))
                        times[name].append((time.perf_counter() - started) * 1000)
                rows += [(size, name, statistics.median(t)) for name, t in times.items()]
        finally:
            coll.drop()
        return rows
    finally:
        client.close()


def table(rows: list[tuple[int, str, float]]) -> str:
    sizes = sorted({size for size, _, _ in rows})
    lines = [
        "| operation (median) | " + " | ".join(f"{s:,} jobs" for s in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for name in OPERATIONS:
        cells = [next((f"{ms:.1f} ms" for s, n, ms in rows if s == size and n == name), "-")
                 for size in sizes]  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@contextmanager
def local_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="smartpapers-dbprobe-") as tmp:
        port = free_port()
        server = start_database(port=port, data_dir=Path(tmp) / "database")
        try:
            yield mongo_uri(port)
        finally:
            server.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="smartpapers-loadtest dbprobe", description=__doc__)
    p.add_argument("--sizes", default="10000,100000", help="collection sizes (comma-separated)")
    p.add_argument("--samples", type=int, default=15, help="batches timed per size")
    p.add_argument("--mongo-uri", default=None, help="probe this server instead")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.mongo_uri:
        rows = probe(args.mongo_uri, sizes, args.samples)
    else:
        with local_database() as uri:
            rows = probe(uri, sizes, args.samples)
    sys.stdout.write(table(rows) + "\n")
    return 0
