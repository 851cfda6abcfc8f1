"""OpenTelemetry tracing (docs/observability.md#traces): off unless configured with the
standard ``OTEL_*`` variables, one trace per submission from the API's request to the
worker's finish.

- :func:`configure_tracing` runs once at each service's start-up. It installs a tracer
  provider only when ``OTEL_TRACES_EXPORTER`` or an ``OTEL_EXPORTER_OTLP_*ENDPOINT`` is set
  (and ``OTEL_SDK_DISABLED`` is not ``true``); the exporter (OTLP over HTTP, or the console
  with ``OTEL_TRACES_EXPORTER=console``) reads the rest
  of its configuration — endpoint, headers, ``OTEL_SERVICE_NAME`` … — from the environment
  itself. Tests pass an in-memory exporter instead. MongoDB and SQS client spans come from
  the OpenTelemetry instrumentation packages (pymongo, aiobotocore), not from this code.
- The trace travels with the job: :func:`current_traceparent` is stored in the job document
  (``traceparent``) and sent as the SQS message attribute ``traceparent``; the worker
  continues it with :func:`context_from`.

Without a provider every tracer is OpenTelemetry's no-op one: no spans, no cost beyond a
function call.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from opentelemetry import context, propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

logger = logging.getLogger(__name__)

TRACEPARENT = "traceparent"
_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def tracing_requested(environ: Mapping[str, str] = os.environ) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "")
    if exporter:
        return exporter.lower() != "none"
    return any(environ.get(name) for name in _ENDPOINT_VARIABLES)


def configure_tracing(
    service: str, *, exporter: SpanExporter | None = None
) -> TracerProvider | None:
    """Install the tracer provider and the client instrumentations, or nothing when tracing
    is not configured. ``exporter``: export there synchronously (tests)."""
    if exporter is None and not tracing_requested():
        return None
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)})
    provider = TracerProvider(resource=resource)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif os.environ.get("OTEL_TRACES_EXPORTER", "").lower() == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _instrument_clients()
    logger.info("tracing on (%s)", "in-memory" if exporter else "OTLP")
    return provider


def _instrument_clients() -> None:
    from opentelemetry.instrumentation.botocore import AiobotocoreInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

    for instrumentor in (PymongoInstrumentor(), AiobotocoreInstrumentor()):  # type: ignore[no-untyped-call]
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()


def tracing_enabled() -> bool:
    """A tracer provider is installed (:func:`configure_tracing` found a configuration)."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span (None when nothing is traced)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get(TRACEPARENT)


def context_from(traceparent: str | None) -> Context:
    """A context whose parent is ``traceparent`` (the current one when it is None)."""
    if not traceparent:
        return context.get_current()
    return propagate.extract({TRACEPARENT: traceparent})


def trace_id_of(span: trace.Span) -> str | None:
    ctx = span.get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None
