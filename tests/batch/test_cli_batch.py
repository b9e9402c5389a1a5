"""`grade batch` as an instructor runs it: exit codes, usage errors, Ctrl-C mid-batch and the resumed run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from grader.batch.procs import descendants
from tests.batch.conftest import processes_with
from tests.test_cli import ROOT, assert_usage_error, grade

HANG = "sleep 7311"


def _folder(root: Path, name: str, start: str, ready: int = 5) -> None:
    (root / name).mkdir(parents=True)
    (root / name / "grade.toml").write_text(f'[service]\nstart = "{start}"\nready_timeout = {ready}\n')


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["batch", "--phase", "1"], "the following arguments are required: source"),
        (["batch", "/no/such/roster.csv", "--phase", "1"], "no such directory or roster CSV"),
        (["batch", ".", "--phase", "1"], "is one project (it has a .git)"),
        (["batch", "tests", "--phase", "1", "--deadline", "tomorrow"], "--deadline 'tomorrow': expected an ISO 8601"),
        (["batch", "tests", "--phase", "1", "--deadline", "2026-12-01T23:59"], "give the time zone"),
        (["batch", "tests", "--phase", "1", "--jobs", "0"], "--jobs must be at least 1"),
        (["batch", "tests", "--phase", "1", "--timeout", "-1"], "--timeout must be positive"),
        (["batch", "tests", "--phase", "1", "--format", "pdf"], "unknown format pdf"),
        (["batch", "tests", "--phase", "42"], "unknown phase 42"),
        (["batch", "tests", "--phase", "1", "--only", "nope.x"], "unknown check id 'nope.x'"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    assert_usage_error(grade(*args), message)


def test_a_bad_roster_exits_2(tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("name,email\nana,ana@example.test\n")
    assert_usage_error(grade("batch", roster, "--phase", "1"), "no repository column")


def test_ctrl_c_keeps_finished_results_kills_the_running_one_and_a_rerun_resumes(tmp_path: Path) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    _folder(subs, "a-quick", "exit 3")
    _folder(subs, "b-hangs", f"exec {HANG}", ready=120)
    _folder(subs, "c-quick", "exit 4")
    argv = ["batch", str(subs), "--phase", "1", "--only", "service.start", "--jobs", "1", "--out", str(out)]
    batch = subprocess.Popen(
        [sys.executable, "-m", "grader", *argv], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _until(lambda: bool(processes_with(HANG)), batch)  # a-quick is done, b-hangs is running
        assert (out / "a-quick" / "result.json").is_file()
        tree = descendants(batch.pid)
        batch.send_signal(signal.SIGINT)
        stdout, stderr = batch.communicate(timeout=60)
    finally:
        if batch.poll() is None:
            batch.kill()
    assert batch.returncode == 130, stderr
    assert "3 submissions: 1 graded (0 passed, 1 failed, 0 incomplete), 0 not graded, 2 interrupted" in stdout
    assert [pid for pid in tree if _alive(pid)] == []
    assert processes_with(HANG) == []
    assert not (out / "b-hangs" / "result.json").exists() and not (out / "c-quick" / "result.json").exists()
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    assert [e["student"] for e in index["submissions"]] == ["a-quick"]
    assert index["pending"] == ["b-hangs", "c-quick"]
    assert "Interrupted." in (out / "class-overview.html").read_text(encoding="utf-8")
    finished = (out / "a-quick" / "result.json").read_text(encoding="utf-8")

    rerun = grade(*argv, "--timeout", "12")
    assert rerun.returncode == 3, rerun.stderr  # b-hangs timed out: not every submission could be graded
    assert "a-quick: failed, 0/100 (cached)" in rerun.stderr
    assert "b-hangs: timed out: over the 12 s limit" in rerun.stderr
    assert "c-quick: failed, 0/100 ·" in rerun.stderr
    assert "3 submissions: 2 graded (0 passed, 2 failed, 0 incomplete), 1 not graded;" in rerun.stdout
    assert (out / "a-quick" / "result.json").read_text(encoding="utf-8") == finished
    assert processes_with(HANG) == []


def _until(condition: Callable[[], bool], proc: subprocess.Popen[str], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_help_lists_the_batch_options() -> None:
    result = grade("batch", "--help")
    assert result.returncode == 0
    for option in ("--deadline", "--jobs", "--force", "--cluster", "--timeout", "--only"):
        assert option in result.stdout


def test_a_classroom_roster_of_urls_and_paths_exits_0_when_all_were_graded(
    tmp_path: Path, built_fixture: Callable[[str], Path]
) -> None:
    repo = built_fixture("python-flask")
    (tmp_path / "late-joiner").mkdir()
    (tmp_path / "late-joiner" / "README.md").write_text("# work in progress\n")
    roster = tmp_path / "classroom.csv"
    roster.write_text(
        "assignment_name,github_username,roster_identifier,student_repository_url\n"
        f"api,octocat,Mona,{repo.as_uri()}\n"
        "api,hubot,,late-joiner\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    done = grade("batch", roster, "--phase", "1", "--only", "repo.readme", "--format", "md", "--out", out, "-q")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # -q: no progress
    assert "2 submissions: 2 graded (" in done.stdout
    assert sorted(p.name for p in (out / "mona").glob("grade-*")) == ["grade-mona-phase1.json", "grade-mona-phase1.md"]
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    assert [(e["student"], e["source"], e["branch"]) for e in index["submissions"]] == [
        ("Mona", repo.as_uri(), "main"),
        ("hubot", str((tmp_path / "late-joiner").resolve()), None),
    ]


def test_a_relative_source_and_the_isolation_level_are_honoured(tmp_path: Path) -> None:
    (tmp_path / "subs" / "ada").mkdir(parents=True)
    (tmp_path / "subs" / "ada" / "README.md").write_text("# Ada's API\n")
    done = grade(
        "batch", "subs", "--phase", "1", "--only", "repo.readme", "--isolation", "process", "--out", "out", "-q",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    index = json.loads((tmp_path / "out" / "index.json").read_text(encoding="utf-8"))
    assert [e["student"] for e in index["submissions"]] == ["ada"]
    assert index["settings"]["request"]["isolation"] == "process"
