"""Driving the demo page in headless Chromium (tests/e2e/test_demo_page.py): start the
browser, wait on the page's state, fill in answers, read what it fetched."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from smartpapers.devstack.demo import demo_answers

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT = 20.0
"""Longest wait for one page state, in seconds."""


def start_chromium(profile: Path) -> WebDriver:
    """Headless Chromium; a browser that cannot start FAILS the run with the reason."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: install Debian's chromium and chromium-driver "
            "with `bash scripts/install-tools.sh chromium`",
            pytrace=False,
        )
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1000,1000",
        f"--user-data-dir={profile}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(arg)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium refuses to sandbox as root
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(profile / "driver.log"))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SE_OFFLINE", "true")  # Selenium Manager: never a download
        try:
            driver = webdriver.Chrome(service=service, options=options)
        except WebDriverException as e:
            log = profile / "driver.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            pytest.fail(
                f"headless Chromium did not start ({CHROMIUM} through {CHROMEDRIVER}): "
                f"{e.msg}\n{tail}",
                pytrace=False,
            )
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    return driver


def text(driver: WebDriver, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def state(driver: WebDriver) -> str:
    return str(driver.find_element(By.ID, "status").get_attribute("data-state"))


def wait_state(driver: WebDriver, *states: str, timeout: float = WAIT) -> str:
    """Wait until ``#status[data-state]`` is one of ``states``; the page's own words and
    its console when it is not."""
    try:
        found: str = WebDriverWait(driver, timeout, poll_frequency=0.05).until(
            lambda d: state(d) if state(d) in states else False
        )
        return found
    except TimeoutException:
        entries = driver.get_log("browser")  # type: ignore[no-untyped-call]
        console = "\n".join(str(e.get("message")) for e in entries)
        raise AssertionError(
            f"the page stayed {state(driver)!r}, not {states}, for {timeout:.0f} s: "
            f"{text(driver, 'status-title')!r} {text(driver, 'status-text')!r}\n{console}"
        ) from None


def open_page(driver: WebDriver, api: str, *, expect: str = "ready", **params: str) -> None:
    """/demo (the redirect to /demo/ included) with these query parameters; the paper loads
    by itself."""
    driver.get(f"{api}/demo" + (f"?{urlencode(params)}" if params else ""))
    WebDriverWait(driver, WAIT).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true"
    )
    wait_state(driver, expect)
    # every data-state the page goes through from now on: each change's old value (the
    # observer may see several changes at once), see states_seen
    driver.execute_script(
        """
        window.oldStates = [];
        new MutationObserver((records) => {
          for (const r of records) window.oldStates.push(r.oldValue);
        }).observe(document.getElementById("status"),
                   {attributeFilter: ["data-state"], attributeOldValue: true});
        """
    )


def states_seen(driver: WebDriver) -> list[str]:
    """The states since :func:`open_page`'s ``expect``, repeats folded, the current last."""
    old: list[str] = driver.execute_script("return window.oldStates;")
    seen: list[str] = []
    for s in [*old[1:], state(driver)]:
        if not seen or seen[-1] != s:
            seen.append(s)
    return seen


def answer(driver: WebDriver, answers: list[dict[str, Any]]) -> None:
    for a in answers:
        field = driver.find_element(By.CSS_SELECTOR, f'input[data-question-id="{a["questionId"]}"]')
        field.clear()
        field.send_keys(str(a["answer"]))


def set_field(driver: WebDriver, element_id: str, value: str) -> None:
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(value)


def requested(driver: WebDriver) -> list[str]:
    """URLs the page has fetched (the Resource Timing entries)."""
    urls: list[str] = driver.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name);"
    )
    return urls


def submit_and_wait_for_score(driver: WebDriver, correct: int) -> list[str]:
    answer(driver, demo_answers(correct))
    driver.find_element(By.ID, "submit").click()
    wait_state(driver, "completed", "failed", "network", "unavailable", "invalid")
    assert state(driver) == "completed", text(driver, "status-text")
    assert (text(driver, "score"), text(driver, "total")) == (str(correct), "20")
    return states_seen(driver)


# what the page's fetch answers for the API in the states a healthy stack does not produce
# on demand (503, a network error, a failed job, a 201); the argument names the case
STUB = """
const [rule] = arguments;
const real = window.fetch.bind(window);
const json = (status, body, headers = {}) => new Response(JSON.stringify(body), {
  status, headers: {"Content-Type": "application/json", ...headers}});
window.fetch = (url, init = {}) => {
  const post = (init.method ?? "GET") === "POST";
  if (rule === "503" && post) {
    return Promise.resolve(json(503, {message: "the service is overloaded",
      error: "overloaded"}, {"Retry-After": "7"}));
  }
  if (rule === "network" && post) return Promise.reject(new TypeError("Failed to fetch"));
  if (rule === "201" && post) {
    return Promise.resolve(json(201, {submissionId: "sub-1", score: 19, total: 20},
      {Location: "/api/submissions/status/job-1"}));
  }
  if (rule === "failed" && post) {
    return Promise.resolve(json(202, {message: "queued", jobId: "job-1", status: "queued",
      statusUrl: "/api/submissions/status/job-1"}));
  }
  if (rule === "failed" && String(url).endsWith("/events")) {
    const job = {jobId: "job-1", status: "failed", result: null, error: "paper disappeared"};
    return Promise.resolve(new Response(`event: status\\ndata: ${JSON.stringify(job)}\\n\\n`,
      {headers: {"Content-Type": "text/event-stream"}}));
  }
  return real(url, init);
};
"""
