"""The container test backend (``SMARTPAPERS_TEST_BACKEND=containers``): ElasticMQ and a
MongoDB-compatible server started by testcontainers, one each per test session.

- ``SMARTPAPERS_TEST_MONGO_IMAGE`` (default ``mongo:7``) and ``SMARTPAPERS_TEST_SQS_IMAGE``
  (default ``softwaremill/elasticmq-native:1.7.1``) choose the images; where nothing can be
  pulled, ``scripts/server-images.sh`` builds ``smartpapers-local/secantusdb`` and
  ``smartpapers-local/elasticmq`` here (``make test-containers`` uses them).
- ``SMARTPAPERS_TEST_CONTAINER_NETWORK``: ``bridge`` (default) publishes the servers' ports;
  ``host`` runs them on the host network on free 127.0.0.1 ports (an engine without a bridge,
  as ``scripts/docker-engine.sh`` starts it). The local images read ``PORT``/``BIND_HOST``;
  ``mongo`` images get ``--port``.
A server that does not answer within a minute fails the session with its log.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import httpx
from pymongo import MongoClient

from smartpapers.devstack.servers import ServerStartError, free_port

DEFAULT_MONGO_IMAGE = "mongo:7"
DEFAULT_SQS_IMAGE = "softwaremill/elasticmq-native:1.7.1"


def _container(image: str, port: int, host_network: bool) -> tuple[Any, str, int]:
    """Start ``image`` serving container port ``port``: (container, host, host port)."""
    from testcontainers.core.container import DockerContainer

    c = DockerContainer(image)
    if not host_network:
        c = c.with_exposed_ports(port).start()
        return c, c.get_container_host_ip(), int(c.get_exposed_port(port))
    free = free_port()
    c = c.with_kwargs(network_mode="host").with_env("PORT", str(free))
    c = c.with_env("BIND_HOST", "127.0.0.1")
    if image.split("/")[-1].startswith("mongo"):
        c = c.with_command(f"--port {free} --bind_ip 127.0.0.1")
    return c.start(), "127.0.0.1", free


def _wait(name: str, container: Any, ready: Callable[[], object], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ready()
            return
        except Exception:  # any failure means "not yet"
            time.sleep(0.5)
    out, err = container.get_logs()
    logs = (out + err).decode(errors="replace")[-2000:]
    raise ServerStartError(f"{name} container did not answer within {timeout:.0f} s:\n{logs}")


def _ping(uri: str) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(uri, serverSelectionTimeoutMS=1000)
    try:
        client.admin.command("ping")
    finally:
        client.close()


def start() -> tuple[str, str, list[Any]]:
    """(SQS endpoint, MongoDB URI, containers to stop)."""
    try:
        import testcontainers  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the optional group
        raise ServerStartError(
            "SMARTPAPERS_TEST_BACKEND=containers needs `uv sync --group containers`"
        ) from e
    host_network = os.environ.get("SMARTPAPERS_TEST_CONTAINER_NETWORK", "bridge") == "host"
    started: list[Any] = []
    try:
        image = os.environ.get("SMARTPAPERS_TEST_MONGO_IMAGE", DEFAULT_MONGO_IMAGE)
        mongo, host, port = _container(image, 27017, host_network)
        started.append(mongo)
        uri = f"mongodb://{host}:{port}/?directConnection=true"
        _wait(image, mongo, lambda: _ping(uri))
        image = os.environ.get("SMARTPAPERS_TEST_SQS_IMAGE", DEFAULT_SQS_IMAGE)
        sqs, host, port = _container(image, 9324, host_network)
        started.append(sqs)
        endpoint = f"http://{host}:{port}"
        _wait(image, sqs, lambda: httpx.get(endpoint, timeout=1))
    except BaseException:
        for c in started:
            c.stop()
        raise
    return endpoint, uri, started
