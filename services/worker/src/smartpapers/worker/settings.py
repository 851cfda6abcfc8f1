"""Worker settings (env prefix ``SMARTPAPERS_``), built once at start-up.

Timing contract (checked by tests/deploy against the chart):
``terminationGracePeriodSeconds >= sqs_wait_time_seconds + worker_drain_timeout_seconds + 5``
and ``sqs_visibility_timeout_seconds > worker_drain_timeout_seconds + 10``.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from smartpapers.common.settings import CommonSettings


class Settings(CommonSettings):
    worker_concurrency: int = Field(default=50, ge=1, le=1_000, description="in-flight jobs")
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=9100, ge=0, le=65535)
    worker_drain_timeout_seconds: float = Field(default=25, ge=0)
    worker_write_batch_size: int = Field(
        default=10,
        ge=1,
        le=10,
        description="submission inserts / final-status updates per MongoDB round trip; "
        "1 = one write per job (the benchmark's naive baseline)",
    )
    worker_write_linger_seconds: float = Field(
        default=0.02,
        gt=0,
        le=0.1,
        description="the longest a job's write waits for the other jobs in flight (it goes "
        "out as soon as all of them have written or failed)",
    )
    sqs_wait_time_seconds: int = Field(default=20, ge=0, le=20)
    sqs_visibility_timeout_seconds: int = Field(default=60, ge=1, le=43_200)
    sweeper_enabled: bool = True
    sweeper_interval_seconds: float = Field(default=30, gt=0)
    sweeper_unsent_grace_seconds: float = Field(default=30, ge=0)
    sweeper_stale_after_seconds: float = Field(default=900, gt=0)
    retry_base_delay_seconds: float = Field(default=2, gt=0)
    retry_max_delay_seconds: int = Field(default=300, ge=1, le=43_200)

    @model_validator(mode="after")
    def _visibility_covers_drain(self) -> Settings:
        if self.sqs_visibility_timeout_seconds <= self.worker_drain_timeout_seconds + 10:
            raise ValueError(
                "SMARTPAPERS_SQS_VISIBILITY_TIMEOUT_SECONDS must exceed "
                "SMARTPAPERS_WORKER_DRAIN_TIMEOUT_SECONDS + 10"
            )
        return self
