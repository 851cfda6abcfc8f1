"""Prometheus metrics used by both services (docs/observability.md: prefix
``smartpapers_``, base units, no ids in labels). Service-specific metrics live in each
service's ``metrics`` module."""

from __future__ import annotations

from prometheus_client import Counter, disable_created_metrics

# the *_created series double the number of series and no dashboard reads them
disable_created_metrics()  # type: ignore[no-untyped-call]

SQS_REQUESTS = Counter(
    "smartpapers_sqs_requests",
    "SQS API requests sent, by operation (the SQS bill: divide by accepted submissions).",
    ["operation"],
)

JOBS_PROCESSED = Counter(
    "smartpapers_jobs_processed",
    "Job deliveries handled, by outcome (retried = left for redelivery after an error); "
    "the API counts the jobs it grades in the request (submissions mode sync).",
    ["outcome"],
)
for _outcome in ("completed", "failed", "retried"):
    JOBS_PROCESSED.labels(outcome=_outcome)

PAPER_CACHE_REQUESTS = Counter(
    "smartpapers_paper_cache_requests",
    "Paper look-ups served from the in-process cache (hit) or MongoDB (miss).",
    ["result"],
)
for _result in ("hit", "miss"):
    PAPER_CACHE_REQUESTS.labels(result=_result)

MONGO_COMMANDS = Counter(
    "smartpapers_mongo_commands",
    "MongoDB commands sent (one round trip each), by command name; ÷ accepted submissions "
    "= database round trips per submission.",
    ["command"],
)
