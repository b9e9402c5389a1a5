"""Throwaway PostgreSQL and Redis for the learner's service (grade.toml `[services] postgres/redis = true`).

Each runs as its own process group on a free loopback port, in a temporary folder, and is
stopped (and its folder removed) when grading ends. PostgreSQL refuses to run as root: as root,
initdb and postgres run as an unprivileged user (`postgres`, else `nobody`) through setpriv or
runuser, in a folder that user owns. A database that is requested but not installed here is
said in the notes and the service starts without it; one that is installed but fails to start
is the grader's fault (ProbeError). PostgreSQL preloads pg_stat_statements (tracking nested
statements too) and has the extension created, so the query-time and N+1 probes can read what the
service ran; without the library it starts all the same, and the notes say so.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from grader.errors import ProbeError
from grader.probes.ports import free_port
from grader.probes.service_config import ServiceConfig
from grader.probes.service_log import crash_line
from grader.sandbox import kill_group, run_process, scrubbed_env, spawn

Defer = Callable[[Callable[[], None]], object]

PG_USER = "grade"
PG_PASSWORD = "grade"  # trust authentication ignores it; some projects insist on having one
PG_DATABASE = "postgres"
READY_TIMEOUT_S = 30.0
_POLL_S = 0.1
_UNPRIVILEGED_USERS = ("postgres", "nobody")


@dataclass(frozen=True, slots=True)
class LocalDeps:
    """The environment that points the service at its databases, and what was done to provide them."""

    env: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def start_local_deps(config: ServiceConfig, workdir: Path, defer: Defer) -> LocalDeps:
    """Start what `[services]` asks for; each is stopped through `defer` when grading ends."""
    env: dict[str, str] = {}
    notes: list[str] = []
    wanted = (
        ("PostgreSQL", "postgres", config.postgres, start_postgres),
        ("Redis", "redis", config.redis, start_redis),
    )
    for name, key, requested, starter in wanted:
        started = starter(workdir, defer) if requested else LocalDeps()
        if started is None:
            notes.append(f"{name} requested ([services] {key} = true) but not installed here: started without it")
            continue
        env.update(started.env)
        notes.extend(started.notes)
    return LocalDeps(env, tuple(notes))


def postgres_bindir() -> Path | None:
    """The folder holding initdb, postgres and pg_isready: from PATH, else the newest /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version, reverse=True)
    needed = ("initdb", "postgres", "pg_isready")
    return next((d for d in candidates if all((d / n).is_file() for n in needed)), None)


def _version(bindir: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in bindir.parent.name.split(".") if p.isdigit())


def start_postgres(workdir: Path, defer: Defer) -> LocalDeps | None:
    """A fresh cluster with trust authentication on a free port; None if PostgreSQL is not installed."""
    bindir = postgres_bindir()
    if bindir is None:
        return None
    prefix, owner = _unprivileged()
    home = Path(tempfile.mkdtemp(prefix="grade-pg-"))  # short: the socket path must stay under 108 bytes
    defer(lambda: shutil.rmtree(home, ignore_errors=True))
    (home / "sock").mkdir()
    for path in (home, home / "sock"):
        if owner is not None:
            os.chown(path, *owner)
    env = scrubbed_env({"HOME": str(home)})
    init = run_process(
        [*prefix, str(bindir / "initdb"), "-D", str(home / "data"), "-A", "trust", "-U", PG_USER,
         "-E", "UTF8", "--locale=C", "--no-sync"],
        cwd=home, env=env, timeout_s=120,
    )  # fmt: skip
    if not init.ok:
        raise ProbeError(f"PostgreSQL's initdb failed (exit {init.returncode}): {crash_line(init.output)}")
    port = free_port()
    argv = [*prefix, str(bindir / "postgres"), "-D", str(home / "data"), "-p", str(port), "-k", str(home / "sock"),
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off"]  # fmt: skip
    statistics = has_pg_stat_statements(bindir)
    if statistics:
        argv += ["-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track=all"]
    isready = [str(bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-U", PG_USER, "-d", PG_DATABASE]
    _run_until_ready("PostgreSQL", argv, home, env, defer, lambda: _succeeds(isready, env))
    url = f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{port}/{PG_DATABASE}"
    pg_env = {"DATABASE_URL": url, "PGHOST": "127.0.0.1", "PGPORT": str(port), "PGUSER": PG_USER,
              "PGPASSWORD": PG_PASSWORD, "PGDATABASE": PG_DATABASE}  # fmt: skip
    note = f"PostgreSQL ({bindir}) started on 127.0.0.1:{port}: DATABASE_URL, PGHOST, PGPORT, PGUSER, PGDATABASE set"
    problem = _create_statistics(url) if statistics else f"pg_stat_statements is not installed with {bindir}"
    extra = (f"query statistics unavailable: {problem}",) if problem else ()
    return LocalDeps(pg_env, (note, *extra))


def has_pg_stat_statements(bindir: Path) -> bool:
    """Whether the pg_stat_statements library ships with this PostgreSQL (preloading a missing one stops the start)."""
    pkglibdir = bindir.parent / "lib"  # Debian and source installs; pg_config knows for other layouts
    if (bindir / "pg_config").is_file():
        found = run_process([str(bindir / "pg_config"), "--pkglibdir"], cwd=bindir, env=scrubbed_env(), timeout_s=10)
        if found.ok and found.output.strip():
            pkglibdir = Path(found.output.strip().splitlines()[-1])
    return (pkglibdir / "pg_stat_statements.so").is_file()


def _create_statistics(url: str) -> str:
    """CREATE EXTENSION pg_stat_statements in the service's database; what went wrong ("" when it worked)."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    except psycopg.Error as exc:
        return crash_line(str(exc))
    return ""


def start_redis(workdir: Path, defer: Defer) -> LocalDeps | None:
    """An empty Redis without persistence on a free port; None if redis-server is not installed."""
    server = shutil.which("redis-server")
    if server is None:
        return None
    home = workdir / "redis"
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(home), "--daemonize", "no", "--protected-mode", "yes"]  # fmt: skip
    _run_until_ready("Redis", argv, home, scrubbed_env({"HOME": str(home)}), defer, lambda: _redis_pong(port))
    env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port)}
    return LocalDeps(env, (f"Redis started on 127.0.0.1:{port}: REDIS_URL, REDIS_HOST, REDIS_PORT set",))


def _run_until_ready(
    name: str, argv: list[str], home: Path, env: Mapping[str, str], defer: Defer, ready: Callable[[], bool]
) -> None:
    """Start a database in its own process group, register its stop, and wait until `ready()`."""
    log = home / f"{name.lower()}.log"
    with log.open("ab") as out:
        proc = spawn(argv, cwd=home, env=env, stdout=out)
    defer(lambda: _stop(proc))
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not ready():
        if proc.poll() is not None:
            text = log.read_text(encoding="utf-8", errors="replace")
            raise ProbeError(f"{name} exited with code {proc.returncode} at start: {crash_line(text)}")
        if time.monotonic() > deadline:
            raise ProbeError(f"{name} did not accept connections within {READY_TIMEOUT_S:.0f} s")
        time.sleep(_POLL_S)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    kill_group(proc.pid)
    proc.wait()


def _unprivileged() -> tuple[list[str], tuple[int, int] | None]:
    """(argv prefix, (uid, gid)) to run as a non-root user when the grader is root; ([], None) otherwise."""
    if os.geteuid() != 0:
        return [], None
    account = next((a for a in map(_account, _UNPRIVILEGED_USERS) if a is not None), None)
    if account is None:
        raise ProbeError("PostgreSQL cannot run as root, and there is no 'postgres' or 'nobody' user to run it as")
    ids = (account.pw_uid, account.pw_gid)
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={ids[0]}", f"--regid={ids[1]}", "--clear-groups", "--"], ids
    if shutil.which("runuser"):
        return ["runuser", "-u", account.pw_name, "--"], ids
    raise ProbeError("PostgreSQL cannot run as root, and neither setpriv nor runuser is installed to drop privileges")


def _account(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _succeeds(argv: list[str], env: Mapping[str, str]) -> bool:
    try:
        return subprocess.run(argv, env=dict(env), capture_output=True, timeout=5, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _redis_pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False
