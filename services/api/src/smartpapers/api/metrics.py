"""API-side metrics (docs/observability.md#metrics-reference). HTTP RED metrics come from
prometheus-fastapi-instrumentator."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

HTTP_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
"""0.25 s is the accept-latency SLO threshold."""

SUBMISSIONS_ACCEPTED = Counter(
    "smartpapers_submissions_accepted", "Submissions stored as jobs and answered 202."
)
SUBMISSIONS_REJECTED = Counter(
    "smartpapers_submissions_rejected",
    "Submissions not accepted, by reason.",
    ["reason"],
)
REJECT_REASONS = (
    "invalid",
    "unknown_paper",
    "too_large",
    "rate_limited",
    "unavailable",
    "conflict",
    "unauthorized",
)
for _reason in REJECT_REASONS:
    SUBMISSIONS_REJECTED.labels(reason=_reason)

QUEUE_MESSAGES = Gauge(
    "smartpapers_sqs_queue_messages",
    "Approximate SQS message counts (every API pod exports them: aggregate with max()).",
    ["queue", "state"],
)

NOTIFIER_READS = Counter(
    "smartpapers_notifier_reads",
    "Batched job reads of the push notifier (one per interval per 500 watched jobs, however "
    "many clients wait).",
)
NOTIFIER_WATCHED_JOBS = Gauge(
    "smartpapers_notifier_watched_jobs", "Jobs some SSE stream or long-poll of this pod waits for."
)
NOTIFIER_WAITERS = Gauge(
    "smartpapers_notifier_waiters",
    "Open SSE streams, WebSocket subscriptions and long-polls of this pod.",
)
WS_CONNECTIONS = Gauge(
    "smartpapers_ws_connections", "Open WebSocket connections (/api/submissions/ws) of this pod."
)
WS_DISCONNECTS = Counter(
    "smartpapers_ws_disconnects",
    "Ended WebSocket connections by reason: client (it left), protocol (it broke the "
    "subscription rules), slow_client (it did not read its messages), error.",
    ["reason"],
)
