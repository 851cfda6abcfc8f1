# ruff: noqa: E501  (PromQL templates read better unwrapped)
"""The dashboard's first row: the overview."""

from __future__ import annotations

from dashboards import slo
from dashboards.panels import (
    ANY,
    API,
    GRADERS,
    RI,
    WORKER,
    P,
    Q,
    done,
    hpa_replicas,
    lower,
    quantile,
    submit,
    upper,
)


def overview() -> list[P]:
    return [
        P(
            "stat",
            "Accepted submissions /s",
            "Submissions answered 202 per second (smartpapers_submissions_accepted_total).",
            "reqps",
            [Q(f"sum(rate(smartpapers_submissions_accepted_total{{{API}}}[{RI}]))", "accepted/s")],
            width=4,
            height=5,
        ),
        P(
            "stat",
            "Completed jobs /s",
            "Jobs graded and stored per second (outcome=completed).",
            "ops",
            [
                Q(
                    f'sum(rate(smartpapers_jobs_processed_total{{{GRADERS}, outcome="completed"}}'
                    f"[{RI}]))",
                    "completed/s",
                )
            ],
            width=4,
            height=5,
        ),
        P(
            "stat",
            "Job failure ratio",
            "Share of finished jobs that ended `failed` (final). Retries are not counted.",
            "percentunit",
            [
                Q(
                    f'(sum(rate(smartpapers_jobs_processed_total{{{GRADERS}, outcome="failed"}}[{RI}]))'
                    f" or vector(0)) / sum(rate(smartpapers_jobs_processed_total{{{GRADERS}, {done}}}"
                    f"[{RI}]))",
                    "failed",
                )
            ],
            th=upper(0.001, 0.01),
            width=4,
            height=5,
        ),
        P(
            "stat",
            "Main queue depth",
            "Messages in the main SQS queue by state (max over the API pods that poll "
            "GetQueueAttributes). `inflight` = received by a worker, not yet deleted.",
            "short",
            [
                Q(
                    f'max by (state) (smartpapers_sqs_queue_messages{{{API}, queue="main", '
                    f'state=~"visible|inflight"}})',
                    "{{state}}",
                )
            ],
            width=4,
            height=5,
        ),
        P(
            "stat",
            "DLQ depth",
            "Messages in the dead-letter queues of both lanes (dlq + priority-dlq, all "
            "states). Any message here means a job exhausted maxReceiveCount: alert "
            "SmartpapersDeadLetterQueueNotEmpty.",
            "short",
            [
                Q(
                    f"sum(max by (queue, state) (smartpapers_sqs_queue_messages{{{API}, "
                    f'queue=~"{slo.DLQS_RE}"}}))',
                    "dlq",
                )
            ],
            th=upper(None, 1),
            width=4,
            height=5,
        ),
        P(
            "stat",
            "Queue wait p95",
            "95th percentile of the time a job waited in the queue before a worker started "
            "it, both lanes together. Alert SmartpapersQueueWaitHigh when the normal lane's is "
            f"above {slo.QUEUE_WAIT_P95_WARN_SECONDS} s (priority lane: "
            f"SmartpapersPriorityQueueWaitHigh, {slo.PRIORITY_QUEUE_WAIT_P95_WARN_SECONDS} s).",
            "s",
            [Q(quantile(0.95, "smartpapers_job_queue_wait_seconds", WORKER), "p95")],
            th=upper(slo.QUEUE_WAIT_P95_WARN_SECONDS / 2, slo.QUEUE_WAIT_P95_WARN_SECONDS),
            width=4,
            height=5,
        ),
        P(
            "stat",
            f"Jobs done within {slo.E2E_SLO_SECONDS} s (SLO {slo.E2E_SLO_TARGET:.0%})",
            f"Share of completed jobs whose end-to-end time (createdAt -> completedAt) was at most "
            f"{slo.E2E_SLO_SECONDS} s. SLO: {slo.E2E_SLO_TARGET:.0%}.",
            "percentunit",
            [
                Q(
                    f"sum(rate(smartpapers_job_end_to_end_seconds_bucket{{{WORKER}, {slo.E2E_LE}}}[{RI}]))"
                    f" / sum(rate(smartpapers_job_end_to_end_seconds_count{{{WORKER}}}[{RI}]))",
                    "SLI",
                )
            ],
            th=lower(slo.E2E_SLO_TARGET),
            width=4,
            height=5,
        ),
        P(
            "stat",
            "POST /api/submissions p99",
            f"99th percentile accept latency. SLO: {slo.API_LATENCY_TARGET:.0%} under "
            f"{slo.API_LATENCY_SECONDS * 1000:g} ms.",
            "s",
            [Q(quantile(0.99, "smartpapers_http_request_duration_seconds", submit), "p99")],
            th=upper(None, slo.API_LATENCY_SECONDS),
            width=4,
            height=5,
        ),
        P(
            "stat",
            "Worker replicas (current / desired / max)",
            "KEDA-managed HPA keda-hpa-<release>-worker (kube-state-metrics). current = max "
            "while the backlog grows triggers SmartpapersWorkersAtMaxReplicas.",
            "short",
            hpa_replicas(),
            width=8,
            height=5,
        ),
        P(
            "stat",
            "Scrape targets up",
            "Healthy API and worker scrape targets (`up`). None up raises SmartpapersApiDown / "
            "SmartpapersWorkersDown.",
            "short",
            [Q(f"sum by (job) (up{{{ANY}}})", "{{job}}")],
            th=lower(1),
            width=8,
            height=5,
        ),
    ]
