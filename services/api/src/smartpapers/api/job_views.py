"""The status answer's bytes and ETag, shared by the status endpoint, its long-poll and the
SSE stream (whose ``data`` is exactly the status endpoint's JSON)."""

from __future__ import annotations

import hashlib

from fastapi.responses import JSONResponse

from smartpapers.common.models import JobView


def status_response(view: JobView, *, status_code: int = 200) -> JSONResponse:
    """The status endpoint's 200: the bytes FastAPI renders for ``response_model=JobView``,
    plus a strong ``ETag`` of those bytes."""
    response = JSONResponse(view.model_dump(mode="json", by_alias=True), status_code=status_code)
    response.headers["ETag"] = etag_of(bytes(response.body))
    return response


def etag_of(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()[:20]}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of ``If-None-Match`` (a list, or ``*``) with ``etag``."""
    if if_none_match is None:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags
