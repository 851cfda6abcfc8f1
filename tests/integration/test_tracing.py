"""OpenTelemetry on the real stack, in one process with an in-memory exporter: a submission's
spans — the API's request, accept, store, enqueue, then the worker's receive, claim, grade,
store, finish — are ONE trace, continued from the client's ``traceparent``; the job document
and the SQS message carry it; MongoDB and SQS client spans come from the instrumentations."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.botocore import AiobotocoreInstrumentor
from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once
from pymongo.asynchronous.database import AsyncDatabase

from smartpapers.api.app import create_app
from smartpapers.common.logging import TraceContextFilter
from smartpapers.common.tracing import configure_tracing, tracing_enabled
from smartpapers.devstack.demo import demo_paper
from tests.conftest import Stack
from tests.integration.conftest import RunWorker, api_settings
from tests.integration.test_api import submission

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def _reset_global_tracing() -> None:
    # OpenTelemetry allows one provider per process; the rest of the session runs untraced
    for instrumentor in (PymongoInstrumentor(), AiobotocoreInstrumentor()):  # type: ignore[no-untyped-call]
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    assert not tracing_enabled(), "another test left a tracer provider installed"
    spans = InMemorySpanExporter()
    provider = configure_tracing("smartpapers-test", exporter=spans)
    assert isinstance(provider, TracerProvider) and tracing_enabled()
    try:
        yield spans
    finally:
        provider.shutdown()
        _reset_global_tracing()


@pytest.fixture
async def traced_api(
    stack: Stack, exporter: InMemorySpanExporter
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(api_settings(stack, notifier_interval_seconds=0.1))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            assert (await c.post("/api/papers", json=demo_paper())).status_code == 201
            yield c


def trace_of(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.trace_id, "032x")


async def test_one_trace_from_the_request_to_the_workers_finish(
    traced_api: httpx.AsyncClient,
    exporter: InMemorySpanExporter,
    run_worker: RunWorker,
    mongo_db: AsyncDatabase[Any],
) -> None:
    r = await traced_api.post(
        "/api/submissions", json=submission(11), headers={"traceparent": CLIENT_TRACEPARENT}
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["jobId"]
    async with run_worker():
        for since in ("queued", "processing"):
            status = await traced_api.get(f"{r.json()['statusUrl']}?wait=20&since={since}")
            if status.json()["status"] == "completed":
                break
    assert status.json()["result"]["score"] == 11

    spans = exporter.get_finished_spans()
    ours = [s for s in spans if trace_of(s) == TRACE_ID]
    names = {s.name for s in ours}
    for expected in (
        "POST /api/submissions",  # the FastAPI instrumentation's server span
        "accept submission",
        "store job",
        "enqueue job",
        "process job",
        "receive",
        "claim",
        "grade",
        "store submission",
        "finish",
    ):
        assert expected in names, (expected, sorted(names))
    process = next(s for s in ours if s.name == "process job")
    assert process.attributes is not None and process.attributes["smartpapers.job_id"] == job_id
    assert process.attributes["smartpapers.outcome"] == "completed"
    accept = next(s for s in ours if s.name == "accept submission")
    assert process.parent is not None and accept.context is not None
    assert process.parent.span_id == accept.context.span_id  # the worker continues the API
    # the trace is stored with the job; client spans come from the instrumentation packages
    doc = await mongo_db["submission_jobs"].find_one({"_id": job_id})
    assert doc is not None and doc["traceparent"].split("-")[1] == TRACE_ID
    systems = {(s.attributes or {}).get("db.system") for s in spans}
    assert "mongodb" in systems
    assert any((s.attributes or {}).get("rpc.service") == "SQS" for s in spans)


def test_log_records_carry_the_current_trace_id() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    handler.addFilter(TraceContextFilter())
    log = logging.getLogger("tests.tracing")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    provider = TracerProvider()
    try:
        log.info("outside any span")
        with provider.get_tracer("t").start_as_current_span("s") as span:
            log.info("inside")
    finally:
        log.removeHandler(handler)
    assert not hasattr(records[0], "trace_id")
    assert records[1].trace_id == format(span.get_span_context().trace_id, "032x")  # type: ignore[attr-defined]
