"""The one place where domain errors become HTTP answers.

Every error body is ``{"message": str, "error": code}`` (+ ``details`` for validation), the
shape the original Express API's clients read (``message``). The status comes from the
error's category (``smartpapers.common.errors``), the code from its class."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from smartpapers.api.auth import AuthenticationError, ForbiddenError
from smartpapers.api.metrics import SUBMISSIONS_REJECTED
from smartpapers.api.rate_limit import RateLimitedError
from smartpapers.common.errors import (
    ConflictError,
    InvalidError,
    NotFoundError,
    SmartpapersError,
    UnavailableError,
)

logger = logging.getLogger(__name__)

SUBMIT_PATH = "/api/submissions"
BEARER_REALM = 'Bearer realm="smartpapers"'


class ErrorBody(BaseModel):
    """Every error answer: ``{"message", "error"}`` (+ ``details`` on 422)."""

    message: str
    error: str
    details: list[dict[str, Any]] | None = None


ERROR_DESCRIPTIONS = {
    401: "No or invalid bearer token (auth mode jwt); `WWW-Authenticate: Bearer`",
    403: "The token's principal may not do this",
    404: "Not found (also: another student's job)",
    409: "Conflict",
    413: "Body too large",
    422: "Invalid request",
    429: "Rate limited; retry after `Retry-After` seconds",
    503: "Temporarily unavailable; retry after `Retry-After` seconds",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, all with the :class:`ErrorBody`."""
    return {code: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[code]} for code in codes}


#: status by category, most specific first
STATUS: tuple[tuple[type[SmartpapersError], int], ...] = (
    (AuthenticationError, 401),
    (ForbiddenError, 403),
    (RateLimitedError, 429),
    (NotFoundError, 404),
    (ConflictError, 409),
    (InvalidError, 422),
    (UnavailableError, 503),
)
#: ``smartpapers_submissions_rejected_total{reason}`` of a rejected POST /api/submissions
REASON = {
    401: "unauthorized",
    403: "unauthorized",
    404: "unknown_paper",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "rate_limited",
    503: "unavailable",
    500: "unavailable",
}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    details: Any = None,
) -> JSONResponse:
    body: dict[str, Any] = {"message": message, "error": code}
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


def count_rejection(method: str, path: str, status: int) -> None:
    if method == "POST" and path == SUBMIT_PATH:
        SUBMISSIONS_REJECTED.labels(reason=REASON[status]).inc()


def _headers(exc: Exception, status: int, retry_after_seconds: int) -> dict[str, str] | None:
    if isinstance(exc, AuthenticationError):
        # RFC 6750 §3: no error code when no token was sent
        if exc.bearer_error is None:
            return {"WWW-Authenticate": BEARER_REALM}
        return {"WWW-Authenticate": f'{BEARER_REALM}, error="{exc.bearer_error}"'}
    if isinstance(exc, RateLimitedError):
        return {"Retry-After": str(exc.retry_after)}
    if status == 503:
        return {"Retry-After": str(retry_after_seconds)}
    return None


def status_of(exc: SmartpapersError) -> int:
    return next((s for t, s in STATUS if isinstance(exc, t)), 500)


def domain_error_response(exc: SmartpapersError, *, retry_after_seconds: int) -> JSONResponse:
    """The HTTP answer of a domain error (also a refused WebSocket upgrade's)."""
    status = status_of(exc)
    headers = _headers(exc, status, retry_after_seconds)
    return error_response(status, exc.code, str(exc), headers=headers)


def install_error_handlers(app: FastAPI, *, retry_after_seconds: int) -> None:
    async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SmartpapersError)
        status = status_of(exc)
        count_rejection(request.method, request.url.path, status)
        if status >= 500:
            logger.error("%s %s failed: %s", request.method, request.url.path, exc)
        elif status in (401, 403):
            # the reason only: never the token
            logger.info("%s %s denied (%d): %s", request.method, request.url.path, status, exc)
        return domain_error_response(exc, retry_after_seconds=retry_after_seconds)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        count_rejection(request.method, request.url.path, 422)
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return error_response(422, "invalid_request", "request body is invalid", details=details)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400:
            # FastAPI's "error parsing the body": not UTF-8, or nested past the parser's
            # recursion limit. The contract's answer for an unreadable body is 422.
            count_rejection(request.method, request.url.path, 422)
            return error_response(422, "invalid_request", "request body is not valid JSON")
        if exc.status_code in REASON:
            count_rejection(request.method, request.url.path, exc.status_code)
        code = "too_large" if exc.status_code == 413 else f"http_{exc.status_code}"
        return error_response(
            exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {})
        )

    app.add_exception_handler(SmartpapersError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
