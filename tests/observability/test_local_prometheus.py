"""The local Prometheus config for `make dev PROMETHEUS=1` renders and passes promtool."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import yaml

from .helpers import REPO_ROOT, RULES_FILE, run_promtool


def _module() -> ModuleType:
    path = REPO_ROOT / "deploy/prometheus/local_config.py"
    spec = importlib.util.spec_from_file_location("smartpapers_local_prom_config", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_local_config_scrapes_api_and_workers(promtool: str, tmp_path: Path) -> None:
    mod = _module()
    out = tmp_path / "prometheus.yml"
    assert mod.main(["--workers", "3", "--out", str(out)]) == 0
    cfg = yaml.safe_load(out.read_text())
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert jobs["smartpapers-api"]["static_configs"][0]["targets"] == ["127.0.0.1:8000"]
    assert jobs["smartpapers-worker"]["static_configs"][0]["targets"] == [
        "127.0.0.1:9100",
        "127.0.0.1:9101",
        "127.0.0.1:9102",
    ]
    assert all(j.get("metrics_path", "/metrics") == "/metrics" for j in jobs.values())
    assert cfg["rule_files"] == [str(RULES_FILE)]
    # Everything listens on / scrapes loopback only.
    for j in jobs.values():
        for t in j["static_configs"][0]["targets"]:
            assert t.startswith("127.0.0.1:"), t
    run_promtool(promtool, "check", "config", str(out))


def test_command_binds_loopback(tmp_path: Path) -> None:
    cmd = _module().command(tmp_path / "p.yml", tmp_path / "data", "127.0.0.1:9090")
    assert cmd[0] == "prometheus"
    assert "--web.listen-address=127.0.0.1:9090" in cmd
