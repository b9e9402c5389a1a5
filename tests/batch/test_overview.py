"""The class outputs from hand-made results: learner text stays text, spreadsheets run no formula."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
from dataclasses import replace
from pathlib import Path

from grader.batch.model import LateCommit, Status, SubmissionResult
from grader.batch.overview import (
    GRADEBOOK_FILE,
    OVERVIEW_FILE,
    SORT_SCRIPT,
    BatchMeta,
    histogram,
    write_outputs,
)

PAYLOAD = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
DEADLINE, NOW = "2026-12-01T23:59:00+00:00", "2026-12-02T00:00:00+00:00"
META = BatchMeta("curriculum", "ab" * 32, 1, "Phase 1", DEADLINE, "0.1.0+x", NOW, {})


def hostile_results() -> list[SubmissionResult]:
    """Students whose names, failure reasons and commit subjects carry markup and formulas."""
    late = (LateCommit("f" * 40, "2026-12-02T10:00:00+00:00", PAYLOAD),)
    pwn = SubmissionResult(PAYLOAD, "pwn", "/srv/pwn", Status.FAILED, f"clone failed: {PAYLOAD}", "")
    formula = '=HYPERLINK("http://evil.test","x")'
    return [
        replace(pwn, late_total=1, late_commits=late, deadline=DEADLINE),
        SubmissionResult(formula, "formula", "-cmd|' /C calc'!A0", Status.CRASHED, "@SUM(1+1)", "k"),
    ]


def test_learner_text_is_escaped_in_the_overview(tmp_path: Path) -> None:
    write_outputs(tmp_path, hostile_results(), META)
    page = (tmp_path / OVERVIEW_FILE).read_text(encoding="utf-8")
    assert "<script>window" not in page and "<img" not in page
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page
    assert page.count("<script>") == 1  # the sorting script only


def test_the_csp_admits_exactly_the_sorting_script(tmp_path: Path) -> None:
    write_outputs(tmp_path, hostile_results(), META)
    page = (tmp_path / OVERVIEW_FILE).read_text(encoding="utf-8")
    [script] = re.findall(r"<script>(.*?)</script>", page, re.S)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert script == SORT_SCRIPT
    assert f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{digest}'" in page


def test_gradebook_cells_never_start_a_formula(tmp_path: Path) -> None:
    write_outputs(tmp_path, hostile_results(), META)
    rows = list(csv.reader(io.StringIO((tmp_path / GRADEBOOK_FILE).read_text(encoding="utf-8"))))
    assert rows[2][:3] == ['\'=HYPERLINK("http://evil.test","x")', "'-cmd|' /C calc'!A0", "crashed"]
    assert rows[0][8] == "problems" and rows[2][8] == "crashed: @SUM(1+1)"
    assert rows[1][0] == PAYLOAD  # not a formula: kept as it is
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row)


def test_the_histogram_puts_each_score_in_its_band() -> None:
    bins = histogram([0.0, 9.9, 10.0, 69.9, 70.0, 100.0, 100.0])
    assert [b.count for b in bins] == [2, 1, 0, 0, 0, 0, 1, 1, 0, 2]
    assert [b.label for b in bins][::9] == ["0-10", "90-100"]
    assert max(b.height for b in bins) == bins[0].height == bins[9].height > bins[1].height > 0
