"""Every dashboard panel query and every recording rule, evaluated by a real Prometheus
scraping a real API and two real workers after a small load.

Panels that need kube-state-metrics or KEDA series cannot be fed here; they are exercised
with synthetic series in test_dashboard_synthetic.py (``external_panels`` lists them)."""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import yaml

from dashboards.queries import external_panels, load_dashboard, panel_queries
from smartpapers.devstack.demo import demo_answers, demo_paper
from smartpapers.devstack.servers import (
    ManagedProcess,
    free_port,
    port_open,
    python_module,
    spawn,
    wait_for_port,
)
from tests.conftest import Stack

from .helpers import REPO_ROOT, RULES_FILE

PREMIUM_INSTITUTE = "premium-i"


def _local_config() -> ModuleType:
    path = REPO_ROOT / "deploy/prometheus/local_config.py"
    spec = importlib.util.spec_from_file_location("smartpapers_local_prom_config_live", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _two_free_ports() -> int:
    for _ in range(50):
        base = free_port()
        if not port_open(base + 1):
            return base
    raise AssertionError("no two consecutive free ports")


async def _ready(base: str, proc: ManagedProcess) -> None:
    async with httpx.AsyncClient(base_url=base) as c:
        for _ in range(300):
            assert proc.running, proc.tail()
            try:
                if (await c.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(proc.tail())


@pytest.fixture
async def scraped_stack(stack: Stack, tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """(api base URL, prometheus base URL) with load already applied."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus not found: run `bash scripts/install-tools.sh prometheus`"
    api_port, worker_base, prom_port = free_port(), _two_free_ports(), free_port()
    env = {
        **stack.env(),
        "SMARTPAPERS_LOG_LEVEL": "WARNING",
        "SMARTPAPERS_QUEUE_METRICS_INTERVAL_SECONDS": "2",
        "SMARTPAPERS_SQS_WAIT_TIME_SECONDS": "2",
        "SMARTPAPERS_WORKER_CONCURRENCY": "10",
        "SMARTPAPERS_MONGO_MAX_POOL_SIZE": "4",
        "SMARTPAPERS_MONGO_TIMEOUT_MS": "30000",
        # the priority lane (the stack's priority queue pair): half the load is premium
        "SMARTPAPERS_PREMIUM_INSTITUTES": f'["{PREMIUM_INSTITUTE}"]',
    }
    procs = [
        spawn(
            "api",
            python_module("smartpapers.api"),
            env={**env, "SMARTPAPERS_API_PORT": str(api_port)},
        )
    ]
    procs += [
        spawn(
            f"worker-{i}",
            python_module("smartpapers.worker"),
            env={**env, "SMARTPAPERS_WORKER_METRICS_PORT": str(worker_base + i)},
        )
        for i in range(2)
    ]
    config = tmp_path / "prometheus.yml"
    config.write_text(
        _local_config().render(
            2,
            api=f"127.0.0.1:{api_port}",
            worker_base_port=worker_base,
            listen=f"127.0.0.1:{prom_port}",
            rules=RULES_FILE,
        )
    )
    prom = spawn(
        "prometheus",
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            "--log.level=warn",
        ],
    )
    procs.append(prom)
    try:
        wait_for_port(prom, prom_port, timeout=30)
        api = f"http://127.0.0.1:{api_port}"
        await _ready(api, procs[0])
        async with httpx.AsyncClient(base_url=api, timeout=60) as c:
            assert (await c.post("/api/papers", json=demo_paper())).status_code == 201
            assert (
                await c.post(
                    "/api/submissions",
                    json={"studentId": "x", "paperId": "nope", "instituteId": "i", "answers": []},
                )
            ).status_code == 404
            bodies = [
                {
                    "studentId": f"s{i}",
                    "paperId": "demo-paper",
                    "instituteId": PREMIUM_INSTITUTE if i % 2 == 0 else "i",
                    "answers": demo_answers(i % 21),
                }
                for i in range(40)
            ]
            for round_ in range(3):  # spread over scrapes so rate() has samples
                answers = await asyncio.gather(
                    *(c.post("/api/submissions", json=b) for b in bodies[round_::3])
                )
                assert {r.status_code for r in answers} == {202}
                await asyncio.sleep(6)
        yield api, f"http://127.0.0.1:{prom_port}"
    finally:
        for p in procs:
            p.signal(signal.SIGTERM)
        for p in procs:
            p.stop(timeout=30)


async def _query(client: httpx.AsyncClient, expr: str) -> list[Any]:
    r = await client.get("/api/v1/query", params={"query": expr})
    assert r.status_code == 200, (expr, r.text)
    body = r.json()
    assert body["status"] == "success", (expr, body)
    return list(body["data"]["result"])


async def test_every_panel_query_and_recording_rule_returns_data(
    scraped_stack: tuple[str, str],
) -> None:
    _, prom = scraped_stack
    dashboard = load_dashboard()
    queries = panel_queries(
        dashboard,
        namespace_regex=".*",
        release_regex=None,
        rate_interval="1m",
        include_external=False,
    )
    assert len(queries) >= 30
    rules = yaml.safe_load(RULES_FILE.read_text())
    records = sorted({r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r})
    assert records, "the rules file has recording rules"

    async with httpx.AsyncClient(base_url=prom, timeout=30) as client:
        missing: list[str] = []
        for _ in range(30):  # scrapes every 5 s, rules every 15 s
            missing = [f"panel {t!r}: {e}" for t, e in queries if not await _query(client, e)]
            missing += [f"rule {r}" for r in records if not await _query(client, r)]
            if not missing:
                break
            await asyncio.sleep(3)
        assert not missing, "no data for:\n" + "\n".join(missing)
        # the premium half of the load travelled on the priority lane (not only zero series)
        for expr in (
            'sum(smartpapers_worker_receive_batches_total{lane="priority"})',
            'sum(smartpapers_job_queue_wait_seconds_count{lane="priority"})',
            'sum(smartpapers_job_queue_wait_seconds_count{lane="normal"})',
        ):
            (sample,) = await _query(client, expr)
            assert float(sample["value"][1]) > 0, expr
    assert set(external_panels(dashboard)), "external panels are covered synthetically"
