"""Shared fixtures: real servers → settings → clients, cleaned per test.

The integration and e2e suites run against a real ElasticMQ and the real local database
(SecantusDB) that these fixtures start on free 127.0.0.1 ports (installed by
``scripts/install-tools.sh``), or:
- ``SMARTPAPERS_TEST_SQS_ENDPOINT`` / ``SMARTPAPERS_TEST_MONGO_URI``: servers you already run;
- ``SMARTPAPERS_TEST_BACKEND=containers``: testcontainers, ``mongo:7`` and
  ``softwaremill/elasticmq-native`` or images built here (``tests/containers.py``).
A server that cannot start fails the run with the reason; nothing is skipped.
"""

from __future__ import annotations

import gc
import os
import re
import socket
import traceback
import tracemalloc
import uuid
import warnings
import weakref
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from smartpapers.common.mongo import Document
from smartpapers.common.queue import open_sqs_client
from smartpapers.common.queue_admin import QueueAdmin
from smartpapers.devstack.servers import (
    EMULATOR_AWS_ENV,
    ManagedProcess,
    ServerStartError,
    free_port,
    mongo_uri,
    start_database,
    start_elasticmq,
)
from smartpapers.devstack.stack import LocalStack
from smartpapers.worker.queues_cli import QueueSettings, create_queues

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Backends:
    sqs_endpoint: str
    mongo_uri: str


@pytest.fixture(autouse=True)
def _no_leaked_resources() -> Iterator[None]:
    """A socket or file a test forgets to close is that test's failure, named at the test
    that leaked it: collected here, instead of warning (and, with filterwarnings=error,
    failing) whichever later test the garbage collector happens to run in."""
    yield
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    leaks = [
        _describe(w)
        for w in caught
        if issubclass(w.category, ResourceWarning) and not UNCONNECTED.search(str(w.message))
    ]
    assert not leaks, f"resources left open by this test: {leaks}"


#: A socket that never connected (no ``raddr``). pymongo 4.20's ``_create_connection``
#: (pymongo/pool_shared.py) closes its socket on TimeoutError and OSError but not when the
#: connecting task is cancelled — which ``AsyncMongoClient.close()`` does to a monitor that
#: is just connecting. Not ours to fix; pyproject.toml's filterwarnings ignores the same.
UNCONNECTED = re.compile(r"^unclosed <socket\.socket [^>]*laddr=\('[0-9.]+', \d+\)>$")


def _describe(w: warnings.WarningMessage) -> str:
    """The warning, and where the leaked object was allocated: with
    ``SMARTPAPERS_TEST_TRACE_SOCKETS=1`` for sockets (cheap), with ``PYTHONTRACEMALLOC=20``
    for anything (slow)."""
    stack = _SOCKET_ORIGINS.get(w.source) if w.source is not None else None
    if stack is None and w.source is not None:
        where = tracemalloc.get_object_traceback(w.source)
        stack = None if where is None else "\n".join(where.format())
    return str(w.message) + ("" if stack is None else "\n" + stack)


_SOCKET_ORIGINS: weakref.WeakKeyDictionary[object, str] = weakref.WeakKeyDictionary()
if os.environ.get("SMARTPAPERS_TEST_TRACE_SOCKETS") == "1":
    _socket_init = socket.socket.__init__

    def _traced_init(self: socket.socket, *args: Any, **kwargs: Any) -> None:
        _socket_init(self, *args, **kwargs)
        _SOCKET_ORIGINS[self] = "".join(traceback.format_stack(limit=25)[:-1])

    socket.socket.__init__ = _traced_init  # type: ignore[method-assign]


@pytest.fixture(scope="session", autouse=True)
def _aws_env() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in EMULATOR_AWS_ENV}
    os.environ.update(EMULATOR_AWS_ENV)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    """ElasticMQ + the database for the whole session."""
    if os.environ.get("SMARTPAPERS_TEST_BACKEND") == "containers":
        from tests import containers

        try:
            endpoint, uri, started = containers.start()
        except ServerStartError as e:
            pytest.fail(f"a required test container could not start: {e}", pytrace=False)
        yield Backends(sqs_endpoint=endpoint, mongo_uri=uri)
        for c in started:
            c.stop()
        return
    procs: list[ManagedProcess] = []
    sqs = os.environ.get("SMARTPAPERS_TEST_SQS_ENDPOINT")
    mongo = os.environ.get("SMARTPAPERS_TEST_MONGO_URI")
    try:
        if not sqs:
            port = free_port()
            procs.append(
                start_elasticmq(port=port, work_dir=tmp_path_factory.mktemp("sqs"), persist=False)
            )
            sqs = f"http://127.0.0.1:{port}"
        if not mongo:
            port = free_port()
            procs.append(start_database(port=port, data_dir=tmp_path_factory.mktemp("mongo")))
            mongo = mongo_uri(port)
    except ServerStartError as e:
        for p in procs:
            p.stop()
        pytest.fail(f"a required test server could not start: {e}", pytrace=False)
    yield Backends(sqs_endpoint=sqs, mongo_uri=mongo)
    for p in reversed(procs):
        p.stop()


@dataclass(frozen=True)
class Stack:
    """One test's isolated slice of the servers: its own database and queues."""

    sqs_endpoint: str
    mongo_uri: str
    db_name: str
    queue_url: str
    dlq_url: str
    queue_name: str
    dlq_name: str
    priority_url: str
    priority_dlq_url: str

    def local(self, work_dir: Path, **kw: Any) -> LocalStack:
        """A LocalStack (API and worker processes) on this slice's database and queues;
        quiet unless ``env_overrides`` say otherwise."""
        env = {"SMARTPAPERS_LOG_LEVEL": "WARNING", **kw.pop("env_overrides", {})}
        return LocalStack(
            work_dir,
            mongo_uri=self.mongo_uri,
            sqs_endpoint=self.sqs_endpoint,
            db_name=self.db_name,
            queue_url=self.queue_url,
            dlq_url=self.dlq_url,
            priority_url=self.priority_url,
            priority_dlq_url=self.priority_dlq_url,
            env_overrides=env,
            **kw,
        )

    def env(self) -> dict[str, str]:
        return {
            **EMULATOR_AWS_ENV,
            "SMARTPAPERS_SQS_ENDPOINT_URL": self.sqs_endpoint,
            "SMARTPAPERS_AWS_REGION": "us-east-1",
            "SMARTPAPERS_MONGO_URI": self.mongo_uri,
            "SMARTPAPERS_MONGO_DB": self.db_name,
            "SMARTPAPERS_SQS_QUEUE_URL": self.queue_url,
            "SMARTPAPERS_SQS_DLQ_URL": self.dlq_url,
            "SMARTPAPERS_SQS_PRIORITY_QUEUE_URL": self.priority_url,
            "SMARTPAPERS_SQS_PRIORITY_DLQ_URL": self.priority_dlq_url,
            "SMARTPAPERS_SQS_QUEUE_NAME": self.queue_name,
            "SMARTPAPERS_SQS_DLQ_NAME": self.dlq_name,
            "SMARTPAPERS_SQS_PRIORITY_QUEUE_NAME": f"{self.queue_name}-priority",
            "SMARTPAPERS_SQS_PRIORITY_DLQ_NAME": f"{self.queue_name}-priority-dlq",
            "SMARTPAPERS_LOG_FORMAT": "text",
        }


async def make_stack(
    backends: Backends, *, visibility_timeout: int = 30, max_receive_count: int = 5
) -> Stack:
    suffix = uuid.uuid4().hex[:10]
    qs = QueueSettings(
        sqs_endpoint_url=backends.sqs_endpoint,
        sqs_queue_name=f"t-{suffix}",
        sqs_dlq_name=f"t-{suffix}-dlq",
        sqs_priority_queue_name=f"t-{suffix}-priority",
        sqs_priority_dlq_name=f"t-{suffix}-priority-dlq",
        sqs_visibility_timeout_seconds=visibility_timeout,
        sqs_max_receive_count=max_receive_count,
    )
    async with open_sqs_client(region="us-east-1", endpoint_url=backends.sqs_endpoint) as sqs:
        pairs = await create_queues(QueueAdmin(sqs), qs)
    return Stack(
        sqs_endpoint=backends.sqs_endpoint,
        mongo_uri=backends.mongo_uri,
        db_name=f"t_{suffix}",
        queue_url=pairs.normal.main,
        dlq_url=pairs.normal.dlq,
        queue_name=qs.sqs_queue_name,
        dlq_name=qs.sqs_dlq_name,
        priority_url=pairs.priority.main,
        priority_dlq_url=pairs.priority.dlq,
    )


@pytest.fixture
async def stack(backends: Backends) -> AsyncIterator[Stack]:
    """A fresh database and fresh queues for one test; dropped afterwards."""
    s = await make_stack(backends)
    yield s
    await drop_stack(s)


async def drop_stack(s: Stack) -> None:
    client: AsyncMongoClient[Document] = AsyncMongoClient(s.mongo_uri)
    try:
        await client.drop_database(s.db_name)
    finally:
        await client.close()
    async with open_sqs_client(region="us-east-1", endpoint_url=s.sqs_endpoint) as sqs:
        for url in (s.queue_url, s.dlq_url, s.priority_url, s.priority_dlq_url):
            await QueueAdmin(sqs).delete(url)


@pytest.fixture
async def mongo_db(stack: Stack) -> AsyncIterator[object]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(stack.mongo_uri, tz_aware=True)
    yield client[stack.db_name]
    await client.close()
