"""Request body cap enforced before anything parses the body (413)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smartpapers.api.errors import count_rejection, error_response


class BodySizeLimitMiddleware:
    """Rejects bodies over ``max_bytes``: at once from Content-Length, or while streaming a
    chunked body. Pure ASGI, so the body is never buffered beyond the cap."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_large = int(value) > self.max_bytes
                except ValueError:
                    too_large = False
                if too_large:
                    await self._reject(scope, receive, send)
                    return
        received = 0

        async def limited_receive() -> Message:
            # a chunked body without Content-Length: stop reading past the cap; FastAPI
            # re-raises HTTPException from body reading and the error handler answers 413
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, f"request body exceeds {self.max_bytes} bytes")
            return message

        await self.app(scope, limited_receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        count_rejection(scope.get("method", ""), scope.get("path", ""), 413)
        response = error_response(
            413,
            "too_large",
            f"request body exceeds {self.max_bytes} bytes",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)
