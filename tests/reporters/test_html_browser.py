"""The HTML page in a real browser (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright

from grader.reporters import write_reports
from tests.reporters.sample import hostile_report

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]
PAYLOAD = "<script>window.__pwned = 'script'</script><img src=x onerror=\"window.__pwned = 'img'\">"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless chromium; skipped when it is not installed, except on CI where that is a failure."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def opened(browser: Browser, tmp_path: Path) -> Iterator[tuple[Page, str, list[str], list[str]]]:
    """The hostile report's page: (page, its file:// URL, every request made, console errors)."""
    [path] = write_reports(hostile_report(PAYLOAD), tmp_path, ["html"])
    url = path.resolve().as_uri()
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: _record(requests, request))
    page.on("console", lambda message: _record_error(errors, message))
    page.goto(url, wait_until="load")
    yield page, url, requests, errors
    page.close()


def _record(requests: list[str], request: Request) -> None:
    requests.append(request.url)


def _record_error(errors: list[str], message: ConsoleMessage) -> None:
    if message.type == "error":
        errors.append(message.text)


def test_the_page_loads_nothing_but_itself(opened: tuple[Page, str, list[str], list[str]]) -> None:
    page, url, requests, errors = opened
    page.wait_for_timeout(300)  # give a stray image or font the time to be requested
    assert requests == [url]
    assert errors == []


def test_learner_markup_shows_as_text_and_never_runs(opened: tuple[Page, str, list[str], list[str]]) -> None:
    page, _, _, _ = opened
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img").count() == 0
    assert PAYLOAD in page.locator("h1").inner_text()


def test_score_and_verdict_are_visible(opened: tuple[Page, str, list[str], list[str]], tmp_path: Path) -> None:
    page, _, _, _ = opened
    score = page.locator("#score")
    assert score.is_visible() and score.text_content() == "85.8"
    assert page.locator("#verdict").is_visible() and page.locator("#verdict").inner_text() == "INCOMPLETE"
    assert page.locator("#incomplete").is_visible()
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_hiding_passed_criteria_needs_no_javascript(opened: tuple[Page, str, list[str], list[str]]) -> None:
    page, _, _, _ = opened
    passed = page.locator("article.criterion.o-pass")
    assert passed.is_visible()
    page.locator("#show-ok").uncheck()
    assert passed.is_hidden()
    assert page.locator("article.criterion.o-fail").first.is_visible()


def test_a_latency_distribution_is_drawn_with_its_limit(opened: tuple[Page, str, list[str], list[str]]) -> None:
    page, _, _, _ = opened
    chart = page.locator("svg.cdf")
    assert chart.count() == 1 and chart.is_visible()
    points = chart.locator("polyline.curve").get_attribute("points") or ""
    assert points.count(",") == 7  # the origin and 6 points
    labels = chart.text_content() or ""
    assert "limit 300 ms" in labels and "95 %" in labels
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 80
