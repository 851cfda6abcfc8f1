# ruff: noqa: E501  (PromQL templates read better unwrapped)
"""The recording rules the alerts and the dashboard read (part of the generated rules file,
see :mod:`dashboards.alerts`)."""

from __future__ import annotations

from textwrap import dedent
from typing import Any

from dashboards import slo

QUEUE = "smartpapers:sqs_queue_messages:max"
MAIN_VISIBLE = "smartpapers:sqs_main_visible_messages:max"


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
            "record": "smartpapers:submissions_accepted:rate5m",
            "expr": "sum by (namespace) (rate(smartpapers_submissions_accepted_total[5m]))",
        },
        {
            "record": "smartpapers:jobs_processed:rate5m",
            "expr": "sum by (namespace, outcome) (rate(smartpapers_jobs_processed_total[5m]))",
        },
        {
            "record": "smartpapers:job_queue_wait_seconds:p95_rate5m",
            "expr": expr("""
                histogram_quantile(0.95,
                  sum by (namespace, le) (rate(smartpapers_job_queue_wait_seconds_bucket[5m])))
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
