from __future__ import annotations

from datetime import UTC, datetime

import pytest

from smartpapers.common.grading import answers_match, grade
from smartpapers.common.models import AnswerIn, Paper, QuestionIn


def paper(*questions: tuple[str, str | bool | int | float, float]) -> Paper:
    return Paper(
        paper_id="p",
        institute_id="i",
        title="t",
        questions=[QuestionIn(question_id=q, answer=a, marks=m) for q, a, m in questions],
        created_at=datetime.now(UTC),
    )


@pytest.mark.parametrize(
    ("submitted", "key", "expected"),
    [
        ("  Paris ", "paris", True),
        ("PARIS", "Paris", True),
        ("Straße", "STRASSE", True),  # casefold, not lower
        ("paris!", "paris", False),
        (4, 4.0, True),
        (4, 5, False),
        ("4", 4, False),  # a string never equals a number
        (True, True, True),
        (True, 1, False),  # JSON true is not 1
        (1, True, False),
        (False, 0, False),
        (None, "a", False),
    ],
)
def test_answers_match(submitted: object, key: object, expected: bool) -> None:
    assert answers_match(submitted, key) is expected  # type: ignore[arg-type]


def test_grade_sums_marks_of_matching_questions() -> None:
    p = paper(("q1", "a", 1), ("q2", 3, 2), ("q3", True, 0.5), ("q4", "x", 4))
    answers = [
        AnswerIn(question_id="q1", answer=" A "),
        AnswerIn(question_id="q2", answer=3),
        AnswerIn(question_id="q3", answer=False),
        AnswerIn(question_id="zz", answer="x"),  # unknown question scores nothing
    ]  # q4 unanswered
    g = grade(paper=p, answers=answers)
    assert (g.score, g.total) == (3, 7.5)


def test_grade_of_no_answers_is_zero_of_total() -> None:
    g = grade(paper=paper(("q1", "a", 1), ("q2", "b", 1)), answers=[])
    assert (g.score, g.total) == (0, 2)
