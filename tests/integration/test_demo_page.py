"""The demo page's serving: only with SMARTPAPERS_DEMO_PAGE, same-origin CSP, ES modules
with a JavaScript type, outside the OpenAPI schema. (The page itself runs in a real
browser in tests/e2e/test_demo_page.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from smartpapers.api.app import create_app
from tests.conftest import Stack
from tests.integration.conftest import api_settings


@pytest.fixture
async def demo_client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(api_settings(stack, demo_page=True))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            yield c


async def test_the_page_is_off_by_default(client: httpx.AsyncClient) -> None:
    for path in ("/demo", "/demo/", "/demo/smartpapers-client.js"):
        assert (await client.get(path)).status_code == 404


async def test_the_page_and_its_modules_when_on(demo_client: httpx.AsyncClient) -> None:
    redirect = await demo_client.get("/demo")
    assert redirect.status_code in (307, 308) and redirect.headers["location"].endswith("/demo/")
    # the page's query parameters (?paper=, ?transport=) survive the redirect
    redirect = await demo_client.get("/demo?paper=p1&transport=poll")
    assert redirect.headers["location"] == "/demo/?paper=p1&transport=poll"
    page = await demo_client.get("/demo/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert '<script type="module" src="demo.js">' in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-cache"
    css = await demo_client.get("/demo/demo.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    for module in ("demo.js", "smartpapers-client.js"):
        js = await demo_client.get(f"/demo/{module}")
        assert js.status_code == 200
        assert "default-src 'self'" in js.headers["content-security-policy"]
        assert js.headers["content-type"].split(";")[0] in (
            "text/javascript",
            "application/javascript",
        )
    client_js = (await demo_client.get("/demo/smartpapers-client.js")).text
    assert "export async function submitAndWait" in client_js
    assert (await demo_client.get("/demo/../settings.py")).status_code == 404
    schema = (await demo_client.get("/openapi.json")).json()
    assert not [p for p in schema["paths"] if p.startswith("/demo")]
