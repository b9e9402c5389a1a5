"""A learner's own locustfile as a load scenario: `locust --headless` in a sandboxed child, its figures as a LoadResult.

Locust's users are closed-loop (a user waits for its response before its wait_time starts) and
its response times are rounded into buckets (1 ms below 100 ms, 10 ms below 1 s, 100 ms below
10 s), so its percentiles are said to be bucketed and the p95 band is widened by the bucket.
Locust is never imported here (it monkey-patches the process); it runs as `python -m locust`.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grader.facts import NotRunnable
from grader.isolation import Cell
from grader.loadgen.plan import loopback_address
from grader.loadgen.result import CDF_FRACTIONS, PERCENTILES, LoadResult, p95_ranks
from grader.loadgen.runner import LoadGenError
from grader.sandbox import run_process, scrubbed_env

PLUGIN = Path(__file__).with_name("locust_stats_plugin.py")
START_MARGIN_S = 30.0  # locust's start-up (gevent, imports) and its stop timeout
_HTTP_ERROR = re.compile(r"HTTPError\('(\d{3}) ")
_TRANSPORT_KINDS = (
    ("timed out", "timeout"),
    ("timeout", "timeout"),
    ("refused", "connection refused"),
    ("reset", "connection reset"),
    ("remotedisconnected", "connection closed"),
    ("connection aborted", "connection closed"),
)


class LocustfileError(LoadGenError):
    """Locust ran but produced no figures (the locustfile failed to load, no users ran...)."""


def run_locustfile(
    locustfile: Path,
    base_url: str,
    users: int,
    spawn_rate: float,
    duration_s: float,
    cwd: Path,
    cell: Cell | None = None,
) -> LoadResult:
    """Run `locustfile` headless against `base_url` (loopback only) for `duration_s`; locust's own figures.

    Locust runs for the ramp (users / spawn_rate) plus `duration_s`; its stats are reset once every user
    has spawned, so the ramp is the warm-up. Raises NotRunnable if
    locust is not installed, LocustfileError if locust produced no figures. With a `cell` (the
    run's isolation), the locustfile, the stats plug-in and the figures live in the cell's
    workspace and locust runs confined there, with the network it needs to reach the service.
    """
    loopback_address(base_url)
    ramp_s = users / spawn_rate
    if importlib.util.find_spec("locust") is None:
        raise NotRunnable("locust is not installed")
    with tempfile.TemporaryDirectory(prefix="grade-locust-") as tmp:
        scratch = cell.workdir if cell else Path(tmp)
        scratch.mkdir(parents=True, exist_ok=True)
        files = [shutil.copy(src, scratch / f"{i}-{src.name}") for i, src in enumerate((locustfile, PLUGIN))]
        stats_path = scratch / "stats.json"
        argv = [
            sys.executable, "-m", "locust", "-f", ",".join(map(str, files)),
            "--headless", "--only-summary", "--reset-stats", "--exit-code-on-error", "0",
            "-u", str(users), "-r", f"{spawn_rate:g}", "-t", f"{max(math.ceil(ramp_s + duration_s), 1)}s",
            "--stop-timeout", "2", "-H", base_url,
        ]  # fmt: skip
        env = scrubbed_env({"HOME": str(scratch / "home"), "GRADE_LOCUST_STATS": str(stats_path)})
        timeout_s = ramp_s + duration_s + START_MARGIN_S
        done = run_process(argv, cwd=scratch if cell else cwd, env=env, timeout_s=timeout_s, cell=cell)
        if not stats_path.is_file():
            why = "timed out" if done.timed_out else f"exit {done.returncode}"
            raise LocustfileError(f"locust produced no figures ({why}): {done.tail[-1500:]}")
        stats = json.loads(stats_path.read_text(encoding="utf-8"))
    if not stats["total"]["num_requests"]:
        raise LocustfileError(f"the locustfile sent no requests in {duration_s:g} s: {done.tail[-1500:]}")
    return _result(stats, users=users, spawn_rate=spawn_rate, duration_s=duration_s)


def _result(stats: Mapping[str, Any], *, users: int, spawn_rate: float, duration_s: float) -> LoadResult:
    total = stats["total"]
    times = _times(total)
    n = total["num_requests"]
    status_counts: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    for error in stats["errors"]:
        status = _HTTP_ERROR.search(error["error"])
        if status:
            status_counts[int(status.group(1))] += error["occurrences"]
        else:
            errors[_error_kind(error["error"])] += error["occurrences"]
    last = total["last_request_timestamp"]
    window_s = max(last - total["start_time"], 1e-9) if last else 0.0
    transport = {kind for _needle, kind in _TRANSPORT_KINDS}
    completed = n - sum(count for kind, count in errors.items() if kind in transport)
    low_rank, high_rank = p95_ranks(n)
    return LoadResult(
        definition=(
            f"the learner's locustfile: {users} locust users spawned at {spawn_rate:g}/s (the ramp not recorded), "
            f"then {duration_s:g} s measured; closed-loop users, latency timed from the actual send; "
            "percentiles from locust's bucketed response times (1 ms below 100 ms, 10 ms below 1 s)"
        ),
        offered_rps=0.0,  # set by the locustfile's wait_time: not known in advance
        achieved_rps=completed / window_s if window_s else 0.0,
        sent=n,
        completed=completed,
        ok=n - total["num_failures"],
        status_counts=dict(sorted(status_counts.items())),
        errors=dict(errors.most_common()),
        percentiles_ms={key: float(bucket_percentile(times, n, p / 100)) for key, p in PERCENTILES.items()},
        p95_band_ms=(
            max(_at_rank(times, low_rank) - _half_bucket(_at_rank(times, low_rank)), 0.0),
            _at_rank(times, high_rank) + _half_bucket(_at_rank(times, high_rank)),
        ),
        cdf=tuple((float(bucket_percentile(times, n, f)), round(f, 4)) for f in CDF_FRACTIONS),
        per_request={
            f"{e['method']} {e['name']}": (
                e["num_requests"],
                float(bucket_percentile(_times(e), e["num_requests"], 0.95)),
                e["num_failures"],
            )
            for e in stats["entries"]
        },
        saturated=bool(stats["cpu_warning"]),
        saturation_reason="locust's CPU use went above 90%: its timings are unreliable" if stats["cpu_warning"] else "",
        send_lag_ms_p99=0.0,  # locust does not measure its own lateness
        loop_lag_ms_p99=0.0,
        cpu_fraction=0.0,
        samples=n,
        sent_total=n,
        measured_s=round(window_s, 3),
    )


def bucket_percentile(times: Mapping[int, int], n: int, fraction: float) -> int:
    """Locust's own rule (locust.stats.calculate_response_time_percentile) on its {bucket_ms: count} table."""
    target = int(n * fraction)
    seen = 0
    for ms in sorted(times, reverse=True):
        seen += times[ms]
        if n - seen <= target:
            return ms
    return 0


def _at_rank(times: Mapping[int, int], rank: int) -> float:
    """The bucket holding the `rank`-th smallest response time (1-based)."""
    seen = 0
    for ms in sorted(times):
        seen += times[ms]
        if seen >= rank:
            return float(ms)
    return float(max(times, default=0))


def _half_bucket(ms: float) -> float:
    """Half the width of locust's rounding at `ms`."""
    return 0.5 if ms < 100 else 5.0 if ms < 1000 else 50.0 if ms < 10_000 else 500.0


def _times(entry: Mapping[str, Any]) -> dict[int, int]:
    return {int(ms): int(count) for ms, count in entry["response_times"].items()}


def _error_kind(text: str) -> str:
    lowered = text.lower()
    for needle, kind in _TRANSPORT_KINDS:
        if needle in lowered:
            return kind
    return text[:80]
