"""Worker settings (env prefix ``SMARTPAPERS_``), built once at start-up.

Timing contract (checked by tests/deploy against the chart):
``terminationGracePeriodSeconds >= sqs_wait_time_seconds + worker_drain_timeout_seconds + 5``
and ``sqs_visibility_timeout_seconds > worker_drain_timeout_seconds + 10``.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from smartpapers.common.settings import CommonSettings


class Settings(CommonSettings):
    worker_concurrency: int = Field(
        default=50, ge=1, le=1_000, description="most jobs in flight (the adaptive limit's cap)"
    )
    worker_adaptive_concurrency: bool = Field(
        default=True,
        description="follow database latency below worker_concurrency (AIMD); false = always "
        "worker_concurrency",
    )
    worker_priority_share: int = Field(
        default=4,
        ge=1,
        le=100,
        description="while both lanes have messages, at most this many priority batches are "
        "received per normal batch (docs/priority-lane.md#the-fair-receive-rule)",
    )
    worker_metrics_host: str = Field(
        default="127.0.0.1",
        description="bind address of /healthz and /metrics (the chart sets 0.0.0.0)",
    )
    worker_metrics_port: int = Field(
        description="port of /healthz and /metrics; 0 = not served", default=9100, ge=0, le=65535
    )
    worker_drain_timeout_seconds: float = Field(
        description="SIGTERM: how long in-flight batches may finish before they are released",
        default=25,
        ge=0,
    )
    sqs_wait_time_seconds: int = Field(
        description="long-poll wait of a receive", default=20, ge=0, le=20
    )
    sqs_visibility_timeout_seconds: int = Field(
        description="visibility timeout of received messages, and the job lease; must exceed "
        "the drain timeout + 10",
        default=60,
        ge=1,
        le=43_200,
    )
    sweeper_enabled: bool = Field(
        default=True, description="run the outbox sweeper in this process (one acts at a time)"
    )
    sweeper_interval_seconds: float = Field(description="seconds between sweeps", default=30, gt=0)
    sweeper_unsent_grace_seconds: float = Field(
        description="a queued job with enqueued=false this long is sent by the sweeper",
        default=30,
        ge=0,
    )
    sweeper_stale_after_seconds: float = Field(
        description="a queued job sent this long ago but never processed is sent again",
        default=900,
        gt=0,
    )
    retry_base_delay_seconds: float = Field(
        description="redelivery delay after an error: base · 2^(n−1)", default=2, gt=0
    )
    retry_max_delay_seconds: int = Field(
        description="cap of the redelivery delay", default=300, ge=1, le=43_200
    )

    @model_validator(mode="after")
    def _visibility_covers_drain(self) -> Settings:
        if self.sqs_visibility_timeout_seconds <= self.worker_drain_timeout_seconds + 10:
            raise ValueError(
                "SMARTPAPERS_SQS_VISIBILITY_TIMEOUT_SECONDS must exceed "
                "SMARTPAPERS_WORKER_DRAIN_TIMEOUT_SECONDS + 10"
            )
        return self
