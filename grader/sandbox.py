"""Running untrusted learner commands: own process group, wall-clock limit, scrubbed env, capped output.

Every learner process (installs, test suites, servers) goes through :func:`run_process`. The
process runs in a new session; when it ends, times out or leaves background children, the
whole group is terminated (SIGTERM, a short grace, then SIGKILL). Output is read
incrementally and only its head and tail are kept, so a suite printing gigabytes costs a few
megabytes. Where the platform allows, core dumps are disabled and written files are capped.
Given a :class:`grader.isolation.Cell`, the command is confined at the run's isolation level
(another user, bubblewrap or a container; see :mod:`grader.isolation`), and the limits it ran
into are named in :attr:`ProcessResult.limits_hit`.
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.isolation import Cell

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
_SAMPLE_S = 0.5  # how often a confined run's process count is sampled

# Inherited variables a learner process may need: locale, time zone, trust stores, proxies, package indexes.
_INHERITED = (
    "PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT",
    "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
    "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_TRUSTED_HOST", "PIP_DEFAULT_TIMEOUT",
)  # fmt: skip
# Never handed on, even if a name above matches (belt and braces for future additions).
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|COOKIE|SESSION|(^|_)KEY($|_)|^AWS_|^GH_|^GITHUB_", re.I)
# What a program prints when it cannot start another process or thread (sh, dash, bash, node, Python, Java).
_NO_MORE_PROCESSES = re.compile(
    rb"Cannot fork|fork: (retry: )?Resource temporarily unavailable|spawn \S* ?EAGAIN|Errno 11\] Resource temporarily"
    rb"|unable to create native thread|pthread_create.*(EAGAIN|Resource temporarily)"
)
_CLEANUPS: dict[int, Callable[[], None]] = {}  # process group -> what to undo once it is gone (a container)


@dataclass(frozen=True, slots=True)
class ProcessResult:
    """How one learner process ended, with its (capped) combined output."""

    argv: tuple[str, ...]
    returncode: int | None  # None when killed on timeout
    timed_out: bool
    duration_s: float
    output: str  # stdout+stderr; over the cap: head, an omission marker, tail
    output_bytes: int  # total bytes the process wrote
    limits_hit: tuple[str, ...] = ()  # in words, e.g. "output capped at 2 MB of 1.1 GB written"

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
    cell: Cell | None = None,
) -> ProcessResult:
    """Run `argv` in its own session with a wall-clock limit; kill its whole group when it is done.

    Raises OSError only when the program cannot be started at all (e.g. not found).
    """
    began = time.monotonic()
    proc = spawn(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stdin=stdin, cell=cell)
    sink = _CappedBuffer(output_cap_bytes)
    peak = _TaskPeak(proc.pid if cell is not None and cell.isolation.confined else None)
    assert proc.stdout is not None
    with proc.stdout:
        timed_out = _pump(proc, proc.stdout.fileno(), sink, began + timeout_s, peak.sample)
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
        limits_hit=_limits_hit(sink, output_cap_bytes, returncode, cell, peak.tasks),
    )


class _TaskPeak:
    """The most tasks (processes and threads) a process group had at once, sampled while it runs."""

    def __init__(self, pgid: int | None) -> None:
        self.pgid = pgid
        self.tasks = 0
        self._next = 0.0

    def sample(self) -> None:
        if self.pgid is not None and time.monotonic() >= self._next:
            self.tasks = max(self.tasks, group_tasks(self.pgid))
            self._next = time.monotonic() + _SAMPLE_S


def _limits_hit(sink: _CappedBuffer, cap: int, returncode: int, cell: Cell | None, peak_tasks: int) -> tuple[str, ...]:
    """The limits a run ran into, in words for a report."""
    hit = []
    if sink.total > cap:
        hit.append(f"output capped at {_size(cap)} of {_size(sink.total)} written")
    confined = cell.isolation.limits if cell is not None and cell.isolation.confined else None
    if confined and (sink.matches(_NO_MORE_PROCESSES) or peak_tasks >= 0.9 * confined.processes):
        hit.append(f"reached the process limit of {confined.processes} (peak {peak_tasks} tasks)")
    if returncode in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ) or sink.matches(rb"File size limit exceeded|EFBIG"):
        hit.append(f"a file reached the {_size(confined.file_bytes if confined else FILE_SIZE_LIMIT)} size limit")
    return tuple(hit)


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB" if n >= 1e6 else f"{n} bytes"


def spawn(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdout: int | IO[Any],
    stdin: int | IO[Any] = subprocess.DEVNULL,
    cell: Cell | None = None,
) -> subprocess.Popen[bytes]:
    """Start `argv` in a new session (its own process group), stderr merged into `stdout`, rlimits applied.

    With a `cell`, confined at its isolation level. The caller ends it with :func:`kill_group`.
    Raises OSError when the program cannot be started.
    """
    launch = cell.isolation.launch(argv, cwd=cwd, env=env, cell=cell) if cell is not None else None
    user = launch.account if launch is not None else None
    proc = subprocess.Popen(
        launch.argv if launch else list(argv), cwd=launch.cwd if launch else cwd,
        env=launch.env if launch else dict(env), stdin=stdin, stdout=stdout, stderr=subprocess.STDOUT,
        start_new_session=True, close_fds=True,
        user=user.uid if user else None, group=user.gid if user else None, extra_groups=[] if user else None,
    )  # fmt: skip
    if cell is None or not cell.isolation.confined:
        _limit_resources(proc.pid)  # confined: the launch set its own limits before the program started
    if launch is not None and launch.cleanup is not None:
        _CLEANUPS[proc.pid] = launch.cleanup
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

    def matches(self, pattern: re.Pattern[bytes] | bytes) -> bool:
        """Whether the kept output (head and tail) matches `pattern`."""
        return re.search(pattern, bytes(self.head)) is not None or re.search(pattern, bytes(self.tail)) is not None

    def text(self) -> str:
        tail = self.tail[-self.half :]
        omitted = self.total - len(self.head) - len(tail)
        marker = f"\n[... {omitted} bytes omitted ...]\n".encode() if omitted > 0 else b""
        return bytes(self.head + marker + tail).decode("utf-8", errors="replace")


def _pump(
    proc: subprocess.Popen[bytes], fd: int, sink: _CappedBuffer, deadline: float, sample: Callable[[], None]
) -> bool:
    """Copy output into `sink` until EOF or the leader exits; True if the deadline passed first.

    The leader is checked after every read, so children it leaves writing to the pipe cannot keep
    the run going: they are killed with the group, and what remains is drained. `sample` is
    called on every turn.
    """
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while (remaining := deadline - time.monotonic()) > 0:
            sample()
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
    """SIGTERM every live process of the group, then SIGKILL whatever survives the grace period.

    What its start registered to undo (a container) is undone once the group is gone.
    """
    try:
        _end_group(pgid, grace_s)
    finally:
        cleanup = _CLEANUPS.pop(pgid, None)
        if cleanup is not None:
            cleanup()


def _end_group(pgid: int, grace_s: float) -> None:
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
    return [pid for pid, _threads in _group_members(pgid)]


def group_tasks(pgid: int) -> int:
    """How many tasks (threads included, as RLIMIT_NPROC counts them) the group's live processes have."""
    return sum(threads for _pid, threads in _group_members(pgid))


def _group_members(pgid: int) -> list[tuple[int, int]]:
    """(pid, threads) of the group's live processes."""
    proc = Path("/proc")
    members = []
    for entry in proc.iterdir() if proc.is_dir() else ():
        state = _proc_group_state(entry) if entry.name.isdigit() else None
        if state is not None and state[0] == pgid and state[1] not in "ZXx":
            members.append((int(entry.name), state[2]))
    return members


def _proc_group_state(entry: Path) -> tuple[int, str, int] | None:
    """(process group, state letter, threads) from /proc/<pid>/stat, or None if it vanished."""
    try:
        stat = (entry / "stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[2]), fields[0], int(fields[17])) if len(fields) > 17 else None
