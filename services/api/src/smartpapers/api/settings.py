"""API settings (env prefix ``SMARTPAPERS_``), built once at start-up."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from smartpapers.common.settings import CommonSettings

DEFAULT_JWT_ALGORITHMS = ("RS256", "ES256")
ASYMMETRIC_JWT_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
DEFAULT_SUBMISSIONS_LIMIT = 30
DEFAULT_STATUS_POLLS_LIMIT = 120


class Settings(CommonSettings):
    api_host: str = Field(default="127.0.0.1", description="bind address (the chart sets 0.0.0.0)")
    api_port: int = Field(description="HTTP port", default=8000, ge=1, le=65535)
    api_graceful_timeout_seconds: int = Field(
        default=20, ge=1, description="uvicorn drain time; < pod grace period − preStop sleep"
    )
    api_keep_alive_seconds: int = Field(
        default=75, ge=1, description="> the load balancer's idle timeout (ALB: 60 s)"
    )
    api_max_body_bytes: int = Field(
        description="413 above this many bytes, checked before the body is parsed",
        default=256 * 1024,
        ge=1024,
    )
    api_limit_concurrency: int | None = Field(
        default=None, ge=1, description="uvicorn load shedding: 503 past this many connections"
    )
    api_docs_enabled: bool = Field(
        default=True, description="serve /docs, /redoc and /openapi.json (off in the chart)"
    )
    api_cors_origins: list[str] = Field(
        description="JSON list of allowed CORS origins (`*` is refused by the chart)",
        default_factory=list,
    )
    auth_mode: Literal["none", "jwt"] = Field(
        default="none",
        description="`none`: trusted network, every route open (local default); `jwt`: a bearer "
        "JWT on every /api/* call (the chart's default)",
    )
    # -- JWT verification (auth_mode=jwt); see docs/security.md
    jwt_jwks_url: str = Field(default="", description="JWKS endpoint of the OIDC provider")
    jwt_issuer: str = Field(default="", description="expected `iss`, compared exactly")
    jwt_audience: str = Field(default="", description="expected `aud` (one of the token's)")
    jwt_algorithms: list[str] = Field(
        default_factory=lambda: list(DEFAULT_JWT_ALGORITHMS),
        description="allow-list of signature algorithms; asymmetric ones only",
    )
    jwt_required_claims: list[str] = Field(
        default_factory=lambda: ["exp", "iss", "aud", "sub"],
        description="claims a token must carry (`nbf` and `iat` are checked when present)",
    )
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300, description="clock skew allowed")
    jwt_jwks_cache_seconds: int = Field(default=300, ge=1, description="JWKS cache lifetime")
    jwt_jwks_refresh_cooldown_seconds: float = Field(
        default=30, ge=0, description="min. time between JWKS refreshes forced by unknown kids"
    )
    jwt_jwks_timeout_seconds: float = Field(description="timeout of a JWKS fetch", default=5, gt=0)
    jwt_staff_claim: str = Field(
        default="roles",
        description="claim listing roles (a list or a space-separated string; a dotted path "
        "such as realm_access.roles reaches into nested claims)",
    )
    jwt_staff_role: str = Field(
        description="the role that marks staff", default="staff", min_length=1
    )
    jwt_institute_claim: str = Field(
        default="institute", description="claim naming the principal's institute (optional)"
    )
    jwt_premium_claim: str = Field(
        default="roles",
        description="claim listing roles that may mark a premium student (priority lane; a "
        "dotted path reaches nested claims)",
    )
    jwt_premium_role: str = Field(
        default="premium",
        min_length=1,
        description="the role that puts a student's jobs on the priority lane (jwt mode)",
    )
    jwt_max_token_bytes: int = Field(
        description="401 for longer tokens, before any parsing", default=8192, ge=512
    )
    # -- per-student rate limits, shared by all replicas through MongoDB; 0 = off.
    # None = the mode's default: on in jwt mode, off in none mode (see docs/security.md)
    rate_limit_submissions: int | None = Field(
        default=None, ge=0, description="submissions per student per window"
    )
    rate_limit_status_polls: int | None = Field(
        default=None, ge=0, description="status reads per student (none mode: per IP) per window"
    )
    rate_limit_window_seconds: int = Field(
        description="length of a rate-limit window", default=60, ge=1, le=3600
    )
    rate_limit_timeout_seconds: float = Field(
        default=0.5, gt=0, description="a slower limiter check lets the request through"
    )
    api_insert_batch_size: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="most jobs per insert_many (1 = one insert per job); batches grow up to "
        "this as the database slows down",
    )
    api_insert_max_inflight: int = Field(
        default=4, ge=1, description="concurrent job inserts; more requests join the next one"
    )
    api_admission_limit: int = Field(
        default=20_000,
        ge=1,
        description="submissions that may wait for a job insert; past it: 503 + Retry-After",
    )
    api_accept_deadline_seconds: float = Field(
        default=20,
        gt=0,
        description="how long a timed-out job insert is retried before the request gets 503",
    )
    send_linger_seconds: float = Field(
        description="how long a send waits for others to share a SendMessageBatch",
        default=0.005,
        ge=0,
        le=1,
    )
    send_timeout_seconds: float = Field(
        description="past this the job is left to the sweeper (still 202)", default=2.0, gt=0
    )
    queue_metrics_interval_seconds: float = Field(
        default=15.0, ge=0, description="GetQueueAttributes poll for queue-depth gauges; 0 = off"
    )
    retry_after_seconds: int = Field(
        default=2,
        ge=1,
        le=60,
        description="Retry-After of 503s, and of 202s and queued status answers while the "
        "backlog estimate knows nothing (docs/push.md#retry-after)",
    )
    notifier_interval_seconds: float = Field(
        default=0.5,
        gt=0,
        le=10,
        description="push notifier: one batched read of all watched jobs per interval",
    )
    sse_heartbeat_seconds: float = Field(
        default=15.0, gt=0, description="comment line on an idle SSE stream"
    )
    sse_max_seconds: float = Field(
        default=300.0,
        gt=0,
        description="an SSE stream still open after this ends; the client reconnects "
        "with Last-Event-ID",
    )
    demo_page: bool = Field(
        default=False,
        description="serve the student demo page at /demo (on in make dev, off in the chart)",
    )

    premium_institutes: list[str] = Field(
        default_factory=list,
        description="JSON list of institutes whose students' jobs take the priority lane "
        "(auth mode none; jwt mode uses the premium role)",
    )
    submissions_mode: Literal["async", "sync"] = Field(
        default="async",
        description="`async`: queue, 202 (the default); `sync`: grade in the request, 201 "
        "with the score, no queue — the rollback switch (docs/operations.md)",
    )
    ws_ping_seconds: float = Field(
        default=20.0,
        gt=0,
        description="WebSocket protocol ping interval; a peer that does not answer within "
        "as long is disconnected",
    )
    ws_send_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="a WebSocket client that takes longer to accept one message is "
        "disconnected (1008), never buffered without limit",
    )

    @field_validator("jwt_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        # HS* would let anyone holding the (public) JWKS forge tokens; "none" is no signature
        bad = [a for a in value if a not in ASYMMETRIC_JWT_ALGORITHMS]
        if bad or not value:
            raise ValueError(
                f"jwt_algorithms must be a non-empty subset of {sorted(ASYMMETRIC_JWT_ALGORITHMS)}"
                f" (rejected: {bad})"
            )
        return value

    @property
    def submissions_limit(self) -> int:
        """Effective submissions per window per student (0 = off)."""
        if self.rate_limit_submissions is not None:
            return self.rate_limit_submissions
        return DEFAULT_SUBMISSIONS_LIMIT if self.auth_mode == "jwt" else 0

    @property
    def status_polls_limit(self) -> int:
        """Effective status reads per window per student or client IP (0 = off)."""
        if self.rate_limit_status_polls is not None:
            return self.rate_limit_status_polls
        return DEFAULT_STATUS_POLLS_LIMIT if self.auth_mode == "jwt" else 0

    def jwt_config_problems(self) -> list[str]:
        """Settings jwt mode cannot run without (empty when complete)."""
        required = {
            "SMARTPAPERS_JWT_JWKS_URL": self.jwt_jwks_url,
            "SMARTPAPERS_JWT_ISSUER": self.jwt_issuer,
            "SMARTPAPERS_JWT_AUDIENCE": self.jwt_audience,
        }
        return [name for name, value in required.items() if not value]
