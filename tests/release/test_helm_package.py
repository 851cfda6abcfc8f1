"""``helm package`` of the chart: it packages, its metadata carries the project's version, and
the images it deploys default to that version's tag (appVersion)."""

from __future__ import annotations

from pathlib import Path

from smartpapers.devstack.release import chart_metadata
from tests.conftest import REPO
from tests.deploy.conftest import CHART, CI_DIR, helm, render

VERSION = (REPO / "VERSION").read_text().strip()


def test_the_packaged_chart_carries_the_project_version(tmp_path: Path) -> None:
    out = helm("package", str(CHART), "--destination", str(tmp_path))
    packaged = tmp_path / f"smartpapers-{VERSION}.tgz"
    assert packaged.is_file(), out.stdout
    meta = chart_metadata(packaged)
    assert meta["name"] == "smartpapers"
    assert meta["version"] == VERSION and meta["appVersion"] == VERSION


def test_the_default_image_tag_is_the_app_version() -> None:
    docs = render([CI_DIR / "minimal-values.yaml"])
    images = {
        c["image"]
        for d in docs
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {
        f"ghcr.io/smartpapers/smartpapers-api:{VERSION}",
        f"ghcr.io/smartpapers/smartpapers-worker:{VERSION}",
    }
