"""Integration fixtures: the API app (in-process, real lifespan) and a worker, both wired
to the per-test stack on the real ElasticMQ + the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from smartpapers.api.app import create_app
from smartpapers.api.settings import Settings as ApiSettings
from smartpapers.common.metrics import MONGO_COMMANDS
from smartpapers.common.queue import SqsQueue, open_sqs_client
from smartpapers.devstack.demo import demo_paper
from smartpapers.worker.__main__ import open_worker
from smartpapers.worker.consumer import Worker
from smartpapers.worker.settings import Settings as WorkerSettings
from tests.conftest import Stack
from tests.jwt_issuer import Issuer, JwksServer


def _stack_values(stack: Stack) -> dict[str, Any]:
    """Settings every process of a test shares: its stack, short connect attempts."""
    return {
        "mongo_uri": stack.mongo_uri,
        "mongo_db": stack.db_name,
        "sqs_endpoint_url": stack.sqs_endpoint,
        "sqs_queue_url": stack.queue_url,
        "sqs_dlq_url": stack.dlq_url,
        "sqs_priority_queue_url": stack.priority_url,
        "sqs_priority_dlq_url": stack.priority_dlq_url,
        "connect_attempts": 2,
        "mongo_timeout_ms": 2000,
    }


def api_settings(stack: Stack, **over: Any) -> ApiSettings:
    return ApiSettings(**{**_stack_values(stack), "queue_metrics_interval_seconds": 0, **over})


def worker_settings(stack: Stack, **over: Any) -> WorkerSettings:
    values: dict[str, Any] = {
        "worker_metrics_port": 0,
        "sqs_wait_time_seconds": 1,
        "sqs_visibility_timeout_seconds": 30,
        "worker_drain_timeout_seconds": 5,
    }
    return WorkerSettings(**{**_stack_values(stack), **values, **over})


@pytest.fixture
async def app(stack: Stack) -> AsyncIterator[FastAPI]:
    application = create_app(api_settings(stack))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
        yield c


@pytest.fixture
async def demo(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.post("/api/papers", json=demo_paper())
    assert r.status_code == 201, r.text
    return demo_paper()


@pytest.fixture
async def main_queue(stack: Stack) -> AsyncIterator[SqsQueue]:
    async with open_sqs_client(region="us-east-1", endpoint_url=stack.sqs_endpoint) as sqs:
        yield SqsQueue(client=sqs, url=stack.queue_url)


@pytest.fixture
async def dlq(stack: Stack) -> AsyncIterator[SqsQueue]:
    async with open_sqs_client(region="us-east-1", endpoint_url=stack.sqs_endpoint) as sqs:
        yield SqsQueue(client=sqs, url=stack.dlq_url)


RunWorker = Callable[..., Any]


@pytest.fixture
async def run_worker(stack: Stack) -> AsyncIterator[RunWorker]:
    """Start workers in this event loop: ``async with run_worker(**settings) as worker``."""
    import contextlib

    @contextlib.asynccontextmanager
    async def runner(**over: Any) -> AsyncIterator[Worker]:
        async with open_worker(worker_settings(stack, **over)) as worker:
            task = asyncio.create_task(worker.run())
            try:
                yield worker
            finally:
                worker.stop()
                await asyncio.wait_for(task, timeout=30)

    yield runner


def mongo_commands() -> dict[str, float]:
    """Commands sent so far by this process's counted MongoDB clients, by command name
    (``smartpapers_mongo_commands_total``)."""
    return {
        sample.labels["command"]: sample.value
        for metric in MONGO_COMMANDS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    }


async def wait_for(
    predicate: Callable[[], Any], *, timeout: float = 20, interval: float = 0.1
) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        await asyncio.sleep(interval)


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    """A token issuer with RSA and EC keys (tests.jwt_issuer)."""
    return Issuer.create()


@pytest.fixture
def jwks(issuer: Issuer) -> Iterator[JwksServer]:
    with JwksServer(issuer) as server:
        yield server
