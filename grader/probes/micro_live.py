"""The `micro.live` probe: start every service grade.toml [microservices] lists, then test through the gateway.

The project is copied once; each service is installed in its `cwd` the way the `service` probe
installs a project (npm/pnpm/yarn frozen to the lockfile, or a virtualenv), then started with
its `start` command through :class:`grader.probes.service.ManagedService` (own process group,
scrubbed environment, log file) on its own loopback port, given as `PORT`. Every service gets
the others' URLs as `<NAME>_URL` (e.g. `ORDERS_URL`), `HOST=127.0.0.1`, the `[services]`
databases and `--env`. The services behind the gateway start first, the gateway last.

Then:

* **tracing**: one `GET` through the gateway to each service's route, with a W3C `traceparent`
  carrying a fresh trace id; the trace id is then looked for in the logs of the services behind
  the gateway, and in the response body (a service echoing its trace context);
* **fault tolerance**: one service behind the gateway is stopped (its whole process group), its
  route is requested again (waiting at most FAULT_WAIT_S), and so are the other services' routes.

Everything is stopped when the probe ends (and through `ctx.defer`, should it be cut short).
Without `[microservices]` (or with `--url`) nothing is started: the fact says why.
"""

from __future__ import annotations

import json
import secrets
import time
import tomllib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from grader.facts import ProbeContext
from grader.isolation import UNCONFINED, Cell, Isolation
from grader.plugin import probe
from grader.probes.live import Exchange, send
from grader.probes.local_deps import start_local_deps
from grader.probes.micro_config import MicroService, MicroservicesConfig
from grader.probes.ports import accepting, free_port
from grader.probes.repo import LANGUAGE_BY_SUFFIX, LOCKFILES, RepoFacts
from grader.probes.service import UNREACHABLE, ManagedService, ServiceDown, _prepare
from grader.probes.service_config import MAX_READY_TIMEOUT_S
from grader.probes.service_detect import configured_launch
from grader.probes.suite_run import SuiteWorkspace, TestRun
from grader.probes.testsuite import INSTALL_TIMEOUT_S, project_language
from grader.sandbox import scrubbed_env

ROUTE_TIMEOUT_S = 10.0
FAULT_WAIT_S = 5.0  # how long the grader waits for the gateway once a service behind it is down
LOG_WAIT_S = 1.5  # how long a trace id may take to reach a service's log
_POLL_S = 0.1
NO_CONFIG = (
    "needs grade.toml [microservices] start commands for each service "
    "(starting them with docker compose needs a Docker engine, which the grader does not use)"
)


@dataclass(frozen=True, slots=True)
class RouteCall:
    """One request through the gateway to a service's route, carrying a fresh W3C trace id."""

    service: str
    exchange: Exchange
    trace_id: str
    seen_in: tuple[str, ...]  # services behind the gateway whose log shows the trace id
    echoed: bool  # the response body carries the trace id

    @property
    def routed(self) -> bool:
        """The gateway answered below 400."""
        return self.exchange.status is not None and self.exchange.status < 400

    @property
    def propagated(self) -> bool:
        """The trace id reached a service behind the gateway (its log, or an echo in the response)."""
        return bool(self.seen_in) or self.echoed


@dataclass(frozen=True, slots=True)
class FaultTest:
    """One service stopped, then its route and the other services' routes requested through the gateway."""

    stopped: str
    call: Exchange  # the stopped service's route
    others: tuple[Exchange, ...]  # the other services' routes, afterwards
    wait_s: float  # how long the grader waited for each answer


@dataclass(frozen=True, slots=True)
class MicroLive:
    """How the services ran when the grader started them, and what the gateway did."""

    status: str  # "ran" | "not_started" (a service would not install or start) | "not_run" (nothing to start here)
    reason: str  # why it did not run or start ("" when it ran)
    started: tuple[str, ...] = ()  # how each service was started
    log_tail: str = ""  # the log of the service that did not start
    gateway: str | None = None
    routes: tuple[RouteCall, ...] = ()
    fault: FaultTest | None = None
    fault_reason: str = ""  # why no service was stopped


@probe("micro.live", timeout_s=2 * INSTALL_TIMEOUT_S + MAX_READY_TIMEOUT_S + 120)
def micro_live(ctx: ProbeContext) -> MicroLive:
    """Start each [microservices] service, send traced requests through the gateway, then stop one service."""
    config = ctx.config.microservices
    if ctx.live.url:
        return MicroLive("not_run", "--url was given: the grader starts none of the services itself")
    if not config.services:
        return MicroLive("not_run", NO_CONFIG)
    if not ctx.isolation.serves_loopback:
        why = f"the services are not started under --isolation {ctx.isolation.level}: {UNREACHABLE}"
        return MicroLive("not_run", why)
    workdir = ctx.scratch / "micro"
    fleet = Fleet(config, workdir, ctx.live.env, ctx.isolation)
    ctx.defer(fleet.stop)
    try:
        deps = start_local_deps(ctx.config.service, workdir, ctx.defer)
        fleet.started.extend(deps.notes)
        failed = fleet.start(ctx.fact("repo", RepoFacts), deps.env)
        if failed is not None:
            return failed
        routes = tuple(trace_call(fleet, s) for s in fleet.behind)
        fault, why = fault_test(fleet, routes, config.stop)
        return MicroLive("ran", "", tuple(fleet.started), "", config.gateway, routes, fault, why)
    finally:
        fleet.stop()


class Fleet:
    """The services of one run: their ports, and each one's process group once started."""

    def __init__(
        self,
        config: MicroservicesConfig,
        workdir: Path,
        extra_env: Mapping[str, str],
        isolation: Isolation = UNCONFINED,
    ) -> None:
        self.config = config
        self.isolation = isolation
        self.workdir = workdir
        self.extra_env = dict(extra_env)
        self.ports = {s.name: s.port or free_port() for s in config.services}
        self.behind = tuple(s for s in config.services if s.name != config.gateway)
        self.managed: dict[str, ManagedService] = {}
        self.copy = workdir / "project" / "src"  # the shared copy of the project, every service's folder in it
        self.started: list[str] = []

    def url(self, name: str) -> str:
        """Where the service listens (the loopback host it answered on, once it is up)."""
        return self.managed[name].base_url if name in self.managed else f"http://127.0.0.1:{self.ports[name]}"

    def start(self, repo: RepoFacts, deps_env: Mapping[str, str]) -> MicroLive | None:
        """Copy the project, install and start every service, the gateway last; None when all answer."""
        project = SuiteWorkspace(repo, self.workdir / "project", isolation=self.isolation)
        project.prepare()
        runtimes: dict[str, dict[str, str]] = {}  # folder -> PATH and friends: each folder is installed once
        for service in (*self.behind, self.config.service(self.config.gateway or "")):
            folder = service.cwd or ""
            src = project.src / folder
            if not src.is_dir():
                return self._failed(service, f"its cwd {folder!r} is not a folder of the project")
            if service.port and accepting(service.port):
                return self._failed(service, f"port {service.port} is already in use by another program")
            if folder not in runtimes:
                installed = self._install(repo, service, src)
                if not isinstance(installed, dict):
                    return installed
                runtimes[folder] = installed
            failed = self._launch(service, src, {**runtimes[folder], **deps_env})
            if failed is not None:
                return failed
        return None

    def _install(self, repo: RepoFacts, service: MicroService, src: Path) -> dict[str, str] | MicroLive:
        """Install the service's dependencies in its folder of the copy: its runtime environment, or why not."""
        root = self.workdir / service.name
        ws = FolderWorkspace(
            subproject(repo, service.cwd or ""), root, isolation=self.isolation, folder=src, copy=self.copy
        )
        (ws.root / "home").mkdir(parents=True, exist_ok=True)
        language = project_language(ws.repo)
        runtime = {"node": "node", "python": "python3"}.get(language or "")
        if runtime and ws.which(runtime) is None:
            return MicroLive("not_run", f"{runtime} is not installed here")
        prepared = _prepare(ws, language, configured_launch(service.start))
        self.started.extend(f"{service.name}: {note}" for note in ws.notes)
        if isinstance(prepared, TestRun):
            if prepared.status == "unsupported":
                return MicroLive("not_run", prepared.reason)
            return self._failed(service, f"installing it failed: {prepared.reason}", prepared.log_tail)
        return prepared

    def _launch(self, service: MicroService, src: Path, runtime: Mapping[str, str]) -> MicroLive | None:
        """Start one service with the others' URLs and wait until it answers; why not, or None."""
        port = self.ports[service.name]
        others = {s.url_variable: self.url(s.name) for s in self.config.services if s.name != service.name}
        home = self.workdir / service.name / "home"
        home.mkdir(parents=True, exist_ok=True)
        env = scrubbed_env(
            {"HOME": str(home), **runtime, "HOST": "127.0.0.1", **others, **self.extra_env, "PORT": str(port)}
        )
        managed = ManagedService(
            ("sh", "-c", service.start), cwd=src, env=env, port=port, health=service.health,
            ready_timeout_s=self.config.ready_timeout_s, log_path=self.workdir / f"{service.name}.log",
            cell=Cell(self.isolation, (self.workdir / service.name, self.copy), network=True),
        )  # fmt: skip
        self.managed[service.name] = managed
        try:
            ready = managed.start()
        except ServiceDown as exc:
            return self._failed(service, str(exc), managed.log_tail())
        where = f"in {service.cwd}" if service.cwd else "at the project root"
        self.started.append(f"{service.name}: `{service.start}` {where} on port {port}, ready when {ready}")
        return None

    def _failed(self, service: MicroService, why: str, log_tail: str = "") -> MicroLive:
        reason = f"service {service.name!r} did not start: {why}"
        return MicroLive("not_started", reason, tuple(self.started), log_tail, self.config.gateway)

    def stop_one(self, name: str) -> None:
        """Stop one service's whole process group."""
        self.managed[name].stop()

    def stop(self) -> None:
        """Stop every service (idempotent)."""
        for managed in reversed(self.managed.values()):
            managed.stop()

    def log(self, name: str) -> str:
        """What the service printed so far."""
        return self.managed[name].log_text()


@dataclass
class FolderWorkspace(SuiteWorkspace):
    """A workspace whose copy is one folder of a copy shared by every service; it is never prepared itself."""

    folder: Path = Path()
    copy: Path = Path()  # the shared copy: a service may use its siblings' code

    @property
    def src(self) -> Path:
        """The service's folder in the shared copy."""
        return self.folder

    def cell(self, *, network: bool = False) -> Cell:
        """Its own folder and the whole shared copy, writable."""
        return Cell(self.isolation, (self.root, self.copy), network)


def subproject(repo: RepoFacts, folder: str) -> RepoFacts:
    """The repository facts of one folder, as if it were a project of its own (what installing it needs)."""
    if not folder:
        return repo
    prefix = f"{folder}/"
    files = tuple(f[len(prefix) :] for f in repo.files if f.startswith(prefix))
    present = set(files)
    lockfile, manager = next(((name, pm) for name, pm in LOCKFILES if name in present), (None, None))
    package_json = _json_object(repo.root / folder / "package.json") if "package.json" in present else None
    return replace(
        repo,
        root=repo.root / folder,
        files=files,
        tracked=None,
        languages=dict(Counter(LANGUAGE_BY_SUFFIX[s] for f in files if (s := Path(f).suffix) in LANGUAGE_BY_SUFFIX)),
        package_manager=manager or ("npm" if package_json is not None else None),
        lockfile=lockfile,
        package_json=package_json,
        pyproject=_toml(repo.root / folder / "pyproject.toml") if "pyproject.toml" in present else None,
        texts={},
        notes=(),
    )


def trace_call(fleet: Fleet, service: MicroService) -> RouteCall:
    """GET the service's route through the gateway with a fresh traceparent; where the trace id showed up."""
    trace_id = secrets.token_hex(16)
    headers = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
    with _client(fleet, ROUTE_TIMEOUT_S) as client:
        response, exchange = send(client, "GET", service.gateway_path, headers=headers)
    echoed = response is not None and trace_id in response.text
    seen: tuple[str, ...] = ()
    deadline = time.monotonic() + LOG_WAIT_S
    while response is not None and not seen and time.monotonic() < deadline:
        time.sleep(_POLL_S)
        seen = tuple(s.name for s in fleet.behind if trace_id in fleet.log(s.name))
    return RouteCall(service.name, exchange, trace_id, seen, echoed)


def fault_test(fleet: Fleet, routes: tuple[RouteCall, ...], chosen: str | None) -> tuple[FaultTest | None, str]:
    """Stop one service behind the gateway, then request its route and the others'; or why no service was stopped."""
    routed = [r for r in routes if r.routed]
    victim = next((r for r in routes if r.service == chosen), None) if chosen else (routed[0] if routed else None)
    if victim is None:
        return None, "no service's route answered through the gateway while every service was up"
    if not victim.routed:
        return None, f"{victim.exchange.summary} failed even while every service was up"
    fleet.stop_one(victim.service)
    with _client(fleet, FAULT_WAIT_S) as client:
        _, call = send(client, "GET", fleet.config.service(victim.service).gateway_path)
        others = tuple(
            send(client, "GET", fleet.config.service(r.service).gateway_path)[1] for r in routed if r is not victim
        )
    return FaultTest(victim.service, call, others, FAULT_WAIT_S), ""


def _client(fleet: Fleet, timeout_s: float) -> httpx.Client:
    gateway = fleet.url(fleet.config.gateway or "")
    return httpx.Client(base_url=gateway, timeout=timeout_s, follow_redirects=False, trust_env=False)


def _json_object(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _toml(path: Path) -> dict[str, Any] | None:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
