"""The `helm test` script against a fake smartpapers API on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from .conftest import CHART

SCRIPT = CHART / "files" / "helm-test" / "submit_and_wait.py"


class FakeApi:
    def __init__(self, outcome: str, score: int) -> None:
        self.outcome, self.score = outcome, score
        self.requests: list[tuple[str, str, Any]] = []
        self.polls = 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                api.requests.append(("POST", self.path, body))
                if self.path == "/api/papers":
                    self._send(201, body)
                elif self.path == "/api/submissions":
                    self._send(
                        202,
                        {
                            "message": "Submission queued for processing",
                            "jobId": "j1",
                            "status": "queued",
                            "statusUrl": "/api/submissions/status/j1",
                        },
                    )
                else:
                    self._send(404, {})

            def do_GET(self) -> None:
                api.requests.append(("GET", self.path, None))
                api.polls += 1
                status = "processing" if api.polls < 3 else api.outcome
                result = (
                    {"submissionId": "s1", "score": api.score, "total": 3}
                    if status == "completed"
                    else None
                )
                self._send(
                    200,
                    {
                        "jobId": "j1",
                        "status": status,
                        "result": result,
                        "error": "boom" if status == "failed" else None,
                        "attempts": 1,
                    },
                )

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def run_script(url: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        SMARTPAPERS_TEST_BASE_URL=url,
        SMARTPAPERS_TEST_TIMEOUT_SECONDS="10",
        SMARTPAPERS_TEST_POLL_SECONDS="0.05",
    )
    # exactly how the test Pod runs it: python -c "<file contents>"
    return subprocess.run(
        [sys.executable, "-c", SCRIPT.read_text()],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_passes_when_the_job_completes_with_the_right_grade() -> None:
    with FakeApi("completed", 2) as api:
        proc = run_script(api.url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS" in proc.stdout
    paper = api.requests[0][2]
    submission = api.requests[1][2]
    assert api.requests[0][1] == "/api/papers" and api.requests[1][1] == "/api/submissions"
    assert set(submission) == {"studentId", "paperId", "instituteId", "answers"}
    assert submission["paperId"] == paper["paperId"]
    assert api.requests[-1][1] == "/api/submissions/status/j1"


@pytest.mark.parametrize(
    "outcome,score,message", [("failed", 0, "ended failed"), ("completed", 3, "graded 3/3")]
)
def test_fails_otherwise(outcome: str, score: int, message: str) -> None:
    with FakeApi(outcome, score) as api:
        proc = run_script(api.url)
    assert proc.returncode != 0
    assert message in proc.stderr


def test_fails_when_the_api_is_unreachable() -> None:
    env_url = "http://127.0.0.1:9"  # discard port: connection refused
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.read_text()],
        env=dict(
            os.environ,
            SMARTPAPERS_TEST_BASE_URL=env_url,
            SMARTPAPERS_TEST_TIMEOUT_SECONDS="1",
            SMARTPAPERS_TEST_POLL_SECONDS="0.2",
        ),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode != 0 and "timed out" in proc.stderr
