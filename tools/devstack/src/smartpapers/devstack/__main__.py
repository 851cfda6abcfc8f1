"""``smartpapers-dev`` (``make dev``): the whole system in the foreground, no Docker.

A :class:`~smartpapers.devstack.stack.LocalStack` on the well-known ports: ElasticMQ on
127.0.0.1:9324, the database on 127.0.0.1:27017, the queues created, the API on
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
from pathlib import Path
from types import FrameType
from typing import TextIO

from smartpapers.devstack.servers import (
    ManagedProcess,
    ServerStartError,
    port_open,
    spawn,
    wait_for_port,
)
from smartpapers.devstack.stack import LocalStack

REPO = Path(__file__).resolve().parents[5]

logger = logging.getLogger("smartpapers.devstack")


BANNER = """
  smartpapers is running (Ctrl-C stops everything)
    API        {api}   (docs: {api}/docs, metrics: {api}/metrics)
    demo page  {api}/demo/   (answer the demo paper, watch it being graded)
    workers    {workers}
    SQS        {sqs}   queue {queue}
    MongoDB    {mongo}  (SecantusDB, data in {data})

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
    stack = LocalStack(
        data,
        sqs_port=args.sqs_port,
        mongo_port=args.mongo_port,
        api_port=args.api_port,
        worker_metrics_port=args.worker_metrics_port,
        persist=True,
        sink=out,
    )
    prometheus: ManagedProcess | None = None
    try:
        logger.info("starting ElasticMQ and the database (data under %s)", data)
        stack.start(workers=args.workers, SMARTPAPERS_DEMO_PAGE="true")
        if args.prometheus:
            prometheus = start_prometheus(
                workers=args.workers,
                api_port=args.api_port,
                worker_base_port=args.worker_metrics_port,
                data=data / "prometheus",
                sink=out,
            )
        workers = ", ".join(
            f"http://127.0.0.1:{args.worker_metrics_port + i}/metrics" for i in range(args.workers)
        )
        out.write(
            BANNER.format(
                api=stack.api_url,
                workers=workers,
                sqs=stack.sqs_url,
                queue=stack.queue_url,
                mongo=stack.database_uri,
                data=data,
            )
        )
        out.flush()
        while not stop.wait(0.5):
            dead = stack.dead() + ([prometheus] if prometheus and not prometheus.running else [])
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
        stack.stop()
        if prometheus is not None:
            prometheus.stop(timeout=15)
        logger.info("stopped")


if __name__ == "__main__":
    sys.exit(main())
