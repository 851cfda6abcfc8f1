"""``POST /api/submissions`` and ``GET /api/submissions/status/{jobId}`` (with its long-poll
and ETag; docs/push.md)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection

from smartpapers.api.auth import (
    Principal,
    authorize_submission,
    can_read_job,
    is_premium,
    visible_institute,
)
from smartpapers.api.dependencies import (
    AuthenticatedRoute,
    JobsDep,
    LimiterDep,
    NotifierDep,
    PaperCacheDep,
    PrincipalDep,
    ServicesDep,
    client_ip,
)
from smartpapers.api.errors import error_response, error_responses
from smartpapers.api.inline import preferred_wait, wait_for_result
from smartpapers.api.job_views import matches, status_response
from smartpapers.api.metrics import SUBMISSIONS_ACCEPTED
from smartpapers.api.notifier import JobNotifier
from smartpapers.api.rate_limit import RateLimiter
from smartpapers.api.services import Services
from smartpapers.api.submissions import accept_submission
from smartpapers.common.errors import JobNotFoundError
from smartpapers.common.models import (
    MAX_ID_LENGTH,
    JobResult,
    JobStatus,
    JobView,
    Lane,
    SubmissionAccepted,
    SubmissionIn,
)
from smartpapers.common.repositories import JobRepository

router = APIRouter(prefix="/api/submissions", tags=["submissions"], route_class=AuthenticatedRoute)


MAX_WAIT_SECONDS = 25.0
"""Longest long-poll (below common proxies' 30 s idle timeouts)."""


def status_url(job_id: str) -> str:
    return f"/api/submissions/status/{job_id}"


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SubmissionAccepted,
    responses={
        201: {
            "model": JobResult,
            "description": "Graded in the request: submissions mode `sync`, or `Prefer: "
            "wait=N` and the job completed within N seconds (≤ 10)",
        },
        **error_responses(401, 403, 404, 409, 413, 422, 429, 503),
    },
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
    prefer: Annotated[
        str | None,
        Header(
            description="`wait=N` (RFC 7240): answer 201 with the result if it is ready "
            "within N ≤ 10 s, else the usual 202"
        ),
    ] = None,
) -> SubmissionAccepted | JSONResponse:
    """202 with the job's status URL; 201 ``{submissionId, score, total}`` when graded in
    the request (docs/operations.md#rollback-synchronous-grading)."""
    authorize_submission(principal, submission)
    # jwt mode: studentId == sub (checked above); none mode: the body's studentId
    await limiter.hit("submit", submission.student_id, services.settings.submissions_limit)
    result: JobResult | None = None
    lane = Lane.NORMAL
    if services.settings.submissions_mode == "sync":
        job_id, result = await services.inline.grade(
            submission, idempotency_key=idempotency_key, institute=visible_institute(principal)
        )
    else:
        lane = services.lanes.lane_for(
            premium=is_premium(
                principal, submission, premium_institutes=services.settings.premium_institutes
            )
        )
        job_id = await accept_submission(
            submission=submission,
            idempotency_key=idempotency_key,
            intake=services.intake,
            paper_cache=paper_cache,
            batcher=services.batchers[lane],
            send_timeout=services.settings.send_timeout_seconds,
            institute=visible_institute(principal),
            lane=lane,
        )
        if (wait := preferred_wait(prefer)) is not None:
            result = await wait_for_result(
                jobs=services.jobs, notifier=services.notifier, job_id=job_id, seconds=wait
            )
    SUBMISSIONS_ACCEPTED.inc()
    url = status_url(job_id)
    if result is not None:
        graded = JSONResponse(
            result.model_dump(mode="json", by_alias=True),
            status_code=status.HTTP_201_CREATED,
            headers={"Location": url},
        )
        if prefer is not None and services.settings.submissions_mode == "async":
            graded.headers["Preference-Applied"] = "wait"
        return graded
    response.headers["Location"] = url
    # the backlog estimate is the normal lane's; a priority job is due within seconds
    retry_after = 1 if lane is Lane.PRIORITY else services.backlog.retry_after()
    response.headers["Retry-After"] = str(retry_after)
    return SubmissionAccepted(job_id=job_id, status_url=url)


async def readable_view(
    job_id: str,
    request: HTTPConnection,
    services: Services,
    principal: Principal,
    limiter: RateLimiter,
    jobs: JobRepository,
) -> JobView:
    """The job's view if this principal may read it (one status read of the rate limit)."""
    key = principal.subject if principal.subject is not None else f"ip:{client_ip(request)}"
    await limiter.hit("status", key, services.settings.status_polls_limit)
    job = await jobs.get(job_id) if len(job_id) <= MAX_ID_LENGTH else None
    # another student's job is "not found", never "forbidden": ids leak nothing
    if job is None or not can_read_job(principal, job):
        raise JobNotFoundError(job_id[:MAX_ID_LENGTH])
    return job.view()


@router.get(
    "/status/{job_id}",
    response_model=JobView,
    responses={
        304: {"description": "If-None-Match matched the ETag"},
        **error_responses(401, 404, 422, 429, 503),
    },
    summary="Status and result of a submission job",
)
async def job_status(
    job_id: str,
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    limiter: LimiterDep,
    jobs: JobsDep,
    notifier: NotifierDep,
    wait: Annotated[
        float | None,
        Query(ge=0, le=MAX_WAIT_SECONDS, description="long-poll: answer at the first change"),
    ] = None,
    since: Annotated[
        JobStatus | None, Query(description="with wait: the status the client already has")
    ] = None,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    """With ``wait=N`` the answer comes as soon as the status differs from ``since`` (default:
    the current one) or after N seconds; ``If-None-Match`` with the current ETag → 304."""
    view = await readable_view(job_id, request, services, principal, limiter, jobs)
    if wait:
        view = await _wait_for_change(notifier, view, since or view.status, wait)
    response = status_response(view)
    if matches(if_none_match, response.headers["ETag"]):
        return Response(status_code=304, headers={"ETag": response.headers["ETag"]})
    if view.status is JobStatus.QUEUED:
        response.headers["Retry-After"] = str(services.backlog.retry_after())
    return response


async def _wait_for_change(
    notifier: JobNotifier, view: JobView, since: JobStatus, wait: float
) -> JobView:
    if view.status != since or view.status.is_final:
        return view
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    async with notifier.watch(view) as watch:
        while watch.view.status == since and (left := deadline - loop.time()) > 0:
            await watch.changed(left)
        return watch.view


__all__ = ["router", "error_response"]
