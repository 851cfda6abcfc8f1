"""``smartpapers-dev`` (``make dev``): the whole system in the foreground, no Docker.

ElasticMQ on 127.0.0.1:9324, FerretDB on 127.0.0.1:27017, the queues created, the API on
http://127.0.0.1:8000 and N workers; ``demo-paper`` seeded. Ctrl-C (or SIGTERM) stops every
child in order — workers first so they drain, then the API, then the servers. Data is kept
under ``.data/``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TextIO

import httpx

from smartpapers.devstack.demo import DEMO_PAPER_ID, demo_paper
from smartpapers.devstack.servers import (
    EMULATOR_AWS_ENV,
    ManagedProcess,
    ServerStartError,
    port_open,
    python_module,
    spawn,
    start_elasticmq,
    start_ferretdb,
    wait_for_port,
)

REPO = Path(__file__).resolve().parents[5]

logger = logging.getLogger("smartpapers.devstack")


def create_queues(env: dict[str, str]) -> dict[str, str]:
    out = subprocess.run(
        python_module("smartpapers.worker.queues_cli") + ["create"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if out.returncode != 0:
        raise ServerStartError(f"queue bootstrap failed: {out.stderr.strip()}")
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def wait_ready(api: str, procs: list[ManagedProcess], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if not p.running:
                raise ServerStartError(f"{p.name} exited early:\n{p.tail()}")
        try:
            if httpx.get(f"{api}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise ServerStartError(f"API not ready at {api}/readyz within {timeout:.0f}s")


def seed(api: str) -> None:
    r = httpx.post(f"{api}/api/papers", json=demo_paper(), timeout=10)
    if r.status_code not in (201, 409):
        raise ServerStartError(f"seeding {DEMO_PAPER_ID} failed: {r.status_code} {r.text}")


BANNER = """
  smartpapers is running (Ctrl-C stops everything)
    API        {api}   (docs: {api}/docs, metrics: {api}/metrics)
    workers    {workers}
    SQS        {sqs}   queue {queue}
    MongoDB    mongodb://127.0.0.1:{mongo_port}/{db}  (FerretDB, data in {data})

  Try it:
    curl -s -X POST {api}/api/submissions -H 'Content-Type: application/json' \\
      -d '{{"studentId":"s1","paperId":"demo-paper","instituteId":"demo-institute",
           "answers":[{{"questionId":"q1","answer":"A"}},{{"questionId":"q2","answer":"B"}}]}}'
    curl -s {api}/api/submissions/status/<jobId>
"""


def start_prometheus(
    *, workers: int, api_port: int, worker_base_port: int, data: Path, sink: TextIO
) -> ManagedProcess:
    """Prometheus scraping the API and workers, with the chart's recording rules and alerts."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise ServerStartError("prometheus not found: run `scripts/install-tools.sh prometheus`")
    data.mkdir(parents=True, exist_ok=True)
    config = data / "prometheus.yml"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "deploy/prometheus/local_config.py"),
            "--workers",
            str(workers),
            "--api",
            f"127.0.0.1:{api_port}",
            "--worker-base-port",
            str(worker_base_port),
            "--out",
            str(config),
        ],
        check=True,
        timeout=30,
    )
    proc = spawn(
        "prometheus",
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={data / 'tsdb'}",
            "--web.listen-address=127.0.0.1:9090",
            "--storage.tsdb.retention.time=2d",
            "--log.level=warn",
        ],
        sink=sink,
    )
    wait_for_port(proc, 9090, timeout=30)
    logger.info("Prometheus on http://127.0.0.1:9090")
    return proc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smartpapers-dev", description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--sqs-port", type=int, default=9324)
    parser.add_argument("--mongo-port", type=int, default=27017)
    parser.add_argument(
        "--worker-metrics-port",
        type=int,
        default=9100,
        help="first worker's /metrics port; worker i uses port + i",
    )
    parser.add_argument("--data-dir", type=Path, default=Path(".data"))
    parser.add_argument(
        "--prometheus",
        action="store_true",
        help="also run Prometheus on 127.0.0.1:9090 scraping the stack",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[devstack ] %(message)s", stream=sys.stdout)

    for port in (args.sqs_port, args.mongo_port, args.api_port):
        if port_open(port):
            logger.error("port %d is already in use (another `make dev`?)", port)
            return 1

    stop = threading.Event()

    def on_signal(signum: int, _: FrameType | None) -> None:
        logger.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    data = args.data_dir.resolve()
    out = sys.stdout
    servers: list[ManagedProcess] = []
    apps: list[ManagedProcess] = []
    try:
        logger.info("starting ElasticMQ and FerretDB (data under %s)", data)
        servers.append(
            start_elasticmq(
                port=args.sqs_port,
                work_dir=data / "elasticmq",
                persist=True,
                sink=out,
                log_level="INFO",
            )
        )
        servers.append(start_ferretdb(port=args.mongo_port, data_dir=data / "ferretdb", sink=out))
        sqs = f"http://127.0.0.1:{args.sqs_port}"
        env = {
            **EMULATOR_AWS_ENV,
            "SMARTPAPERS_SQS_ENDPOINT_URL": sqs,
            "SMARTPAPERS_AWS_REGION": "us-east-1",
            "SMARTPAPERS_MONGO_URI": f"mongodb://127.0.0.1:{args.mongo_port}/",
            "SMARTPAPERS_LOG_FORMAT": "text",
            "SMARTPAPERS_AUTH_MODE": "none",
        }
        env.update(create_queues(env))
        api = f"http://127.0.0.1:{args.api_port}"
        apps.append(
            spawn(
                "api",
                python_module("smartpapers.api"),
                sink=out,
                env={**env, "SMARTPAPERS_API_PORT": str(args.api_port)},
            )
        )
        for i in range(args.workers):
            apps.append(
                spawn(
                    f"worker-{i + 1}",
                    python_module("smartpapers.worker"),
                    sink=out,
                    env={
                        **env,
                        "SMARTPAPERS_WORKER_METRICS_PORT": str(args.worker_metrics_port + i),
                    },
                )
            )
        wait_ready(api, apps)
        seed(api)
        if args.prometheus:
            servers.append(
                start_prometheus(
                    workers=args.workers,
                    api_port=args.api_port,
                    worker_base_port=args.worker_metrics_port,
                    data=data / "prometheus",
                    sink=out,
                )
            )
        workers = ", ".join(
            f"http://127.0.0.1:{args.worker_metrics_port + i}/metrics" for i in range(args.workers)
        )
        out.write(
            BANNER.format(
                api=api,
                workers=workers,
                sqs=sqs,
                queue=env["SMARTPAPERS_SQS_QUEUE_URL"],
                mongo_port=args.mongo_port,
                db="smartpapers",
                data=data,
            )
        )
        out.flush()
        while not stop.wait(0.5):
            dead = [p for p in servers + apps if not p.running]
            if dead:
                logger.error(
                    "%s exited (code %s); stopping the stack",
                    dead[0].name,
                    dead[0].popen.returncode,
                )
                return 1
        return 0
    except ServerStartError as e:
        logger.error("%s", e)
        return 1
    finally:
        # workers first (they drain), then the API, then the servers they depend on
        for p in reversed(apps):
            p.signal(signal.SIGTERM)
        for p in reversed(apps):
            p.stop(timeout=60)
        for p in reversed(servers):
            p.stop(timeout=15)
        logger.info("stopped")


if __name__ == "__main__":
    sys.exit(main())
