"""The chart's tracing values: off by default (no OTEL_* rendered), an OTLP endpoint turns
it on for both services with the sampler, and bad values are refused by the schema."""

from __future__ import annotations

from pathlib import Path

from .conftest import configmap_settings, render, render_fails
from .hardening import MINIMAL


def test_tracing_is_off_by_default() -> None:
    cm = configmap_settings(render([MINIMAL]))
    assert not [k for k in cm if k.startswith("OTEL_")]


def test_an_otlp_endpoint_turns_tracing_on(tmp_path: Path) -> None:
    values = tmp_path / "tracing.yaml"  # a ratio is a number: a values file, not --set
    values.write_text(
        "config:\n  tracing:\n    otlpEndpoint: http://otel-collector.monitoring:4318\n"
        "    sampleRatio: 0.25\n"
    )
    cm = configmap_settings(render([MINIMAL, values]))
    assert cm["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.monitoring:4318"
    assert cm["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
    assert cm["OTEL_TRACES_SAMPLER_ARG"] == "0.25"


def test_bad_tracing_values_are_refused() -> None:
    for bad, where in (
        ("config.tracing.otlpEndpoint=collector:4318", "/config/tracing/otlpEndpoint"),
        ("config.tracing.sampleRatio=2", "/config/tracing/sampleRatio"),
    ):
        assert where in render_fails([MINIMAL], [bad]), bad
