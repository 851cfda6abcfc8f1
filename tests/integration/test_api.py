"""The HTTP contract (docs/architecture.md) against real ElasticMQ + the database."""

from __future__ import annotations

import json
from typing import Any

import httpx
from pymongo.asynchronous.database import AsyncDatabase

from smartpapers.common.queue import SqsQueue, decode_job_message
from smartpapers.devstack.demo import demo_answers
from tests.conftest import Stack


def submission(correct: int = 15, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "studentId": "student-1",
        "paperId": "demo-paper",
        "instituteId": "demo-institute",
        "answers": demo_answers(correct),
    }
    body.update(over)
    return body


async def test_submit_answers_202_stores_the_job_and_enqueues_it(
    client: httpx.AsyncClient,
    demo: dict[str, Any],
    mongo_db: AsyncDatabase[Any],
    main_queue: SqsQueue,
) -> None:
    r = await client.post("/api/submissions", json=submission())
    assert r.status_code == 202
    body = r.json()
    job_id = body["jobId"]
    assert body == {
        "message": "Submission queued for processing",
        "jobId": job_id,
        "status": "queued",
        "statusUrl": f"/api/submissions/status/{job_id}",
    }
    assert r.headers["location"] == body["statusUrl"]
    assert r.headers["retry-after"] == "2"
    job = await mongo_db["submission_jobs"].find_one({"_id": job_id})
    assert job is not None and job["status"] == "queued" and job["enqueued"] is True
    assert job["studentId"] == "student-1" and len(json.loads(job["payload"])) == 20
    messages = await main_queue.receive(wait_seconds=1)
    assert [decode_job_message(m.body) for m in messages] == [job_id]
    assert json.loads(messages[0].body) == {"jobId": job_id, "v": 1}


async def test_status_of_a_queued_job_and_of_an_unknown_one(
    client: httpx.AsyncClient, demo: dict[str, Any]
) -> None:
    job_id = (await client.post("/api/submissions", json=submission())).json()["jobId"]
    r = await client.get(f"/api/submissions/status/{job_id}")
    assert r.status_code == 200
    view = r.json()
    assert view["jobId"] == job_id and view["status"] == "queued"
    assert view["result"] is None and view["error"] is None and view["attempts"] == 0
    assert view["createdAt"].endswith("Z") and view["startedAt"] is None
    missing = await client.get("/api/submissions/status/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404 and missing.json()["error"] == "job_not_found"


async def test_unknown_paper_is_404_and_nothing_is_stored_or_enqueued(
    client: httpx.AsyncClient, mongo_db: AsyncDatabase[Any], main_queue: SqsQueue
) -> None:
    r = await client.post("/api/submissions", json=submission(paperId="no-such-paper"))
    assert r.status_code == 404
    assert r.json() == {"message": "paper 'no-such-paper' not found", "error": "paper_not_found"}
    assert await mongo_db["submission_jobs"].count_documents({}) == 0
    assert (await main_queue.depth())["visible"] == 0


async def test_malformed_bodies_are_422_with_details(
    client: httpx.AsyncClient, demo: dict[str, Any], mongo_db: AsyncDatabase[Any]
) -> None:
    cases = [
        submission(unknown="x"),
        submission(answers="nope"),
        {"studentId": "s"},
        submission(answers=[{"questionId": "q1", "answer": [1]}]),
    ]
    for body in cases:
        r = await client.post("/api/submissions", json=body)
        assert r.status_code == 422, body
        assert r.json()["error"] == "invalid_request" and r.json()["details"]
    r = await client.post(
        "/api/submissions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert await mongo_db["submission_jobs"].count_documents({}) == 0


async def test_more_answers_than_the_paper_has_questions_is_422(
    client: httpx.AsyncClient, demo: dict[str, Any]
) -> None:
    answers = demo_answers(20) + [{"questionId": "q21", "answer": "A"}]
    r = await client.post("/api/submissions", json=submission(answers=answers))
    assert r.status_code == 422 and r.json()["error"] == "too_many_answers"


async def test_oversized_body_is_413_before_parsing(
    client: httpx.AsyncClient, demo: dict[str, Any], mongo_db: AsyncDatabase[Any]
) -> None:
    huge = json.dumps(submission(padding="x" * 300_000)).encode()
    r = await client.post(
        "/api/submissions", content=huge, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["error"] == "too_large"

    async def chunks() -> Any:  # no Content-Length: the cap applies while streaming
        for i in range(0, len(huge), 16_384):
            yield huge[i : i + 16_384]

    r = await client.post(
        "/api/submissions", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert await mongo_db["submission_jobs"].count_documents({}) == 0


async def test_papers_create_read_without_answer_key_and_conflict(
    client: httpx.AsyncClient,
) -> None:
    paper = {
        "paperId": "p-1",
        "instituteId": "inst",
        "title": "Algebra",
        "questions": [
            {"questionId": "a", "answer": 42, "marks": 2},
            {"questionId": "b", "answer": "x"},
        ],
    }
    created = await client.post("/api/papers", json=paper)
    assert created.status_code == 201
    assert created.json()["questions"][0] == {"questionId": "a", "answer": 42, "marks": 2}
    public = await client.get("/api/papers/p-1")
    assert public.status_code == 200
    assert public.json() == {
        "paperId": "p-1",
        "instituteId": "inst",
        "title": "Algebra",
        "questions": [{"questionId": "a", "marks": 2}, {"questionId": "b", "marks": 1}],
        "totalMarks": 3,
    }
    assert "answer" not in public.text
    assert (await client.post("/api/papers", json=paper)).status_code == 409
    assert (await client.get("/api/papers/none")).status_code == 404
    generated = await client.post("/api/papers", json={**paper, "paperId": None})
    assert generated.status_code == 201 and generated.json()["paperId"] != "p-1"


async def test_idempotency_key_replays_the_same_job_and_conflicts_on_a_new_body(
    client: httpx.AsyncClient,
    demo: dict[str, Any],
    mongo_db: AsyncDatabase[Any],
    main_queue: SqsQueue,
) -> None:
    headers = {"Idempotency-Key": "attempt-1"}
    first = await client.post("/api/submissions", json=submission(), headers=headers)
    again = await client.post("/api/submissions", json=submission(), headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["jobId"] == again.json()["jobId"]
    assert await mongo_db["submission_jobs"].count_documents({}) == 1
    assert len(await main_queue.receive(wait_seconds=1)) == 1  # enqueued once
    other = await client.post("/api/submissions", json=submission(correct=3), headers=headers)
    assert other.status_code == 409 and other.json()["error"] == "idempotency_conflict"
    # keys are per student: another student may use the same key
    mine = await client.post(
        "/api/submissions", json=submission(studentId="student-2"), headers=headers
    )
    assert mine.status_code == 202 and mine.json()["jobId"] != first.json()["jobId"]


async def test_health_readiness_and_metrics(client: httpx.AsyncClient, stack: Stack) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"mongo": "ok", "sqs": "ok"}
    await client.post("/api/submissions", json=submission(paperId="missing"))
    text = (await client.get("/metrics")).text
    assert 'smartpapers_submissions_rejected_total{reason="unknown_paper"}' in text
    assert [
        line
        for line in text.splitlines()
        if line.startswith(
            'smartpapers_http_requests_total{handler="/api/submissions",method="POST"'
        )
    ], text[-3000:]
    assert "smartpapers_sqs_requests_total" in text
    assert "_created" not in text
