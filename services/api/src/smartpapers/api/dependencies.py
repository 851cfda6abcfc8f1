"""FastAPI dependencies: the lifespan's services, typed with ``Annotated``."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from smartpapers.api.auth import ANONYMOUS, AuthenticationError, Principal
from smartpapers.api.notifier import JobNotifier
from smartpapers.api.rate_limit import RateLimiter
from smartpapers.api.services import Services
from smartpapers.common.papers import PaperCache
from smartpapers.common.repositories import JobRepository, PaperRepository


def get_services(request: HTTPConnection) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_jobs(services: ServicesDep) -> JobRepository:
    return services.jobs


def get_papers(services: ServicesDep) -> PaperRepository:
    return services.papers


def get_paper_cache(services: ServicesDep) -> PaperCache:
    return services.paper_cache


def get_limiter(services: ServicesDep) -> RateLimiter:
    return services.limiter


def get_notifier(services: ServicesDep) -> JobNotifier:
    return services.notifier


_bearer = HTTPBearer(
    auto_error=False,
    description="A JWT from the OIDC provider (auth mode jwt); not needed in auth mode none.",
)


WS_BEARER_PREFIX = "bearer."
"""A browser cannot set headers on a WebSocket: it offers the subprotocol ``bearer.<JWT>``
next to ``smartpapers.v1`` instead (docs/push.md#websocket)."""


def bearer_token(connection: HTTPConnection) -> str | None:
    """The bearer token of ``Authorization``, or of a WebSocket's ``bearer.`` subprotocol."""
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if connection.scope["type"] == "websocket":
        for protocol in connection.scope.get("subprotocols", []):
            if protocol.startswith(WS_BEARER_PREFIX) and len(protocol) > len(WS_BEARER_PREFIX):
                return str(protocol[len(WS_BEARER_PREFIX) :])
    return None


async def authenticate(request: HTTPConnection) -> Principal:
    """Auth mode ``none``: the trusted anonymous principal. ``jwt``: the verified token's
    principal, or 401 (503 while the JWKS cannot be fetched)."""
    verifier = get_services(request).verifier
    if verifier is None:
        return ANONYMOUS
    token = bearer_token(request)
    if token is None:
        raise AuthenticationError("bearer token required", bearer_error=None)
    return await verifier.verify(token)


class AuthenticatedRoute(APIRoute):
    """Authenticates before FastAPI reads and parses the body: a request without a valid
    token costs no JSON parsing and always gets 401, whatever its body. Errors raised here
    reach the app's exception handlers (``errors``) like any route error."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def authenticated(request: Request) -> Response:
            request.state.principal = await authenticate(request)
            return await handler(request)

        return authenticated


async def get_principal(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The principal :class:`AuthenticatedRoute` established (``_credentials`` only puts
    the bearer scheme into the OpenAPI schema)."""
    principal = getattr(request.state, "principal", None)
    if isinstance(principal, Principal):
        return principal
    return await authenticate(request)  # a route outside AuthenticatedRoute


def client_ip(request: HTTPConnection) -> str:
    """The peer address (uvicorn applies X-Forwarded-For only from trusted proxies)."""
    return request.client.host if request.client is not None else "unknown"


JobsDep = Annotated[JobRepository, Depends(get_jobs)]
PapersDep = Annotated[PaperRepository, Depends(get_papers)]
PaperCacheDep = Annotated[PaperCache, Depends(get_paper_cache)]
LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]
NotifierDep = Annotated[JobNotifier, Depends(get_notifier)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
