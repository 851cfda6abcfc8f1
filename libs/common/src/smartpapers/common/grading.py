"""Grading rules (docs/architecture.md#the-http-contract).

``total`` is the sum of ``marks`` over the paper's questions; ``score`` the sum of ``marks``
of the questions whose submitted answer equals the key. Strings are compared after
``strip()`` + ``casefold()``; other JSON scalars by equality of the same JSON type (``true``
never equals ``1``). Unanswered or unknown questionIds score 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from smartpapers.common.job import Job, Submission
from smartpapers.common.models import AnswerIn, Paper

Scalar: TypeAlias = str | bool | int | float | None  # noqa: UP040


@dataclass(frozen=True, slots=True)
class Grade:
    score: float
    total: float


def answers_match(submitted: Scalar, key: Scalar) -> bool:
    if submitted is None or key is None:
        return False
    if isinstance(key, str) or isinstance(submitted, str):
        return (
            isinstance(key, str)
            and isinstance(submitted, str)
            and submitted.strip().casefold() == key.strip().casefold()
        )
    if isinstance(key, bool) or isinstance(submitted, bool):
        return isinstance(key, bool) and isinstance(submitted, bool) and key is submitted
    return submitted == key


def grade(*, paper: Paper, answers: Iterable[AnswerIn]) -> Grade:
    submitted = {a.question_id: a.answer for a in answers}
    total = 0.0
    score = 0.0
    for question in paper.questions:
        total += question.marks
        if question.question_id in submitted and answers_match(
            submitted[question.question_id], question.answer
        ):
            score += question.marks
    return Grade(score=score, total=total)


def grade_job(job: Job, paper: Paper, *, now: datetime) -> Submission:
    """The job's graded submission (the worker's and the inline grader's one recipe)."""
    raw, answers = job.answers()
    result = grade(paper=paper, answers=answers)
    return Submission(
        job_id=job.job_id,
        student_id=job.student_id,
        paper_id=job.paper_id,
        institute_id=job.institute_id,
        answers=raw,
        score=result.score,
        total=result.total,
        graded_at=now,
    )
