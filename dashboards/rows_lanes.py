# ruff: noqa: E501  (PromQL templates read better unwrapped)
"""Dashboard row of the priority lane (premium students, docs/priority-lane.md).

A second SQS queue (``queue="priority"``, dead letters in ``priority-dlq``) that the workers
receive from first, with at most ``SMARTPAPERS_WORKER_PRIORITY_SHARE`` priority batches per
normal batch while both lanes have messages. Without the lane configured the priority series
are absent (queue depth) or flat zero (the worker's per-lane series).
"""

from __future__ import annotations

from dashboards import slo
from dashboards.panels import API, RI, WORKER, P, Q, upper

RECEIVE_BATCHES = "smartpapers_worker_receive_batches_total"


def _per_lane_quantiles(metric: str, qs: tuple[float, ...]) -> list[Q]:
    return [
        Q(
            f"histogram_quantile({q:g}, sum by (le, lane) (rate({metric}_bucket{{{WORKER}}}[{RI}])))",
            f"{{{{lane}}}} p{round(q * 100)}",
        )
        for q in qs
    ]


def lanes() -> list[P]:
    return [
        P(
            "timeseries",
            "Queue depth by lane",
            "Visible and in-flight messages of the main (normal lane) and the priority queue, "
            "max over API pods. The priority queue appears only when the lane is configured "
            "(SMARTPAPERS_SQS_PRIORITY_QUEUE_URL).",
            "short",
            [
                Q(
                    f"max by (queue, state) (smartpapers_sqs_queue_messages{{{API}, "
                    f'queue=~"{slo.LANE_QUEUES_RE}", state=~"visible|inflight"}})',
                    "{{queue}} {{state}}",
                )
            ],
        ),
        P(
            "timeseries",
            "Queue wait p50 / p95 by lane",
            "createdAt -> start of processing per lane. Alert SmartpapersPriorityQueueWaitHigh "
            f"when the priority lane's p95 > {slo.PRIORITY_QUEUE_WAIT_P95_WARN_SECONDS} s for "
            f"{slo.PRIORITY_QUEUE_WAIT_FOR} (orange line), SmartpapersQueueWaitHigh when the "
            f"normal lane's p95 > {slo.QUEUE_WAIT_P95_WARN_SECONDS} s for {slo.QUEUE_WAIT_FOR} "
            "(red line).",
            "s",
            _per_lane_quantiles("smartpapers_job_queue_wait_seconds", (0.5, 0.95)),
            th=upper(slo.PRIORITY_QUEUE_WAIT_P95_WARN_SECONDS, slo.QUEUE_WAIT_P95_WARN_SECONDS),
            threshold_lines=True,
        ),
        P(
            "timeseries",
            "End-to-end p95 by lane",
            "createdAt -> completedAt per lane. Premium jobs are promised within "
            f"{slo.PRIORITY_E2E_PROMISE_SECONDS} s (orange line); the end-to-end SLO of every "
            f"job is {slo.E2E_SLO_SECONDS} s (red line).",
            "s",
            _per_lane_quantiles("smartpapers_job_end_to_end_seconds", (0.95,)),
            th=upper(slo.PRIORITY_E2E_PROMISE_SECONDS, slo.E2E_SLO_SECONDS),
            threshold_lines=True,
        ),
        P(
            "timeseries",
            "Receive batches /s by lane",
            "Worker receive batches that brought at least one message, per lane, summed over "
            "worker pods. While both lanes have messages the priority lane gets at most "
            "SMARTPAPERS_WORKER_PRIORITY_SHARE batches per normal batch.",
            "ops",
            [
                Q(
                    f"sum by (lane) (rate({RECEIVE_BATCHES}{{{WORKER}}}[{RI}]))",
                    "{{lane}}",
                )
            ],
        ),
        P(
            "timeseries",
            "Priority : normal receive ratio",
            "Priority receive batches per normal receive batch. At most "
            "SMARTPAPERS_WORKER_PRIORITY_SHARE (default "
            f"{slo.WORKER_PRIORITY_SHARE_DEFAULT}, the line) while both lanes have messages; "
            "higher only while the normal lane is empty, no value while it receives nothing. "
            "Far below it with a priority backlog: the workers are not preferring the lane.",
            "short",
            [
                Q(
                    f'sum(rate({RECEIVE_BATCHES}{{{WORKER}, lane="priority"}}[{RI}]))'
                    f' / sum(rate({RECEIVE_BATCHES}{{{WORKER}, lane="normal"}}[{RI}]))',
                    "priority per normal batch",
                )
            ],
            th=upper(slo.WORKER_PRIORITY_SHARE_DEFAULT, None),
            threshold_lines=True,
            min=0,
        ),
        P(
            "timeseries",
            "Priority DLQ messages by state",
            "Depth of the priority lane's dead-letter queue (queue=priority-dlq). Should be flat "
            "zero; SmartpapersDeadLetterQueueNotEmpty fires for it too. Redrive with "
            "`smartpapers-queues dlq-redrive --lane priority`.",
            "short",
            [
                Q(
                    f'max by (state) (smartpapers_sqs_queue_messages{{{API}, queue="priority-dlq"}})',
                    "{{state}}",
                )
            ],
            th=upper(None, 1),
            threshold_lines=True,
        ),
    ]
