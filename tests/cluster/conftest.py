"""Fixture chain of the cluster test: the local cluster (``make test-cluster`` brings it up and
runs this package on its network) → a fresh release of the chart, installed with
``helm install --wait`` from ``deploy/local/cluster/values.yaml``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pymongo
import pytest

from smartpapers.common.errors import QueueNotFoundError
from smartpapers.common.queue import open_sqs_client
from smartpapers.common.queue_admin import QueueAdmin
from tests.cluster.kube import RELEASE, ClusterMissing, helm, kubectl, mongo_uri, node_ip

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

REPO = Path(__file__).resolve().parents[2]
VALUES = REPO / "deploy" / "local" / "cluster" / "values.yaml"
DATABASE = "smartpapers"
QUEUES = (
    "smartpapers-submissions",
    "smartpapers-submissions-dlq",
    "smartpapers-submissions-priority",
    "smartpapers-submissions-priority-dlq",
)


@pytest.fixture(scope="session")
def cluster() -> str:
    try:
        ip = node_ip()
    except ClusterMissing as e:
        pytest.fail(str(e), pytrace=False)
    if kubectl("get", "--raw=/readyz", check=False).returncode != 0:
        pytest.fail(
            "the local cluster's API server does not answer: make cluster-up", pytrace=False
        )
    return ip


def sqs(ip: str) -> AbstractAsyncContextManager[SQSClient]:
    """A client of the cluster's ElasticMQ (on the node), with the emulator's dummy keys."""
    return open_sqs_client(region="us-east-1", endpoint_url=f"http://{ip}:9324",
                           static_credentials=("local", "local"))  # fmt: skip


async def clean_slate(ip: str) -> None:
    """No release, no database, no queues: every run starts from what a user's first
    ``helm install`` meets (the bootstrap hook creates the queues)."""
    helm("uninstall", RELEASE, "--wait", "--ignore-not-found", timeout=300)
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo_uri())
    client.drop_database(DATABASE)
    client.close()
    async with sqs(ip) as c:
        admin = QueueAdmin(c)
        for name in QUEUES:
            try:
                url = await admin.url_of(name)
            except QueueNotFoundError:  # nothing to delete
                continue
            await admin.delete(url)


@pytest.fixture(scope="session")
async def release(cluster: str) -> AsyncIterator[dict[str, Any]]:
    await clean_slate(cluster)
    began = time.monotonic()
    out = helm("install", RELEASE, str(REPO / "deploy/helm/smartpapers"), "-f", str(VALUES),
               "--wait", "--timeout", "5m", timeout=360)  # fmt: skip
    info = {"install_seconds": round(time.monotonic() - began, 1), "install_output": out.stdout}
    yield info
