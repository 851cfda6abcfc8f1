"""Worker metrics (docs/observability.md#metrics-reference). Buckets reach past the
visibility timeout (600 s) and put one bucket exactly on each SLO threshold (30 s end to
end)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# defined in common: the API grades jobs too (submissions mode sync)
from smartpapers.common.metrics import JOBS_PROCESSED as JOBS_PROCESSED

JOB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 120, 300, 600)


JOB_PROCESSING = Histogram(
    "smartpapers_job_processing_seconds",
    "Claim to final status of one job attempt.",
    buckets=JOB_BUCKETS,
)
JOB_QUEUE_WAIT = Histogram(
    "smartpapers_job_queue_wait_seconds",
    "Job creation (202) to its first claim by a worker, by lane (normal | priority).",
    ["lane"],
    buckets=JOB_BUCKETS,
)
JOB_END_TO_END = Histogram(
    "smartpapers_job_end_to_end_seconds",
    "Job creation (202) to completed/failed, by lane (normal | priority).",
    ["lane"],
    buckets=JOB_BUCKETS,
)
RECEIVE_BATCHES = Counter(
    "smartpapers_worker_receive_batches",
    "Receive batches that brought at least one message, by lane: the ratio of the lanes' "
    "rates is the fair receive rule at work (docs/priority-lane.md).",
    ["lane"],
)
for _lane in ("normal", "priority"):
    JOB_QUEUE_WAIT.labels(lane=_lane)
    JOB_END_TO_END.labels(lane=_lane)
    RECEIVE_BATCHES.labels(lane=_lane)
INFLIGHT = Gauge("smartpapers_worker_inflight_jobs", "Messages being processed now.")
CONCURRENCY_LIMIT = Gauge(
    "smartpapers_worker_concurrency_limit", "Configured maximum of in-flight jobs."
)
INFLIGHT_LIMIT = Gauge(
    "smartpapers_worker_inflight_limit",
    "In-flight jobs the worker allows itself now: adapts to database latency, up to the "
    "configured concurrency.",
)
LAST_PROCESSED = Gauge(
    "smartpapers_worker_last_processed_timestamp_seconds",
    "Unix time at which this worker last finished a job.",
)
