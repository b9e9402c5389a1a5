"""Throwaway PostgreSQL and Redis for the learner's service: started on free loopback ports, reachable, removed after.

Skipped locally when the binaries are missing; under CI=true they are required.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from grader.probes import local_deps
from grader.probes.local_deps import postgres_bindir, start_local_deps
from grader.probes.service_config import ServiceConfig
from tests.conftest import require, require_tool
from tests.live.test_service import project, start


@pytest.fixture
def teardown() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def redis_command(port: int, *words: str) -> bytes:
    """Send one command in Redis's inline protocol and return the raw reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(" ".join(words).encode() + b"\r\n")
        return sock.recv(1024)


def test_postgres_and_redis_start_answer_and_are_removed(tmp_path: Path, teardown: ExitStack) -> None:
    bindir = postgres_bindir()
    require(bindir is not None, "PostgreSQL (initdb, postgres, pg_isready) is not installed")
    require_tool("redis-server")
    assert bindir is not None
    before = set(Path(tempfile.gettempdir()).glob("grade-pg-*"))
    deps = start_local_deps(ServiceConfig(postgres=True, redis=True), tmp_path, teardown.callback)
    env = deps.env
    assert env["DATABASE_URL"].startswith(f"postgresql://grade:grade@127.0.0.1:{env['PGPORT']}/")
    query = subprocess.run(
        [str(bindir / "psql"), env["DATABASE_URL"], "-tAc", "create table t (v int); insert into t values (42); "
         "select v from t"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert query.stdout.splitlines()[-1] == "42", query.stderr
    redis_port = int(env["REDIS_PORT"])
    assert env["REDIS_URL"] == f"redis://127.0.0.1:{redis_port}/0"
    assert redis_command(redis_port, "SET", "k", "v") == b"+OK\r\n"
    assert redis_command(redis_port, "GET", "k") == b"$1\r\nv\r\n"
    assert any(n.startswith("PostgreSQL") for n in deps.notes) and any(n.startswith("Redis") for n in deps.notes)
    pg_dirs = set(Path(tempfile.gettempdir()).glob("grade-pg-*")) - before
    assert len(pg_dirs) == 1
    teardown.close()
    for port in (int(env["PGPORT"]), redis_port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0
    assert not any(p.exists() for p in pg_dirs)


def test_missing_databases_are_said_and_the_service_still_starts(
    tmp_path: Path, teardown: ExitStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_deps, "postgres_bindir", lambda: None)
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, **kw: None if name == "redis-server" else which(name, **kw))
    root = project(tmp_path, """
        [service]
        start = "exec python3 -m http.server $PORT --bind 127.0.0.1"
        [services]
        postgres = true
        redis = true
    """)  # fmt: skip
    facts = start(root, tmp_path / "scratch", teardown)
    assert facts.running, facts.reason
    assert any("PostgreSQL requested" in n and "not installed here" in n for n in facts.assumed)
    assert any("Redis requested" in n and "not installed here" in n for n in facts.assumed)


def test_the_service_is_pointed_at_its_database(tmp_path: Path, teardown: ExitStack) -> None:
    require(postgres_bindir() is not None, "PostgreSQL is not installed")
    root = project(tmp_path, """
        [service]
        start = "env; exec python3 -m http.server $PORT --bind 127.0.0.1"
        env = { DB_PORT = "${PGPORT}" }
        [services]
        postgres = true
    """)  # fmt: skip
    facts = start(root, tmp_path / "scratch", teardown)
    assert facts.running and facts.live is not None, facts.reason
    log = facts.live.log_text()
    pgport = next(line.split("=", 1)[1] for line in log.splitlines() if line.startswith("PGPORT="))
    assert f"DB_PORT={pgport}\n" in log and "DATABASE_URL=postgresql://" in log
