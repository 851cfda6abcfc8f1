# ruff: noqa: E501  (PromQL templates read better unwrapped)
"""Dashboard rows of the pipeline: queue, workers."""

from __future__ import annotations

from dashboards import slo
from dashboards.panels import (
    API,
    GRADERS,
    RI,
    WORKER,
    P,
    Q,
    backlog_visible,
    burn_panel,
    done,
    e2e_budget,
    e2e_ratio_w,
    latency_panel,
    page_fast,
    page_slow,
    upper,
)


def queue() -> list[P]:
    panels = [
        P(
            "timeseries",
            "Main queue messages by state",
            "ApproximateNumberOfMessages (visible), ...NotVisible (inflight) and ...Delayed of the "
            "main queue, max over API pods.",
            "short",
            [
                Q(
                    f'max by (state) (smartpapers_sqs_queue_messages{{{API}, queue="main"}})',
                    "{{state}}",
                )
            ],
            stack=True,
        ),
        P(
            "timeseries",
            "DLQ messages by state",
            "Depth of the main queue's dead-letter queue (the priority lane's is in the "
            "*Priority lane* row). Should be flat zero; see runbook "
            "SmartpapersDeadLetterQueueNotEmpty.",
            "short",
            [
                Q(
                    f'max by (state) (smartpapers_sqs_queue_messages{{{API}, queue="dlq"}})',
                    "{{state}}",
                )
            ],
            th=upper(None, 1),
            threshold_lines=True,
        ),
        P(
            "timeseries",
            "Ingress vs drain",
            "Accepted submissions/s against finished (completed + failed) jobs/s. A lasting gap "
            "is backlog growth.",
            "ops",
            [
                Q(
                    f"sum(rate(smartpapers_submissions_accepted_total{{{API}}}[{RI}]))",
                    "accepted/s",
                ),
                Q(
                    f"sum(rate(smartpapers_jobs_processed_total{{{GRADERS}, {done}}}[{RI}]))",
                    "finished/s",
                ),
            ],
        ),
        P(
            "timeseries",
            "Estimated backlog drain time",
            "Visible messages of both lanes (main + priority queue) divided by the current "
            "finish rate (jobs of both lanes): a proxy for the age the newest message will "
            f"reach. Compare with the end-to-end SLO ({slo.E2E_SLO_SECONDS} s).",
            "s",
            [
                Q(
                    f"{backlog_visible} / sum(rate(smartpapers_jobs_processed_total{{{GRADERS}, {done}}}"
                    f"[{RI}]))",
                    "drain time",
                )
            ],
            th=upper(slo.QUEUE_WAIT_P95_WARN_SECONDS, slo.E2E_SLO_SECONDS),
            threshold_lines=True,
        ),
        P(
            "timeseries",
            "Retries /s",
            "Jobs released back to the queue for another attempt (outcome=retried). Repeated "
            "retries end in the DLQ.",
            "ops",
            [
                Q(
                    f'sum(rate(smartpapers_jobs_processed_total{{{GRADERS}, outcome="retried"}}[{RI}]))'
                    " or vector(0)",
                    "retried/s",
                )
            ],
        ),
    ]
    panels[-1].width = 16  # fill the second line of the row
    return panels


def workers() -> list[P]:
    return [
        P(
            "timeseries",
            "Job outcomes /s",
            "Jobs processed per second by outcome (completed, failed, retried).",
            "ops",
            [
                Q(
                    f"sum by (outcome) (rate(smartpapers_jobs_processed_total{{{GRADERS}}}[{RI}]))",
                    "{{outcome}}",
                )
            ],
            stack=True,
        ),
        latency_panel(
            "Processing time",
            "Time a worker spends on one job (claim, grade, store, delete).",
            "smartpapers_job_processing_seconds",
            WORKER,
        ),
        latency_panel(
            "Queue wait",
            "Time between createdAt and the start of processing, both lanes together (per "
            "lane: *Priority lane* row). Alert SmartpapersQueueWaitHigh when the normal lane's "
            f"p95 > {slo.QUEUE_WAIT_P95_WARN_SECONDS} s for {slo.QUEUE_WAIT_FOR}.",
            "smartpapers_job_queue_wait_seconds",
            WORKER,
            slo.QUEUE_WAIT_P95_WARN_SECONDS,
        ),
        latency_panel(
            "End-to-end",
            "createdAt -> completedAt of completed jobs, both lanes together. SLO: "
            f"{slo.E2E_SLO_TARGET:.0%} within {slo.E2E_SLO_SECONDS} s.",
            "smartpapers_job_end_to_end_seconds",
            WORKER,
            slo.E2E_SLO_SECONDS,
        ),
        burn_panel(
            "End-to-end SLO burn rate",
            "Error-budget burn rate of the end-to-end SLO over the page windows (1 = budget "
            f"spent exactly in 30 days). Page at {page_fast.factor:g}x over "
            f"{page_fast.long}+{page_fast.short} or {page_slow.factor:g}x over "
            f"{page_slow.long}+{page_slow.short}.",
            e2e_ratio_w,
            e2e_budget,
        ),
        P(
            "timeseries",
            "In-flight jobs vs concurrency limit",
            "Jobs being processed now against the configured concurrency and the adaptive "
            "limit (what the workers allow themselves at the database's current latency), "
            "summed over worker pods. At the configured limit: more replicas help; far below "
            "it: the database is the bottleneck.",
            "short",
            [
                Q(f"sum(smartpapers_worker_inflight_jobs{{{WORKER}}})", "in flight"),
                Q(f"sum(smartpapers_worker_inflight_limit{{{WORKER}}})", "adaptive limit"),
                Q(f"sum(smartpapers_worker_concurrency_limit{{{WORKER}}})", "limit"),
            ],
        ),
        P(
            "timeseries",
            "Seconds since last processed job",
            "Per worker pod. Rising on every pod while the queue holds messages is "
            "SmartpapersProcessingStalled.",
            "s",
            [
                Q(
                    f"time() - smartpapers_worker_last_processed_timestamp_seconds{{{WORKER}}}",
                    "{{pod}} {{instance}}",
                )
            ],
            width=16,
        ),
    ]
