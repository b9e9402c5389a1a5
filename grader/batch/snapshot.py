"""What is graded for a submission, and a fresh copy of exactly that.

A git submission (a URL or a local repository) is first fetched into a bare mirror in the
batch's output folder (`.sources/<slug>.git`), with a time limit. Git commands run in the mirror,
never in the learner's own repository, whose config could name programs to run; only the
fetch reads it, through git's upload-pack, which runs no program named there. The commit
graded is the head of the default branch (the source's HEAD), or with a deadline the last commit
on its first-parent line whose committer date is at or before the deadline: the state of the
branch at the deadline. Commits after it are listed as late. A plain folder is identified by a
hash of its files.

The fresh copy a worker grades is a `git clone --no-hardlinks` of the mirror with that commit
checked out on the branch and every other ref removed (later commits, other branches, tags
made after it), so history checks see only what was submitted; or a copy of the folder that
skips `node_modules`, special files and symlinks leading out of it.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import git

from grader.batch.model import LateCommit, Snapshot, Submission
from grader.batch.roster import is_git_url
from grader.errors import GraderError
from grader.sandbox import run_process

FETCH_TIMEOUT_S = 300.0
MAX_LATE = 50  # late commits listed (all are counted)
MAX_FOLDER_BYTES = 500 * 1024 * 1024
SKIPPED_DIRS = frozenset({"node_modules", ".git"})  # dependencies are installed by the grader itself
HEAD_REF = "refs/grade/head"  # the source's HEAD, as fetched into the mirror


class SnapshotError(GraderError):
    """A submission cannot be fetched or has nothing to grade; the message says why."""


def take_snapshot(
    submission: Submission, deadline: datetime | None, mirrors: Path, timeout_s: float = FETCH_TIMEOUT_S
) -> Snapshot:
    """Decide what to grade: fetch a git source into its mirror and pick the commit, or hash a folder."""
    try:
        return _snapshot(submission, deadline, mirrors, timeout_s)
    except (git.GitError, git.exc.ODBError, ValueError, OSError) as exc:  # a corrupt repository, a vanished file
        raise SnapshotError(f"{submission.source}: cannot be read: {_one_line(exc)}") from None


def _snapshot(submission: Submission, deadline: datetime | None, mirrors: Path, timeout_s: float) -> Snapshot:
    source = submission.source
    if is_git_url(source) or _is_repository(Path(source)):
        mirror = mirrors / f"{submission.slug}.git"
        branch = update_mirror(source, mirror, timeout_s)
        return _git_snapshot(mirror, branch, deadline)
    folder = Path(source)
    if not folder.is_dir():
        raise SnapshotError(f"{source}: no such folder or git repository")
    digest = content_hash(folder)
    note = "a plain folder (no git history), graded as found"
    if deadline is not None:
        note += ": the deadline cannot be checked"
    return Snapshot("folder", str(folder), None, None, digest, note)


def update_mirror(source: str, mirror: Path, timeout_s: float) -> str | None:
    """Fetch every branch, tag and HEAD of `source` into the bare `mirror`; return the default branch."""
    if not (mirror / "HEAD").exists():
        mirror.parent.mkdir(parents=True, exist_ok=True)
        _git(["init", "--quiet", "--bare", str(mirror)], mirror.parent, 30)
    heads = _git(["ls-remote", "--symref", "--", source, "HEAD"], mirror, timeout_s)
    lines = [line.split("\t") for line in heads.splitlines() if "\t" in line]
    if not any(not ref.startswith("ref:") for ref, _ in lines):
        raise SnapshotError(f"{source}: the repository has no commit")
    refspecs = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*", f"+HEAD:{HEAD_REF}"]
    _git(["fetch", "--quiet", "--prune", "--no-tags", "--", source, *refspecs], mirror, timeout_s)
    symref = "ref: refs/heads/"
    branch = next((ref.removeprefix(symref) for ref, _ in lines if ref.startswith(symref)), None)
    if branch:
        _git(["symbolic-ref", "HEAD", f"refs/heads/{branch}"], mirror, 30)
    return branch


def _git_snapshot(mirror: Path, branch: str | None, deadline: datetime | None) -> Snapshot:
    repo = git.Repo(mirror)
    head = repo.commit(HEAD_REF)
    where = f"{branch}" if branch else "the detached HEAD"
    if deadline is None:
        return Snapshot("git", str(mirror), head.hexsha, branch, None, f"the head of {where}")
    chosen = next((c for c in repo.iter_commits(head, first_parent=True) if c.committed_datetime <= deadline), None)
    late_range = f"{chosen.hexsha}..{head.hexsha}" if chosen else head.hexsha
    late = tuple(
        LateCommit(c.hexsha, c.committed_datetime.isoformat(), c.summary if isinstance(c.summary, str) else "")
        for c in repo.iter_commits(late_range, max_count=MAX_LATE)
    )
    total = int(repo.git.rev_list("--count", late_range))
    when = deadline.isoformat()
    if chosen is None:
        note = f"no commit on {where} before the deadline {when} ({total} commit(s), all later)"
        return Snapshot("git", str(mirror), None, branch, None, note, late, total)
    after = f"{total} later commit(s) not graded" if total else "no commit after it"
    note = f"the last commit on {where} before the deadline {when}; {after}"
    return Snapshot("git", str(mirror), chosen.hexsha, branch, None, note, late, total)


def _is_repository(path: Path) -> bool:
    try:
        git.Repo(path)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return False
    return True


def materialize(snapshot: Snapshot, dest: Path, timeout_s: float) -> None:
    """Make the fresh copy of what `snapshot` says to grade at `dest` (which must not exist)."""
    try:
        _materialize(snapshot, dest, timeout_s)
    except (git.GitError, git.exc.ODBError, OSError, shutil.Error) as exc:
        raise SnapshotError(f"cannot make the copy to grade: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:400]


def _materialize(snapshot: Snapshot, dest: Path, timeout_s: float) -> None:
    if snapshot.kind == "folder":
        copy_folder(Path(snapshot.origin), dest)
        return
    if snapshot.commit is None:
        raise SnapshotError(snapshot.note)
    clone = ["clone", "--quiet", "--no-hardlinks", "--no-checkout", "--", snapshot.origin, str(dest)]
    _git(clone, dest.parent, timeout_s)
    where = ["-B", snapshot.branch] if snapshot.branch else ["--detach"]
    _git(["checkout", "--quiet", *where, snapshot.commit], dest, timeout_s)
    _keep_only(git.Repo(dest), snapshot.commit, snapshot.branch)


def _keep_only(repo: git.Repo, commit: str, branch: str | None) -> None:
    """Remove every ref but the graded branch and the tags it contains, and the reflogs."""
    for remote in list(repo.remotes):
        repo.delete_remote(remote)
    for head in list(repo.heads):
        if head.name != branch:
            repo.delete_head(head, force=True)
    for tag in list(repo.tags):
        if not _tag_in(repo, tag, commit):
            repo.delete_tag(tag)
    repo.git.reflog("expire", "--expire=now", "--all")


def _tag_in(repo: git.Repo, tag: git.TagReference, commit: str) -> bool:
    try:
        return bool(repo.is_ancestor(tag.commit, repo.commit(commit)))
    except (ValueError, git.GitCommandError):  # a tag of a tree or a blob
        return False


def _git(args: Sequence[str], cwd: Path, timeout_s: float) -> str:
    """Run git with a time limit in its own process group; its output, or SnapshotError."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_LFS_SKIP_SMUDGE": "1", "LC_ALL": "C"}
    argv = ["git", "-c", "core.hooksPath=/dev/null", *args]
    try:
        result = run_process(argv, cwd=cwd, env=env, timeout_s=timeout_s)
    except OSError as exc:
        raise SnapshotError(f"cannot run git: {exc.strerror or exc}") from None
    if result.timed_out:
        raise SnapshotError(f"git {args[0]} took longer than {timeout_s:g} s")
    if not result.ok:
        last = result.tail.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
        raise SnapshotError(f"git {args[0]} failed: {last[0]}")
    return result.output


def _skipped(root: str, path: str, mode: int) -> bool:
    """Whether a folder entry stays out of the copy: dependencies, special files, links out of the folder."""
    if stat.S_ISLNK(mode):
        return os.path.commonpath([os.path.realpath(path), root]) != root
    if stat.S_ISDIR(mode):
        return os.path.basename(path) in SKIPPED_DIRS
    return not stat.S_ISREG(mode)


def _entries(folder: Path) -> Iterator[tuple[str, str, int]]:
    """(relative path, absolute path, lstat mode) of every entry kept, directories pruned, sorted."""
    root = os.path.realpath(folder)
    for here, dirs, files in os.walk(root, followlinks=False):
        kept_dirs = []
        for name in sorted(dirs + files):
            path = os.path.join(here, name)
            mode = os.lstat(path).st_mode
            if _skipped(root, path, mode):
                continue
            if stat.S_ISDIR(mode):
                kept_dirs.append(name)
            yield os.path.relpath(path, root), path, mode
        dirs[:] = kept_dirs


def content_hash(folder: Path) -> str:
    """sha256 over the kept files' paths, link targets and bytes; SnapshotError over MAX_FOLDER_BYTES."""
    digest = hashlib.sha256()
    size = 0
    for rel, path, mode in _entries(folder):
        digest.update(rel.encode("utf-8", "surrogateescape") + b"\0")
        if stat.S_ISLNK(mode):
            digest.update(b"link:" + os.readlink(path).encode("utf-8", "surrogateescape"))
        elif stat.S_ISREG(mode):
            size += os.lstat(path).st_size
            if size > MAX_FOLDER_BYTES:
                raise SnapshotError(f"{folder}: larger than {MAX_FOLDER_BYTES >> 20} MiB (without node_modules)")
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def copy_folder(folder: Path, dest: Path) -> None:
    """Copy the kept entries of `folder` to `dest`; symlinks stay links (only those inside the folder)."""
    root = os.path.realpath(folder)

    def ignore(here: str, names: list[str]) -> set[str]:
        return {n for n in names if _skipped(root, os.path.join(here, n), os.lstat(os.path.join(here, n)).st_mode)}

    shutil.copytree(root, dest, symlinks=True, ignore=ignore)


def pack(snapshot: Snapshot) -> bytes:
    """The snapshot's origin as bytes, for a worker on another machine: a git bundle, or a tar of the folder."""
    with tempfile.TemporaryDirectory(prefix="grade-pack-") as tmp:
        if snapshot.kind == "git":
            bundle = Path(tmp) / "source.bundle"
            _git(["bundle", "create", "--quiet", str(bundle), "--all"], Path(snapshot.origin), FETCH_TIMEOUT_S)
            return bundle.read_bytes()
        buffer = io.BytesIO()
        copy_folder(Path(snapshot.origin), Path(tmp) / "folder")
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            tar.add(Path(tmp) / "folder", arcname="folder")
        return buffer.getvalue()


def unpack(snapshot: Snapshot, data: bytes, into: Path) -> Snapshot:
    """Write `pack`'s bytes under `into`; the same snapshot, with its origin there."""
    if snapshot.kind == "git":
        bundle = into / "source.bundle"
        bundle.write_bytes(data)
        return replace(snapshot, origin=str(bundle))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(into, filter="data")
    return replace(snapshot, origin=str(into / "folder"))
