"""`make dev` as a user runs it: the stack comes up, the original system's curl flow
completes with the right score, and Ctrl-C stops every child (exit 0, no orphans)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from smartpapers.devstack.demo import demo_answers
from smartpapers.devstack.servers import free_port


def _children_alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
            alive.append(pid)
        except ProcessLookupError:
            pass
    return alive


async def test_make_dev_runs_the_curl_flow_and_stops_cleanly(tmp_path: Path) -> None:
    api_port, sqs_port, mongo_port, metrics_port = (free_port() for _ in range(4))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smartpapers.devstack",
            "--workers",
            "2",
            "--api-port",
            str(api_port),
            "--sqs-port",
            str(sqs_port),
            "--mongo-port",
            str(mongo_port),
            "--worker-metrics-port",
            str(metrics_port),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line or proc.poll() is None, "".join(lines[-40:])
        lines.append(line)
        if "smartpapers is running" in line:
            break
    else:
        proc.kill()
        raise AssertionError("".join(lines[-40:]))
    try:
        api = f"http://127.0.0.1:{api_port}"
        async with httpx.AsyncClient(base_url=api, timeout=30) as c:
            r = await c.post(
                "/api/submissions",
                json={
                    "studentId": "s1",
                    "paperId": "demo-paper",
                    "instituteId": "demo-institute",
                    "answers": demo_answers(13),
                },
            )
            assert r.status_code == 202
            for _ in range(200):
                view = (await c.get(r.json()["statusUrl"])).json()
                if view["status"] == "completed":
                    break
                await asyncio.sleep(0.1)
            assert view["status"] == "completed" and view["result"]["score"] == 13
            assert view["result"]["total"] == 20
            assert (await c.get(f"http://127.0.0.1:{metrics_port + 1}/healthz")).status_code == 200
        children = [
            int(p)
            for p in subprocess.run(
                ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
            ).stdout.split()
        ]
        assert len(children) == 5  # ElasticMQ, the database, API, 2 workers
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, rest[-3000:]
    assert "stopped" in rest
    assert _children_alive(children) == []
    assert (tmp_path / "data" / "database").is_dir()  # data kept
