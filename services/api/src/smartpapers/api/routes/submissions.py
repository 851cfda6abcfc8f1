"""``POST /api/submissions`` and ``GET /api/submissions/status/{jobId}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response, status

from smartpapers.api.auth import authorize_submission, can_read_job, visible_institute
from smartpapers.api.dependencies import (
    AuthenticatedRoute,
    JobsDep,
    LimiterDep,
    PaperCacheDep,
    PrincipalDep,
    ServicesDep,
    client_ip,
)
from smartpapers.api.errors import error_response, error_responses
from smartpapers.api.metrics import SUBMISSIONS_ACCEPTED
from smartpapers.api.submissions import accept_submission
from smartpapers.common.errors import JobNotFoundError
from smartpapers.common.models import MAX_ID_LENGTH, JobView, SubmissionAccepted, SubmissionIn

router = APIRouter(prefix="/api/submissions", tags=["submissions"], route_class=AuthenticatedRoute)


def status_url(job_id: str) -> str:
    return f"/api/submissions/status/{job_id}"


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SubmissionAccepted,
    responses=error_responses(401, 403, 404, 409, 413, 422, 429, 503),
    summary="Queue a submission for grading",
)
async def submit(
    submission: SubmissionIn,
    response: Response,
    services: ServicesDep,
    principal: PrincipalDep,
    limiter: LimiterDep,
    paper_cache: PaperCacheDep,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=128)
    ] = None,
) -> SubmissionAccepted:
    authorize_submission(principal, submission)
    # jwt mode: studentId == sub (checked above); none mode: the body's studentId
    await limiter.hit("submit", submission.student_id, services.settings.submissions_limit)
    job_id = await accept_submission(
        submission=submission,
        idempotency_key=idempotency_key,
        intake=services.intake,
        paper_cache=paper_cache,
        batcher=services.batcher,
        send_timeout=services.settings.send_timeout_seconds,
        institute=visible_institute(principal),
    )
    SUBMISSIONS_ACCEPTED.inc()
    url = status_url(job_id)
    response.headers["Location"] = url
    response.headers["Retry-After"] = str(services.settings.retry_after_seconds)
    return SubmissionAccepted(job_id=job_id, status_url=url)


@router.get(
    "/status/{job_id}",
    response_model=JobView,
    responses=error_responses(401, 404, 422, 429, 503),
    summary="Status and result of a submission job",
)
async def job_status(
    job_id: str,
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    limiter: LimiterDep,
    jobs: JobsDep,
) -> JobView:
    key = principal.subject if principal.subject is not None else f"ip:{client_ip(request)}"
    await limiter.hit("status", key, services.settings.status_polls_limit)
    job = await jobs.get(job_id) if len(job_id) <= MAX_ID_LENGTH else None
    # another student's job is "not found", never "forbidden": ids leak nothing
    if job is None or not can_read_job(principal, job):
        raise JobNotFoundError(job_id[:MAX_ID_LENGTH])
    return job.view()


__all__ = ["router", "error_response"]
