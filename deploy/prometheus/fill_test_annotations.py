"""Authoring helper: copy the annotations promtool renders into the tests' exp_annotations.

    uv run python deploy/prometheus/fill_test_annotations.py deploy/prometheus/tests/*.yaml

promtool compares annotations exactly, so after rewording an alert's summary/description run
this, then READ the diff: it is a snapshot update, review that every rendered value
({{ $value }}, labels) is what the scenario should produce. Only expected alerts whose labels
match a firing alert are updated; leading comment lines of each file are kept.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

_PAIR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _secs(d: str) -> int:
    mult = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    return sum(int(n) * mult[u] for n, u in re.findall(r"(\d+)([smhdw])", d))


def _parse(s: str) -> dict[str, str]:
    return {k: bytes(v, "utf-8").decode("unicode_escape") for k, v in _PAIR.findall(s)}


def fill(path: Path) -> None:
    proc = subprocess.run(
        ["promtool", "test", "rules", str(path)], capture_output=True, text=True, check=False
    )
    got: dict[tuple[str, str, int], list[tuple[dict[str, str], dict[str, str]]]] = {}
    name = alert = ""
    t = 0
    section = ""
    labels: dict[str, str] = {}
    for raw in (proc.stdout + proc.stderr).splitlines():
        line = raw.strip()
        if line.startswith("name: "):
            name = line[6:].rstrip(",")
        elif m := re.match(r"alertname: (\w+), time: (\S+?),", line):
            alert, t = m.group(1), _secs(m.group(2))
        elif line.startswith(("exp:", "got:")):
            section = line[:3]
        elif section == "got" and line.startswith("Labels:"):
            labels = _parse(line[7:])
        elif section == "got" and line.startswith("Annotations:"):
            got.setdefault((name, alert, t), []).append((labels, _parse(line[12:])))
    text = path.read_text()
    header = "".join(ln + "\n" for ln in text.splitlines() if ln.startswith("#"))
    doc = yaml.safe_load(text)
    for test in doc["tests"]:
        for art in test.get("alert_rule_test", []):
            for exp in art["exp_alerts"]:
                key = (test["name"], art["alertname"], _secs(str(art["eval_time"])))
                want = {k: str(v) for k, v in exp["exp_labels"].items()}
                want["alertname"] = art["alertname"]
                for lab, ann in got.get(key, []):
                    if lab == want:
                        exp["exp_annotations"] = ann
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False, width=4096))


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        fill(Path(arg))
