"""Single source of truth for SLOs, alert thresholds and label conventions.

Both the dashboard (thresholds, burn-rate panels) and the Prometheus rules are generated from
these numbers, so a panel's red line is always the alert's threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- SLOs (docs/observability.md) -----------------------------------------------------------
#: 99 % of jobs completed within 30 s of submission (createdAt -> completedAt).
E2E_SLO_TARGET = 0.99
E2E_SLO_SECONDS = 30
#: 99.9 % of /api/* requests are not 5xx.
API_AVAILABILITY_TARGET = 0.999
#: 99 % of POST /api/submissions answered within 250 ms (dashboard only, no alert).
API_LATENCY_TARGET = 0.99
API_LATENCY_SECONDS = 0.25
SUBMIT_HANDLER = "/api/submissions"

#: prometheus_client renders bucket bounds as "30.0"; Prometheus 3 normalises them to "30".
#: Matching both keeps every query valid on Prometheus 2.x (Debian) and 3.x.
E2E_LE = f'le=~"{E2E_SLO_SECONDS}|{E2E_SLO_SECONDS}.0"'
API_LE = f'le="{API_LATENCY_SECONDS}"'


@dataclass(frozen=True)
class BurnWindow:
    """One multiwindow burn-rate condition (Google SRE workbook, chapter 5)."""

    factor: float
    long: str
    short: str


#: Page: 2 % of a 30-day budget in 1 h, or 5 % in 6 h.
PAGE_WINDOWS = (BurnWindow(14.4, "1h", "5m"), BurnWindow(6, "6h", "30m"))
#: Ticket: 10 % of the budget in 1 d, or 10 % in 3 d.
TICKET_WINDOWS = (BurnWindow(3, "1d", "2h"), BurnWindow(1, "3d", "6h"))
BURN_RATE_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")

# --- other alert thresholds --------------------------------------------------------------------
QUEUE_WAIT_P95_WARN_SECONDS = 20  # below the 30 s end-to-end SLO, leaves room for grading
QUEUE_WAIT_FOR = "10m"
#: the priority lane (premium students, docs/priority-lane.md): premium jobs are promised to
#: finish within PRIORITY_E2E_PROMISE_SECONDS end to end; the queue-wait alert leaves some room
#: above it (a priority job's wait is normally one receive round trip).
PRIORITY_E2E_PROMISE_SECONDS = 3
PRIORITY_QUEUE_WAIT_P95_WARN_SECONDS = 5
PRIORITY_QUEUE_WAIT_FOR = "5m"
#: the workers' default SMARTPAPERS_WORKER_PRIORITY_SHARE: at most this many priority receive
#: batches per normal batch while both lanes have messages (dashboard line only).
WORKER_PRIORITY_SHARE_DEFAULT = 4
DLQ_FOR = "5m"
STALL_WINDOW = "10m"
STALL_FOR = "10m"
MAX_REPLICAS_DERIV_WINDOW = "10m"
MAX_REPLICAS_FOR = "15m"
TARGET_DOWN_FOR = "10m"
ABSENT_FOR = "5m"
KEDA_ERRORS_FOR = "5m"
#: the project's target: <= 0.5 SQS API requests per submission end to end (dashboard threshold).
SQS_REQUESTS_PER_SUBMISSION_TARGET = 0.5

# --- naming conventions (chart: Services/Deployments <fullname>-api / <fullname>-worker,
# ScaledObject <fullname>-worker -> HPA keda-hpa-<fullname>-worker; local: smartpapers-api/-worker)
#: Regex over the chart "fullname" used when no release is selected (dashboard "All").
RELEASE_ALL = ".*smartpapers.*"
API_JOB_RE = f"{RELEASE_ALL}-api"
WORKER_JOB_RE = f"{RELEASE_ALL}-worker"
ANY_JOB_RE = f"{RELEASE_ALL}-(api|worker)"
WORKER_SCALEDOBJECT_RE = f"{RELEASE_ALL}-worker"
WORKER_HPA_RE = f"keda-hpa-{RELEASE_ALL}-worker"

#: the ``queue`` label of smartpapers_sqs_queue_messages: the lanes' queues (the workers'
#: backlog) and their dead-letter queues (the priority ones exist only with the lane configured).
LANE_QUEUES_RE = "main|priority"
DLQS_RE = "dlq|priority-dlq"

DASHBOARD_UID = "smartpapers"
DASHBOARD_SLUG = "smartpapers"
DEFAULT_RUNBOOK_BASE_URL = "https://github.com/smartpapers/smartpapers/blob/main/docs/runbooks"
DEFAULT_GRAFANA_URL = "https://grafana.example.com"
