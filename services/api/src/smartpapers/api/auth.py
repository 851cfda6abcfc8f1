"""Authentication (bearer JWTs checked against the OIDC provider's JWKS) and object-level
authorization rules.

``SMARTPAPERS_AUTH_MODE=none`` (local default): every request is the anonymous, trusted
:data:`ANONYMOUS` principal and nothing is restricted (as before). ``jwt``: every ``/api/*``
request needs ``Authorization: Bearer <jwt>``; the token must be signed by a key of the JWKS
(cached, refreshed on an unknown ``kid`` at most once per cooldown) with an allow-listed
asymmetric algorithm, and carry the configured ``iss``, ``aud``, ``exp`` (``nbf``/``iat`` are
checked when present, with a small leeway). The student is ``sub``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
from jwt import PyJWK, PyJWKClient
from jwt.exceptions import (
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAudienceError,
    InvalidIssuerError,
    MissingRequiredClaimError,
    PyJWKClientConnectionError,
    PyJWKClientError,
    PyJWKSetError,
    PyJWTError,
)

from smartpapers.api.settings import Settings
from smartpapers.common.errors import SmartpapersError, UnavailableError
from smartpapers.common.job import Job
from smartpapers.common.models import SubmissionIn

logger = logging.getLogger(__name__)


class AuthenticationError(SmartpapersError):
    """401: no bearer token, or one that does not verify. ``bearer_error`` goes into the
    ``WWW-Authenticate`` header (RFC 6750): ``None`` when no token was sent."""

    code = "unauthorized"

    def __init__(self, message: str, *, bearer_error: str | None = "invalid_token") -> None:
        super().__init__(message)
        self.bearer_error = bearer_error


class ForbiddenError(SmartpapersError):
    """403: authenticated, but this principal may not do this."""

    code = "forbidden"


class AuthUnavailableError(UnavailableError):
    """503: the JWKS endpoint cannot be reached, so no token can be verified right now."""

    code = "auth_unavailable"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. ``authenticated`` is False only in auth mode ``none``."""

    subject: str | None
    staff: bool
    institute_id: str | None
    authenticated: bool
    premium: bool = False
    """The token carries the premium role (jwt mode): the priority lane."""


ANONYMOUS = Principal(subject=None, staff=True, institute_id=None, authenticated=False)
"""Auth mode ``none``: a trusted network, every route open as before issue #7."""


# -- authorization rules (applied by the routes) ------------------------------------------


def authorize_submission(principal: Principal, submission: SubmissionIn) -> None:
    """Nobody submits for another student (staff neither), nor for another institute."""
    if not principal.authenticated:
        return
    if submission.student_id != principal.subject:
        raise ForbiddenError("studentId must be the authenticated student (the token's sub)")
    if principal.institute_id is not None and submission.institute_id != principal.institute_id:
        raise ForbiddenError("instituteId must be the token's institute")


def can_read_job(principal: Principal, job: Job) -> bool:
    """A student reads their own jobs; staff also those of the institute in their token."""
    if not principal.authenticated:
        return True
    if job.student_id == principal.subject:
        return True
    return (
        principal.staff
        and principal.institute_id is not None
        and job.institute_id == principal.institute_id
    )


def authorize_paper_creation(principal: Principal, institute_id: str) -> None:
    if not principal.authenticated:
        return
    if not principal.staff:
        raise ForbiddenError("creating papers needs the staff role")
    if principal.institute_id is not None and institute_id != principal.institute_id:
        raise ForbiddenError("instituteId must be the token's institute")


def is_premium(
    principal: Principal, submission: SubmissionIn, *, premium_institutes: Sequence[str]
) -> bool:
    """Whether the job takes the priority lane — decided by the server, never by the body:
    jwt mode by the token's premium role; none mode by the configured premium institutes."""
    if principal.authenticated:
        return principal.premium
    return submission.institute_id in premium_institutes


def visible_institute(principal: Principal) -> str | None:
    """The only institute whose papers this principal sees (None: all)."""
    return principal.institute_id if principal.authenticated else None


# -- token verification -------------------------------------------------------------------


def claim(payload: Mapping[str, Any], name: str) -> Any:
    """``payload[name]``, or a dotted path into nested claims (``realm_access.roles``).
    A literal key wins, so namespaced claims (``https://example.com/roles``) work."""
    if name in payload:
        return payload[name]
    node: Any = payload
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _roles(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(value.split())
    if isinstance(value, list | tuple):
        return {v for v in value if isinstance(v, str)}
    return set()


_CLAIM_ERRORS: tuple[tuple[type[PyJWTError], str], ...] = (
    (ExpiredSignatureError, "token expired"),
    (ImmatureSignatureError, "token not yet valid"),
    (InvalidAudienceError, "token audience not accepted"),
    (InvalidIssuerError, "token issuer not accepted"),
    (MissingRequiredClaimError, "token lacks a required claim"),
)


class JwtVerifier:
    """Verifies bearer tokens. Signing keys found in the JWKS are kept in memory for the
    cache lifetime, so a verification normally does no I/O; an unknown ``kid`` asks
    :class:`jwt.PyJWKClient` (in a thread: it uses blocking urllib), which refetches the JWKS
    at most once per cooldown, so random kids cannot hammer the provider."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._algorithms = list(settings.jwt_algorithms)
        self._ttl = float(settings.jwt_jwks_cache_seconds)
        self._jwks = PyJWKClient(
            settings.jwt_jwks_url,
            cache_jwk_set=True,
            lifespan=settings.jwt_jwks_cache_seconds,
            timeout=settings.jwt_jwks_timeout_seconds,
            cooldown_duration=settings.jwt_jwks_refresh_cooldown_seconds,
        )
        self._keys: dict[str, tuple[PyJWK, float]] = {}
        url = urlsplit(settings.jwt_jwks_url)
        if url.scheme != "https" and url.hostname not in ("127.0.0.1", "localhost", "::1"):
            logger.warning("the JWKS URL is not https: keys can be tampered with in transit")

    async def warm_up(self) -> None:
        """Fetch the JWKS once at start-up; a failure is logged, not fatal (requests get
        503 until the provider answers)."""
        try:
            keys = await asyncio.to_thread(self._jwks.get_signing_keys)
        except PyJWTError as e:
            logger.warning("JWKS not loaded at start-up: %s", e)
            return
        now = time.monotonic()
        for key in keys:
            if key.key_id:
                self._keys[key.key_id] = (key, now)
        logger.info("JWKS loaded", extra={"keys": len(keys)})

    async def _signing_key(self, kid: str) -> PyJWK:
        hit = self._keys.get(kid)
        now = time.monotonic()
        if hit is not None and now - hit[1] < self._ttl:
            return hit[0]
        try:
            key = await asyncio.to_thread(self._jwks.get_signing_key, kid)
        except (PyJWKClientConnectionError, PyJWKSetError) as e:
            if hit is not None:
                # stale-if-error: a provider outage must not lock every student out once the
                # cache ages; a key is dropped only after a successful fetch lacks it
                logger.warning("JWKS unavailable, using the cached key %r: %s", kid, e)
                return hit[0]
            logger.warning("JWKS unavailable: %s", e)
            raise AuthUnavailableError("token verification unavailable; retry later") from e
        except PyJWKClientError as e:
            self._keys.pop(kid, None)  # removed from the JWKS (rotated out / revoked)
            raise AuthenticationError("token signed by an unknown key") from e
        self._keys[kid] = (key, now)
        return key

    async def verify(self, token: str) -> Principal:
        s = self._settings
        if len(token) > s.jwt_max_token_bytes:
            raise AuthenticationError("token too large")
        try:
            header = jwt.get_unverified_header(token)
        except PyJWTError as e:
            raise AuthenticationError("malformed token") from e
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            # also "none" and HS256 (a public key used as an HMAC secret)
            raise AuthenticationError("token algorithm not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > 256:
            raise AuthenticationError("token has no key id (kid)")
        key = await self._signing_key(kid)
        try:
            payload = jwt.decode(
                token,
                key=key,
                algorithms=self._algorithms,
                audience=s.jwt_audience,
                issuer=s.jwt_issuer,
                leeway=s.jwt_leeway_seconds,
                options={"require": list(s.jwt_required_claims)},
            )
        except PyJWTError as e:
            message = next((m for t, m in _CLAIM_ERRORS if isinstance(e, t)), "invalid token")
            raise AuthenticationError(message) from e
        except (ValueError, TypeError) as e:  # a key/curve mismatch deep in cryptography
            raise AuthenticationError("invalid token") from e
        subject = payload.get("sub")
        if not isinstance(subject, str) or not subject:
            raise AuthenticationError("token has no subject (sub)")
        institute = claim(payload, s.jwt_institute_claim)
        return Principal(
            subject=subject,
            staff=s.jwt_staff_role in _roles(claim(payload, s.jwt_staff_claim)),
            institute_id=institute if isinstance(institute, str) and institute else None,
            authenticated=True,
            premium=s.jwt_premium_role in _roles(claim(payload, s.jwt_premium_claim)),
        )
