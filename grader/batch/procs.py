"""Process trees: a grading worker and everything it started, found and ended together (Linux /proc).

Learner processes run in sessions of their own (see :mod:`grader.sandbox`), so killing the
worker's process group does not reach them. The worker therefore becomes a *child subreaper*:
whatever a learner process leaves behind (a daemon that double-forks, a child in a new
session) is re-parented to the worker instead of init, so the whole tree stays reachable
through parent links. :func:`kill_tree` stops the tree first (SIGSTOP, so nothing forks while
it is collected), then kills every process in it. Elsewhere than Linux only the worker's own
group is signalled.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
_PROC = Path("/proc")


def become_subreaper() -> bool:
    """Make orphaned descendants of this process its children (Linux); True when it worked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`, from /proc parent links (empty where there is no /proc)."""
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir() if _PROC.is_dir() else ():
        parent = _parent(entry) if entry.name.isdigit() else None
        if parent is not None:
            children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], list(children.get(pid, ()))
    while queue:
        child = queue.pop()
        found.append(child)
        queue.extend(children.get(child, ()))
    return found


def _parent(entry: Path) -> int | None:
    """The parent pid of a live, non-zombie process, or None."""
    try:
        stat = (entry / "stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) < 2 or fields[0] in "ZXx":
        return None
    return int(fields[1])


def kill_tree(pid: int, *, include_root: bool = True) -> None:
    """SIGKILL `pid` (unless `include_root` is False) and all its descendants, stopping them first."""
    stopped: set[int] = set()
    while True:
        tree = set(descendants(pid)) | ({pid} if include_root else set())
        fresh = tree - stopped
        if not fresh:
            break
        for target in fresh:
            _signal(target, signal.SIGSTOP)
        stopped |= fresh
    for target in stopped:
        _signal(target, signal.SIGKILL)
    if include_root:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # the root's own group, where /proc is missing


def reap_children() -> None:
    """Collect the exit status of every finished child (re-parented orphans become ours to reap)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)
