"""docs/observability.md lists every panel and every alert."""

from __future__ import annotations

from dashboards import alerts
from dashboards.queries import load_dashboard

from .helpers import DASHBOARD_FILE, REPO_ROOT


def test_docs_list_every_panel_and_alert() -> None:
    text = (REPO_ROOT / "docs/observability.md").read_text()
    dash = load_dashboard(DASHBOARD_FILE)
    missing = [p["title"] for p in dash["panels"] if p["type"] != "row" and p["title"] not in text]
    missing += [f"alert {a}" for a in alerts.alert_names() if f"runbooks/{a}.md" not in text]
    assert not missing, "docs/observability.md lacks: " + ", ".join(missing)
