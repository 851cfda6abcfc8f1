"""The one place where domain errors become HTTP answers.

Every error body is ``{"message": str, "error": code}`` (+ ``details`` for validation), the
shape the original Express API's clients read (``message``)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from smartpapers.api.metrics import SUBMISSIONS_REJECTED
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
}


def install_error_handlers(app: FastAPI, *, retry_after_seconds: int) -> None:
    async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
        status, code, reason = next(
            (v for t, v in _DOMAIN.items() if isinstance(exc, t)),
            (500, "internal_error", "unavailable"),
        )
        _reject(request, reason)
        headers = {"Retry-After": str(retry_after_seconds)} if status == 503 else None
        if status >= 500:
            logger.error("%s %s failed: %s", request.method, request.url.path, exc)
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
        return error_response(
            exc.status_code,
            f"http_{exc.status_code}",
            str(exc.detail),
            headers=dict(exc.headers or {}),
        )

    app.add_exception_handler(SmartpapersError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
