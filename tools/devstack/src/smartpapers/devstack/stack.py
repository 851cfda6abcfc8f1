"""``LocalStack``: the whole system on 127.0.0.1 — ElasticMQ, the database, the queues, the API
and N worker processes, the demo paper seeded — the one way ``make dev``, the benchmark, the
fault suite and the end-to-end tests start it.

Ports default to free ones (``make dev`` passes the well-known ones). ``mongo_uri`` /
``sqs_endpoint`` point the stack at servers that already run (a real MongoDB, the test
session's servers) instead of starting its own. Every process is stopped by :meth:`stop`
in dependency order: workers first (they drain), then the API, then the servers.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from smartpapers.common.queue import open_sqs_client
from smartpapers.common.queue_admin import QueueAdmin
from smartpapers.devstack.demo import DEMO_PAPER_ID, demo_paper
from smartpapers.devstack.servers import (
    EMULATOR_AWS_ENV,
    REGION,
    ManagedProcess,
    ServerStartError,
    free_port,
    mongo_uri,
    python_module,
    spawn,
    start_database,
    start_elasticmq,
)


@dataclass
class LocalStack:
    work_dir: Path
    sqs_port: int = 0
    mongo_port: int = 0
    api_port: int = 0
    worker_metrics_port: int = 0
    """The first worker's /metrics port (worker i: + i); 0 = a free port each."""
    mongo_uri: str = ""
    """Use this MongoDB instead of starting the local database."""
    sqs_endpoint: str = ""
    """Use this SQS endpoint instead of starting ElasticMQ."""
    db_name: str = "smartpapers"
    queue_name: str = "smartpapers-submissions"
    persist: bool = False
    """Keep queues and messages on disk (``make dev``; stacks that restart ElasticMQ)."""
    visibility_timeout: int = 60
    env_overrides: dict[str, str] = field(default_factory=dict)
    sink: IO[str] | None = None
    """Where the processes' prefixed output goes (None: kept in memory for tails)."""

    servers: dict[str, ManagedProcess] = field(default_factory=dict)
    api: ManagedProcess | None = None
    workers: list[tuple[ManagedProcess, int]] = field(default_factory=list)
    queue_url: str = ""
    dlq_url: str = ""
    priority_url: str = ""
    priority_dlq_url: str = ""
    """The priority lane's queues (docs/priority-lane.md)."""

    @classmethod
    def unique(cls, work_dir: Path, **kw: object) -> LocalStack:
        """A stack with its own database and queue names (for shared servers)."""
        suffix = uuid.uuid4().hex[:10]
        return cls(work_dir, db_name=f"t_{suffix}", queue_name=f"t-{suffix}", **kw)  # type: ignore[arg-type]

    # -- start ----------------------------------------------------------------------------

    def start(self, *, workers: int = 0, **api_env: str) -> LocalStack:
        """Servers, queues, the API (ready, seeded) and ``workers`` workers."""
        try:
            self.start_servers()
            self.create_queues()
            self.start_api(**api_env)
            self.seed()
            self.set_workers(workers)
        except BaseException:
            self.stop()
            raise
        return self

    def start_servers(self) -> None:
        if not self.sqs_endpoint:
            self.sqs_port = self.sqs_port or free_port()
            self.start_elasticmq()
        if not self.mongo_uri:
            self.mongo_port = self.mongo_port or free_port()
            self.start_database()

    def start_elasticmq(self) -> None:
        self.servers["elasticmq"] = start_elasticmq(
            port=self.sqs_port,
            work_dir=self.work_dir / "elasticmq",
            persist=self.persist,
            sink=self.sink,
            log_level="INFO" if self.sink is not None else "WARN",
        )

    def start_database(self) -> None:
        self.servers["database"] = start_database(
            port=self.mongo_port, data_dir=self.work_dir / "database", sink=self.sink
        )

    @property
    def sqs_url(self) -> str:
        return self.sqs_endpoint or f"http://127.0.0.1:{self.sqs_port}"

    @property
    def database_uri(self) -> str:
        return self.mongo_uri or mongo_uri(self.mongo_port)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def create_queues(self) -> None:
        asyncio.run(self.create_queues_async())

    async def create_queues_async(self) -> None:
        """Both lanes' queue, DLQ and redrive policy (idempotent)."""
        keys = (EMULATOR_AWS_ENV["AWS_ACCESS_KEY_ID"], EMULATOR_AWS_ENV["AWS_SECRET_ACCESS_KEY"])
        async with open_sqs_client(
            region=REGION, endpoint_url=self.sqs_url, static_credentials=keys
        ) as sqs:
            pairs = [
                await QueueAdmin(sqs).create_pair(
                    name=name,
                    dlq_name=f"{name}-dlq",
                    visibility_timeout=self.visibility_timeout,
                    max_receive_count=5,
                    retention_seconds=1_209_600,
                )
                for name in (self.queue_name, f"{self.queue_name}-priority")
            ]
        self.queue_url, self.dlq_url = pairs[0].main, pairs[0].dlq
        self.priority_url, self.priority_dlq_url = pairs[1].main, pairs[1].dlq

    def env(self, **over: str) -> dict[str, str]:
        """What every smartpapers process of this stack runs with."""
        return {
            **EMULATOR_AWS_ENV,
            "SMARTPAPERS_SQS_ENDPOINT_URL": self.sqs_url,
            "SMARTPAPERS_AWS_REGION": REGION,
            "SMARTPAPERS_MONGO_URI": self.database_uri,
            "SMARTPAPERS_MONGO_DB": self.db_name,
            "SMARTPAPERS_SQS_QUEUE_URL": self.queue_url,
            "SMARTPAPERS_SQS_DLQ_URL": self.dlq_url,
            "SMARTPAPERS_SQS_PRIORITY_QUEUE_URL": self.priority_url,
            "SMARTPAPERS_SQS_PRIORITY_DLQ_URL": self.priority_dlq_url,
            "SMARTPAPERS_SQS_VISIBILITY_TIMEOUT_SECONDS": str(self.visibility_timeout),
            "SMARTPAPERS_AUTH_MODE": "none",
            "SMARTPAPERS_LOG_FORMAT": "text",
            **self.env_overrides,
            **over,
        }

    def start_api(self, **env: str) -> ManagedProcess:
        self.api_port = self.api_port or free_port()
        self.api = spawn(
            "api",
            python_module("smartpapers.api"),
            env=self.env(SMARTPAPERS_API_PORT=str(self.api_port), **env),
            sink=self.sink,
        )
        self.wait_ready()
        return self.api

    def wait_ready(self, *, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        procs = [p for p in (self.api, *(w for w, _ in self.workers)) if p is not None]
        while time.monotonic() < deadline:
            for p in procs:
                if not p.running:
                    raise ServerStartError(f"{p.name} exited early:\n{p.tail()}")
            try:
                if httpx.get(f"{self.api_url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise ServerStartError(f"API not ready at {self.api_url}/readyz within {timeout:.0f}s")

    def seed(self) -> None:
        r = httpx.post(f"{self.api_url}/api/papers", json=demo_paper(), timeout=30)
        if r.status_code not in (201, 409):
            raise ServerStartError(f"seeding {DEMO_PAPER_ID} failed: {r.status_code} {r.text}")

    def start_worker(self, *, name: str | None = None, **env: str) -> ManagedProcess:
        i = len(self.workers)
        port = self.worker_metrics_port + i if self.worker_metrics_port else free_port()
        proc = spawn(
            name or f"worker-{i + 1}",
            python_module("smartpapers.worker"),
            env=self.env(SMARTPAPERS_WORKER_METRICS_PORT=str(port), **env),
            sink=self.sink,
        )
        self.workers.append((proc, port))
        return proc

    def set_workers(self, n: int, **env: str) -> None:
        """Stop the running workers (they drain) and start ``n`` fresh ones, metrics ready."""
        if self.workers:
            self.stop_workers()
            # ElasticMQ keeps serving a long poll whose worker has exited until its wait time
            # ends, and the messages it hands out stay invisible for a visibility timeout:
            # let those polls expire before anything is queued
            time.sleep(int(self.env().get("SMARTPAPERS_SQS_WAIT_TIME_SECONDS", "20")) + 1)
        for _ in range(n):
            self.start_worker(**env)
        for proc, port in self.workers:
            self._wait_metrics(proc, port)

    @staticmethod
    def _wait_metrics(proc: ManagedProcess, port: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.running:
                raise ServerStartError(f"{proc.name} exited:\n{proc.tail()}")
            try:
                httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise ServerStartError(f"{proc.name} served no /metrics within {timeout:.0f}s")

    # -- observe --------------------------------------------------------------------------

    def metrics_urls(self) -> list[str]:
        return [f"{self.api_url}/metrics"] + [
            f"http://127.0.0.1:{port}/metrics" for _, port in self.workers
        ]

    def dead(self) -> list[ManagedProcess]:
        procs = [*self.servers.values(), *([self.api] if self.api else [])]
        return [p for p in procs + [w for w, _ in self.workers] if not p.running]

    def tails(self, n: int = 20) -> str:
        procs = [*self.servers.values(), *([self.api] if self.api else [])]
        return "\n".join(f"--- {p.name}\n{p.tail(n)}" for p in procs + [w for w, _ in self.workers])

    # -- stop -----------------------------------------------------------------------------

    def stop_workers(self, timeout: float = 60) -> None:
        for proc, _ in self.workers:
            proc.signal(signal.SIGTERM)
        for proc, _ in self.workers:
            proc.stop(timeout=timeout)
        self.workers = []

    def stop_api(self, timeout: float = 30) -> None:
        if self.api is not None:
            self.api.signal(signal.SIGTERM)
            self.api.stop(timeout=timeout)

    def stop(self) -> None:
        self.stop_workers()
        self.stop_api()
        for server in reversed(self.servers.values()):
            server.stop(timeout=15)

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
