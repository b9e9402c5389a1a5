"""The class overview in a real browser: rows match the student reports, sorting works, nothing else loads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from grader.batch.model import Status
from grader.batch.overview import write_outputs
from grader.batch.runner import BatchRun
from grader.reporters.html import points
from tests.batch.test_overview import META, PAYLOAD, hostile_results
from tests.reporters.test_html_browser import browser  # noqa: F401 - the shared headless chromium fixture


@pytest.fixture
def page(browser: Browser, graded_class: BatchRun) -> Iterator[tuple[Page, list[str], list[str]]]:  # noqa: F811
    """The overview page: (page, requests made, console errors)."""
    url = graded_class.outputs[0].resolve().as_uri()
    opened = browser.new_page(viewport={"width": 1200, "height": 900})
    requests: list[str] = []
    errors: list[str] = []
    opened.on("request", lambda r: requests.append(r.url))
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.goto(url, wait_until="load")
    yield opened, requests, errors
    opened.close()


def _column(page: Page, css: str) -> list[str]:
    return [cell.inner_text().strip() for cell in page.locator(f"#students tbody {css}").all()]


def test_each_row_shows_what_the_student_report_says(
    page: tuple[Page, list[str], list[str]], graded_class: BatchRun
) -> None:
    view, _, _ = page
    out = graded_class.outputs[0].parent
    rows = view.locator("#students tbody tr")
    assert rows.count() == len(graded_class.results)
    for result in graded_class.results:
        row = view.locator(f'#students tbody tr[data-slug="{result.slug}"]')
        assert row.locator("td.student").inner_text() == result.student
        if result.status is not Status.GRADED:
            assert row.locator("td.score").inner_text() == "—"
            assert result.reason in view.locator(f'#problems tr[data-slug="{result.slug}"]').inner_text()
            continue
        assert result.json_report is not None
        report = json.loads((out / result.slug / result.json_report).read_text(encoding="utf-8"))
        assert row.locator("td.score").inner_text() == points(report["score"])
        assert row.locator("td.verdict").inner_text() == ("passed" if report["passed"] else "failed")
        [criterion] = report["criteria"]
        assert row.locator("td.cell").inner_text() == points(criterion["score"] * 100)
        link = row.locator("a", has_text="report")
        assert link.get_attribute("href") == f"{result.slug}/{result.reports[0]}"
        assert (out / str(link.get_attribute("href"))).is_file()
    assert view.locator("#not-graded").inner_text() == "2"


def test_sorting_by_score_needs_only_the_hashed_script(page: tuple[Page, list[str], list[str]]) -> None:
    view, requests, errors = page
    by_score = view.locator("#students thead button", has_text="Score")
    by_score.click()
    scores = [float(s) if s != "—" else -1.0 for s in _column(view, "td.score")]
    assert scores == sorted(scores)
    by_score.click()
    assert [float(s) if s != "—" else -1.0 for s in _column(view, "td.score")] == sorted(scores, reverse=True)
    view.locator("#students thead button", has_text="Student").click()
    assert _column(view, "td.student") == sorted(_column(view, "td.student"))
    assert errors == []  # a CSP refusal would be logged here
    assert requests == [view.url]


def test_the_charts_are_drawn(page: tuple[Page, list[str], list[str]]) -> None:
    view, _, _ = page
    assert view.locator("#pass-rates rect.rate").count() == 1
    assert "1/3 · 33 %" in (view.locator("#pass-rates").text_content() or "")
    assert view.locator("#histogram rect.hist").count() == 10
    assert view.locator("#histogram").is_visible()


def test_learner_markup_never_runs(browser: Browser, tmp_path: Path) -> None:  # noqa: F811
    write_outputs(tmp_path, hostile_results(), META)
    view = browser.new_page()
    errors: list[str] = []
    view.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    view.goto((tmp_path / "class-overview.html").as_uri(), wait_until="load")
    view.locator("#students thead button", has_text="Student").click()
    assert view.evaluate("typeof window.__pwned") == "undefined"
    assert view.locator("img").count() == 0
    assert PAYLOAD in view.locator("#students tbody td.student").first.inner_text()
    assert PAYLOAD in view.locator("#late").inner_text()
    assert errors == []
    view.close()
