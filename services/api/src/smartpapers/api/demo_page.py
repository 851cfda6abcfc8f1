"""The student demo page at ``/demo`` (docs/demo-page.md): static files shipped in this
package (``static/demo/``), served only when ``SMARTPAPERS_DEMO_PAGE=true`` (``make dev``; the
chart leaves it off). Not part of the API: nothing here is in the OpenAPI schema."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

DEMO_PATH = "/demo"
STATIC_DIR = Path(__file__).resolve().parent / "static" / "demo"

#: Same-origin everything: the page loads its own modules and stylesheet and talks to this
#: API only; no inline script or style, no framing, no plugins.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    # revalidate every time (StaticFiles answers If-None-Match with 304): an edited file
    # is seen at the next reload
    "cache-control": "no-cache",
}
#: ES modules need a JavaScript MIME type; don't depend on the host's mime.types
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}


class _SecuredStatic:
    """StaticFiles whose answers carry :data:`SECURITY_HEADERS` and a fixed content type."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        suffix = Path(str(scope.get("path", ""))).suffix.lower()
        content_type = CONTENT_TYPES.get(suffix)

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.decode("latin-1").lower() not in SECURITY_HEADERS
                    and not (content_type and k.lower() == b"content-type")
                ]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                if content_type and message["status"] < 300:
                    headers.append((b"content-type", content_type.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_secured)


def mount_demo_page(app: FastAPI) -> None:
    """Serve ``static/demo/`` at ``/demo/`` (``/demo`` redirects there, query kept). The
    caller adds it only when ``settings.demo_page`` is on (otherwise ``/demo`` is a 404)."""
    if not (STATIC_DIR / "index.html").is_file():
        raise RuntimeError(f"SMARTPAPERS_DEMO_PAGE=true but {STATIC_DIR}/index.html is missing")

    async def to_slash(request: Request) -> RedirectResponse:
        query = f"?{request.url.query}" if request.url.query else ""
        # relative Location: right behind any proxy, whatever its scheme and host
        return RedirectResponse(f"{DEMO_PATH}/{query}", status_code=308)

    app.add_route(DEMO_PATH, to_slash, methods=["GET", "HEAD"], include_in_schema=False)
    app.mount(
        DEMO_PATH,
        _SecuredStatic(StaticFiles(directory=STATIC_DIR, html=True)),
        name="demo",
    )
    logger.info("student demo page served at %s/", DEMO_PATH)
