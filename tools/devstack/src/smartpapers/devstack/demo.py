"""The demo paper seeded by ``make dev``: 20 questions, 1 mark each."""

from __future__ import annotations

from typing import Any

DEMO_PAPER_ID = "demo-paper"
_KEY = "ABCDABCDABCDABCDABCD"


def demo_paper() -> dict[str, Any]:
    return {
        "paperId": DEMO_PAPER_ID,
        "instituteId": "demo-institute",
        "title": "Demo quiz (20 questions, 1 mark each)",
        "questions": [
            {"questionId": f"q{i}", "answer": _KEY[i - 1], "marks": 1} for i in range(1, 21)
        ],
    }


def demo_answers(correct: int) -> list[dict[str, Any]]:
    """Answers to the demo paper with exactly ``correct`` right answers (0..20)."""
    out = []
    for i in range(1, 21):
        right = _KEY[i - 1]
        wrong = "D" if right != "D" else "A"
        out.append({"questionId": f"q{i}", "answer": right if i <= correct else wrong})
    return out
