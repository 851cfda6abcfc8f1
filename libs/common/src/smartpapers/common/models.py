"""Wire and storage models shared by the API and the worker.

JSON field names are camelCase, as in the original Node.js API; Python attributes are
snake_case. Request models reject unknown fields and cap every size.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
)
from pydantic.alias_generators import to_camel

MAX_ID_LENGTH = 128
MAX_ANSWER_LENGTH = 2_000
MAX_QUESTIONS = 500
MAX_TITLE_LENGTH = 300

Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=r"^[A-Za-z0-9._:@|-]+$"),
]
"""studentId, paperId, instituteId and questionId: short, printable, no spaces."""

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

AnswerValue = (
    Annotated[StrictStr, StringConstraints(max_length=MAX_ANSWER_LENGTH)]
    | StrictBool
    | Annotated[StrictInt, Field(ge=INT64_MIN, le=INT64_MAX)]
    | Annotated[StrictFloat, Field(allow_inf_nan=False)]
)
"""A JSON scalar answer: string, number or boolean — and one the database can store: a
finite float, an integer within 64 bits (BSON's limits; anything else is a 422, so an
accepted submission is always gradable)."""


def _integral_as_int(value: float) -> float:
    """15.0 -> 15, so scores and marks serialise as the original API's integers."""
    return int(value) if float(value).is_integer() else value


Number = Annotated[int | float, AfterValidator(_integral_as_int)]
Marks = Annotated[
    Annotated[int, Field(ge=0, le=1_000)] | Annotated[float, Field(ge=0, le=1_000)],
    AfterValidator(_integral_as_int),
]


_Q = TypeVar("_Q", "AnswerIn", "QuestionIn")


class CamelModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


def _unique_question_ids(items: list[_Q]) -> list[_Q]:
    seen: set[str] = set()
    for item in items:
        if item.question_id in seen:
            raise ValueError(f"duplicate questionId {item.question_id!r}")
        seen.add(item.question_id)
    return items


class AnswerIn(CamelModel):
    question_id: Identifier
    answer: AnswerValue | None = Field(
        description="The student's answer; null means unanswered (scores 0)."
    )


class SubmissionIn(CamelModel):
    """Body of ``POST /api/submissions``."""

    student_id: Identifier
    paper_id: Identifier
    institute_id: Identifier
    answers: Annotated[
        list[AnswerIn], Field(max_length=MAX_QUESTIONS), AfterValidator(_unique_question_ids)
    ]


class QuestionIn(CamelModel):
    question_id: Identifier
    answer: AnswerValue
    marks: Marks = 1


class PaperIn(CamelModel):
    """Body of ``POST /api/papers`` (staff)."""

    paper_id: Identifier | None = None
    institute_id: Identifier
    title: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TITLE_LENGTH)]
    questions: Annotated[
        list[QuestionIn],
        Field(min_length=1, max_length=MAX_QUESTIONS),
        AfterValidator(_unique_question_ids),
    ]


class Paper(CamelModel):
    """A paper with its answer key, as stored and cached (never sent to students)."""

    paper_id: str
    institute_id: str
    title: str
    questions: list[QuestionIn]
    created_at: datetime

    def to_document(self) -> dict[str, Any]:
        doc = self.model_dump(by_alias=True, exclude={"paper_id"})
        doc["_id"] = self.paper_id
        return doc

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Paper:
        data = {k: v for k, v in doc.items() if k != "_id"}
        return cls.model_validate({**data, "paperId": doc["_id"]})


class PublicQuestion(CamelModel):
    question_id: str
    marks: Number


class PublicPaper(CamelModel):
    """A paper without its answer key."""

    paper_id: str
    institute_id: str
    title: str
    questions: list[PublicQuestion]
    total_marks: Number

    @classmethod
    def of(cls, paper: Paper) -> PublicPaper:
        return cls(
            paper_id=paper.paper_id,
            institute_id=paper.institute_id,
            title=paper.title,
            questions=[
                PublicQuestion(question_id=q.question_id, marks=q.marks) for q in paper.questions
            ],
            total_marks=_integral_as_int(sum(q.marks for q in paper.questions)),
        )


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED)


class Lane(StrEnum):
    """The queue a job travels on (smartpapers.common.lanes)."""

    NORMAL = "normal"
    PRIORITY = "priority"


class JobResult(CamelModel):
    submission_id: str
    score: Number
    total: Number


class SubmissionAccepted(CamelModel):
    """The 202 answer of ``POST /api/submissions``."""

    message: str = "Submission queued for processing"
    job_id: str
    status: JobStatus = JobStatus.QUEUED
    status_url: str


class JobView(CamelModel):
    """The 200 answer of ``GET /api/submissions/status/{jobId}``."""

    job_id: str
    status: JobStatus
    result: JobResult | None
    error: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class QueueMessage(CamelModel):
    """Body of an SQS message: a wake-up call carrying the jobId."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    job_id: Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]
    v: int = 1
