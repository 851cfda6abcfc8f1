"""Render the local Prometheus config (and print the command that runs it).

    uv run python deploy/prometheus/local_config.py --workers 2 \
        --out .data/prometheus/prometheus.yml
    prometheus --config.file=.data/prometheus/prometheus.yml \
        --storage.tsdb.path=.data/prometheus/data --web.listen-address=127.0.0.1:9090

Scrapes the API at 127.0.0.1:8000/metrics and worker i (0-based) at 127.0.0.1:<9100+i>/metrics,
loads the chart's rules file (recording rules + alerts) by absolute path.
``--print-command`` prints the prometheus command line for the Makefile.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
TEMPLATE = HERE / "prometheus.local.yml.tmpl"
RULES = REPO_ROOT / "deploy/helm/smartpapers/files/prometheus/rules.yaml"


def render(
    workers: int,
    api: str = "127.0.0.1:8000",
    worker_host: str = "127.0.0.1",
    worker_base_port: int = 9100,
    listen: str = "127.0.0.1:9090",
    rules: Path = RULES,
) -> str:
    if workers < 1:
        raise ValueError("at least one worker")
    targets = ", ".join(f'"{worker_host}:{worker_base_port + i}"' for i in range(workers))
    return (
        TEMPLATE.read_text()
        .replace("@WORKER_TARGETS@", targets)
        .replace("@API_TARGET@", api)
        .replace("@PROMETHEUS_TARGET@", listen)
        .replace("@RULES_FILE@", str(rules))
    )


def command(config: Path, data_dir: Path, listen: str) -> list[str]:
    return [
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address={listen}",
        "--storage.tsdb.retention.time=2d",
        "--web.enable-lifecycle",
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--api", default="127.0.0.1:8000")
    ap.add_argument("--worker-base-port", type=int, default=9100)
    ap.add_argument("--listen", default="127.0.0.1:9090")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / ".data/prometheus/prometheus.yml")
    ap.add_argument(
        "--data-dir", type=Path, default=None, help="TSDB directory (default: <out dir>/data)"
    )
    ap.add_argument(
        "--print-command",
        action="store_true",
        help="print the prometheus command line after writing the config",
    )
    args = ap.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        render(args.workers, args.api, worker_base_port=args.worker_base_port, listen=args.listen)
    )
    if args.print_command:
        data_dir = args.data_dir or args.out.parent / "data"
        sys.stdout.write(
            shlex.join(command(args.out.resolve(), data_dir.resolve(), args.listen)) + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
