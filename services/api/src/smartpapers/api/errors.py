"""The one place where domain errors become HTTP answers.

Every error body is ``{"message": str, "error": code}`` (+ ``details`` for validation), the
shape the original Express API's clients read (``message``)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from smartpapers.api.auth import AuthenticationError, AuthUnavailableError, ForbiddenError
from smartpapers.api.metrics import SUBMISSIONS_REJECTED
from smartpapers.api.rate_limit import RateLimitedError
from smartpapers.api.submissions import TooManyAnswersError
from smartpapers.common.errors import (
    IdempotencyConflictError,
    JobNotFoundError,
    PaperExistsError,
    PaperNotFoundError,
    QueueUnavailableError,
    SmartpapersError,
    StorageUnavailableError,
)

logger = logging.getLogger(__name__)

SUBMIT_PATH = "/api/submissions"
BEARER_REALM = 'Bearer realm="smartpapers"'


class ErrorBody(BaseModel):
    """Every error answer: ``{"message", "error"}`` (+ ``details`` on 422)."""

    message: str
    error: str
    details: list[dict[str, Any]] | None = None


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, all with the :class:`ErrorBody`."""
    return {code: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[code]} for code in codes}


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


def _reject(request: Request, reason: str) -> None:
    if request.method == "POST" and request.url.path == SUBMIT_PATH:
        SUBMISSIONS_REJECTED.labels(reason=reason).inc()


# status, error code, rejection reason (for POST /api/submissions)
_DOMAIN: dict[type[SmartpapersError], tuple[int, str, str]] = {
    PaperNotFoundError: (404, "paper_not_found", "unknown_paper"),
    JobNotFoundError: (404, "job_not_found", "invalid"),
    PaperExistsError: (409, "paper_exists", "conflict"),
    IdempotencyConflictError: (409, "idempotency_conflict", "conflict"),
    TooManyAnswersError: (422, "too_many_answers", "invalid"),
    StorageUnavailableError: (503, "storage_unavailable", "unavailable"),
    QueueUnavailableError: (503, "queue_unavailable", "unavailable"),
    AuthenticationError: (401, "unauthorized", "unauthorized"),
    ForbiddenError: (403, "forbidden", "unauthorized"),
    RateLimitedError: (429, "rate_limited", "rate_limited"),
    AuthUnavailableError: (503, "auth_unavailable", "unavailable"),
}


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


def install_error_handlers(app: FastAPI, *, retry_after_seconds: int) -> None:
    async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
        status, code, reason = next(
            (v for t, v in _DOMAIN.items() if isinstance(exc, t)),
            (500, "internal_error", "unavailable"),
        )
        _reject(request, reason)
        headers = _headers(exc, status, retry_after_seconds)
        if status >= 500:
            logger.error("%s %s failed: %s", request.method, request.url.path, exc)
        elif status in (401, 403):
            # the reason only: never the token
            logger.info("%s %s denied (%d): %s", request.method, request.url.path, status, exc)
        return error_response(status, code, str(exc), headers=headers)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        _reject(request, "invalid")
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return error_response(422, "invalid_request", "request body is invalid", details=details)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 413:
            _reject(request, "too_large")
        if exc.status_code == 400:
            # FastAPI's "error parsing the body": not UTF-8, or nested past the parser's
            # recursion limit. The contract's answer for an unreadable body is 422.
            _reject(request, "invalid")
            return error_response(422, "invalid_request", "request body is not valid JSON")
        return error_response(
            exc.status_code,
            f"http_{exc.status_code}",
            str(exc.detail),
            headers=dict(exc.headers or {}),
        )

    app.add_exception_handler(SmartpapersError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
