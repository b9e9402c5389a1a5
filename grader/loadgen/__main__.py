"""Child-process entry: `python -m grader.loadgen` reads a LoadPlan as JSON on stdin, writes its LoadResult as JSON."""

from __future__ import annotations

import json
import os
import resource
import sys

from grader.loadgen.engine import Generator
from grader.loadgen.plan import LoadPlan


def main() -> int:
    plan = LoadPlan.from_json(json.load(sys.stdin))
    if plan.cpu is not None:
        allowed = os.sched_getaffinity(0)
        if plan.cpu not in allowed:
            print(f"cpu {plan.cpu} is not available here (allowed: {sorted(allowed)})", file=sys.stderr)
            return 2
        os.sched_setaffinity(0, {plan.cpu})
    _raise_open_files(plan.users + 64)
    result = Generator(plan).run()
    json.dump(result.to_json(), sys.stdout)
    return 0


def _raise_open_files(needed: int) -> None:
    """One socket per user: lift the soft limit on open files towards the hard one if it is short."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        ceiling = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))


if __name__ == "__main__":
    sys.exit(main())
