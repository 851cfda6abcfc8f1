"""Settings shared by every smartpapers process (env prefix ``SMARTPAPERS_``).

Each service subclasses :class:`CommonSettings` and builds its settings once at start-up.
AWS credentials are never settings: they come from the standard AWS chain (IRSA / EKS Pod
Identity in a cluster, ``AWS_ACCESS_KEY_ID`` for emulators).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTPAPERS_", extra="ignore", frozen=True)

    mongo_uri: SecretStr = Field(
        default=SecretStr("mongodb://127.0.0.1:27017"),
        description="MongoDB connection string (a secret: the chart reads it from a Secret)",
    )
    mongo_db: str = Field(default="smartpapers", description="database name")
    mongo_timeout_ms: int = Field(
        description="server selection and connect timeout; operations time out after 2×",
        default=5_000,
        ge=100,
    )
    mongo_max_pool_size: int = Field(description="connections per process", default=100, ge=1)

    aws_region: str = Field(default="us-east-1", description="AWS region of the queues")
    sqs_endpoint_url: str | None = Field(
        default=None, description="Only for emulators such as ElasticMQ; unset on AWS."
    )
    sqs_queue_url: str = Field(description="the main queue")
    sqs_dlq_url: str | None = Field(
        default=None, description="the dead-letter queue (the API's queue-depth gauges)"
    )
    sqs_priority_queue_url: str | None = Field(
        default=None,
        description="the priority lane's queue (premium students, docs/priority-lane.md); "
        "unset = one lane, every job goes to the main queue",
    )
    sqs_priority_dlq_url: str | None = Field(
        default=None, description="the priority lane's dead-letter queue (the API's gauges)"
    )
    sqs_batching: bool = Field(
        default=True,
        description="false = one SendMessage / ReceiveMessage(1) / DeleteMessage per job: the "
        "naive baseline `make bench` compares against; never turn it off in production",
    )

    connect_attempts: int = Field(default=10, ge=1, description="Start-up connect attempts")
    paper_cache_ttl_seconds: float = Field(
        description="how long a paper (answer key) stays in the in-process cache",
        default=30.0,
        ge=0,
    )
    max_attempts: int = Field(
        default=5, ge=1, description="Processing attempts before a job is marked failed"
    )

    failpoints: str = Field(
        default="", description="fault injection for the fault suite (see common.failpoints)"
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="log level"
    )
    log_format: Literal["json", "text"] = Field(
        default="json", description="`json` (one object per line) or `text` for humans"
    )
