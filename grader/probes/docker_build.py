"""Build the learner's image on a local Docker engine, run it isolated, and ask its health path.

The build gets a copy of the submission's files (`.gitignore` respected, no `node_modules`)
and `--network none`; base images must be on the engine already or pullable. A missing base
image with no registry reachable, a build that needs the network, or one that needs BuildKit
is "not run", never the learner's failure.

The container runs with `--network none`, a read-only root file system (retried writable if
the app exits), memory, CPU and process limits, and no capabilities but binding low ports.
Publishing a port needs a bridge network, which an engine started with `--bridge=none`
(as here) does not have, and `--network host` would hand the container the host's network.
So the grader reaches the container's own loopback instead: it enters only the container's
network namespace (`nsenter --net`, as root, with the engine on this machine) and runs a small
HTTP client of its own there. Where it cannot, the image's HEALTHCHECK status is read instead.
Container and image are removed afterwards, by id.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.facts import NotRunnable, ProbeContext
from grader.plugin import probe
from grader.probes.containers import ContainerFiles
from grader.probes.dockerfile import Dockerfile, health_url
from grader.probes.repo import RepoFacts
from grader.sandbox import ProcessResult, run_process, scrubbed_env

BUILD_TIMEOUT_S = 600.0
PULL_TIMEOUT_S = 120.0
CLI_TIMEOUT_S = 30.0
MAX_CONTEXT_BYTES = 1 << 30
DEFAULT_PORT = 3000
HEALTH_PATHS = ("/health", "/healthz", "/api/health", "/")
LABEL = "grade.probe=docker.image"
RUN_LIMITS = (
    "--network", "none", "--memory", "512m", "--memory-swap", "512m", "--pids-limit", "256", "--cpus", "1",
    "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE", "--security-opt", "no-new-privileges",
)  # fmt: skip
_ENGINE_ENV = ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")
_NETWORK_ERROR = re.compile(
    r"dial tcp|no such host|i/o timeout|network is unreachable|TLS handshake timeout|server misbehaving"
    r"|ENOTFOUND|EAI_AGAIN|ENETUNREACH|Temporary failure in name resolution|Could not resolve host"
    r"|Failed to establish a new connection",
    re.I,
)
_NEEDS_BUILDKIT = re.compile(r"requires BuildKit|unknown flag: --mount", re.I)
_STEP_IMAGE = re.compile(r"^ ---> ([0-9a-f]{12})\s*$", re.M)
# Runs inside the container's network namespace: GET each path on loopback until one answers,
# the time is up, or the container's main process (argv[4], a PID of the grader's PID namespace) is gone.
_HTTP_CLIENT = """
import http.client, json, os, sys, time
port, paths, until = int(sys.argv[1]), json.loads(sys.argv[2]), time.monotonic() + float(sys.argv[3])
answers = {}
while not answers and time.monotonic() < until and os.path.exists("/proc/" + sys.argv[4]):
    for path in paths:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
            conn.request("GET", path)
            answers[path] = conn.getresponse().status
            conn.close()
        except OSError:
            pass
    time.sleep(0 if answers else 0.25)
print(json.dumps(answers))
"""


@dataclass(frozen=True, slots=True)
class HealthAnswer:
    """What the container's health path answered, and how the grader reached it."""

    path: str
    status: int | None  # HTTP status, or None when only the image's HEALTHCHECK status is known
    healthy: bool
    via: str


@dataclass(frozen=True, slots=True)
class ContainerRun:
    """How the built image ran."""

    started: bool
    running: bool  # still running when last looked at
    exit_code: int | None
    port: int
    uid: int | None  # of the container's main process, as the engine reports it
    health: HealthAnswer | None
    health_note: str  # why there is no health answer, when there is none
    health_reachable: bool  # False: the grader had no way to ask (cannot enter its network, no HEALTHCHECK)
    read_only: bool  # ran with a read-only root file system
    logs: str  # the last lines the container printed


@dataclass(frozen=True, slots=True)
class DockerImage:
    """The outcome of building and running the main Dockerfile's image."""

    dockerfile: str | None  # None: the submission has no Dockerfile
    engine: str = ""
    built: bool = False
    build_seconds: float = 0.0
    build_log: str = ""  # the last lines of the build (or why it was not attempted)
    size_bytes: int | None = None
    config_user: str = ""  # the image's USER
    run: ContainerRun | None = None


@dataclass(frozen=True, slots=True)
class DockerCli:
    """The docker CLI talking to one engine, with a clean environment and its own config dir."""

    exe: str
    env: dict[str, str]
    workdir: Path

    def __call__(self, *args: str, timeout_s: float = CLI_TIMEOUT_S) -> ProcessResult:
        return run_process([self.exe, *args], cwd=self.workdir, env=self.env, timeout_s=timeout_s)

    @property
    def local(self) -> bool:
        """Whether the engine runs on this machine (a unix socket), so its PIDs are ours to see."""
        host = self.env.get("DOCKER_HOST", "")
        return not host or host.startswith("unix://")


@probe("docker.image", timeout_s=900)
def docker_image(ctx: ProbeContext) -> DockerImage:
    """Build the main Dockerfile on a local Docker engine, run the image isolated, ask its health path, measure it."""
    files = ctx.fact("docker.files", ContainerFiles)
    if files.primary is None:
        return DockerImage(dockerfile=None)
    repo = ctx.fact("repo", RepoFacts)
    workdir = Path(tempfile.mkdtemp(prefix="docker-", dir=ctx.scratch))
    cli, engine = connect(workdir)
    return build_and_run(cli, engine, repo, files, ctx, workdir)


def connect(workdir: Path) -> tuple[DockerCli, str]:
    """The docker CLI and the engine's version; NotRunnable when no engine answers."""
    exe = shutil.which("docker")
    if exe is None:
        raise NotRunnable("no Docker engine: the docker CLI is not installed")
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        raise NotRunnable("no Docker engine: DOCKER_HOST is not set and /var/run/docker.sock does not exist")
    engine_env = {k: os.environ[k] for k in _ENGINE_ENV if os.environ.get(k)}
    env = scrubbed_env({"HOME": str(workdir), "DOCKER_CONFIG": str(workdir / ".docker"), "DOCKER_BUILDKIT": "0"})
    cli = DockerCli(exe, {**env, **engine_env}, workdir)
    version = cli("version", "--format", "{{.Server.Version}}", timeout_s=15)
    if not version.ok:
        raise NotRunnable(f"no Docker engine: `docker version` failed: {_last_line(version.output)}")
    return cli, _last_line(version.output)


def build_and_run(
    cli: DockerCli, engine: str, repo: RepoFacts, files: ContainerFiles, ctx: ProbeContext, workdir: Path
) -> DockerImage:
    """Build the image, run it, and remove both; raises NotRunnable when this machine cannot build it."""
    dockerfile = files.primary
    assert dockerfile is not None
    failure = _copy_sources(repo, workdir / "src") or _base_images(cli, dockerfile)
    if failure is not None:
        return DockerImage(dockerfile.path, engine, build_log=failure)
    began = time.monotonic()
    iid = workdir / "image.id"
    build = cli(
        "build", "--network", "none", "--force-rm", "--iidfile", str(iid), "--label", LABEL,
        "-f", str(workdir / "src" / dockerfile.path), str(workdir / "src" / files.context),
        timeout_s=BUILD_TIMEOUT_S,
    )  # fmt: skip
    seconds = time.monotonic() - began
    image_id = iid.read_text().strip() if build.ok and iid.is_file() else None
    try:
        if image_id is None:
            return DockerImage(dockerfile.path, engine, build_seconds=seconds, build_log=_build_failure(build))
        image = _inspect(cli, "image", image_id)
        run = _run(cli, image_id, dockerfile, ctx)
        return DockerImage(
            dockerfile.path,
            engine,
            built=True,
            build_seconds=seconds,
            build_log=build.tail,
            size_bytes=int(image.get("Size") or 0) or None,
            config_user=str((image.get("Config") or {}).get("User") or ""),
            run=run,
        )
    finally:
        _remove_images(cli, image_id, _STEP_IMAGE.findall(build.output))


def _copy_sources(repo: RepoFacts, dest: Path) -> str | None:
    """Copy the submission's files (as git sees them) for the build; a message if they are too large."""
    total = 0
    for name in repo.files:
        source, target = repo.root / name, dest / name
        try:
            total += source.lstat().st_size
            if total > MAX_CONTEXT_BYTES:
                return f"the files to build from exceed {MAX_CONTEXT_BYTES >> 20} MiB"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)
        except OSError:
            continue  # vanished or unreadable: the build says what it misses
    return None


def _base_images(cli: DockerCli, dockerfile: Dockerfile) -> str | None:
    """Make sure each base image is on the engine (pulling if a registry answers); a message if one cannot be had."""
    for stage in dockerfile.external_bases:
        ref = stage.base.text
        if not ref or "$" in ref or cli("image", "inspect", "--format", "{{.Id}}", ref).ok:
            continue
        pulled = cli("pull", ref, timeout_s=PULL_TIMEOUT_S)
        if pulled.ok:
            continue
        if pulled.timed_out or _NETWORK_ERROR.search(pulled.output):
            raise NotRunnable(f"base image {ref} is not available locally and no registry is reachable")
        return f"base image {ref} ({dockerfile.path}:{stage.line}) cannot be pulled: {_last_line(pulled.output)}"
    return None


def _build_failure(build: ProcessResult) -> str:
    """Why the build failed, for evidence; NotRunnable when the cause is this machine, not the Dockerfile."""
    if build.timed_out:
        return f"the build did not finish within {BUILD_TIMEOUT_S:.0f} s\n{build.tail}"
    if _NEEDS_BUILDKIT.search(build.output):
        raise NotRunnable("the Dockerfile needs BuildKit (e.g. RUN --mount), and builds here use the classic builder")
    if match := _NETWORK_ERROR.search(build.output):
        raise NotRunnable(f"the build needs the network ({match.group(0)}); builds here run with --network none")
    return build.tail


def _run(cli: DockerCli, image_id: str, dockerfile: Dockerfile, ctx: ProbeContext) -> ContainerRun:
    """Run the image read-only (writable if it will not stay up that way) and ask its health path."""
    port, paths = _target(dockerfile, ctx)
    env = {k: v for k, v in ctx.config.service.env.items() if "${" not in v}
    run = _run_once(cli, image_id, port, paths, env, ctx.config.service.ready_timeout_s, read_only=True)
    if run.started and not run.running and run.health is None:
        run = _run_once(cli, image_id, port, paths, env, ctx.config.service.ready_timeout_s, read_only=False)
    return run


def _target(dockerfile: Dockerfile, ctx: ProbeContext) -> tuple[int, tuple[str, ...]]:
    """The container port to ask and the health paths to try, from EXPOSE, HEALTHCHECK and grade.toml."""
    healthcheck = dockerfile.effective_healthcheck()
    check_port, check_path = health_url(healthcheck[1]) if healthcheck else (None, None)
    exposed = dockerfile.exposed_ports()
    port = (exposed[0] if exposed else None) or check_port or ctx.config.service.port or DEFAULT_PORT
    configured = ctx.config.service.health or check_path
    return port, (configured,) if configured else HEALTH_PATHS


def _run_once(
    cli: DockerCli,
    image_id: str,
    port: int,
    paths: tuple[str, ...],
    env: dict[str, str],
    timeout_s: float,
    *,
    read_only: bool,
) -> ContainerRun:
    args = ["run", "-d", *RUN_LIMITS, "--label", LABEL, "-e", f"PORT={port}"]
    args += [f"--env={k}={v}" for k, v in env.items()]
    args += ["--read-only", "--tmpfs", "/tmp:rw,nosuid,size=64m"] if read_only else []
    started = cli(*args, image_id)
    container = _last_line(started.output) if started.ok else ""
    if not container:
        failed = "could not be created (docker run failed)"
        return ContainerRun(False, False, None, port, None, None, failed, True, read_only, logs=started.tail)
    try:
        health, note, reachable = _await_health(cli, container, port, paths, timeout_s)
        state = _inspect(cli, "container", container).get("State") or {}
        return ContainerRun(
            started=True,
            running=bool(state.get("Running")),
            exit_code=state.get("ExitCode"),
            port=port,
            uid=_uid(cli, container, state),
            health=health,
            health_note=note,
            health_reachable=reachable,
            read_only=read_only,
            logs=cli("logs", "--tail", "40", container).output,
        )
    finally:
        cli("rm", "-f", "-v", container)


def _await_health(
    cli: DockerCli, container: str, port: int, paths: tuple[str, ...], timeout_s: float
) -> tuple[HealthAnswer | None, str, bool]:
    """(answer, why there is none, whether the grader could ask at all), once the health path answers,
    the container stops, or `timeout_s` pass."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = _inspect(cli, "container", container).get("State") or {}
        if not state.get("Running"):
            return None, f"exited with code {state.get('ExitCode')}", True
        pid = int(state.get("Pid") or 0)
        if _can_enter(cli, container, pid):
            answer = _ask_inside(cli, pid, port, paths, min(5.0, deadline - time.monotonic()))
        elif state.get("Health"):
            answer = _docker_health(state)
        elif (_inspect(cli, "container", container).get("State") or {}).get("Running"):
            reason = "its network cannot be entered here (needs root and a local engine) and it has no HEALTHCHECK"
            return None, reason, False
        else:
            continue  # it exited between the two looks: the next turn says with which code
        if answer is not None:
            return answer, "", True
        time.sleep(0.5)
    return None, f"no answer on port {port} within {timeout_s:.0f} s", True


def _can_enter(cli: DockerCli, container: str, pid: int) -> bool:
    """Whether this process can enter the container's network namespace (root, local engine, same PID space)."""
    if not pid or os.geteuid() != 0 or not cli.local or shutil.which("nsenter") is None:
        return False
    try:
        return container in Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return False


def _ask_inside(cli: DockerCli, pid: int, port: int, paths: tuple[str, ...], seconds: float) -> HealthAnswer | None:
    """GET the health paths on the container's loopback, from inside its network namespace."""
    argv = ["nsenter", f"--target={pid}", "--net", "--", sys.executable, "-I", "-S", "-c", _HTTP_CLIENT]
    argv += [str(port), json.dumps(paths), f"{max(seconds, 0.5):.1f}", str(pid)]
    done = run_process(argv, cwd=cli.workdir, env=cli.env, timeout_s=seconds + 10)
    try:
        answers: dict[str, int] = json.loads(_last_line(done.output) or "{}")
    except ValueError:
        return None
    if not answers:
        return None
    path = next((p for p in paths if 200 <= answers.get(p, 0) < 400), next(p for p in paths if p in answers))
    via = f"HTTP on the container's loopback (port {port}), from inside its network namespace"
    return HealthAnswer(path, answers[path], 200 <= answers[path] < 400, via)


def _docker_health(state: dict[str, Any]) -> HealthAnswer | None:
    """The image's own HEALTHCHECK verdict, once Docker has one."""
    status = (state.get("Health") or {}).get("Status")
    if status not in ("healthy", "unhealthy"):
        return None
    return HealthAnswer("HEALTHCHECK", None, status == "healthy", "the image's HEALTHCHECK, as Docker reports it")


def _uid(cli: DockerCli, container: str, state: dict[str, Any]) -> int | None:
    """The user id the container's main process runs as (`docker top`), or None if the engine cannot say."""
    top = cli("top", container, "-eo", "uid,pid")
    rows = [line.split() for line in top.output.splitlines()[1:] if top.ok]
    rows = [r for r in rows if len(r) == 2 and r[0].isdigit()]
    main = next((r for r in rows if r[1] == str(state.get("Pid"))), rows[0] if rows else None)
    return int(main[0]) if main else None


def _inspect(cli: DockerCli, kind: str, ref: str) -> dict[str, Any]:
    done = cli(kind, "inspect", ref)
    try:
        data = json.loads(done.output) if done.ok else []
    except ValueError:
        return {}
    return data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}


def _remove_images(cli: DockerCli, image_id: str | None, steps: list[str]) -> None:
    """Remove the built image and the untagged intermediate images the classic builder left (never a tagged one)."""
    if image_id:
        cli("rmi", image_id)
    for step in reversed(steps):
        tags = cli("image", "inspect", "--format", "{{len .RepoTags}}", step)
        if tags.ok and _last_line(tags.output) == "0":
            cli("rmi", step)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
