"""The student demo page (docs/demo-page.md) is for ``make dev``: no values file of the chart
turns it on, so a deployed API serves no /demo (SMARTPAPERS_DEMO_PAGE stays unset, false)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import CI_VALUES, ci_id, configmap_settings, render
from .hardening import api_container, api_settings


@pytest.mark.parametrize("values", CI_VALUES, ids=ci_id)
def test_the_chart_leaves_the_demo_page_off(values: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render([values])
    assert "SMARTPAPERS_DEMO_PAGE" not in configmap_settings(docs)
    assert "SMARTPAPERS_DEMO_PAGE" not in {e["name"] for e in api_container(docs).get("env", [])}
    assert api_settings(docs, monkeypatch).demo_page is False
