"""``smartpapers-loadtest bench`` (``make bench``): fixed scenarios on fresh local stacks (or
``--mongo-uri``), each in two modes — ``smartpapers`` as shipped and ``naive``, the same code
with every batching off, measured in the same run — ``--repeat`` times; the medians go into
a markdown table (stdout) and a JSON file (written after every scenario, so an interrupted
run keeps what it measured; ``--render`` prints the table of such a file).

Scenarios (``scenarios``): accept latency at 1/50/200 clients; a 10,000-submission burst
with 2 and with 4 workers; a 1,000 burst while two busy-loop CPU hogs load the machine; one
worker process draining a queued backlog. ``--quick`` runs small sizes (a smoke run).
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from smartpapers.devstack.servers import ServerStartError
from smartpapers.loadtest.bench.measure import BenchFailure
from smartpapers.loadtest.bench.render import Figures, medians, table
from smartpapers.loadtest.bench.render import render as render_document
from smartpapers.loadtest.bench.scenarios import MODES, Target, burst, drain, latency

Scenario = Callable[[str, Target], Figures]


def plan(*, quick: bool, drain_jobs: int | None) -> list[tuple[str, Scenario]]:
    if quick:
        return [
            ("latency", partial(latency, levels=[(1, 20), (50, 100)])),
            ("burst 1,000 / 2 workers", partial(burst, total=1_000, workers=2)),
            ("burst 200 / 2 workers / 2 hogs", partial(burst, total=200, workers=2, hogs=2)),
            ("drain", partial(drain, jobs=drain_jobs or 500)),
        ]
    return [
        ("burst 10,000 / 2 workers", partial(burst, total=10_000, workers=2)),
        ("burst 10,000 / 4 workers", partial(burst, total=10_000, workers=4)),
        ("burst 1,000 / 2 workers / 2 hogs", partial(burst, total=1_000, workers=2, hogs=2)),
        ("drain", partial(drain, jobs=drain_jobs or 5_000)),
        ("latency", partial(latency, levels=[(1, 50), (50, 500), (200, 1_000)])),
    ]


def selected(scenarios: list[tuple[str, Scenario]], only: str) -> list[tuple[str, Scenario]]:
    """The scenarios named by ``only`` (substrings; ``;`` or ``,`` outside digit groups do not
    split, so ``burst 10,000 / 2`` stays one name); all when empty."""
    names = [n.strip() for n in re.split(r";|,(?!\d{3})", only) if n.strip()]
    return [s for s in scenarios if not names or any(n in s[0] for n in names)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="smartpapers-loadtest bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    p.add_argument("--repeat", type=int, default=3, help="runs per mode (medians reported)")
    p.add_argument("--drain-jobs", type=int, default=None, help="jobs in the drain scenario")
    p.add_argument("--mongo-uri", default="", help="run against this MongoDB (a database each)")
    p.add_argument("--modes", default=",".join(MODES), help="modes to run (comma-separated)")
    p.add_argument("--only", default="", metavar="NAMES",
                   help="run only the scenarios whose name contains one of these "
                   "(comma-separated), e.g. 'burst 10,000 / 2,drain'")  # fmt: skip
    p.add_argument("--json-out", type=Path, default=Path("bench.json"))
    p.add_argument("--render", type=Path, default=None, metavar="JSON",
                   help="print the table of an earlier (or interrupted) run's JSON")  # fmt: skip
    args = p.parse_args(argv)
    if args.render is not None:
        sys.stdout.write(render_document(json.loads(args.render.read_text())) + "\n")
        return 0
    # SIGTERM (timeout, CI, kill) unwinds like Ctrl-C, so every stack's processes are stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    target = Target(mongo_uri=args.mongo_uri)
    modes = [m for m in args.modes.split(",") if m]
    runs: dict[str, list[Figures]] = {mode: [{} for _ in range(args.repeat)] for mode in modes}
    started = time.time()
    doc = {"startedAt": started, "quick": args.quick, "repeat": args.repeat, "modes": MODES,
           "target": args.mongo_uri or "local stack", "runs": runs}  # fmt: skip
    try:
        for i in range(args.repeat):
            for name, scenario in selected(plan(quick=args.quick, drain_jobs=args.drain_jobs),
                                           args.only):  # fmt: skip
                for mode in modes:  # modes side by side: the ratios compare like with like
                    sys.stderr.write(f"bench: run {i + 1}/{args.repeat}, {name}, {mode}\n")
                    runs[mode][i] |= scenario(mode, target)
                    args.json_out.write_text(json.dumps({**doc, "partial": True}) + "\n")
    except (ServerStartError, BenchFailure) as e:
        sys.stderr.write(f"bench: {e}\n")
        return 2
    ours, naive = medians(runs.get("smartpapers", [])), medians(runs.get("naive", []))
    text = table(ours, naive, args.repeat)
    sys.stdout.write(text + "\n")
    doc |= {"durationSeconds": time.time() - started, "markdown": text,
            "medians": {"smartpapers": ours, "naive": naive}}  # fmt: skip
    args.json_out.write_text(json.dumps(doc, indent=1) + "\n")
    sys.stdout.write(f"wrote {args.json_out}\n")
    return 0
