"""The Markdown summary: the verdict line, the table, the failures, and learner text kept inert."""

from __future__ import annotations

from dataclasses import replace

import pytest
from markdown_it import MarkdownIt

from grader.model import Report
from grader.reporters.markdown import MarkdownReporter, code, text
from tests.reporters.sample import hostile_report, sample_report

PAYLOAD = (
    "<script>alert(1)</script> <img src=x onerror=alert(2)> | pipe ` tick [link](https://evil.example) "
    "![img](x.png) *bold* _it_ ~~strike~~ $x^2$ &lt;b&gt;\n# heading\n\n- item"
)


def gfm(markdown: str) -> str:
    """Markdown rendered as GitHub would: CommonMark with raw HTML on, plus tables and strikethrough."""
    return str(MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown))


def render(report: Report) -> str:
    """The report as Markdown."""
    return MarkdownReporter().render(report)


def test_title_line_names_project_phase_score_pass_mark_and_verdict() -> None:
    title = render(sample_report()).splitlines()[0]
    assert title == ("## grade: Ada's Task API, Phase 1: Solidify Foundations: 85.8/100 (pass mark 70), INCOMPLETE")


@pytest.mark.parametrize(("passed", "verdict"), [(True, "PASSED"), (False, "FAILED")])
def test_verdict_of_a_complete_report(passed: bool, verdict: str) -> None:
    markdown = render(replace(sample_report(), incomplete=False, passed=passed))
    assert markdown.splitlines()[0].endswith(f", {verdict}")
    assert "**Incomplete:**" not in markdown


def test_table_lists_every_criterion_worst_first() -> None:
    html = gfm(render(sample_report()))
    rows = html.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    outcomes = [row.split("<td>")[1].split("</td>")[0] for row in rows]
    assert outcomes == ["ERROR", "FAIL", "FAIL", "WARN", "NOT RUN", "PASS", "MANUAL", "NOT APPLICABLE"]
    assert "<td>50+ unit tests passing</td>\n<td>78.8</td>" in html


def test_failures_have_evidence_locations_in_backticks_and_remediation() -> None:
    markdown = render(sample_report())
    failures = markdown[markdown.index("### Failures") :]
    assert "#### FAIL: Line coverage is at least 80% (`tests.coverage`)" in failures
    assert "62\\.5% of lines covered" not in failures  # no needless escapes of ordinary numbers
    assert "(measured: 62.5 % (threshold 80 %))" in failures
    assert "- failed: POST /tasks rejects an empty title `tests/tasks.test.js:42`" in failures
    assert "- test 'creates a task' has no assertion `tests/tasks.test.js:12 @ 3f9c2b7e41`" in failures
    assert "**How to fix:** Add tests that exercise the files with the least coverage" in failures
    assert "#### PASS" not in failures and "#### MANUAL" not in failures
    assert "**Required criteria not met:** 50+ unit tests passing." in markdown


def test_learner_text_cannot_inject_markup() -> None:
    markdown = render(hostile_report(PAYLOAD))
    html = gfm(markdown)
    for tag in ("<script", "<img", "<a ", "<em>", "<strong>alert", "<s>", "<h1", "<h2>heading", "<ul>\n<li>item"):
        assert tag not in html, tag
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 10
    assert "&amp;lt;b&amp;gt;" in html  # entities stay literal text too


def test_learner_pipes_and_newlines_keep_the_table_intact() -> None:
    report = sample_report()
    html = gfm(render(hostile_report(PAYLOAD)))
    table = html.split("<table>")[1].split("</table>")[0]
    assert table.count("<tr>") == len(report.criteria) + 1
    assert all(row.count("<td>") == 4 for row in table.split("<tbody>")[1].split("<tr>")[1:])


@pytest.mark.parametrize("path", ["src/`odd`.js", "``x", "a|b.js", "<b>.js"])
def test_code_spans_hold_any_path_verbatim(path: str) -> None:
    html = gfm(f"see {code(path)}")
    expected = path.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert f"<code>{expected}</code>" in html


@pytest.mark.parametrize("line", ["# not a heading", "1. not a list", "- not a list", "> not a quote", "=== no"])
def test_text_starting_like_a_block_stays_a_paragraph(line: str) -> None:
    assert gfm(text(line)) == f"<p>{line.replace('>', '&gt;')}</p>\n"
