"""``POST /api/papers`` (staff) and ``GET /api/papers/{paperId}`` (no answer key)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from smartpapers.api.dependencies import PaperCacheDep, PapersDep
from smartpapers.common.models import Paper, PaperIn, PublicPaper
from smartpapers.common.timeutil import utcnow

router = APIRouter(prefix="/api/papers", tags=["papers"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Paper,
    responses={409: {"description": "paperId exists"}, 422: {"description": "Invalid body"}},
    summary="Create a paper with its answer key (staff)",
)
async def create_paper(body: PaperIn, papers: PapersDep, cache: PaperCacheDep) -> Paper:
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
    responses={404: {"description": "Unknown paper"}},
    summary="A paper without its answer key",
)
async def get_paper(paper_id: str, cache: PaperCacheDep) -> PublicPaper:
    return PublicPaper.of(await cache.get(paper_id))
