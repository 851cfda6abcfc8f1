"""``POST /api/papers`` (staff) and ``GET /api/papers/{paperId}`` (no answer key)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from smartpapers.api.auth import authorize_paper_creation, visible_institute
from smartpapers.api.dependencies import (
    AuthenticatedRoute,
    PaperCacheDep,
    PapersDep,
    PrincipalDep,
)
from smartpapers.api.errors import error_responses
from smartpapers.common.errors import PaperNotFoundError
from smartpapers.common.models import Paper, PaperIn, PublicPaper
from smartpapers.common.timeutil import utcnow

router = APIRouter(prefix="/api/papers", tags=["papers"], route_class=AuthenticatedRoute)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Paper,
    responses=error_responses(401, 403, 409, 413, 422, 503),
    summary="Create a paper with its answer key (staff)",
)
async def create_paper(
    body: PaperIn, principal: PrincipalDep, papers: PapersDep, cache: PaperCacheDep
) -> Paper:
    authorize_paper_creation(principal, body.institute_id)
    paper = Paper(
        paper_id=body.paper_id or str(uuid.uuid4()),
        institute_id=body.institute_id,
        title=body.title,
        questions=body.questions,
        created_at=utcnow(),
    )
    await papers.insert(paper)
    cache.put(paper)
    return paper


@router.get(
    "/{paper_id}",
    response_model=PublicPaper,
    responses=error_responses(401, 404, 422, 503),
    summary="A paper without its answer key",
)
async def get_paper(paper_id: str, principal: PrincipalDep, cache: PaperCacheDep) -> PublicPaper:
    paper = await cache.get(paper_id)
    institute = visible_institute(principal)
    if institute is not None and paper.institute_id != institute:
        raise PaperNotFoundError(paper_id)
    return PublicPaper.of(paper)
