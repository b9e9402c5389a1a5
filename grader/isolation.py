"""How learner processes are confined: the `--isolation {auto,process,bwrap,docker}` levels.

One :class:`Isolation` serves a whole grading run (:func:`open_isolation`); each learner command
is started through :func:`grader.sandbox.spawn` with a :class:`Cell` naming the folders it may
write and whether it may use the network. Every level keeps what the sandbox always does (own
process group, scrubbed environment, wall-clock limit, capped output) and adds:

- ``process``: rlimits set before the program starts (``prlimit``: processes, CPU seconds, file
  size, open files, no core dumps); per-run npm/pip/yarn/pnpm caches and TMPDIR inside the run.
  When the grader is root, learner processes run as a dedicated unprivileged uid leased for the
  run (so RLIMIT_NPROC counts only them; they cannot read another run's folders, which are 0700,
  nor the grader's /proc/<pid>/environ, nor write the grader's files), and every process left
  with that uid is killed when the run ends. A program that uid cannot reach (the grader's
  Python under /root, say) is not run at all: the probe says "not run" and why, never runs it
  as root. As another user, learner processes run as that user, with no process-count limit.
- ``bwrap``: the command runs in bubblewrap: a read-only view of /usr, /etc, /opt and the
  runtimes, the run's folder read-write, a private /tmp (tmpfs), its own PID, IPC and UTS
  namespaces (everything in it dies with it) and, unless the command needs the network
  (installs, the service), its own network namespace with only a loopback. As root it drops to
  the leased uid inside (setpriv) with RLIMIT_NPROC; as another user, a user namespace makes
  RLIMIT_NPROC count this sandbox's processes only.
- ``docker``: :mod:`grader.isolation_docker`.
- ``auto``: bwrap when it works here, else process.

Learner-facing commands opt in through :class:`grader.probes.suite_run.SuiteWorkspace`; grader
tools (git, databases, load generators) never run confined.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import UsageError
from grader.sandbox import cache_dir

LEVELS = ("auto", "process", "bwrap", "docker")
UID_BASE, UID_COUNT = 70_000, 1_000  # dedicated sandbox uids: above adduser's ranges, below subuid ranges
SANDBOX_USER = "grade-sandbox"
SYSTEM_RO = ("/usr", "/etc", "/opt")
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_CACHE_VARS = {  # per-run caches: a submission never reads what another one left in a shared cache
    "npm_config_cache": "npm",
    "PIP_CACHE_DIR": "pip",
    "YARN_CACHE_FOLDER": "yarn",
    "npm_config_store_dir": "pnpm-store",
}
# Only commands with network (installs, the service) get these: they may carry credentials (user:token@host).
_NETWORK_VARS = frozenset(
    {"http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "PIP_INDEX_URL",
     "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "npm_config_registry", "npm_config_proxy", "npm_config_https_proxy"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits of learner processes (a container's total memory and CPUs: docker only)."""

    processes: int = 512  # RLIMIT_NPROC / pids-limit: tasks, threads included (a jest run uses ~40)
    cpu_s: int = 3600  # RLIMIT_CPU per process: a backstop; wall-clock limits end runs long before
    file_bytes: int = 1 << 30  # RLIMIT_FSIZE: the largest file a learner process may write
    open_files: int = 8192  # RLIMIT_NOFILE
    memory_bytes: int = 3 << 30  # RLIMIT_DATA per process; docker: --memory for the container (no swap)
    tmp_bytes: int = 512 << 20  # the private /tmp (bwrap, docker)
    cpus: float = 1.0  # docker --cpus


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Account:
    """The unprivileged uid/gid learner processes run as."""

    uid: int
    gid: int


@dataclass(frozen=True, slots=True)
class Launch:
    """How to start one confined command: the argv and env to run, and what to undo after it."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    account: Account | None = None  # switch to it before exec (process level)
    cleanup: Callable[[], None] | None = None  # after the process group is gone (e.g. remove a container)


@dataclass(frozen=True, slots=True)
class Cell:
    """Where one learner command runs: the run's isolation, the folders it may write, and network or not."""

    isolation: Isolation
    writable: tuple[Path, ...]  # the first is its workspace (TMPDIR, HOME live there)
    network: bool = False

    @property
    def workdir(self) -> Path:
        """The command's workspace."""
        return self.writable[0]


@dataclass
class Isolation:
    """The confinement of one grading run's learner processes."""

    level: str  # "none" (callers outside a grading run), "process", "bwrap" or "docker"
    detail: str  # one sentence: what this level guarantees here
    account: Account | None = None
    limits: Limits = field(default_factory=Limits)
    home: Path | None = None  # private to the run: per-run caches, passwd for the sandbox user
    runtimes: tuple[Path, ...] = ()  # read-only in bwrap/docker: interpreters outside the system folders
    docker: object | None = None  # grader.isolation_docker.DockerEngine
    caveat: str = ""  # appended to the detail: what this level could not do here
    _lease: int | None = None  # fd holding the uid lock

    @property
    def confined(self) -> bool:
        """Whether commands are wrapped at all (not for callers outside a grading run)."""
        return self.level != "none"

    @property
    def serves_loopback(self) -> bool:
        """Whether a service started at this level can be reached by the probes on the grader's loopback."""
        return self.level != "docker"

    def adopt(self, path: Path) -> None:
        """Give a fresh folder (nothing has run in it yet) to the sandbox user, closed to others; no link followed."""
        if self.account is None:
            return
        _lchown(path, self.account)
        path.chmod(0o700)
        for base, dirs, files in os.walk(path):
            for name in (*dirs, *files):
                _lchown(Path(base) / name, self.account)

    def admit(self, path: Path) -> None:
        """Let the sandbox user traverse (not list) a grader folder on the way to its workspaces."""
        if self.account is not None:
            path.chmod(stat.S_IMODE(path.stat().st_mode) | stat.S_IXOTH)

    def launch(self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], cell: Cell) -> Launch:
        """The command that runs `argv` confined at this level."""
        env = self._env(env, cell)
        if self.level == "none":
            return Launch(list(argv), env, cwd)
        program = shutil.which(argv[0], path=env.get("PATH"))
        if program is None:  # as unconfined: the wrapper would hide it
            raise FileNotFoundError(2, "No such file or directory", argv[0])
        if self.level == "process" and self.account and (blocked := unreachable([Path(program)], self.account)):
            from grader.facts import NotRunnable  # not at import time: grader.facts imports this module

            raise NotRunnable(
                f"{program} is out of reach of the sandbox user under --isolation process ({blocked} is closed to "
                "other users): use --isolation bwrap, or install the runtime where every user can read it"
            )
        self._own(cell.workdir, Path(env.get("HOME", cell.workdir)))
        if self.level == "docker":
            from grader.isolation_docker import docker_launch

            return docker_launch(self, argv, cwd=cwd, env=env, cell=cell)
        inner = [*_prlimit(self.limits, nproc=self.account is not None or self.level == "bwrap"), *argv]
        if self.level == "process":
            return Launch(inner, env, cwd, self.account)
        return Launch([*self._bwrap(cell, cwd), *inner], env, Path("/"))

    def writable(self, cell: Cell) -> list[Path]:
        """The folders a command may write: its cell's and the run's caches, none inside another."""
        paths = dict.fromkeys([*cell.writable, *([self.home / "cache"] if self.home is not None else [])])
        return [p for p in paths if not any(p != q and p.is_relative_to(q) for q in paths)]

    def sweep(self) -> None:
        """Kill every process still running as the sandbox user (and every container of this run)."""
        if self.docker is not None:
            from grader.isolation_docker import remove_containers

            remove_containers(self)
        if self.account is not None:
            kill_account(self.account.uid)

    def close(self) -> None:
        """End of the run: sweep, release the uid, remove the run's private folder."""
        self.sweep()
        if self._lease is not None:
            os.close(self._lease)
            self._lease = None
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)

    def _env(self, env: Mapping[str, str], cell: Cell) -> dict[str, str]:
        if self.level == "none" or self.home is None:
            return dict(env)
        out = {k: v for k, v in env.items() if cell.network or k not in _NETWORK_VARS}
        out.update({name: str(self.home / "cache" / sub) for name, sub in _CACHE_VARS.items()})
        out["TMPDIR"] = str(cell.workdir / "tmp") if self.level == "process" else "/tmp"
        if self.account is not None:
            out.update(USER=SANDBOX_USER, LOGNAME=SANDBOX_USER)
        return out

    def _own(self, workdir: Path, home: Path) -> None:
        """Create the folders a command needs, owned by the sandbox user (never following links)."""
        needed = [workdir, *([workdir / "tmp"] if self.level == "process" else [])]
        if home.is_relative_to(workdir):
            needed.append(home)
        for path in needed:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            if self.account is not None and path.lstat().st_uid != self.account.uid:
                _lchown(path, self.account)
                path.chmod(0o700)

    def _bwrap(self, cell: Cell, cwd: Path) -> list[str]:
        """bubblewrap's argv up to the command: mounts, namespaces, and as root the switch to the sandbox user."""
        root = os.geteuid() == 0
        argv = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        argv += [] if root else ["--unshare-user"]
        argv += [] if cell.network else ["--unshare-net"]
        argv += ["--hostname", "grade-sandbox", "--proc", "/proc", "--dev", "/dev"]
        argv += _system_mounts()
        argv += ["--perms", "1777", "--size", str(self.limits.tmp_bytes), "--tmpfs", "/tmp"]
        visible = [Path(p) for p in SYSTEM_RO]  # host folders seen as they are (the rest is bwrap's own tmpfs)
        made = {Path("/"), Path("/tmp")}
        binds = [("--ro-bind", p) for p in self.runtimes] + [("--bind", p) for p in self.writable(cell)]
        for option, path in binds:
            if option == "--ro-bind" and any(path.is_relative_to(v) for v in visible):
                continue
            for parent in reversed(path.parents):
                if parent not in made and not any(parent.is_relative_to(v) for v in visible):
                    argv += ["--dir", str(parent)]  # bubblewrap would make missing parents 0700
                    made.add(parent)
            argv += [option, str(path), str(path)]
            visible.append(path)
        if self.account is not None and self.home is not None:
            argv += ["--ro-bind", str(self.home / "passwd"), "/etc/passwd"]
            argv += ["--ro-bind", str(self.home / "group"), "/etc/group"]
            argv += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--"]
            argv += [*_setpriv(self.account)]
        else:
            argv += ["--"]
        return [*argv, "env", f"--chdir={cwd}", "--"]


UNCONFINED = Isolation("none", "learner processes run as the grader's user (no isolation level chosen)")


def _prlimit(limits: Limits, *, nproc: bool) -> list[str]:
    """`prlimit ... --`, each value clamped to the current hard limit (a lower one cannot be raised)."""
    wanted = [
        ("--cpu", resource.RLIMIT_CPU, limits.cpu_s),
        ("--fsize", resource.RLIMIT_FSIZE, limits.file_bytes),
        ("--nofile", resource.RLIMIT_NOFILE, limits.open_files),
        ("--data", resource.RLIMIT_DATA, limits.memory_bytes),
        ("--core", resource.RLIMIT_CORE, 0),
        *([("--nproc", resource.RLIMIT_NPROC, limits.processes)] if nproc else []),
    ]
    argv = ["prlimit"]
    for option, which, value in wanted:
        hard = resource.getrlimit(which)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        argv.append(f"{option}={value}:{value}")
    return [*argv, "--"]


def _setpriv(account: Account) -> list[str]:
    return ["setpriv", f"--reuid={account.uid}", f"--regid={account.gid}", "--clear-groups", "--inh-caps=-all", "--"]


def _system_mounts() -> list[str]:
    """Read-only /usr, /etc, /opt, and /bin, /lib... as the links or folders they are here."""
    argv: list[str] = []
    for path in SYSTEM_RO:
        argv += ["--ro-bind-try", path, path]
    for path in SYSTEM_LINKS:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    return argv


def _lchown(path: Path, account: Account) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.lchown(path, account.uid, account.gid)


@contextlib.contextmanager
def open_isolation(level: str, limits: Limits | None = None) -> Iterator[Isolation]:
    """The isolation of one grading run, released (and its leftovers killed) at the end.

    Raises UsageError when an explicitly requested level cannot work here, saying why.
    """
    if level not in LEVELS:
        raise UsageError(f"--isolation {level!r}: choose from {', '.join(LEVELS)}")
    isolation = _resolve(level, limits or DEFAULT_LIMITS)
    try:
        yield isolation
    finally:
        isolation.close()


def _resolve(level: str, limits: Limits) -> Isolation:
    caveat = ""
    if level in ("auto", "bwrap") and (problem := bwrap_problem()) is not None:
        if level == "bwrap":
            raise UsageError(f"--isolation bwrap: bubblewrap is not usable here: {problem}")
        level, caveat = "process", f" (bubblewrap is not usable here: {problem})"
    elif level == "auto":
        level = "bwrap"
    if level != "docker" and shutil.which("prlimit") is None:
        raise UsageError(f"--isolation {level}: the prlimit program (util-linux) is not installed")
    home = Path(tempfile.mkdtemp(prefix="grade-iso-"))
    isolation = Isolation(level, "", limits=limits, home=home, runtimes=runtime_dirs(), caveat=caveat)
    try:
        _lease_if_root(isolation)
        if level == "docker":
            from grader.isolation_docker import attach_engine

            attach_engine(isolation)
    except BaseException:
        isolation.close()
        raise
    isolation.detail = describe(isolation)
    return isolation


def _lease_if_root(isolation: Isolation) -> None:
    """As root: lease a sandbox uid and prepare the run's caches and passwd entry for it."""
    assert isolation.home is not None
    (isolation.home / "cache").mkdir(mode=0o700)
    if os.geteuid() != 0:
        return
    if isolation.level == "process" and (blocked := unreachable(isolation.runtimes)):
        isolation.caveat += f"; what needs a runtime under {blocked} (closed to other users) is not run"
    isolation._lease, uid = lease_uid(isolation.home.parent)
    account = Account(uid, uid)
    isolation.account = account
    isolation.home.chmod(0o711)
    isolation.adopt(isolation.home / "cache")
    passwd = Path("/etc/passwd").read_text(encoding="utf-8", errors="replace")
    group = Path("/etc/group").read_text(encoding="utf-8", errors="replace")
    entry = f"{SANDBOX_USER}:x:{uid}:{uid}:grade sandbox:/nonexistent:/usr/sbin/nologin\n"
    (isolation.home / "passwd").write_text(passwd.rstrip("\n") + "\n" + entry, encoding="utf-8")
    (isolation.home / "group").write_text(group.rstrip("\n") + f"\n{SANDBOX_USER}:x:{uid}:\n", encoding="utf-8")
    for name in ("passwd", "group"):
        (isolation.home / name).chmod(0o644)


def describe(isolation: Isolation) -> str:
    """One sentence for the report: what confines this run's learner processes."""
    limits = isolation.limits
    who = f"as uid {isolation.account.uid}" if isolation.account else f"as {_user_name()}"
    rlimits = (
        f"{limits.memory_bytes >> 20} MiB of data, {limits.cpu_s} s CPU, {limits.file_bytes >> 20} MiB files "
        f"and {limits.open_files} open files per process"
    )
    if isolation.level == "process":
        nproc = (
            f"{limits.processes} processes, "
            if isolation.account
            else "no process-count limit (without a uid of its own it would count all of this user's processes), "
        )
        return f"process: learner processes run {who} with {nproc}{rlimits}{isolation.caveat}"
    if isolation.level == "bwrap":
        return (
            f"bwrap: learner processes run {who} in bubblewrap (read-only system, private /tmp, PID namespace, "
            f"no network except for installs and the service) with {limits.processes} processes, {rlimits}"
        )
    return (
        f"docker: learner commands run {who} in containers (--network none except installs, --read-only, "
        f"{limits.memory_bytes >> 20} MiB memory, {limits.processes} pids, {limits.cpus:g} CPU); "
        "the service is not started (the probes could not reach it)"
    )


def _user_name() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


_BWRAP_PROBLEM: dict[bool, str | None] = {}


def bwrap_problem() -> str | None:
    """Why bubblewrap cannot confine commands here (None when it can); tried once per process."""
    root = os.geteuid() == 0
    if root not in _BWRAP_PROBLEM:
        _BWRAP_PROBLEM[root] = _try_bwrap(root)
    return _BWRAP_PROBLEM[root]


def _try_bwrap(root: bool) -> str | None:
    if shutil.which("bwrap") is None:
        return "bwrap is not installed"
    argv = ["bwrap", "--unshare-pid", "--unshare-net", *([] if root else ["--unshare-user"])]
    argv += [*_system_mounts(), "--proc", "/proc", "--dev", "/dev", "--", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["it failed"])[-1]


def runtime_dirs() -> tuple[Path, ...]:
    """Runtimes outside the system folders that learner commands need: node, npm, the grader's Python, pnpm/yarn."""
    programs = [shutil.which(p) for p in ("node", "npm", "python3")]
    tools = cache_dir() / "tools"  # pnpm and yarn fetched by the grader
    tools.mkdir(parents=True, exist_ok=True)
    candidates = [Path(sys.prefix), Path(sys.base_prefix), tools]
    candidates += [_prefix(Path(p)) for p in programs if p]
    candidates += [_prefix(Path(sys.executable))]
    outside = sorted({c for c in candidates if not any(c.is_relative_to(s) for s in SYSTEM_RO) and c.is_dir()})
    return tuple(c for c in outside if not any(c != o and c.is_relative_to(o) for o in outside))


def _prefix(program: Path) -> Path:
    """The installation a program belongs to: the folder above its bin/ (or shims/)."""
    folder = program.resolve().parent
    return folder.parent if folder.name in ("bin", "sbin", "shims") else folder


def unreachable(paths: Sequence[Path], account: Account | None = None) -> str | None:
    """The first folder the account (default: a user with no special rights) cannot get through to `paths`."""
    for path in paths:
        path = path.resolve()
        for step in (*reversed(path.parents), path):
            info = step.stat()
            if account is not None and info.st_uid == account.uid:
                allowed = info.st_mode & stat.S_IXUSR
            elif account is not None and info.st_gid == account.gid:
                allowed = info.st_mode & stat.S_IXGRP
            else:
                allowed = info.st_mode & stat.S_IXOTH
            if not allowed:
                return str(step)
    return None


def lease_uid(lock_dir: Path) -> tuple[int, int]:
    """(lock fd, uid): a sandbox uid no account uses and no other run holds; its leftover processes killed."""
    folder = lock_dir / "grade-sandbox-uids"
    folder.mkdir(mode=0o700, exist_ok=True)
    for uid in range(UID_BASE, UID_BASE + UID_COUNT):
        if _has_account(uid):
            continue
        fd = os.open(folder / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        kill_account(uid)
        if account_pids(uid, zombies=True):  # unreaped: they still count against RLIMIT_NPROC
            os.close(fd)
            continue
        return fd, uid
    raise UsageError(f"every sandbox uid {UID_BASE}-{UID_BASE + UID_COUNT - 1} is in use by another run")


def _has_account(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def kill_account(uid: int, timeout_s: float = 5.0) -> None:
    """SIGKILL every process of `uid` (kill(-1) as that uid: no fork can slip through), until none is left."""
    deadline = time.monotonic() + timeout_s
    while account_pids(uid) and time.monotonic() < deadline:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                ["sh", "-c", "kill -9 -1"], user=uid, group=uid, extra_groups=[], env={"PATH": os.defpath},
                cwd="/", capture_output=True, timeout=5, check=False,
            )  # fmt: skip
        for pid in account_pids(uid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def account_pids(uid: int, *, zombies: bool = False) -> list[int]:
    """Processes whose real uid is `uid`: live ones, and with `zombies`, the exited ones nobody reaped yet."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        alive = fields.get("State", "").strip()[:1] not in ("Z", "X")
        if (alive or zombies) and fields.get("Uid", "").split()[:1] == [str(uid)]:
            pids.append(int(entry.name))
    return pids
