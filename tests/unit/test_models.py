from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from smartpapers.common.models import (
    MAX_QUESTIONS,
    JobResult,
    PaperIn,
    QueueMessage,
    SubmissionIn,
)


def body(**over: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "studentId": "s1",
        "paperId": "p1",
        "instituteId": "i1",
        "answers": [{"questionId": "q1", "answer": "A"}],
    }
    b.update(over)
    return b


def test_submission_parses_camel_case() -> None:
    s = SubmissionIn.model_validate(body())
    assert (s.student_id, s.paper_id, s.answers[0].question_id) == ("s1", "p1", "q1")


@pytest.mark.parametrize(
    "bad",
    [
        body(extra=1),  # unknown field
        body(studentId=""),  # empty id
        body(studentId="x" * 129),  # id too long
        body(studentId="has space"),
        body(answers=[{"questionId": "q1", "answer": ["a"]}]),  # not a scalar
        body(answers=[{"questionId": "q1", "answer": {"a": 1}}]),
        body(answers=[{"questionId": "q1", "answer": "x" * 2001}]),
        body(answers=[{"questionId": "q1", "answer": "a"}, {"questionId": "q1", "answer": "b"}]),
        body(answers=[{"questionId": f"q{i}", "answer": 1} for i in range(MAX_QUESTIONS + 1)]),
        body(answers=[{"questionId": "q1", "answer": "a", "hint": 1}]),
        {k: v for k, v in body().items() if k != "instituteId"},
    ],
)
def test_invalid_submissions_are_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SubmissionIn.model_validate(bad)


def test_answer_types_are_kept_strictly() -> None:
    s = SubmissionIn.model_validate(
        body(
            answers=[
                {"questionId": "a", "answer": True},
                {"questionId": "b", "answer": 1},
                {"questionId": "c", "answer": 1.5},
                {"questionId": "d", "answer": None},
            ]
        )
    )
    assert [type(a.answer) for a in s.answers] == [bool, int, float, type(None)]


def test_paper_marks_default_and_integral_numbers_serialise_as_integers() -> None:
    p = PaperIn.model_validate(
        {
            "instituteId": "i",
            "title": "t",
            "questions": [
                {"questionId": "q1", "answer": "a"},
                {"questionId": "q2", "answer": "b", "marks": 2.0},
                {"questionId": "q3", "answer": "c", "marks": 0.5},
            ],
        }
    )
    dumped = p.model_dump(by_alias=True, mode="json")
    assert [q["marks"] for q in dumped["questions"]] == [1, 2, 0.5]
    assert (
        JobResult(submission_id="x", score=15.0, total=20.0).model_dump_json(by_alias=True)
        == '{"submissionId":"x","score":15,"total":20}'
    )


@pytest.mark.parametrize("marks", [-1, 1001])
def test_paper_marks_are_bounded(marks: int) -> None:
    with pytest.raises(ValidationError):
        PaperIn.model_validate(
            {
                "instituteId": "i",
                "title": "t",
                "questions": [{"questionId": "q", "answer": "a", "marks": marks}],
            }
        )


def test_paper_needs_questions() -> None:
    with pytest.raises(ValidationError):
        PaperIn.model_validate({"instituteId": "i", "title": "t", "questions": []})


def test_queue_message_tolerates_future_fields_but_needs_job_id() -> None:
    assert QueueMessage.model_validate_json('{"jobId":"j","v":1,"trace":"x"}').job_id == "j"
    with pytest.raises(ValidationError):
        QueueMessage.model_validate_json('{"v":1}')
