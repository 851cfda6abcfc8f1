"""``POST /api/submissions`` and ``GET /api/submissions/status/{jobId}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response, status

from smartpapers.api.dependencies import JobsDep, PaperCacheDep, ServicesDep
from smartpapers.api.errors import error_response
from smartpapers.api.metrics import SUBMISSIONS_ACCEPTED
from smartpapers.api.submissions import accept_submission
from smartpapers.common.errors import JobNotFoundError
from smartpapers.common.models import JobView, SubmissionAccepted, SubmissionIn
from smartpapers.common.repositories import job_view

router = APIRouter(prefix="/api/submissions", tags=["submissions"])

ERROR_RESPONSES: dict[int | str, dict[str, str]] = {
    404: {"description": "Unknown paper or job"},
    409: {"description": "Idempotency-Key reused with a different body"},
    413: {"description": "Body too large"},
    422: {"description": "Invalid body"},
    503: {"description": "The job could not be stored; retry after Retry-After seconds"},
}


def status_url(job_id: str) -> str:
    return f"/api/submissions/status/{job_id}"


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SubmissionAccepted,
    responses=ERROR_RESPONSES,
    summary="Queue a submission for grading",
)
async def submit(
    submission: SubmissionIn,
    response: Response,
    services: ServicesDep,
    jobs: JobsDep,
    paper_cache: PaperCacheDep,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=128)
    ] = None,
) -> SubmissionAccepted:
    job_id = await accept_submission(
        submission=submission,
        idempotency_key=idempotency_key,
        jobs=jobs,
        paper_cache=paper_cache,
        batcher=services.batcher,
        send_timeout=services.settings.send_timeout_seconds,
    )
    SUBMISSIONS_ACCEPTED.inc()
    url = status_url(job_id)
    response.headers["Location"] = url
    response.headers["Retry-After"] = str(services.settings.retry_after_seconds)
    return SubmissionAccepted(job_id=job_id, status_url=url)


@router.get(
    "/status/{job_id}",
    response_model=JobView,
    responses={404: {"description": "Unknown job"}},
    summary="Status and result of a submission job",
)
async def job_status(job_id: str, jobs: JobsDep) -> JobView:
    doc = await jobs.get(job_id) if len(job_id) <= 128 else None
    if doc is None:
        raise JobNotFoundError(job_id[:128])
    return job_view(doc)


__all__ = ["router", "error_response"]
