"""The student demo page (docs/demo-page.md) in a real headless browser: Debian's Chromium
driven by Selenium through /usr/bin/chromedriver (``scripts/install-tools.sh chromium``;
Selenium Manager never downloads anything), against a real local stack — the API with
SMARTPAPERS_DEMO_PAGE=true and one worker process.

A student loads the demo paper, answers it, submits and sees the grade: pushed over SSE,
and with ``?transport=poll`` by polling. The error states are the API's real answers (404,
422, 429) or, where a healthy stack cannot produce them on demand (503, a network error, a
failed job, a 201 from the rollback mode), the browser's fetch answering for the API.
Waits are on DOM state (``#status[data-state]``), never on time."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from smartpapers.devstack.demo import DEMO_PAPER_ID, demo_answers
from tests.conftest import Backends, drop_stack, make_stack
from tests.e2e.demo_browser import (
    STUB,
    answer,
    open_page,
    requested,
    set_field,
    start_chromium,
    submit_and_wait_for_score,
    text,
    wait_state,
)

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "reports" / "demo-page" / "demo-page.png"
RATE_LIMIT = 3
"""Submissions per student per minute on this stack (the 429 case exhausts it)."""


@pytest.fixture(scope="module")
async def demo_api(
    backends: Backends, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """The API (demo page on) and one worker on the session's servers; the demo paper."""
    slice_ = await make_stack(backends)
    local = slice_.local(tmp_path_factory.mktemp("demo-stack"))
    try:
        await asyncio.to_thread(
            local.start_api,
            SMARTPAPERS_DEMO_PAGE="true",
            SMARTPAPERS_RATE_LIMIT_SUBMISSIONS=str(RATE_LIMIT),
            # Retry-After stays the default 2 s: the backlog estimate would depend on when
            # the sampler last ran relative to the previous case's job
            SMARTPAPERS_QUEUE_METRICS_INTERVAL_SECONDS="0",
        )
        await asyncio.to_thread(local.seed)
        await asyncio.to_thread(local.set_workers, 1, SMARTPAPERS_SQS_WAIT_TIME_SECONDS="1")
        yield local.api_url
    finally:
        await asyncio.to_thread(local.stop)
        await drop_stack(slice_)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    driver = start_chromium(tmp_path_factory.mktemp("chromium"))
    try:
        yield driver
    finally:
        driver.quit()


# -- the student's flow -----------------------------------------------------------------------


def test_a_student_submits_and_the_result_is_pushed(browser: WebDriver, demo_api: str) -> None:
    open_page(browser, demo_api, student="s-sse")
    assert browser.current_url.startswith(f"{demo_api}/demo/")
    assert browser.find_element(By.ID, "paper-id").get_attribute("value") == DEMO_PAPER_ID
    assert len(browser.find_elements(By.CSS_SELECTOR, "#questions input")) == 20
    seen = submit_and_wait_for_score(browser, 13)
    assert seen[0] == "submitting" and "queued" in seen and seen[-1] == "completed", seen
    assert set(seen) <= {"submitting", "queued", "processing", "completed"}, seen
    status = browser.find_element(By.ID, "status")
    assert status.get_attribute("data-transport") == "sse"
    assert "Server-Sent Events" in text(browser, "transport")
    urls = requested(browser)
    assert any(u.endswith("/events") for u in urls), urls
    assert not [u for u in urls if re.search(r"/status/[^/]+$", u)], urls  # never polled
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))
    logger.info("screenshot of the graded page: %s", SCREENSHOT)


def test_the_polling_fallback_reaches_the_result(browser: WebDriver, demo_api: str) -> None:
    open_page(browser, demo_api, student="s-poll", transport="poll")
    seen = submit_and_wait_for_score(browser, 7)
    assert "queued" in seen and seen[-1] == "completed", seen
    assert browser.find_element(By.ID, "status").get_attribute("data-transport") == "poll"
    urls = requested(browser)
    assert not [u for u in urls if u.endswith("/events")], urls
    assert [u for u in urls if re.search(r"/api/submissions/status/[^/]+$", u)], urls


# -- the API's error answers ------------------------------------------------------------------


def test_unknown_paper_is_404_and_invalid_submission_is_422(
    browser: WebDriver, demo_api: str
) -> None:
    open_page(browser, demo_api, expect="not_found", paper="no-such-paper")
    assert "no-such-paper" in text(browser, "status-text")
    assert browser.find_element(By.ID, "quiz").get_attribute("hidden") is not None

    set_field(browser, "paper-id", DEMO_PAPER_ID)
    browser.find_element(By.ID, "load").click()
    wait_state(browser, "ready")
    set_field(browser, "student-id", "not a valid id!")
    answer(browser, demo_answers(20)[:3])
    browser.find_element(By.ID, "submit").click()
    wait_state(browser, "invalid")
    details = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#details li")]
    assert any(d.startswith("studentId:") and "pattern" in d for d in details), details
    assert browser.find_element(By.ID, "submit").is_enabled()  # fix it and submit again


def test_rate_limited_says_when_to_retry(browser: WebDriver, demo_api: str) -> None:
    body = {
        "studentId": "s-limited",
        "paperId": DEMO_PAPER_ID,
        "instituteId": "demo-institute",
        "answers": demo_answers(1),
    }
    with httpx.Client(base_url=demo_api, timeout=10) as client:
        for _ in range(RATE_LIMIT):
            assert client.post("/api/submissions", json=body).status_code == 202
    open_page(browser, demo_api, student="s-limited")
    answer(browser, demo_answers(20))
    browser.find_element(By.ID, "submit").click()
    wait_state(browser, "rate_limited")
    assert re.fullmatch(r"Try again in \d+ s \(at .+\)\.", text(browser, "transport"))
    assert not browser.find_element(By.ID, "submit").is_enabled()


# -- states a healthy stack does not produce on demand: the page's fetch answers instead ------


@pytest.mark.parametrize(
    ("rule", "final", "words"),
    [
        ("503", "unavailable", r"Try again in [1-7] s \(at .+\)\."),
        ("network", "network", r""),
        ("failed", "failed", r""),
        ("201", "completed", r"Graded in the request \(201"),
    ],
)
def test_states_from_stubbed_answers(
    browser: WebDriver, demo_api: str, rule: str, final: str, words: str
) -> None:
    open_page(browser, demo_api, student=f"s-stub-{rule}")
    browser.execute_script(STUB, rule)
    answer(browser, demo_answers(19))
    browser.find_element(By.ID, "submit").click()
    wait_state(browser, final)
    assert re.match(words, text(browser, "transport")), text(browser, "transport")
    if rule == "failed":
        assert "paper disappeared" in [
            li.text for li in browser.find_elements(By.CSS_SELECTOR, "#details li")
        ]
    if rule == "201":
        assert (text(browser, "score"), text(browser, "total")) == ("19", "20")
        assert browser.find_element(By.ID, "status").get_attribute("data-transport") == "sync"
    if rule == "network":
        assert "did not answer" in text(browser, "status-text")
