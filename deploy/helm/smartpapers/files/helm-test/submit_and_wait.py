"""`helm test` check for smartpapers (stdlib only; runs in the API image).

Creates a throw-away paper, submits answers (2 of 3 correct), polls the job status until it is
final and verifies the grade. Exit code 0 = the whole API -> SQS -> worker -> MongoDB path works.

Environment:
  SMARTPAPERS_TEST_BASE_URL         e.g. http://smartpapers-api.smartpapers.svc:80
  SMARTPAPERS_TEST_TIMEOUT_SECONDS  overall deadline (default 120)
  SMARTPAPERS_TEST_BEARER_TOKEN     optional bearer token (config.auth.mode=jwt)
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

BASE = os.environ["SMARTPAPERS_TEST_BASE_URL"].rstrip("/")
DEADLINE = time.monotonic() + float(os.environ.get("SMARTPAPERS_TEST_TIMEOUT_SECONDS", "120"))
TOKEN = os.environ.get("SMARTPAPERS_TEST_BEARER_TOKEN", "").strip()
POLL_SECONDS = float(os.environ.get("SMARTPAPERS_TEST_POLL_SECONDS", "1"))


def log(msg):
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if TOKEN:
        req.add_header("Authorization", "Bearer " + TOKEN)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw or b"null")
        except ValueError:
            return exc.code, raw.decode(errors="replace")


def until_deadline(what, attempt):
    """Retry `attempt` (returns a value or None) until the deadline."""
    last = None
    while time.monotonic() < DEADLINE:
        try:
            result = attempt()
        except OSError as exc:  # connection refused/reset while the API starts
            result, last = None, exc
        if result is not None:
            return result
        time.sleep(POLL_SECONDS)
    raise SystemExit(f"FAIL: timed out waiting for {what} (last error: {last})")


def main():
    suffix = uuid.uuid4().hex[:12]
    paper_id = "helm-test-" + suffix
    paper = {
        "paperId": paper_id,
        "instituteId": "helm-test",
        "title": "helm test paper",
        "questions": [
            {"questionId": "q1", "answer": "a", "marks": 1},
            {"questionId": "q2", "answer": "b", "marks": 1},
            {"questionId": "q3", "answer": "c", "marks": 1},
        ],
    }

    def create_paper():
        status, body = call("POST", "/api/papers", paper)
        if status in (201, 200, 409):
            return True
        if status in (502, 503, 504):
            return None
        raise SystemExit(f"FAIL: POST /api/papers -> {status} {body}")

    until_deadline("the API to accept the test paper", create_paper)
    log(f"paper {paper_id} created")

    submission = {
        "studentId": "helm-test-student-" + suffix,
        "paperId": paper_id,
        "instituteId": "helm-test",
        "answers": [
            {"questionId": "q1", "answer": "A "},
            {"questionId": "q2", "answer": "b"},
            {"questionId": "q3", "answer": "wrong"},
        ],
    }

    def submit():
        status, body = call("POST", "/api/submissions", submission)
        if status == 202:
            return body
        if status in (429, 502, 503, 504):
            return None
        raise SystemExit(f"FAIL: POST /api/submissions -> {status} {body}")

    accepted = until_deadline("the API to accept the submission", submit)
    job_id = accepted["jobId"]
    status_url = accepted.get("statusUrl") or "/api/submissions/status/" + job_id
    log(f"submission accepted: jobId={job_id}")

    def final_status():
        status, body = call("GET", status_url)
        if status != 200:
            raise SystemExit(f"FAIL: GET {status_url} -> {status} {body}")
        return body if body.get("status") in ("completed", "failed") else None

    job = until_deadline(f"job {job_id} to complete", final_status)
    if job["status"] != "completed":
        raise SystemExit(
            "FAIL: job {} ended {}: {}".format(job_id, job["status"], job.get("error"))
        )
    result = job.get("result") or {}
    if (result.get("score"), result.get("total")) != (2, 3):
        raise SystemExit(
            "FAIL: job {} graded {}/{}, expected 2/3".format(
                job_id, result.get("score"), result.get("total")
            )
        )
    log(f"PASS: job {job_id} completed with score 2/3")


if __name__ == "__main__":
    main()
