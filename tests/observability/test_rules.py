"""promtool check/test of the Prometheus rules; every alert fires and stays silent in a test."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards import alerts, slo

from .helpers import RULE_TESTS_DIR, RULES_FILE, RUNBOOKS_DIR, run_promtool

REQUIRED_ANNOTATIONS = {"summary", "description", "runbook_url", "dashboard_url"}


def _rules() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(RULES_FILE.read_text())
    return data


def _alert_rules() -> list[dict[str, Any]]:
    return [r for g in _rules()["groups"] for r in g["rules"] if "alert" in r]


def _test_files() -> list[Path]:
    return sorted(RULE_TESTS_DIR.glob("*.yaml"))


def test_rules_file_is_plain_prometheus_rules(promtool: str) -> None:
    data = _rules()
    assert set(data) == {"groups"}, "top-level key must be `groups:` only (the chart wraps it)"
    out = run_promtool(promtool, "check", "rules", str(RULES_FILE))
    assert "SUCCESS" in out


def test_promtool_unit_tests_pass(promtool: str) -> None:
    files = _test_files()
    assert files, f"no promtool tests in {RULE_TESTS_DIR}"
    out = run_promtool(promtool, "test", "rules", *map(str, files))
    assert "FAILED" not in out, out


def test_every_alert_fires_and_stays_silent_in_some_test() -> None:
    fires: set[str] = set()
    silent: set[str] = set()
    for f in _test_files():
        doc = yaml.safe_load(f.read_text())
        assert doc["rule_files"] == ["../../helm/smartpapers/files/prometheus/rules.yaml"], f
        for test in doc["tests"]:
            for case in test.get("alert_rule_test", []):
                (fires if case["exp_alerts"] else silent).add(case["alertname"])
                for exp in case["exp_alerts"]:
                    assert REQUIRED_ANNOTATIONS <= set(exp.get("exp_annotations", {})), (
                        f"{f.name}: {test['name']}: assert the rendered annotations"
                    )
    names = [r["alert"] for r in _alert_rules()]
    assert sorted(names) == sorted(alerts.alert_names())
    assert not set(names) - fires, f"alerts never tested firing: {sorted(set(names) - fires)}"
    assert not set(names) - silent, f"alerts never tested silent: {sorted(set(names) - silent)}"


@pytest.mark.parametrize("rule", _alert_rules(), ids=lambda r: r["alert"])
def test_alert_metadata_and_runbook(rule: dict[str, Any]) -> None:
    name = rule["alert"]
    assert name.startswith("Smartpapers")
    assert rule["labels"]["severity"] in {"critical", "warning"}
    ann = rule["annotations"]
    assert REQUIRED_ANNOTATIONS <= set(ann)
    assert ann["runbook_url"] == f"{slo.DEFAULT_RUNBOOK_BASE_URL}/{name}.md"
    assert ann["dashboard_url"].startswith(f"{slo.DEFAULT_GRAFANA_URL}/d/{slo.DASHBOARD_UID}/")
    runbook = RUNBOOKS_DIR / f"{name}.md"
    assert runbook.is_file(), f"missing runbook {runbook}"
    text = runbook.read_text()
    assert text.startswith(f"# {name}"), f"{runbook}: first line must be '# {name}'"
    for section in ("## Meaning", "## Impact", "## Diagnosis", "## Mitigation"):
        assert section in text, f"{runbook}: missing {section!r}"


def test_every_runbook_belongs_to_an_alert() -> None:
    names = {r["alert"] for r in _alert_rules()}
    orphans = {p.stem for p in RUNBOOKS_DIR.glob("*.md")} - names
    assert not orphans, f"runbooks without an alert: {sorted(orphans)}"


def test_recorded_series_used_by_alerts_are_defined() -> None:
    recorded = {r["record"] for g in _rules()["groups"] for r in g["rules"] if "record" in r}
    for rule in _alert_rules():
        for used in re.findall(r"\bsmartpapers:[a-z0-9_:]+", rule["expr"]):
            assert used in recorded, f"{rule['alert']} uses undefined recording rule {used}"


def test_runbook_base_url_is_parametrised(tmp_path: Path) -> None:
    text = alerts.render("https://git.example.org/runbooks/", "https://grafana.internal")
    assert "https://git.example.org/runbooks/SmartpapersDeadLetterQueueNotEmpty.md" in text
    assert "https://grafana.internal/d/smartpapers/smartpapers?var-namespace=" in text
