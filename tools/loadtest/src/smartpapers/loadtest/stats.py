"""What a load-test run measured: per-submission records → a summary, its verdict, its text.

Pure functions, no I/O: times are seconds relative to the start of the run.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

FINAL_STATES = ("completed", "failed")


@dataclass
class Record:
    """One submission as the client saw it."""

    index: int
    student_id: str
    expected_score: float | None = None
    sent_at: float | None = None
    #: when the POST answered (whatever its status)
    answered_at: float | None = None
    #: HTTP status of the POST, or ``None`` when it raised a transport error
    status_code: int | None = None
    #: transport error class name (``ConnectError``, ``ReadTimeout`` …) when there was no answer
    transport_error: str | None = None
    job_id: str | None = None
    #: last status seen by polling (``queued``/``processing``/``completed``/``failed``)
    final_status: str | None = None
    finished_at: float | None = None
    score: float | None = None
    total: float | None = None
    error: str | None = None
    polls: int = 0

    @property
    def accepted(self) -> bool:
        """202 with a jobId, or 201: graded in the request (sync mode, ``Prefer: wait``)."""
        return self.status_code in (201, 202) and self.job_id is not None

    @property
    def accept_latency(self) -> float | None:
        if self.sent_at is None or self.answered_at is None or not self.accepted:
            return None
        return self.answered_at - self.sent_at


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between closest ranks (like
    ``numpy.percentile``'s default); ``None`` for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Latency:
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None
    mean: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Latency:
        return cls(
            p50=percentile(values, 50),
            p95=percentile(values, 95),
            p99=percentile(values, 99),
            max=max(values) if values else None,
            mean=sum(values) / len(values) if values else None,
        )


@dataclass
class Summary:
    total: int
    sent: int
    accepted: int
    #: status code (as text, JSON keys are strings) or transport error name → count
    rejected: dict[str, int]
    waited: bool
    completed: int
    failed: int
    #: accepted but not in a final state when the timeout expired (0 when not waited)
    lost: int
    #: jobIds returned for more than one submission
    duplicated_job_ids: int
    #: completed with a score other than the expected one (or a total other than the paper's)
    wrong_scores: int
    #: completed jobs whose score could be checked
    verified_scores: int
    accept_latency_seconds: Latency
    #: first send → last acceptance
    time_to_accept_all_seconds: float | None
    #: first send → last job in a final state (``None`` when some never got there)
    time_to_complete_all_seconds: float | None
    accepted_per_second: float | None
    completed_per_second: float | None
    #: the codes that do not count as unexpected rejections (``--allow-reject``)
    allowed_rejects: list[str] = field(default_factory=list)

    @property
    def unexpected_rejects(self) -> int:
        return sum(n for code, n in self.rejected.items() if code not in self.allowed_rejects)

    def problems(self) -> list[str]:
        """Why the run failed; empty when it passed."""
        out = []
        if self.unexpected_rejects:
            detail = ", ".join(f"{code}: {n}" for code, n in sorted(self.rejected.items()))
            out.append(f"{self.unexpected_rejects} submissions rejected ({detail})")
        if self.lost:
            out.append(f"{self.lost} accepted jobs not final within the timeout (lost)")
        if self.failed:
            out.append(f"{self.failed} jobs failed")
        if self.duplicated_job_ids:
            out.append(f"{self.duplicated_job_ids} jobIds returned for more than one submission")
        if self.wrong_scores:
            out.append(f"{self.wrong_scores} jobs graded with a wrong score")
        return out

    @property
    def exit_code(self) -> int:
        return 1 if self.problems() else 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["unexpected_rejects"] = self.unexpected_rejects
        data["problems"] = self.problems()
        data["passed"] = not data["problems"]
        return data


def _reject_key(r: Record) -> str:
    return str(r.status_code) if r.status_code is not None else (r.transport_error or "error")


def _span(times: Iterable[float | None], start: float) -> float | None:
    present = [t for t in times if t is not None]
    return max(present) - start if present else None


def _rate(count: int, seconds: float | None) -> float | None:
    if not count or not seconds or seconds <= 0:
        return None
    return count / seconds


def summarize(
    records: Sequence[Record],
    *,
    waited: bool,
    allowed_rejects: Iterable[int | str] = (),
    paper_total: float | None = None,
    score_tolerance: float = 1e-9,
) -> Summary:
    """``paper_total``: the paper's ``totalMarks``; a completed job reporting another total
    counts as wrongly scored."""
    sent = [r for r in records if r.sent_at is not None]
    accepted = [r for r in sent if r.accepted]
    rejected = Counter(_reject_key(r) for r in sent if not r.accepted)
    start = min((r.sent_at for r in sent if r.sent_at is not None), default=0.0)

    job_counts = Counter(r.job_id for r in accepted)
    duplicated = sum(1 for n in job_counts.values() if n > 1)

    completed = [r for r in accepted if r.final_status == "completed"]
    failed = [r for r in accepted if r.final_status == "failed"]
    lost = [r for r in accepted if r.final_status not in FINAL_STATES] if waited else []

    wrong = 0
    verified = 0
    for r in completed:
        bad_total = paper_total is not None and r.total != paper_total
        if r.expected_score is None:
            wrong += int(bad_total)
            continue
        verified += 1
        if bad_total or r.score is None or abs(r.score - r.expected_score) > score_tolerance:
            wrong += 1

    time_to_accept = _span((r.answered_at for r in accepted), start)
    time_to_complete: float | None = None
    if waited and accepted and not lost:
        time_to_complete = _span((r.finished_at for r in accepted), start)
    completion_span = _span((r.finished_at for r in completed), start)

    return Summary(
        total=len(records),
        sent=len(sent),
        accepted=len(accepted),
        rejected=dict(sorted(rejected.items())),
        waited=waited,
        completed=len(completed),
        failed=len(failed),
        lost=len(lost),
        duplicated_job_ids=duplicated,
        wrong_scores=wrong,
        verified_scores=verified,
        accept_latency_seconds=Latency.of(
            [lat for r in accepted if (lat := r.accept_latency) is not None]
        ),
        time_to_accept_all_seconds=time_to_accept,
        time_to_complete_all_seconds=time_to_complete,
        accepted_per_second=_rate(len(accepted), time_to_accept),
        completed_per_second=_rate(len(completed), completion_span),
        allowed_rejects=sorted(str(c) for c in allowed_rejects),
    )


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f} s"


def _per_s(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1f}/s ({rate * 60:.0f}/min)"


def format_summary(s: Summary) -> str:
    lat = s.accept_latency_seconds
    rejected = ", ".join(f"{code}: {n}" for code, n in s.rejected.items()) or "none"
    lines = [
        f"submissions     {s.sent} sent of {s.total}",
        f"accepted        {s.accepted}",
        f"rejected        {sum(s.rejected.values())} ({rejected})",
    ]
    if s.waited:
        lines += [
            f"completed       {s.completed}",
            f"failed          {s.failed}",
            f"lost            {s.lost}  (accepted, not final by the timeout)",
        ]
    else:
        lines.append("completion      not waited for (--no-wait)")
    lines += [
        f"duplicated ids  {s.duplicated_job_ids}",
        f"wrong scores    {s.wrong_scores}  ({s.verified_scores} scores verified)",
        f"accept latency  p50 {_ms(lat.p50)}  p95 {_ms(lat.p95)}  p99 {_ms(lat.p99)}"
        f"  max {_ms(lat.max)}",
        f"accept all      {_s(s.time_to_accept_all_seconds)}",
    ]
    if s.waited:
        lines.append(f"complete all    {_s(s.time_to_complete_all_seconds)}")
    lines.append(f"throughput      accepted {_per_s(s.accepted_per_second)}")
    if s.waited:
        lines.append(f"                completed {_per_s(s.completed_per_second)}")
    problems = s.problems()
    lines.append("result          " + ("PASS" if not problems else "FAIL: " + "; ".join(problems)))
    return "\n".join(lines)
