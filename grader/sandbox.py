"""Running untrusted learner commands: own process group, wall-clock limit, scrubbed env, capped output.

Every learner process (installs, test suites, servers) goes through :func:`run_process`. The
process runs in a new session; when it ends, times out or leaves background children, the
whole group is terminated (SIGTERM, a short grace, then SIGKILL). Output is read
incrementally and only its head and tail are kept, so a suite printing gigabytes costs a few
megabytes. Where the platform allows, core dumps are disabled and written files are capped.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

try:
    import resource
except ImportError:  # pragma: no cover - not on Windows
    resource = None  # type: ignore[assignment]

TAIL_LINES = 40
KILL_GRACE_S = 2.0
FILE_SIZE_LIMIT = 1 << 30  # 1 GiB per file written by a learner process
_READ_CHUNK = 64 * 1024
_IDLE_POLL_S = 0.1
_DRAIN_S = 1.0  # after the leader exits, how long to keep reading output from what it left behind

# Inherited variables a learner process may need: locale, time zone, trust stores, proxies, package indexes.
_INHERITED = (
    "PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT",
    "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
    "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_TRUSTED_HOST", "PIP_DEFAULT_TIMEOUT",
)  # fmt: skip
# Never handed on, even if a name above matches (belt and braces for future additions).
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|COOKIE|SESSION|(^|_)KEY($|_)|^AWS_|^GH_|^GITHUB_", re.I)


@dataclass(frozen=True, slots=True)
class ProcessResult:
    """How one learner process ended, with its (capped) combined output."""

    argv: tuple[str, ...]
    returncode: int | None  # None when killed on timeout
    timed_out: bool
    duration_s: float
    output: str  # stdout+stderr; over the cap: head, an omission marker, tail
    output_bytes: int  # total bytes the process wrote

    @property
    def tail(self) -> str:
        """The last lines of output, for evidence."""
        return "\n".join(self.output.rstrip("\n").splitlines()[-TAIL_LINES:])

    @property
    def command(self) -> str:
        """The argv, shell-quoted, for reports."""
        return shlex.join(self.argv)

    @property
    def ok(self) -> bool:
        """Exited by itself with status 0."""
        return self.returncode == 0 and not self.timed_out


def cache_dir() -> Path:
    """The grader's cache (npm, pip, tools): $GRADE_CACHE_DIR, else ~/.cache/grade."""
    configured = os.environ.get("GRADE_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "grade"


def scrubbed_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A minimal environment for learner processes, never carrying the grader's tokens.

    Inherits only locale, PATH, trust stores, proxies and package-index settings; sets
    TERM=dumb, CI=true, no colour, and shared npm/pip caches under :func:`cache_dir`.
    HOME should be a scratch directory passed in `extra` (default: ``<cache>/home``).
    """
    cache = cache_dir()
    env = {k: os.environ[k] for k in _INHERITED if k in os.environ and not _SECRET_NAME.search(k)}
    env.setdefault("PATH", os.defpath)
    env.setdefault("LANG", "C.UTF-8")
    env.update(
        HOME=str(cache / "home"),
        TERM="dumb",
        CI="true",
        NO_COLOR="1",
        FORCE_COLOR="0",
        npm_config_cache=str(cache / "npm"),
        npm_config_update_notifier="false",
        npm_config_fund="false",
        npm_config_audit="false",
        PIP_CACHE_DIR=str(cache / "pip"),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    Path(env["HOME"]).mkdir(parents=True, exist_ok=True)
    return env


def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    output_cap_bytes: int = 2_000_000,
    stdin: int | IO[Any] = subprocess.DEVNULL,
) -> ProcessResult:
    """Run `argv` in its own session with a wall-clock limit; kill its whole group when it is done.

    Raises OSError only when the program cannot be started at all (e.g. not found).
    """
    began = time.monotonic()
    proc = spawn(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stdin=stdin)
    sink = _CappedBuffer(output_cap_bytes)
    assert proc.stdout is not None
    with proc.stdout:
        timed_out = _pump(proc, proc.stdout.fileno(), sink, began + timeout_s)
        kill_group(proc.pid)
        returncode = proc.wait()
        _drain(proc.stdout.fileno(), sink, time.monotonic() + _DRAIN_S)
    return ProcessResult(
        argv=tuple(argv),
        returncode=None if timed_out else returncode,
        timed_out=timed_out,
        duration_s=time.monotonic() - began,
        output=sink.text(),
        output_bytes=sink.total,
    )


def spawn(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdout: int | IO[Any],
    stdin: int | IO[Any] = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """Start `argv` in a new session (its own process group), stderr merged into `stdout`, rlimits applied.

    The caller ends it with :func:`kill_group`. Raises OSError when the program cannot be started.
    """
    proc = subprocess.Popen(
        list(argv), cwd=cwd, env=dict(env), stdin=stdin, stdout=stdout, stderr=subprocess.STDOUT,
        start_new_session=True, close_fds=True,
    )  # fmt: skip
    _limit_resources(proc.pid)
    return proc


class _CappedBuffer:
    """Keeps the first and last `cap/2` bytes of a stream and counts the rest."""

    def __init__(self, cap: int) -> None:
        self.half = max(cap // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def write(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > 2 * self.half:
            del self.tail[: len(self.tail) - self.half]

    def text(self) -> str:
        tail = self.tail[-self.half :]
        omitted = self.total - len(self.head) - len(tail)
        marker = f"\n[... {omitted} bytes omitted ...]\n".encode() if omitted > 0 else b""
        return bytes(self.head + marker + tail).decode("utf-8", errors="replace")


def _pump(proc: subprocess.Popen[bytes], fd: int, sink: _CappedBuffer, deadline: float) -> bool:
    """Copy output into `sink` until EOF or the leader exits; True if the deadline passed first.

    The leader is checked after every read, so children it leaves writing to the pipe cannot keep
    the run going: they are killed with the group, and what remains is drained.
    """
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while (remaining := deadline - time.monotonic()) > 0:
            if sel.select(min(remaining, _IDLE_POLL_S)):
                chunk = os.read(fd, _READ_CHUNK)
                if not chunk:
                    return _wait_until(proc, deadline)
                sink.write(chunk)
            if proc.poll() is not None:
                return False
    return proc.poll() is None


def _wait_until(proc: subprocess.Popen[bytes], deadline: float) -> bool:
    """Wait for the leader (its output is closed); True if the deadline passed first."""
    try:
        proc.wait(timeout=max(deadline - time.monotonic(), 0))
    except subprocess.TimeoutExpired:
        return True
    return False


def _drain(fd: int, sink: _CappedBuffer, deadline: float) -> None:
    """Read what is left in the pipe, for at most until `deadline` (an escaped child may hold it open)."""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while (remaining := deadline - time.monotonic()) > 0 and sel.select(remaining):
            chunk = os.read(fd, _READ_CHUNK)
            if not chunk:
                return
            sink.write(chunk)


def _limit_resources(pid: int) -> None:
    """No core dumps; cap the size of any file written (best effort, Linux only).

    Applied right after the program starts (no preexec_fn: probes run in threads).
    """
    prlimit = getattr(resource, "prlimit", None)
    if prlimit is None:
        return
    try:
        prlimit(pid, resource.RLIMIT_CORE, (0, 0))
        prlimit(pid, resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    except (OSError, ValueError):
        pass  # already exited, or a hard limit below ours: nothing to tighten


def kill_group(pgid: int, grace_s: float = KILL_GRACE_S) -> None:
    """SIGTERM every live process of the group, then SIGKILL whatever survives the grace period."""
    if not _group_alive(pgid):
        return
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if not _group_alive(pgid):
            return
    _signal_group(pgid, signal.SIGKILL)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """Whether any non-zombie process is in the group (zombies may linger where PID 1 never reaps)."""
    if not Path("/proc").is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    return bool(group_pids(pgid))


def group_pids(pgid: int) -> list[int]:
    """The live (non-zombie) processes of a group, from /proc (empty where there is no /proc)."""
    proc = Path("/proc")
    pids = []
    for entry in proc.iterdir() if proc.is_dir() else ():
        state = _proc_group_state(entry) if entry.name.isdigit() else None
        if state is not None and state[0] == pgid and state[1] not in "ZXx":
            pids.append(int(entry.name))
    return pids


def _proc_group_state(entry: Path) -> tuple[int, str] | None:
    """(process group, state letter) from /proc/<pid>/stat, or None if it vanished."""
    try:
        stat = (entry / "stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[2]), fields[0]) if len(fields) > 2 else None
