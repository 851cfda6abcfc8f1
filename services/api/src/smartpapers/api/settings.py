"""API settings (env prefix ``SMARTPAPERS_``), built once at start-up."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from smartpapers.common.settings import CommonSettings


class Settings(CommonSettings):
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_graceful_timeout_seconds: int = Field(
        default=20, ge=1, description="uvicorn drain time; < pod grace period − preStop sleep"
    )
    api_keep_alive_seconds: int = Field(
        default=75, ge=1, description="> the load balancer's idle timeout (ALB: 60 s)"
    )
    api_max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    api_limit_concurrency: int | None = Field(
        default=None, ge=1, description="uvicorn load shedding: 503 past this many connections"
    )
    api_docs_enabled: bool = True
    api_cors_origins: list[str] = Field(default_factory=list)
    auth_mode: Literal["none", "jwt"] = "none"
    send_linger_seconds: float = Field(default=0.005, ge=0, le=1)
    send_timeout_seconds: float = Field(default=2.0, gt=0)
    queue_metrics_interval_seconds: float = Field(
        default=15.0, ge=0, description="GetQueueAttributes poll for queue-depth gauges; 0 = off"
    )
    retry_after_seconds: int = 2
