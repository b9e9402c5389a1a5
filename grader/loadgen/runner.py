"""The parent side: run a LoadPlan in a child process with a hard wall-clock limit and parse its result."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from grader.errors import ProbeError
from grader.loadgen.plan import LoadPlan
from grader.loadgen.result import LoadResult

STARTUP_MARGIN_S = 15.0  # interpreter start, imports, connecting the users, summarising
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent


class LoadGenError(ProbeError):
    """The load generator itself failed (not the service under test)."""


def wall_limit_s(plan: LoadPlan) -> float:
    """The child's hard limit: warm-up + measured window + the last requests' timeout + a margin."""
    return plan.warmup_s + plan.duration_s + plan.timeout_s + STARTUP_MARGIN_S


def run_load(plan: LoadPlan) -> LoadResult:
    """Run `plan` in `python -m grader.loadgen` (its own process, optionally pinned to `plan.cpu`).

    Everything is computed in the child; this only parses its JSON. Raises LoadGenError if the
    child fails, overruns its limit or prints something that is not a result.
    """
    limit = wall_limit_s(plan)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "grader.loadgen"],
            input=json.dumps(plan.to_json()).encode(),
            capture_output=True,
            timeout=limit,
            cwd=_PACKAGE_ROOT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LoadGenError(f"the load generator overran its {limit:.0f} s limit and was killed") from exc
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise LoadGenError(f"the load generator failed (exit {done.returncode}): " + " | ".join(tail))
    try:
        return LoadResult.from_json(json.loads(done.stdout))
    except (ValueError, KeyError, TypeError) as exc:
        raise LoadGenError(f"the load generator printed no valid result: {exc}") from exc
