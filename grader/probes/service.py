"""The `service` probe: start the learner's service in a copy of the project (or adopt `--url`), wait until it answers.

How it is started comes from grade.toml `[service] start`, else from detection
(:mod:`grader.probes.service_detect`). Dependencies are installed the way the test-suite
probe installs them, into a fresh copy. The service runs through :func:`grader.sandbox.spawn`
(own process group, rlimits) with a scrubbed environment: `PORT` (a free loopback port unless
`[service] port` fixes one), `HOST=127.0.0.1`, the throwaway databases' variables, `[service] env`
and `--env`. `NODE_ENV` is left unset unless the project sets it there. Its output goes to a
log file that `LiveService.log_text()` reads (capped). The whole group is stopped when grading
ends (`ctx.defer`), and on interpreter exit as a last resort.

A service that crashes, never answers, or listens on another port than the one it was given is
a fact (`ServiceFacts(running=False, reason=...)`), never an exception.
"""

from __future__ import annotations

import os
import signal
import string
import subprocess
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from grader.errors import ProbeError
from grader.facts import NotRunnable, ProbeContext
from grader.isolation import UNCONFINED, Cell, Isolation
from grader.plugin import probe
from grader.probes.live import NO_DATASTORES, DataStores, LiveService, ServiceFacts
from grader.probes.local_deps import Defer, start_local_deps
from grader.probes.node_install import install_dependencies
from grader.probes.ports import accepting, free_port, listening_ports
from grader.probes.python_tests import install_python_project, requirement_args
from grader.probes.repo import RepoFacts
from grader.probes.service_config import MAX_READY_TIMEOUT_S, ServiceConfig
from grader.probes.service_detect import Launch, configured_launch, detect_launch
from grader.probes.service_log import crash_line, read_capped
from grader.probes.suite_run import SuiteWorkspace, TestRun
from grader.probes.testsuite import INSTALL_TIMEOUT_S, project_language
from grader.sandbox import TAIL_LINES, group_pids, kill_group, spawn

HEALTH_PATHS = ("/health", "/healthz", "/api/health", "/")
BUILD_TIMEOUT_S = 300.0
URL_WAIT_S = 5.0  # how long an already running --url service gets to answer
STOP_GRACE_S = 5.0  # between SIGTERM and SIGKILL: time for a graceful shutdown (flushing data)
LOG_CAP_BYTES = 2_000_000
_POLL_S = 0.2
_OTHER_PORT_GRACE_S = 3.0  # listening elsewhere (and not on PORT) this long: it will not use PORT
_HTTP_TIMEOUT_S = 1.0
UNREACHABLE = "its container has no network, so the probes could not reach it (use --isolation bwrap or process)"
NO_LAUNCH = (
    "the grader found no way to start it: add a start script to package.json (Node.js), an app module "
    "(Python), or a grade.toml [service] start command"
)


class ServiceDown(ProbeError):
    """The learner's service would not start (or start again); the message is one sentence for the report."""


@probe("service", timeout_s=INSTALL_TIMEOUT_S + BUILD_TIMEOUT_S + MAX_READY_TIMEOUT_S + 60)
def service(ctx: ProbeContext) -> ServiceFacts:
    """Start the learner's service on a free loopback port (or adopt --url) and wait until it answers HTTP."""
    config = ctx.config.service
    if ctx.live.url:
        return adopt(ctx.live.url, config.health, datastores=reachable_datastores({}, config))
    repo = ctx.fact("repo", RepoFacts)
    return start_service(repo, config, ctx.scratch / "service", ctx.live.env, ctx.defer, ctx.isolation)


def adopt(
    url: str, health: str | None, wait_s: float = URL_WAIT_S, datastores: DataStores = NO_DATASTORES
) -> ServiceFacts:
    """The service at `url`, which the grader never starts or stops, if it answers within `wait_s`."""
    how = f"--url {url} (already running: the grader does not start or stop it)"
    deadline = time.monotonic() + wait_s
    while (answer := ask(url, health_paths(health))).status is None and time.monotonic() < deadline:
        time.sleep(_POLL_S)
    if answer.status is None:
        return ServiceFacts(False, f"nothing answered at {url}: {answer.error}", None, how)
    if answer.status >= 500:
        return ServiceFacts(False, f"{url} answered {answer} (a server error)", None, how)
    assumed = () if health else (f"no [service] health: {answer} showed it is up",)
    live = LiveService(url, managed=False, datastores=datastores)
    return ServiceFacts(True, "", url.rstrip("/"), how, assumed, live=live)


def reachable_datastores(deps: Mapping[str, str], config: ServiceConfig) -> DataStores:
    """The databases the grader can read statistics from: the throwaway ones it started, else grade.toml's URLs."""
    postgres = _reachable("PostgreSQL", deps.get("DATABASE_URL"), config.postgres_url, "postgres_url")
    redis = _reachable("Redis", deps.get("REDIS_URL"), config.redis_url, "redis_url")
    source = "; ".join(where for _, where in (postgres, redis) if where)
    return DataStores(postgres[0], redis[0], source or NO_DATASTORES.source)


def _reachable(name: str, started: str | None, configured: str | None, key: str) -> tuple[str | None, str]:
    if started:
        return started, f"{name}: a throwaway one the grader started"
    if configured:
        return configured, f"{name}: grade.toml [services] {key}"
    return None, ""


def start_service(
    repo: RepoFacts,
    config: ServiceConfig,
    workdir: Path,
    extra_env: Mapping[str, str],
    defer: Defer,
    isolation: Isolation = UNCONFINED,
) -> ServiceFacts:
    """Copy the project into `workdir`, install it, start it with its databases and wait until it answers."""
    if not isolation.serves_loopback:
        raise NotRunnable(f"the service is not started under --isolation {isolation.level}: {UNREACHABLE}")
    ws = SuiteWorkspace(repo, workdir, isolation=isolation)
    ws.prepare()
    language = project_language(repo)
    port = config.port or free_port()
    launch = configured_launch(config.start) if config.start else detect_launch(ws, language, port)
    if launch is None:
        return ServiceFacts(False, NO_LAUNCH, None, "not started")
    problem = _precondition(ws, config, port, language)
    if problem:
        return ServiceFacts(False, problem, None, "not started")
    prepared = _prepare(ws, language, launch)
    if isinstance(prepared, TestRun):
        if prepared.status == "unsupported":
            raise NotRunnable(prepared.reason)
        reason = f"setting it up failed: {prepared.reason}"
        return ServiceFacts(False, reason, None, "not started", tuple(ws.notes), prepared.log_tail)
    deps = start_local_deps(config, ws.root, defer)
    env = ws.env(_service_env(prepared, deps.env, config, extra_env, port))
    managed = ManagedService(
        launch.argv, cwd=ws.src / (config.cwd or ""), env=env, port=port, health=config.health,
        ready_timeout_s=config.ready_timeout_s, log_path=ws.root / "service.log", cell=ws.cell(network=True),
    )  # fmt: skip
    defer(managed.stop)
    assumed = (*((launch.assumed,) if launch.assumed else ()), *ws.notes, *deps.notes)
    datastores = reachable_datastores(deps.env, config)
    return _started(managed, f"started {launch.how} on port {port}", assumed, config.health, datastores)


def _service_env(
    prepared: Mapping[str, str], deps: Mapping[str, str], config: ServiceConfig, extra: Mapping[str, str], port: int
) -> dict[str, str]:
    """PATH for the runtime, then HOST, the databases, [service] env (${...} filled in), --env; PORT always ours."""
    provided = {"HOST": "127.0.0.1", **deps, "PORT": str(port)}
    filled = {k: string.Template(v).safe_substitute(provided) for k, v in config.env.items()}
    return {**prepared, **provided, **filled, **extra, "PORT": str(port)}


def _started(
    managed: ManagedService, how: str, assumed: tuple[str, ...], health: str | None, datastores: DataStores
) -> ServiceFacts:
    """Start the service and wait for it: the running service, or why not (then it is stopped at once)."""
    try:
        ready = managed.start()
    except ServiceDown as exc:
        managed.stop()
        return ServiceFacts(False, str(exc), None, how, assumed, managed.log_tail())
    if health is None or isinstance(ready, str):
        assumed = (*assumed, f"{'no [service] health: ' if health is None else ''}ready when {ready}")
    live = LiveService(
        managed.base_url,
        managed=True,
        read_log=managed.log_text,
        restart=managed.restart,
        process_ids=managed.pids,
        datastores=datastores,
    )
    return ServiceFacts(True, "", managed.base_url, how, assumed, managed.log_tail(), live)


def _precondition(ws: SuiteWorkspace, config: ServiceConfig, port: int, language: str | None) -> str | None:
    """Why the service cannot be started at all, or None; NotRunnable when this machine lacks the runtime."""
    runtime = {"node": "node", "python": "python3"}.get(language or "")
    if runtime and not config.start and ws.which(runtime) is None:
        raise NotRunnable(f"{runtime} is not installed here")
    if config.cwd and not (ws.src / config.cwd).is_dir():
        return f"grade.toml [service] cwd {config.cwd!r} is not a folder of the project"
    if config.port and accepting(port):
        return f"port {port} (grade.toml [service] port) is already in use by another program"
    return None


def _prepare(ws: SuiteWorkspace, language: str | None, launch: Launch) -> dict[str, str] | TestRun:
    """Install the dependencies (and build, when the start command runs build output): PATH and friends."""
    if language == "node":
        return _prepare_node(ws, launch)
    if language == "python":
        deps = [*requirement_args(ws), *launch.extra]
        if deps:
            return install_python_project(ws, deps, INSTALL_TIMEOUT_S)
        ws.notes.append("no Python dependencies declared: nothing installed")
    return {}


def _prepare_node(ws: SuiteWorkspace, launch: Launch) -> dict[str, str] | TestRun:
    managed = ws.repo.package_manager in ("npm", "pnpm", "yarn")
    ws.package_manager = ws.repo.package_manager if managed else "npm"
    failed = install_dependencies(ws, ws.repo.lockfile if managed else None, INSTALL_TIMEOUT_S)
    if failed is not None:
        return failed
    env = {"PATH": f"{ws.src / 'node_modules' / '.bin'}{os.pathsep}{ws.env()['PATH']}"}
    if launch.build:
        built = ws.run(["npm", "run", "build", "--silent"], timeout_s=BUILD_TIMEOUT_S, env=env)
        if not built.ok:
            return ws.failed_step("install_failed", "npm run build", built)
        ws.notes.append(f"ran `npm run build` first ({built.duration_s:.1f} s): the start command runs build output")
    return env


def health_paths(health: str | None) -> tuple[str, ...]:
    """The configured health path, else the usual ones."""
    return (health,) if health else HEALTH_PATHS


@dataclass(frozen=True, slots=True)
class Answer:
    """How the service answered one health request."""

    path: str
    status: int | None  # None: no HTTP response
    error: str = ""

    def __str__(self) -> str:
        return f"GET {self.path} -> {self.status if self.status is not None else self.error}"


def ask(base_url: str, paths: Sequence[str]) -> Answer:
    """The best answer among `paths`: the first below 400, else the first below 500, else any."""
    answers: list[Answer] = []
    with httpx.Client(base_url=base_url, timeout=_HTTP_TIMEOUT_S, trust_env=False) as client:
        for path in paths:
            try:
                status = client.get(path).status_code
            except httpx.HTTPError as exc:
                answers.append(Answer(path, None, _transport_error(exc)))
                continue
            if status < 400:
                return Answer(path, status)
            answers.append(Answer(path, status))
    return min(answers, key=lambda a: 2 if a.status is None else 0 if a.status < 500 else 1)


def _transport_error(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {_HTTP_TIMEOUT_S:.0f} s"
    return f"{type(exc).__name__}: {exc}"


@dataclass(slots=True)
class _Watch:
    """What was seen while waiting for the service to become ready."""

    answer: Answer | None = None  # the last answer on PORT
    elsewhere: frozenset[int] = frozenset()  # ports the group listens on instead
    elsewhere_since: float | None = None


class ManagedService:
    """The learner's service as one process group the grader starts, restarts on the same port, and stops."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        port: int,
        health: str | None,
        ready_timeout_s: float,
        log_path: Path,
        cell: Cell | None = None,
    ) -> None:
        self.argv = tuple(argv)
        self.cell = cell  # confined at the run's isolation level (network shared: the probes reach it on loopback)
        self.cwd = cwd
        self.env = dict(env)
        self.port = port
        self.paths = health_paths(health)
        self.ready_timeout_s = ready_timeout_s
        self.log_path = log_path
        self.base_url = f"http://127.0.0.1:{port}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize | None = None
        self._stopped = False
        self._lock = threading.Lock()

    def start(self) -> Answer | str:
        """Start the service and wait until it answers; what showed it is ready. Raises ServiceDown."""
        with self._lock:
            if self._stopped:
                raise ServiceDown("grading ended before the service started")
            with self.log_path.open("ab") as log:
                self._proc = proc = spawn(self.argv, cwd=self.cwd, env=self.env, stdout=log, cell=self.cell)
            self._finalizer = weakref.finalize(self, kill_group, proc.pid)  # last resort: at interpreter exit
        return self._wait_ready(proc)

    def stop(self) -> None:
        """Stop the whole process group (SIGTERM, a grace period, SIGKILL); no start after this."""
        with self._lock:
            self._stopped = True
            self._kill()

    def restart(self) -> None:
        """Stop the service and start it again on the same port, waiting until it answers; ServiceDown if not."""
        with self._lock:
            if self._stopped:
                raise ServiceDown("the service was already stopped")
            self._kill()
        self.start()

    def pids(self) -> list[int]:
        """The live processes of the service's group (empty when it is not running)."""
        proc = self._proc
        return group_pids(proc.pid) if proc is not None else []

    def log_text(self) -> str:
        """What the service printed so far (stdout and stderr, across restarts), capped to its head and tail."""
        return read_capped(self.log_path, LOG_CAP_BYTES)

    def log_tail(self) -> str:
        """The last lines of the log, for evidence."""
        return "\n".join(self.log_text().rstrip("\n").splitlines()[-TAIL_LINES:])

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        kill_group(proc.pid, STOP_GRACE_S)
        proc.wait()
        deadline = time.monotonic() + 1.0  # processes sent SIGKILL may take a moment to go
        while group_pids(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if self._finalizer is not None:
            self._finalizer.detach()

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> Answer | str:
        began = time.monotonic()
        watch = _Watch()
        while True:
            host = accepting(self.port)
            if host is not None:
                watch.answer = ask(f"http://{host}:{self.port}", self.paths)
                if watch.answer.status is not None and watch.answer.status < 500:
                    self.base_url = f"http://{host}:{self.port}"
                    return watch.answer
            elif self._listens_elsewhere(proc, watch):
                raise ServiceDown(self._elsewhere_reason(watch))
            if proc.poll() is not None and not group_pids(proc.pid):
                raise ServiceDown(self._exit_reason(proc.returncode))
            if time.monotonic() - began >= self.ready_timeout_s:
                return self._timed_out(watch)
            time.sleep(_POLL_S)

    def _listens_elsewhere(self, proc: subprocess.Popen[bytes], watch: _Watch) -> bool:
        """Whether the group has listened on other ports (and not on PORT) for the grace period."""
        watch.elsewhere = frozenset(listening_ports(proc.pid) - {self.port})
        if not watch.elsewhere:
            watch.elsewhere_since = None
            return False
        now = time.monotonic()
        watch.elsewhere_since = watch.elsewhere_since or now
        return now - watch.elsewhere_since >= _OTHER_PORT_GRACE_S

    def _timed_out(self, watch: _Watch) -> str:
        """Ready by the port alone when it accepts connections but no path answered HTTP; else ServiceDown."""
        seconds = f"{self.ready_timeout_s:g} s"
        if watch.answer is not None and watch.answer.status is None and accepting(self.port):
            return f"port {self.port} accepted connections (no health path answered HTTP within {seconds})"
        if watch.answer is not None and watch.answer.status is not None:
            raise ServiceDown(f"it still answered {watch.answer} (a server error) after {seconds}")
        if watch.elsewhere:
            raise ServiceDown(self._elsewhere_reason(watch))
        raise ServiceDown(f"nothing listened on port {self.port} within {seconds} (it was given PORT={self.port})")

    def _elsewhere_reason(self, watch: _Watch) -> str:
        ports = ", ".join(str(p) for p in sorted(watch.elsewhere))
        return (
            f"it listens on port {ports}, not on port {self.port} that it was given in the PORT environment "
            "variable: read the port from PORT (or set [service] port in grade.toml)"
        )

    def _exit_reason(self, code: int) -> str:
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        return f"it {how} before answering on port {self.port}: {crash_line(self.log_text())}"
