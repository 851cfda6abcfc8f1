# ruff: noqa: E501  (PromQL templates read better unwrapped)
"""The recording rules the alerts and the dashboard read (part of the generated rules file,
see :mod:`dashboards.alerts`)."""

from __future__ import annotations

from textwrap import dedent
from typing import Any

from dashboards import slo

QUEUE = "smartpapers:sqs_queue_messages:max"
MAIN_VISIBLE = "smartpapers:sqs_main_visible_messages:max"
BACKLOG_VISIBLE = "smartpapers:sqs_backlog_visible_messages:max"
QUEUE_WAIT_P95 = "smartpapers:job_queue_wait_seconds:p95_rate5m"

#: Comment lines the rendered rules file carries above a recording rule (``record`` -> text).
COMMENTS = {
    MAIN_VISIBLE: "The main (normal-lane) queue only: what the KEDA trigger sqs-depth reads (the "
    "priority queue has its own trigger, and the HPA takes the larger desired count). Kept "
    "main-only on purpose; the workers' total backlog is " + BACKLOG_VISIBLE + ".",
    BACKLOG_VISIBLE: "The workers' total backlog: visible messages of both lanes (main + "
    "priority queue; the priority one only when the lane is configured), dead-letter queues "
    "excluded. Every worker drains both lanes, so 'backlog still grows at max replicas' "
    "(SmartpapersWorkersAtMaxReplicas) reads this one.",
    QUEUE_WAIT_P95: "Per lane (normal | priority; no lane label on workers older than the "
    'priority lane): SmartpapersQueueWaitHigh reads lane!="priority", '
    'SmartpapersPriorityQueueWaitHigh lane="priority".',
}


def expr(text: str) -> str:
    return dedent(text).strip()


def recording_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {
            "record": QUEUE,
            "expr": "max by (namespace, queue, state) (smartpapers_sqs_queue_messages)",
        },
        {
            "record": MAIN_VISIBLE,
            "expr": f'sum by (namespace) ({QUEUE}{{queue="main", state="visible"}})',
        },
        {
            "record": BACKLOG_VISIBLE,
            "expr": f'sum by (namespace) ({QUEUE}{{queue=~"{slo.LANE_QUEUES_RE}", state="visible"}})',
        },
        {
            "record": "smartpapers:submissions_accepted:rate5m",
            "expr": "sum by (namespace) (rate(smartpapers_submissions_accepted_total[5m]))",
        },
        {
            "record": "smartpapers:jobs_processed:rate5m",
            "expr": "sum by (namespace, outcome) (rate(smartpapers_jobs_processed_total[5m]))",
        },
        {
            "record": QUEUE_WAIT_P95,
            "expr": expr("""
                histogram_quantile(0.95,
                  sum by (namespace, lane, le) (rate(smartpapers_job_queue_wait_seconds_bucket[5m])))
            """),
        },
        {
            "record": "smartpapers:sqs_requests_per_submission:ratio_rate5m",
            "expr": expr("""
                sum by (namespace) (rate(smartpapers_sqs_requests_total[5m]))
                  / sum by (namespace) (rate(smartpapers_submissions_accepted_total[5m]))
            """),
        },
    ]
    for w in slo.BURN_RATE_WINDOWS:
        rules.append(
            {
                "record": f"smartpapers:job_e2e_slo_errors:ratio_rate{w}",
                "expr": expr(f"""
                1 - (
                  sum by (namespace) (rate(smartpapers_job_end_to_end_seconds_bucket{{{slo.E2E_LE}}}[{w}]))
                    / sum by (namespace) (rate(smartpapers_job_end_to_end_seconds_count[{w}]))
                )
            """),
            }
        )
    for w in slo.BURN_RATE_WINDOWS:
        rules.append(
            {
                "record": f"smartpapers:api_5xx_errors:ratio_rate{w}",
                "expr": expr(f"""
                (
                  sum by (namespace) (rate(smartpapers_http_requests_total{{handler=~"/api/.*", status="5xx"}}[{w}]))
                    or 0 * sum by (namespace) (rate(smartpapers_http_requests_total{{handler=~"/api/.*"}}[{w}]))
                )
                  / sum by (namespace) (rate(smartpapers_http_requests_total{{handler=~"/api/.*"}}[{w}]))
            """),
            }
        )
    return rules
