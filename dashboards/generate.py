"""Render the dashboard JSON and the Prometheus rules file into the Helm chart.

    uv run python -m dashboards.generate            # write the committed files
    uv run python -m dashboards.generate --check    # exit 1 if they are stale
    uv run python -m dashboards.generate --out-dir /tmp/x   # write elsewhere (tests)

``--runbook-base-url`` / ``--grafana-url`` (or SMARTPAPERS_RUNBOOK_BASE_URL /
SMARTPAPERS_GRAFANA_URL) change the alert annotations; the committed files use the defaults.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dashboards import alerts, slo, smartpapers

REPO_ROOT = Path(__file__).resolve().parent.parent
CHART_FILES = Path("deploy/helm/smartpapers/files")
DASHBOARD_FILE = CHART_FILES / "dashboards/smartpapers.json"
RULES_FILE = CHART_FILES / "prometheus/rules.yaml"


def outputs(runbook_base_url: str, grafana_url: str) -> dict[Path, str]:
    return {
        DASHBOARD_FILE: smartpapers.render(grafana_url),
        RULES_FILE: alerts.render(runbook_base_url, grafana_url),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m dashboards.generate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--out-dir",
        type=Path,
        default=REPO_ROOT,
        help="repository root to write under (default: this repository)",
    )
    ap.add_argument(
        "--check",
        action="store_true",
        help="do not write; fail if the files under --out-dir differ",
    )
    ap.add_argument(
        "--runbook-base-url",
        default=os.environ.get("SMARTPAPERS_RUNBOOK_BASE_URL", slo.DEFAULT_RUNBOOK_BASE_URL),
    )
    ap.add_argument(
        "--grafana-url", default=os.environ.get("SMARTPAPERS_GRAFANA_URL", slo.DEFAULT_GRAFANA_URL)
    )
    args = ap.parse_args(argv)

    stale: list[Path] = []
    for rel, text in outputs(args.runbook_base_url, args.grafana_url).items():
        path = args.out_dir / rel
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(rel)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            sys.stderr.write(f"wrote {rel}\n")
    if stale:
        sys.stderr.write(
            "stale generated files (run `make dashboards`): " + ", ".join(map(str, stale)) + "\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
