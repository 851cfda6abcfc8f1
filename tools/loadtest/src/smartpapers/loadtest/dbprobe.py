"""``smartpapers-loadtest dbprobe``: what one MongoDB operation of the job path costs on a
database server as the jobs collection grows — the evidence behind the local stack's limits.

By default it starts a throw-away FerretDB (the local stack's database) on a free 127.0.0.1
port; ``--mongo-uri`` probes another server (a real MongoDB, for comparison). Each
operation is timed on documents shaped like jobs, at every collection size given.
"""

from __future__ import annotations

import argparse
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

from pymongo import MongoClient, ReturnDocument
from pymongo.collection import Collection

from smartpapers.devstack.servers import free_port, start_ferretdb

Op = Callable[[Collection[dict[str, Any]], str, datetime], object]

#: the job path's operations, with the filters the repositories use
OPERATIONS: dict[str, Op] = {
    "read by _id (status poll)": lambda c, i, now: c.find_one({"_id": i}),
    "claim: findAndModify {_id, $or status/lease}": lambda c, i, now: c.find_one_and_update(
        {
            "_id": i,
            "$or": [
                {"status": "queued"},
                {"status": "processing", "leaseUntil": {"$lt": now}},
            ],
        },
        {"$set": {"status": "processing", "leaseOwner": "w", "leaseUntil": now}},
        return_document=ReturnDocument.AFTER,
    ),
    "finish: update {_id, status, leaseOwner}": lambda c, i, now: c.update_one(
        {"_id": i, "status": "processing", "leaseOwner": "w"},
        {"$set": {"status": "completed"}, "$unset": {"leaseOwner": ""}},
    ),
    "update {_id} only (no compare-and-set)": lambda c, i, now: c.update_one(
        {"_id": i}, {"$set": {"updatedAt": now}}
    ),
}


def job(now: datetime) -> dict[str, Any]:
    return {
        "_id": str(uuid.uuid4()),
        "status": "queued",
        "studentId": "s1",
        "paperId": "demo-paper",
        "payload": '[{"questionId":"q1","answer":"A"}]' * 12,
        "attempts": 0,
        "enqueued": True,
        "createdAt": now,
    }


def probe(uri: str, sizes: list[int], samples: int) -> list[tuple[int, str, float]]:
    """(collection size, operation, median ms) for every size and operation."""
    client: MongoClient[dict[str, Any]] = MongoClient(uri, tz_aware=True)
    try:
        coll = client["smartpapers_dbprobe"][f"jobs_{uuid.uuid4().hex[:8]}"]
        now = datetime.now(UTC)
        rows = []
        try:
            for size in sorted(sizes):
                missing = size - coll.count_documents({})
                if missing > 0:
                    coll.insert_many([job(now) for _ in range(missing)])
                ids = [d["_id"] for d in coll.find({}, {"_id": 1}).limit(samples)]
                for name, op in OPERATIONS.items():
                    times = []
                    for job_id in ids:
                        started = time.perf_counter()
                        op(coll, job_id, now + timedelta(seconds=1))
                        times.append((time.perf_counter() - started) * 1000)
                    rows.append((size, name, statistics.median(times)))
                coll.update_many({}, {"$set": {"status": "queued"}})
        finally:
            coll.drop()
        return rows
    finally:
        client.close()


def table(rows: list[tuple[int, str, float]]) -> str:
    sizes = sorted({size for size, _, _ in rows})
    lines = [
        "| operation | " + " | ".join(f"{s:,} jobs" for s in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for name in OPERATIONS:
        cells = [next((f"{ms:.1f} ms" for s, n, ms in rows if s == size and n == name), "-")
                 for size in sizes]  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@contextmanager
def ferretdb() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="smartpapers-dbprobe-") as tmp:
        port = free_port()
        server = start_ferretdb(port=port, data_dir=Path(tmp))
        try:
            yield f"mongodb://127.0.0.1:{port}/"
        finally:
            server.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="smartpapers-loadtest dbprobe", description=__doc__)
    p.add_argument("--sizes", default="1000,10000", help="collection sizes (comma-separated)")
    p.add_argument("--samples", type=int, default=20, help="operations timed per size")
    p.add_argument("--mongo-uri", default=None, help="probe this server instead of FerretDB")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.mongo_uri:
        rows = probe(args.mongo_uri, sizes, args.samples)
    else:
        with ferretdb() as uri:
            rows = probe(uri, sizes, args.samples)
    sys.stdout.write(table(rows) + "\n")
    return 0
