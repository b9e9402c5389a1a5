"""Each hostile submission (fixtures/hostile/) graded for real: a clear result, nothing leaked, nothing left running.

Every grading goes through `bench.grade`, which also checks that no learner process outlived it,
that neither the canary token, a neighbouring submission's secret nor /etc/passwd is in the
reports, and that only reports were written in the reports folder; the `bench` fixture checks
that nothing appeared in the grader's install.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, require
from tests.hostile.conftest import CANARY, TEST_LIMITS, Workbench, require_bwrap

TIMEOUT_S = 10.0  # the test suite's wall-clock limit for the cases that never end
STATIC = ("repo.history", "repo.readme", "repo.gitignore", "repo.env_example", "secrets.history")


@pytest.mark.slow
def test_a_fork_bomb_is_held_at_the_process_limit_and_killed(bench: Workbench) -> None:
    require_bwrap()
    graded = bench.grade(bench.build("fork-bomb"), "tests.pass", test_timeout_s=TIMEOUT_S)
    outcome, summary, _ = graded.check("tests.pass")
    assert outcome == "fail"
    assert "timed out after" in summary and "was killed" in summary
    assert f"reached the process limit of {TEST_LIMITS.processes}" in summary


@pytest.mark.slow
def test_a_fork_bomb_under_process_isolation_is_held_by_its_own_uid(bench: Workbench) -> None:
    require(os.geteuid() == 0, "process isolation limits processes only with a uid of its own (as root)")
    graded = bench.grade(bench.build("fork-bomb"), "tests.pass", isolation="process", test_timeout_s=TIMEOUT_S)
    assert graded.isolation.account is not None
    _, summary, _ = graded.check("tests.pass")
    assert f"reached the process limit of {TEST_LIMITS.processes}" in summary and "was killed" in summary


@pytest.mark.slow
def test_an_endless_test_is_killed_at_the_time_limit(bench: Workbench) -> None:
    graded = bench.grade(bench.build("infinite-loop"), "tests.pass", test_timeout_s=TIMEOUT_S)
    outcome, summary, _ = graded.check("tests.pass")
    assert outcome == "fail" and "node:test timed out after" in summary and "was killed" in summary


def test_a_gigabyte_of_output_is_capped(bench: Workbench) -> None:
    graded = bench.grade(bench.build("output-flood"), "tests.pass")
    outcome, summary, _ = graded.check("tests.pass")
    assert outcome == "fail" and "output capped at 2 MB of 1.1 GB written" in summary
    assert all(len(text) < 5_000_000 for text in graded.texts)


def test_a_service_that_never_listens_is_reported(bench: Workbench) -> None:
    graded = bench.grade(bench.build("never-ready"), "service.start")
    outcome, summary, evidence = graded.check("service.start")
    assert outcome == "fail" and "nothing listened on port" in summary and "within 5 s" in summary
    assert "still warming up" in evidence  # its log, as evidence


def test_a_service_cannot_take_a_port_the_grader_holds(bench: Workbench) -> None:
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
        graded = bench.grade(bench.build("port-thief", GRADER_PORT=str(port)), "service.start")
        with socket.create_connection(("127.0.0.1", port)):
            conn, _ = held.accept()  # still ours
            conn.close()
    outcome, summary, _ = graded.check("service.start")
    assert outcome == "fail" and f"EADDRINUSE: address already in use 127.0.0.1:{port}" in summary


@pytest.mark.parametrize("isolation", ["auto", "process"])
def test_tokens_the_graders_files_and_the_neighbours_stay_out_of_reach(bench: Workbench, isolation: str) -> None:
    if isolation == "process":
        require(os.geteuid() == 0, "only a grader running as root can run the learner as another user")
    graded = bench.grade(bench.build("secret-thief"), "tests.pass", isolation=isolation)
    outcome, summary, evidence = graded.check("tests.pass")
    assert (outcome, summary.split(" (")[0]) == ("pass", "3 passed, 0 failed, 0 skipped"), evidence


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ["bwrap", "process"])
def test_the_cli_never_hands_its_own_token_to_the_learner(bench: Workbench, isolation: str) -> None:
    """GITHUB_TOKEN in the grader's *initial* environment (as in CI), where /proc/<pid>/environ shows it."""
    if isolation == "bwrap":
        require_bwrap()  # the grader's processes are not even visible
    else:
        require(os.geteuid() == 0, "only a grader running as root can run the learner as another user")
    project = bench.build("secret-thief")
    env = {**os.environ, "GITHUB_TOKEN": CANARY, "GRADE_DEBUG": "1"}
    argv = [sys.executable, "-m", "grader", str(project), "--phase", "1", "--only", "tests.pass",
            "--out", str(bench.reports), "--isolation", isolation]  # fmt: skip
    done = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    reports = [p.read_text(encoding="utf-8") for p in bench.reports.iterdir()]
    assert done.returncode == 0, done.stdout + done.stderr  # all three thefts failed: the tests pass
    assert all(CANARY not in text for text in (done.stdout, done.stderr, *reports))


def test_install_scripts_never_run(bench: Workbench) -> None:
    graded = bench.grade(bench.build("postinstall"), "tests.pass")
    assert graded.check("tests.pass")[0] == "pass"  # installed (npm ci --ignore-scripts), tests ran confined


def test_links_out_of_the_submission_are_never_followed(bench: Workbench) -> None:
    graded = bench.grade(bench.build("symlinks"), "tests.pass", *STATIC)
    outcome, _, evidence = graded.check("tests.pass")
    assert outcome == "pass", evidence  # the links were not copied; the neighbour's folder was out of reach


def test_a_test_named_script_is_escaped_in_the_html_report(bench: Workbench) -> None:
    graded = bench.grade(bench.build("script-name"), "tests.pass")
    outcome, _, evidence = graded.check("tests.pass")
    assert outcome == "fail" and "<script>alert(" in evidence and "<img src=x" in evidence  # raw in the JSON
    html = graded.texts[[p.suffix for p in graded.reports].index(".html")]
    assert "grade-xss" in html and "<script>alert(" not in html and "<img src=x" not in html


def test_a_corrupted_git_folder_still_gets_a_report(bench: Workbench) -> None:
    graded = bench.grade(bench.build("corrupt-git"), "tests.pass", *STATIC)
    assert graded.check("tests.pass")[0] == "pass"  # the files on disk are still graded
    assert graded.check("repo.history")[:2] == ("fail", "the repository has no commits yet")
    outcome, summary, _ = graded.check("secrets.history")
    assert outcome == "error" and "git failed" in summary  # the grader's side, named: never counted


@pytest.mark.slow
def test_a_200_mb_file_and_names_that_are_not_utf8(bench: Workbench) -> None:
    for case in ("big-file", "bad-names"):
        graded = bench.grade(bench.build(case), "tests.pass", *STATIC)
        assert graded.check("tests.pass")[0] == "pass", (case, graded.check("tests.pass"))
        assert graded.check("secrets.history")[0] == "pass"


@pytest.mark.slow
def test_containers_hold_the_fork_bomb_and_the_thief(
    bench: Workbench, docker_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", docker_host)
    bomb = bench.grade(bench.build("fork-bomb"), "tests.pass", "service.start", isolation="docker", test_timeout_s=10)
    outcome, summary, _ = bomb.check("tests.pass")
    assert outcome == "fail" and "timed out after" in summary and "was killed" in summary
    outcome, summary, _ = bomb.check("service.start")
    assert outcome == "not_run" and "not started under --isolation docker" in summary  # said, not pretended
    thief = bench.grade(bench.build("secret-thief"), "tests.pass", isolation="docker")
    outcome, summary, evidence = thief.check("tests.pass")
    assert outcome == "pass" and summary.startswith("3 passed, 0 failed"), evidence
    listed = subprocess.run(
        ["docker", "ps", "--all", "--quiet", "--filter", "label=grade.run"],
        env={**os.environ, "DOCKER_HOST": docker_host}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert listed.stdout.strip() == ""  # every container removed
