"""A Docker engine for the container tests, and base images built locally (no registry is reachable).

Uses the engine `DOCKER_HOST` or /var/run/docker.sock points at when one answers; otherwise
starts a private `dockerd --iptables=false --bridge=none` in a temporary directory (needs root)
and stops it, by PID, at the end of the session. The base images the fixtures name are imported
from a tiny root file system holding this machine's `node` (with the shared libraries `ldd`
lists), npm, `sh` and a non-root `node` user; an image that already exists is left alone.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.sandbox import kill_group
from tests.conftest import require

BASE_IMAGES = ("node:20.20-bookworm-slim", "node:latest")  # what fixtures/docker-* name in FROM
ENGINE_START_S = 60.0


def docker(host: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI against `host`."""
    env = {**os.environ, "DOCKER_HOST": host}
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _answers(host: str) -> bool:
    try:
        return docker(host, "version", "--format", "{{.Server.Version}}", timeout=15).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def docker_host() -> Iterator[str]:
    """DOCKER_HOST of a working engine: an existing one, else a private dockerd started for this session."""
    require(shutil.which("docker") is not None, "the docker CLI is not installed")
    configured = os.environ.get("DOCKER_HOST") or (
        "unix:///var/run/docker.sock" if Path("/var/run/docker.sock").exists() else None
    )
    if configured and _answers(configured):
        yield configured
        return
    dockerd = shutil.which("dockerd")
    require(dockerd is not None, "no Docker engine answers and dockerd is not installed")
    require(os.geteuid() == 0, "no Docker engine answers, and starting dockerd needs root")
    assert dockerd is not None
    base = Path(tempfile.mkdtemp(prefix="grade-dockerd-"))  # short: a unix socket path has ~100 bytes
    host = f"unix://{base}/docker.sock"
    argv = [
        dockerd, "--iptables=false", "--bridge=none", "--data-root", f"{base}/data", "--exec-root", f"{base}/exec",
        "--pidfile", f"{base}/dockerd.pid", "-H", host,
    ]  # fmt: skip
    with (base / "dockerd.log").open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + ENGINE_START_S
        while not _answers(host):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (base / "dockerd.log").read_text(errors="replace")[-2000:]
                require(False, f"dockerd did not start (exit {proc.poll()}):\n{tail}")
            time.sleep(0.3)
        yield host
    finally:
        kill_group(proc.pid, grace_s=20)  # dockerd and the containerd it started
        proc.wait()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def base_images(docker_host: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ...]:
    """Import the fixtures' base images from a local root file system (each only if the engine lacks it)."""
    missing = [ref for ref in BASE_IMAGES if docker(docker_host, "image", "inspect", ref).returncode != 0]
    if missing:
        rootfs = node_rootfs(tmp_path_factory.mktemp("rootfs") / "rootfs.tar")
        imported = docker(docker_host, "import", str(rootfs), missing[0], timeout=300)
        assert imported.returncode == 0, imported.stderr
        for ref in missing[1:]:
            assert docker(docker_host, "tag", missing[0], ref).returncode == 0
    return BASE_IMAGES


def node_rootfs(dest: Path) -> Path:
    """A tar of the smallest root file system that runs this machine's node and npm as a `node` user."""
    node, npm, dash = shutil.which("node"), shutil.which("npm"), shutil.which("dash")
    require(None not in (node, npm, dash), "node, npm and dash are needed to make a base image")
    assert node is not None and npm is not None and dash is not None
    members = {"usr/bin/node": node, "usr/bin/dash": dash, "usr/bin/env": "/usr/bin/env"}
    for binary in list(members.values()):
        members.update({lib.lstrip("/"): lib for lib in _shared_libraries(binary)})
    with tarfile.open(dest, "w") as tar:
        for name, path in members.items():
            tar.add(os.path.realpath(path), arcname=name)
        tar.add(Path(npm).resolve().parents[1], arcname="usr/lib/node_modules/npm")  # .../npm/bin/npm-cli.js
        _link(tar, "usr/bin/npm", "../lib/node_modules/npm/bin/npm-cli.js")
        _link(tar, "usr/bin/sh", "dash")
        _link(tar, "bin", "usr/bin")
        _text(tar, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n")
        _text(tar, "etc/group", "root:x:0:\nnode:x:1000:\n")
        _directory(tar, "tmp", 0o1777)
        _directory(tar, "root", 0o700)
        _directory(tar, "home/node", 0o755, owner=1000)
    return dest


def _shared_libraries(binary: str) -> list[str]:
    listed = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False).stdout
    return re.findall(r"(/\S+) \(0x", listed)


def _link(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    tar.addfile(info)


def _text(tar: tarfile.TarFile, name: str, content: str) -> None:
    data = content.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def _directory(tar: tarfile.TarFile, name: str, mode: int, owner: int = 0) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, mode, owner, owner
    tar.addfile(info)
