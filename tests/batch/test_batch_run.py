"""A real batch: one honest result per submission, reports that agree, the cache, limits and leftovers."""

from __future__ import annotations

import csv
import fcntl
import json
import shutil
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fixtures.build import fixture_dir
from grader.batch.cache import cache_key
from grader.batch.isolated import run_isolated
from grader.batch.model import Job, Snapshot, Status, Submission, SubmissionResult
from grader.batch.roster import load_roster
from grader.batch.runner import BatchRun, run_batch
from grader.errors import UsageError
from grader.model import GradeRequest, Report
from grader.reporters.html import floor_to, number
from grader.reporters.json_report import from_dict
from tests.batch.conftest import FAST_CHECKS, batch_settings, clone, processes_with
from tests.probes.gitrepo import commit, git


def _out(run: BatchRun) -> Path:
    return run.outputs[0].parent


def _by_student(run: BatchRun) -> dict[str, SubmissionResult]:
    return {r.student: r for r in run.results}


def _report(run: BatchRun, result: SubmissionResult) -> Report:
    assert result.json_report is not None
    return from_dict(json.loads((_out(run) / result.slug / result.json_report).read_text(encoding="utf-8")))


def _points(score: float | None) -> str:
    return "" if score is None else number(floor_to(score, 1))


def test_every_submission_has_one_honest_result(graded_class: BatchRun, class_folder: Path) -> None:
    results = _by_student(graded_class)
    assert list(results) == ["alice", "bob", "carol", "dan", "erin"]
    assert not graded_class.pending and not graded_class.all_graded
    for name in ("alice", "bob", "carol"):
        result = results[name]
        assert result.status is Status.GRADED, result.reason
        report = _report(graded_class, result)
        assert (result.score, result.passed) == (report.score, report.passed)
        assert report.target.path == str((class_folder / name).resolve())
        assert report.options["batch"]["student"] == name
    alice = results["alice"]
    assert alice.commit == git(class_folder / "alice", "rev-parse", "HEAD").strip() and alice.branch == "main"
    assert _report(graded_class, alice).target.commit == alice.commit
    assert alice.passed and not results["bob"].passed  # express-flawed has a secret in its history
    carol = results["carol"]
    assert carol.commit is None and carol.content_hash and "plain folder" in carol.note
    dan, erin = results["dan"], results["erin"]
    assert (dan.status, dan.reason) == (Status.FAILED, f"{dan.source}: the repository has no commit")
    assert erin.status is Status.FAILED and "grade.toml" in erin.reason and not erin.reports


def test_every_result_is_stored_next_to_its_reports(graded_class: BatchRun) -> None:
    out = _out(graded_class)
    for result in graded_class.results:
        stored = json.loads((out / result.slug / "result.json").read_text(encoding="utf-8"))
        assert stored["status"] == result.status.value and stored["score"] == result.score
        for name in result.reports:
            assert (out / result.slug / name).is_file()


def test_the_gradebook_agrees_with_the_student_reports(graded_class: BatchRun) -> None:
    with (_out(graded_class) / "gradebook.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    criteria = [c for c in rows[0] if c.startswith("C")]
    assert criteria == ["C1 Push project to GitHub, add README"]
    assert [row["student"] for row in rows] == ["alice", "bob", "carol", "dan", "erin"]
    for row, result in zip(rows, graded_class.results, strict=True):
        assert row["status"] == result.status.value
        if result.status is not Status.GRADED:
            assert row["score"] == "" and row["C1 Push project to GitHub, add README"] == ""
            assert result.reason in row["problems"]
            continue
        report = _report(graded_class, result)
        assert row["score"] == _points(report.score)
        assert row["passed"] == ("yes" if report.passed else "no")
        assert row["commit"] == (report.target.commit if result.commit else "")
        for header, criterion in zip(criteria, report.criteria, strict=True):
            assert header == f"C1 {criterion.text}"
            assert row[header] == _points(None if criterion.score is None else criterion.score * 100)


def test_the_index_lists_every_submission_with_its_reports(graded_class: BatchRun) -> None:
    index = json.loads((_out(graded_class) / "index.json").read_text(encoding="utf-8"))
    assert index["schema"] == "grade-batch-index/1" and index["phase"] == 1
    assert index["counts"] == {
        "submissions": 5, "graded": 3, "passed": 1, "failed": 2, "incomplete": 0, "not_graded": 2, "pending": 0,
    }  # fmt: skip
    assert index["settings"]["request"]["only"] == list(FAST_CHECKS)
    entries = {e["student"]: e for e in index["submissions"]}
    assert entries["alice"]["report_html"] == "alice/grade-alice-phase1.html"
    assert entries["alice"]["score"] == _report(graded_class, _by_student(graded_class)["alice"]).score
    assert entries["dan"]["problems"] == [f"failed to grade: {entries['dan']['reason']}"]
    assert index["criteria"][0]["scored"] == 3 and index["criteria"][0]["passed"] == 1


def test_a_rerun_reuses_every_finished_result(graded_class: BatchRun, class_folder: Path) -> None:
    again = run_batch(load_roster(class_folder), batch_settings(_out(graded_class)), quiet=True)
    cached = {r.student for r in again.results if r.cached}
    assert cached == {"alice", "bob", "carol", "erin"}  # dan has no commit: nothing to cache, checked again
    before = _by_student(graded_class)
    assert all(r == before[r.student] for r in again.results if r.cached)  # the same records, finished_at too


def test_only_what_changed_is_regraded_and_force_regrades_all(tmp_path: Path, class_folder: Path) -> None:
    subs = tmp_path / "subs"
    subs.mkdir()
    repo = clone(class_folder / "alice", subs / "git-one")
    shutil.copytree(fixture_dir("python-flask"), subs / "folder-one")
    settings = batch_settings(tmp_path / "out")
    first = _by_student(run_batch(load_roster(subs), settings, quiet=True))
    assert not any(r.cached for r in first.values())
    newer = commit(repo, "Late fix", {"NOTES.md": "x"})
    second = _by_student(run_batch(load_roster(subs), settings, quiet=True))
    assert not second["git-one"].cached and second["git-one"].commit == newer
    assert second["folder-one"].cached and second["folder-one"] == first["folder-one"]
    (subs / "folder-one" / "README.md").write_text("# changed\n")
    third = _by_student(run_batch(load_roster(subs), settings, quiet=True))
    assert third["git-one"].cached and not third["folder-one"].cached
    forced = run_batch(load_roster(subs), replace(settings, force=True), quiet=True)
    assert not any(r.cached for r in forced.results)
    assert all(r.status is Status.GRADED for r in forced.results)


def test_the_cache_key_covers_what_changes_a_result() -> None:
    base = cache_key("abc", "curriculum-sha", 1, {"request": {"only": ["x"]}})
    assert base == cache_key("abc", "curriculum-sha", 1, {"request": {"only": ["x"]}})
    assert base != cache_key("abd", "curriculum-sha", 1, {"request": {"only": ["x"]}})
    assert base != cache_key("abc", "other-sha", 1, {"request": {"only": ["x"]}})
    assert base != cache_key("abc", "curriculum-sha", 2, {"request": {"only": ["x"]}})
    assert base != cache_key("abc", "curriculum-sha", 1, {"request": {"only": ["y"]}})


HANG, ESCAPED, DAEMON = "sleep 7301", "sleep 7302", "sleep 7303"


def test_a_hang_is_killed_with_everything_it_started(tmp_path: Path) -> None:
    """One service never answers (and left a process in a session of its own): over the wall limit the
    whole tree goes. Another fails to start but leaves a detached daemon behind: it goes too."""
    subs = tmp_path / "subs"
    for name, start, ready in (("hangs", f"setsid {ESCAPED} & exec {HANG}", 120), ("daemon", f"setsid {DAEMON} &", 1)):
        (subs / name).mkdir(parents=True)
        (subs / name / "grade.toml").write_text(f'[service]\nstart = "{start}"\nready_timeout = {ready}\n')
    only_start = GradeRequest(Path("."), 1, only=("service.start",))
    settings = batch_settings(tmp_path / "out", timeout_s=20.0, request=only_start)
    run = run_batch(load_roster(subs), settings, quiet=True)
    results = _by_student(run)
    assert results["hangs"].status is Status.TIMED_OUT
    assert results["hangs"].reason.startswith("over the 20 s limit")
    assert results["daemon"].status is Status.GRADED and results["daemon"].passed is False
    assert processes_with(HANG) == processes_with(ESCAPED) == processes_with(DAEMON) == []
    index = json.loads((_out(run) / "index.json").read_text(encoding="utf-8"))
    problems = {e["student"]: e["problems"] for e in index["submissions"]}
    assert problems["hangs"] == [f"timed out: {results['hangs'].reason}"]
    assert problems["daemon"][0].startswith("The service starts and answers: fail: ")


def _job(folder: Path, request: dict[str, object]) -> Job:
    snapshot = Snapshot("folder", str(folder), None, None, "x", "a plain folder")
    return Job(Submission("zed", str(folder), "zed"), snapshot, request, ("json",), "k", 60)


def test_a_grader_crash_on_one_submission_is_recorded(tmp_path: Path, class_folder: Path) -> None:
    job = _job(class_folder / "erin", {"phase": 1, "bogus": 1})
    result = run_isolated(job, tmp_path / "zed", threading.Event().is_set)
    assert result is not None and result.status is Status.CRASHED
    assert result.reason.startswith("internal error: TypeError") and "bogus" in result.reason


def test_a_stopped_job_leaves_no_result(tmp_path: Path, class_folder: Path) -> None:
    job = _job(class_folder / "erin", {"phase": 1})
    assert run_isolated(job, tmp_path / "zed", lambda: True) is None
    assert not (tmp_path / "zed" / "outcome.json").exists()


def test_with_a_deadline_the_commit_before_it_is_graded_and_later_ones_are_flagged(
    tmp_path: Path, class_folder: Path
) -> None:
    subs = tmp_path / "subs"
    subs.mkdir()
    repo = clone(class_folder / "alice", subs / "alice")
    deadline = datetime(2024, 4, 4, tzinfo=UTC)
    run = run_batch(load_roster(subs), batch_settings(tmp_path / "out", deadline=deadline), quiet=True)
    [result] = run.results
    assert result.commit == git(repo, "rev-parse", "HEAD~3").strip()
    assert result.late_total == 3 and result.deadline == "2024-04-04T00:00:00+00:00"
    report = _report(run, result)
    assert report.target.commit == result.commit
    assert report.options["batch"]["late_total"] == 3
    assert [c["subject"] for c in report.options["batch"]["late_commits"]][-1] == (
        "Add pytest suite for routes, validation and errors"
    )
    page = (_out(run) / "alice" / result.reports[0]).read_text(encoding="utf-8")
    assert "before the deadline 2024-04-04T00:00:00+00:00; 3 later commit(s) not graded</strong>" in page
    overview = (_out(run) / "class-overview.html").read_text(encoding="utf-8")
    assert 'id="late"' in overview and "Serve an OpenAPI document at /openapi.json" in overview


def test_two_batches_never_write_to_one_folder(tmp_path: Path, class_folder: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with (out / ".batch.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(UsageError, match=f"another `grade batch` is writing to {out}"):
            run_batch(load_roster(class_folder), batch_settings(out), quiet=True)
    assert not (out / "alice").exists()
