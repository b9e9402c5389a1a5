"""`--isolation docker`: each learner command runs in a container of its own.

The engine is the one `DOCKER_HOST` (or the default socket) names. The image is built locally
(no registry is involved): an almost empty root file system, onto which the host's /usr, /etc,
/opt and the runtimes are bind-mounted read-only, so node, npm and the grader's Python are the
same as outside. The run's folders are the only writable mounts (at the same paths, so every
path the grader computes stays valid); the root file system is read-only, /tmp is a tmpfs.
Each container runs with `--network none` (installs: `--network host`, to reach the registry),
the sandbox uid, memory, pids and CPU limits, no capabilities and no-new-privileges, and is
removed (`docker rm -f`) when its process group is killed, and again at the end of the run.

The learner's service is not started at this level: a container without network cannot be
reached by the probes on the grader's loopback (see :attr:`Isolation.serves_loopback`).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.errors import UsageError
from grader.isolation import SYSTEM_LINKS, SYSTEM_RO, Cell, Isolation, Launch

IMAGE = "grade-sandbox:1"
_ENGINE_VARS = ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_CONFIG")
_MOUNT_POINTS = ("tmp", "proc", "sys", "dev", "etc", "usr", "opt", "root", "home")
_COUNTER = itertools.count()


@dataclass(frozen=True, slots=True)
class DockerEngine:
    """The docker CLI and the environment that points it at the engine, and this run's container label."""

    cli: str
    env: dict[str, str]
    run_id: str

    def run(self, *args: str, stdin: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        """A docker CLI command (grader-side, not confined)."""
        return subprocess.run(
            [self.cli, *args], env=self.env, input=stdin, capture_output=True, timeout=timeout, check=False
        )


def attach_engine(isolation: Isolation) -> None:
    """Find a Docker engine that answers and make sure the sandbox image exists; UsageError saying why not."""
    cli = shutil.which("docker")
    if cli is None:
        raise UsageError("--isolation docker: the docker CLI is not installed")
    env = {k: os.environ[k] for k in _ENGINE_VARS if k in os.environ}
    engine = DockerEngine(cli, {"PATH": os.defpath, **env}, uuid.uuid4().hex[:12])
    try:
        version = engine.run("version", "--format", "{{.Server.Version}}", timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"--isolation docker: no Docker engine answers: {exc}") from None
    if version.returncode != 0:
        why = version.stderr.decode(errors="replace").strip().splitlines() or ["it failed"]
        raise UsageError(
            f"--isolation docker: no Docker engine answers ({env.get('DOCKER_HOST', 'default')}): {why[-1]}"
        )
    if engine.run("image", "inspect", IMAGE).returncode != 0:
        imported = engine.run("import", "-", IMAGE, stdin=_root_fs(), timeout=120)
        if imported.returncode != 0:
            raise UsageError(f"--isolation docker: could not create the image {IMAGE}: {imported.stderr.decode()}")
    isolation.docker = engine


def _root_fs() -> bytes:
    """A tar of empty mount points, /tmp, and /bin, /lib... as the same links as on this machine."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in _MOUNT_POINTS:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if name == "tmp" else 0o755
            tar.addfile(info)
        for path in SYSTEM_LINKS:
            if os.path.islink(path):
                info = tarfile.TarInfo(path.lstrip("/"))
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
                tar.addfile(info)
    return buffer.getvalue()


def docker_launch(
    isolation: Isolation, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], cell: Cell
) -> Launch:
    """`docker run` for one command, and the removal of its container once its process group is gone."""
    engine = isolation.docker
    assert isinstance(engine, DockerEngine)
    limits = isolation.limits
    name = f"grade-{engine.run_id}-{next(_COUNTER)}"
    uid, gid = (isolation.account.uid, isolation.account.gid) if isolation.account else (os.getuid(), os.getgid())
    args = [
        engine.cli, "run", "--rm", "--name", name, "--label", f"grade.run={engine.run_id}",
        "--network", "host" if cell.network else "none", "--hostname", "grade-sandbox",
        "--read-only", "--tmpfs", f"/tmp:rw,exec,size={limits.tmp_bytes},mode=1777",
        "--user", f"{uid}:{gid}", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--memory", str(limits.memory_bytes), "--memory-swap", str(limits.memory_bytes),
        "--pids-limit", str(limits.processes), "--cpus", f"{limits.cpus:g}",
        "--ulimit", f"nofile={limits.open_files}:{limits.open_files}", "--ulimit", "core=0:0",
        "--ulimit", f"fsize={limits.file_bytes}:{limits.file_bytes}", "--ulimit", f"cpu={limits.cpu_s}:{limits.cpu_s}",
        "--workdir", str(cwd),
    ]  # fmt: skip
    args += [a for p in _read_only(isolation) for a in ("--volume", f"{p}:{p}:ro")]
    args += [a for p in isolation.writable(cell) for a in ("--volume", f"{p}:{p}")]
    if isolation.account is not None and isolation.home is not None:
        args += ["--volume", f"{isolation.home / 'passwd'}:/etc/passwd:ro"]
        args += ["--volume", f"{isolation.home / 'group'}:/etc/group:ro"]
    args += [a for key in env for a in ("--env", key)]  # values come from the CLI's environment, never argv
    return Launch([*args, IMAGE, *argv], {**env, **engine.env}, Path("/"), cleanup=lambda: _remove(engine, name))


def _read_only(isolation: Isolation) -> list[str]:
    """System folders (and /bin, /lib... where they are real folders) and the runtimes, mounted read-only."""
    paths = [p for p in SYSTEM_RO if os.path.isdir(p)]
    paths += [p for p in SYSTEM_LINKS if os.path.isdir(p) and not os.path.islink(p)]
    paths += [str(p) for p in isolation.runtimes if not any(p.is_relative_to(s) for s in SYSTEM_RO)]
    return paths


def _remove(engine: DockerEngine, *names: str) -> None:
    """Remove containers, running or not (missing ones are fine)."""
    if names:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            engine.run("rm", "--force", *names, timeout=60)


def remove_containers(isolation: Isolation) -> None:
    """Remove every container this run started that is still there."""
    engine = isolation.docker
    if not isinstance(engine, DockerEngine):
        return
    try:
        listed = engine.run("ps", "--all", "--quiet", "--filter", f"label=grade.run={engine.run_id}")
    except (OSError, subprocess.TimeoutExpired):
        return
    _remove(engine, *listed.stdout.decode().split())
