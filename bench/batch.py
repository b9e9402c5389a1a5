#!/usr/bin/env python3
"""How long does `grade batch` take for a class, one at a time vs two at a time, and re-run from the cache?

Builds one fixture (default `python-flask`) into a git repository and clones it 20 times, as
20 students. Then runs the real command line, `python -m grader batch SUBMISSIONS --phase 1
--only ...`, from a frozen copy of the grader's code (results are cached by a digest of it),
three times, each into its own output folder so nothing is shared between the cold runs:

1. `--jobs 1`, cold;
2. `--jobs 2`, cold;
3. `--jobs 2` again on the output of (2): every result comes from the cache.

Each submission is graded by its own child process (Python start-up, plug-in registry, the
checks, the reports), so the checks are a fast, repository-only selection by default:
repo.readme, secrets.history (betterleaks over the whole history), repo.gitignore.

Run: /work/venv/bin/python bench/batch.py [--copies 20] [--fixture python-flask] [--only CHECK ...]   # ~2 min
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from fixtures.build import build_repo  # noqa: E402

FAST_CHECKS = ("repo.readme", "secrets.history", "repo.gitignore")


def make_class(fixture: str, copies: int, root: Path) -> Path:
    """`copies` clones of the built fixture, one folder per student."""
    origin = build_repo(fixture, root / "origin")
    subs = root / "submissions"
    subs.mkdir()
    for n in range(1, copies + 1):
        subprocess.run(["git", "clone", "-q", str(origin), str(subs / f"student-{n:02d}")], check=True)
    return subs


def frozen_grader(root: Path) -> Path:
    """A copy of the grader's code: the cache keys on it, so edits made meanwhile must not reach the runs."""
    for package in ("grader", "checks"):
        shutil.copytree(REPO_ROOT / package, root / "src" / package, ignore=shutil.ignore_patterns("__pycache__"))
    return root / "src"


def timed_batch(grader: Path, subs: Path, out: Path, jobs: int, only: tuple[str, ...]) -> tuple[float, str]:
    """Wall time of one `grade batch` run and its summary line."""
    argv = [sys.executable, "-m", "grader", "batch", str(subs), "--phase", "1", "--jobs", str(jobs)]
    argv += ["--out", str(out), "-q", *(a for check in only for a in ("--only", check))]
    env = {**os.environ, "PYTHONPATH": str(grader)}
    began = time.perf_counter()
    done = subprocess.run(argv, cwd=grader, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        index = json.loads((out / "index.json").read_text(encoding="utf-8")) if (out / "index.json").exists() else {}
        reasons = {e["student"]: e["reason"] for e in index.get("submissions", ()) if e["status"] != "graded"}
        raise RuntimeError(f"grade batch exited {done.returncode}: {done.stdout}{done.stderr[-2000:]}{reasons}")
    return wall, done.stdout.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--fixture", default="python-flask")
    parser.add_argument("--only", action="append", help=f"check ids (default: {', '.join(FAST_CHECKS)})")
    args = parser.parse_args()
    only = tuple(args.only or FAST_CHECKS)
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        root = Path(tmp)
        subs = make_class(args.fixture, args.copies, root)
        grader = frozen_grader(root)
        runs = [
            ("cold", 1, root / "out-jobs1"),
            ("cold", 2, root / "out-jobs2"),
            ("cached re-run", 2, root / "out-jobs2"),
        ]
        rows = []
        for label, jobs, out in runs:
            wall, summary = timed_batch(grader, subs, out, jobs, only)
            rows.append((label, jobs, wall))
            print(f"  {label}, --jobs {jobs}: {wall:.1f} s ({summary.split(';')[0]})", file=sys.stderr)
    baseline = rows[0][2]
    print(f"{args.copies} copies of {args.fixture}, phase 1, checks: {', '.join(only)}; {os.cpu_count()} CPUs")
    print(f"{'run':<15} {'jobs':>4} {'wall s':>8} {'s/submission':>13} {'vs jobs 1':>10}")
    for label, jobs, wall in rows:
        per = wall / args.copies
        print(f"{label:<15} {jobs:>4} {wall:>8.1f} {per:>13.2f} {baseline / wall:>9.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
