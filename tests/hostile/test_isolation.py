"""The isolation levels on real processes: secrets, process limits, escaped daemons, what a sandbox sees."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import grader.isolation
from grader.errors import UsageError
from grader.facts import NotRunnable
from grader.isolation import Cell, Isolation, Limits, open_isolation
from grader.sandbox import ProcessResult, run_process, scrubbed_env
from tests.conftest import require
from tests.hostile.conftest import (
    CANARY,
    GRADER_DIR,
    SECRET_VARS,
    left_running,
    processes_of,
    require_bwrap,
    traversable_dir,
)

SMALL = Limits(processes=24, file_bytes=1 << 20)
LEAKY_VARS = {**dict.fromkeys(SECRET_VARS, CANARY), "ACTIONS_ID_TOKEN_REQUEST_TOKEN": CANARY,
              "AWS_ACCESS_KEY_ID": CANARY, "HTTPS_PROXY": f"http://user:{CANARY}@proxy.invalid:3128"}  # fmt: skip


@pytest.fixture(params=["process", "bwrap", pytest.param("docker", marks=pytest.mark.slow)])
def isolation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Isolation]:
    """Each level with small limits (process: only as root, where it has a uid of its own to count)."""
    if request.param == "bwrap":
        require_bwrap()
    elif request.param == "docker":
        monkeypatch.setenv("DOCKER_HOST", request.getfixturevalue("docker_host"))
    else:
        require(os.geteuid() == 0, "process isolation limits processes only with a uid of its own (as root)")
    with open_isolation(request.param, SMALL) as isolation:
        yield isolation


def run_in(isolation: Isolation, script: str, *, network: bool = False, timeout_s: float = 30) -> ProcessResult:
    """`sh -c script` in a fresh workspace confined by `isolation`."""
    work = traversable_dir()
    try:
        isolation.admit(work)
        isolation.adopt(work)
        env = scrubbed_env({"HOME": str(work / "home")})
        cell = Cell(isolation, (work,), network)
        return run_process(["sh", "-c", script], cwd=work, env=env, timeout_s=timeout_s, cell=cell)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_no_grader_secret_reaches_a_learner_process(isolation: Isolation, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in LEAKY_VARS.items():
        monkeypatch.setenv(name, value)
    offline = run_in(isolation, "env; cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'")
    assert offline.ok and "HOME=" in offline.output
    assert CANARY not in offline.output and "proxy.invalid" not in offline.output
    online = run_in(isolation, "env", network=True)  # installs: the proxy (with its credentials) is needed
    assert "proxy.invalid" in online.output and "GITHUB_TOKEN" not in online.output


def test_the_process_limit_holds_with_a_harmless_count(isolation: Isolation) -> None:
    loop = "n=0; while [ $n -lt 100 ]; do sleep 5 & n=$((n+1)); echo $n > count; done"
    run = run_in(isolation, f"({loop}); read n < count; echo started $n")  # builtins only once at the limit
    assert "started " in run.output, run.output
    started = int(run.output.split("started ")[1].split()[0])
    assert 5 < started < 24  # the shells and the sandbox's own processes count too
    assert any("process limit of 24" in hit for hit in run.limits_hit), run.limits_hit
    assert not left_running(isolation)


def test_a_daemon_that_left_the_group_does_not_survive(isolation: Isolation) -> None:
    daemon = "setsid sh -c 'echo $$ > pid; exec sleep 300' </dev/null >/dev/null 2>&1 &"
    run = run_in(isolation, f"{daemon} while [ ! -s pid ]; do sleep 0.1; done; echo started")
    assert run.ok and "started" in run.output
    if isolation.level in ("bwrap", "docker"):
        assert not left_running(isolation)  # its PID namespace ended with the command
    else:
        assert processes_of(isolation)  # escaped the process group: only the end-of-run sweep finds it
    isolation.sweep()
    assert not left_running(isolation)


def test_files_are_capped(isolation: Isolation) -> None:
    run = run_in(isolation, "head -c 3000000 /dev/zero > big")
    assert any("size limit" in hit for hit in run.limits_hit), (run.limits_hit, run.output)


def test_bubblewrap_shows_only_the_system_and_the_workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    require_bwrap()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    probe = f"exec 3<>/dev/tcp/127.0.0.1/{port} && echo reached"
    with listener, open_isolation("bwrap", SMALL) as isolation:
        seen = run_in(
            isolation,
            f"test -e {GRADER_DIR} && echo GRADER-VISIBLE; touch /usr/x 2>/dev/null && echo USR-WRITABLE; "
            f"echo private > /tmp/mine && cat /tmp/mine; ls /proc | grep -c '^[0-9]'; touch here && echo wrote; "
            f"test -e /proc/{os.getpid()}/environ && echo GRADER-PROC",
        )
        offline = run_in(isolation, f"bash -c '{probe}'")
        online = run_in(isolation, f"bash -c '{probe}'", network=True)
    assert "GRADER-VISIBLE" not in seen.output and "USR-WRITABLE" not in seen.output
    assert "private" in seen.output and "wrote" in seen.output and "GRADER-PROC" not in seen.output
    assert int(seen.output.split("private\n")[1].split()[0]) < 10  # its own few processes, not the machine's
    assert not Path("/tmp/mine").exists() or Path("/tmp/mine").read_text() != "private\n"
    assert "reached" not in offline.output and "reached" in online.output


def test_process_level_never_runs_a_program_its_user_cannot_reach() -> None:
    require(os.geteuid() == 0, "only root drops to a sandbox user")
    closed = traversable_dir()  # 0700 root, like /root holding a pyenv Python
    tool = closed / "tool"
    tool.write_text("#!/bin/sh\necho ran\n")
    tool.chmod(0o755)
    try:
        with open_isolation("process", SMALL) as isolation, pytest.raises(NotRunnable, match="out of reach"):
            run_process([str(tool)], cwd=closed, env=scrubbed_env(), timeout_s=10, cell=Cell(isolation, (closed,)))
    finally:
        shutil.rmtree(closed)


def test_a_program_inside_the_workspace_runs(isolation: Isolation) -> None:
    work = traversable_dir()
    try:
        (work / "bin").mkdir()
        tool = work / "bin" / "tool"  # like node_modules/.bin/jest: in the sandbox user's own 0700 folder
        tool.write_text("#!/bin/sh\necho ran as $(id -u)\n")
        tool.chmod(0o755)
        isolation.admit(work)
        isolation.adopt(work)
        run = run_process([str(tool)], cwd=work, env=scrubbed_env({"HOME": str(work)}), timeout_s=30,
                          cell=Cell(isolation, (work,)))  # fmt: skip
    finally:
        shutil.rmtree(work)
    assert run.ok, run.output
    assert isolation.account is None or f"ran as {isolation.account.uid}" in run.output


def test_levels_resolve_or_say_why_not(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="choose from auto, process, bwrap, docker"), open_isolation("chroot"):
        pass
    monkeypatch.setattr(grader.isolation, "bwrap_problem", lambda: "no user namespaces")
    with open_isolation("auto") as isolation:
        assert isolation.level == "process" and "bubblewrap is not usable here: no user namespaces" in isolation.detail
    with pytest.raises(UsageError, match="--isolation bwrap: bubblewrap is not usable here"), open_isolation("bwrap"):
        pass
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(UsageError, match="no Docker engine answers"), open_isolation("docker"):
        pass
