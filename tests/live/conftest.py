"""Live-service test support: bundled learner services installed once and started on free loopback ports."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from grader.probes.live import LiveService
from tests.conftest import REPO_ROOT, require_tool

Serve = Callable[..., LiveService]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_answering(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    """Poll `url` until it answers; fail with the process's output if it dies or never answers."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"service exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1.0, trust_env=False)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"service did not answer {url} within {timeout_s} s")


@pytest.fixture(scope="session")
def installed_fixture(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A copy of fixtures/<name> with its dependencies installed (npm ci), made once per session."""
    done: dict[str, Path] = {}

    def install(name: str) -> Path:
        if name not in done:
            require_tool("npm")
            target = tmp_path_factory.mktemp("live") / name
            shutil.copytree(REPO_ROOT / "fixtures" / name, target)
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                cwd=target,
                check=True,
                capture_output=True,
                timeout=600,
            )
            done[name] = target
        return done[name]

    return install


@pytest.fixture
def serve(installed_fixture: Callable[[str], Path]) -> Iterator[Serve]:
    """Start a bundled Express fixture (`npm start`) on a free port; every process is killed after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, env: dict[str, str] | None = None) -> LiveService:
        app = installed_fixture(name)
        port = free_port()
        proc = subprocess.Popen(
            ["npm", "start", "--silent"],
            cwd=app,
            env={**os.environ, **(env or {}), "PORT": str(port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        started.append(proc)
        base = f"http://127.0.0.1:{port}"
        wait_until_answering(base + "/", proc)
        return LiveService(base, managed=False)

    yield start
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
