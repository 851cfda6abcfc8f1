"""``smartpapers-loadtest``: the successor of ``TEST_CONCURRENT=100 node
test-submission-queue.js``.

Exit codes: 0 passed; 1 something was lost, duplicated, wrongly scored, failed or rejected
unexpectedly; 2 the run could not start (bad options, refused remote host, API unreachable,
unknown paper).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
from pathlib import Path
from urllib.parse import urlsplit

from smartpapers.loadtest.config import LoadConfig, LoadTestError, RunResult
from smartpapers.loadtest.runner import Runner
from smartpapers.loadtest.stats import Summary, format_summary, summarize

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


class RemoteRefused(ValueError):
    pass


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it could resolve anywhere


def check_target(url: str, *, allow_remote: bool, what: str = "--url") -> None:
    """Refuse non-loopback targets unless ``--allow-remote``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RemoteRefused(f"{what} {url!r} is not an http(s) URL")
    if allow_remote or is_loopback(url):
        return
    raise RemoteRefused(
        f"refusing to load-test {parts.hostname!r} ({what}): it is not a loopback address. "
        "A load test sends thousands of real submissions that are stored and graded; against a "
        "shared, staging or production API it costs money, fills its database and can hurt "
        "real students mid-exam. Pass --allow-remote if the target is yours and meant for it."
    )


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="smartpapers-loadtest",
        description="Send real quiz submissions to a smartpapers API, follow them to "
        "completion and report. `smartpapers-loadtest bench` runs the local benchmark; "
        "`smartpapers-loadtest dbprobe` times the job path's database operations.",
        epilog="Exit codes: 0 passed, 1 lost/duplicated/wrong/failed/rejected, 2 could not run.",
    )
    p.add_argument("--url", default="http://127.0.0.1:8000", help="API base URL")
    p.add_argument(
        "--allow-remote", action="store_true", help="allow a non-loopback --url / --metrics-url"
    )
    p.add_argument("--paper", default="demo-paper", help="paperId (must exist)")
    p.add_argument("--total", type=positive_int, default=100, help="submissions to send")
    p.add_argument(
        "--concurrency",
        type=positive_int,
        default=None,
        help="submissions in flight at once (default 100; with --burst: --total)",
    )
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("--rate", type=positive_float, help="start this many submissions per second")
    shape.add_argument("--burst", action="store_true", help="start every submission at once")
    p.add_argument(
        "--students", type=positive_int, default=None, help="distinct studentIds (default --total)"
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=300.0,
        help="seconds, after the last submission is answered, for every job to be final",
    )
    p.add_argument("--poll-interval", type=positive_float, default=1.0, help="seconds")
    p.add_argument("--poll-concurrency", type=positive_int, default=50)
    p.add_argument("--no-wait", action="store_true", help="do not follow jobs to completion")
    p.add_argument(
        "--metrics-url",
        default=None,
        help="the API's /metrics, sampled for queue depth (e.g. http://127.0.0.1:8000/metrics)",
    )
    p.add_argument("--json-out", type=Path, default=None, help="write the JSON result here")
    p.add_argument("--png-out", type=Path, default=None, help="write the PNG report here")
    p.add_argument("--bearer-token", default=None, help="sent as Authorization: Bearer …")
    p.add_argument(
        "--allow-reject",
        type=int,
        action="append",
        default=[],
        metavar="STATUS",
        help="an HTTP status that does not fail the run (repeatable, e.g. 429)",
    )
    p.add_argument("--request-timeout", type=positive_float, default=30.0, help="seconds")
    p.add_argument("--seed", type=int, default=1, help="random answers' seed")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def config_from_args(args: argparse.Namespace) -> LoadConfig:
    concurrency = args.concurrency or (args.total if args.burst else 100)
    return LoadConfig(
        url=args.url.rstrip("/"),
        paper=args.paper,
        total=args.total,
        concurrency=concurrency,
        rate=args.rate,
        burst=args.burst,
        students=args.students,
        timeout=args.timeout,
        poll_interval=args.poll_interval,
        poll_concurrency=args.poll_concurrency,
        wait=not args.no_wait,
        metrics_url=args.metrics_url,
        bearer_token=args.bearer_token,
        request_timeout=args.request_timeout,
        seed=args.seed,
        progress=not args.no_progress and sys.stderr.isatty(),
    )


def finish(
    result: RunResult,
    *,
    allowed_rejects: list[int],
    json_out: Path | None,
    png_out: Path | None,
) -> Summary:
    summary = summarize(
        result.records,
        waited=result.config.wait,
        allowed_rejects=allowed_rejects,
        paper_total=result.paper_total,
    )
    if json_out is not None or png_out is not None:
        from smartpapers.loadtest import report  # matplotlib only when asked for

        if json_out is not None:
            report.write_json(json_out, result, summary)
        if png_out is not None:
            report.write_png(png_out, result, summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        from smartpapers.loadtest.bench import main as bench_main

        return bench_main(argv[1:])
    if argv[:1] == ["dbprobe"]:
        from smartpapers.loadtest.dbprobe import main as dbprobe_main

        return dbprobe_main(argv[1:])
    args = build_parser().parse_args(argv)
    out = sys.stdout
    try:
        check_target(args.url, allow_remote=args.allow_remote)
        if args.metrics_url:
            check_target(args.metrics_url, allow_remote=args.allow_remote, what="--metrics-url")
    except RemoteRefused as e:
        sys.stderr.write(f"smartpapers-loadtest: {e}\n")
        return EXIT_USAGE
    config = config_from_args(args)
    try:
        result = asyncio.run(Runner(config).run())
    except LoadTestError as e:
        sys.stderr.write(f"smartpapers-loadtest: {e}\n")
        return EXIT_USAGE
    summary = finish(
        result, allowed_rejects=args.allow_reject, json_out=args.json_out, png_out=args.png_out
    )
    out.write(format_summary(summary) + "\n")
    if result.config.metrics_url and result.queue_depth_error and not result.queue_depth:
        out.write(f"queue depth     unavailable: {result.queue_depth_error}\n")
    for path in (args.json_out, args.png_out):
        if path is not None:
            out.write(f"wrote           {path}\n")
    out.flush()
    return summary.exit_code
