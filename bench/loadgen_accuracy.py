#!/usr/bin/env python3
"""How close is the grader's load generator to the truth, next to wrk, hey and locust? And how much can it send?

1. Accuracy. A reference server (tests/loadgen/refserver.py) runs in its own process, pinned to
   the last CPU; this script and every client are pinned to the first. Two latency behaviours with a known truth:
   - uniform: each response after a delay uniform in [30, 70] ms: true p95 = 68 ms + the
     measured base overhead (socket round trip and timer wake-up, from 200 sequential requests);
   - stall: 10 ms, but the server stalls for the last 500 ms of every 3 s (a request arriving in a
     stall is answered 10 ms after it ends). For an open-model load the truth is computed from the
     schedule: for each intended send time t, 10 ms + overhead + what remains of the stall at t.
     The measured window is a whole number of stall periods, so the truth does not depend on the
     phase of the schedule.
   Each tool offers the same load where it can: 100 users, one request every 0.5 s each (200 req/s):
   grade's generator (open model, latency from the intended send time, HdrHistogram), hey
   (`-c 100 -q 2`: rate-limited workers that wait for their response), locust (100 HttpUsers with
   constant_pacing(0.5), stats reset after spawning, its bucketed 95%), and wrk (closed loop:
   `-c 10` connections sending as fast as responses return, p95 printed by a Lua done()).
2. Capacity. Grade's generator, pinned to one core, against /fast on the other: the offered rate is
   raised until the run reports saturation; the highest rate kept on schedule is the capacity.

Run: /work/venv/bin/python bench/loadgen_accuracy.py [--runs 3] [--duration 6] [--only accuracy|capacity]   # ~4 min
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # the reference server lives with the tests

from grader.loadgen import LoadPlan, Request, run_load, run_locustfile  # noqa: E402
from grader.loadgen.result import LoadResult  # noqa: E402
from tests.loadgen.refserver import running  # noqa: E402

USERS, PACING_S = 100, 0.5
WRK_CONNECTIONS = 10
UNIFORM = "/uniform?lo=30&hi=70"
STALL_BASE_MS, STALL_EVERY_S, STALL_S = 10.0, 3.0, 0.5
STALL = f"/stall?base={STALL_BASE_MS:g}&every={STALL_EVERY_S * 1000:g}&stall={STALL_S * 1000:g}"
CAPACITY_RATES = (2000, 3000, 4000, 5000, 6000, 8000, 10_000, 12_000, 16_000, 20_000)
CAPACITY_USERS = 200
WRK_DONE = """
done = function(summary, latency, requests)
  io.write(string.format("P95_US %d\\n", latency:percentile(95)))
end
"""
LOCUSTFILE = """
from locust import HttpUser, constant_pacing, task

class Client(HttpUser):
    wait_time = constant_pacing({pacing})

    @task
    def get(self):
        self.client.get({path!r}, name="target")
"""


@dataclass(frozen=True)
class Measure:
    """One tool's figures for one run."""

    p95_ms: float
    rps: float
    band: str = ""  # grade's p95 error band
    saturated: bool = False  # the tool said its own timings are unreliable


# ---------------------------------------------------------------- truth


def base_overhead_ms(base_url: str) -> float:
    """Median of (latency - asked delay) over 200 sequential keep-alive requests to /delay?ms=20."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=5)
    samples = []
    for _ in range(200):
        began = time.perf_counter()
        conn.request("GET", "/delay?ms=20")
        conn.getresponse().read()
        samples.append((time.perf_counter() - began) * 1000 - 20)
    conn.close()
    return statistics.median(samples)


def quantile(values: list[float], q: float) -> float:
    """The order statistic of rank ceil(q * n) (what a histogram percentile reports)."""
    ordered = sorted(values)
    return ordered[min(max(math.ceil(q * len(ordered)) - 1, 0), len(ordered) - 1)]


def stall_truth_ms(duration_s: float, overhead_ms: float) -> float:
    """p95 over the schedule's intended send times: base + overhead + what remains of the stall at each."""
    rate = USERS / PACING_S
    latencies = []
    for i in range(round(rate * duration_s)):
        phase = (i / rate) % STALL_EVERY_S
        remaining = STALL_EVERY_S - phase if phase >= STALL_EVERY_S - STALL_S else 0.0
        latencies.append(STALL_BASE_MS + overhead_ms + remaining * 1000)
    return quantile(latencies, 0.95)


# ---------------------------------------------------------------- tools


def ours(base_url: str, path: str, duration_s: float) -> Measure:
    result = run_load(
        LoadPlan(base_url, (Request("GET", path),), users=USERS, pacing_s=PACING_S, warmup_s=2.0,
                 duration_s=duration_s, timeout_s=5.0, cpu=client_cpu())
    )  # fmt: skip
    band = f"{result.p95_band_ms[0]:.1f}-{result.p95_band_ms[1]:.1f}"
    return Measure(result.percentiles_ms["p95"], result.achieved_rps, band, result.saturated)


def hey(base_url: str, path: str, duration_s: float) -> Measure:
    out = _run(
        ["hey", "-z", f"{duration_s:g}s", "-c", str(USERS), "-q", f"{1 / PACING_S:g}", "-t", "5", base_url + path]
    )
    p95 = re.search(r"95%+ in ([\d.]+) secs", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not p95 or not rps:
        raise RuntimeError(f"hey printed no latency distribution:\n{out[-800:]}")
    return Measure(float(p95.group(1)) * 1000, float(rps.group(1)))


def wrk(base_url: str, path: str, duration_s: float) -> Measure:
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_DONE)
        script.flush()
        out = _run(["wrk", "-t1", f"-c{WRK_CONNECTIONS}", f"-d{duration_s:g}s", "-s", script.name, base_url + path])
    p95 = re.search(r"P95_US (\d+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not p95 or not rps:
        raise RuntimeError(f"wrk printed no p95:\n{out[-800:]}")
    return Measure(int(p95.group(1)) / 1000, float(rps.group(1)))


def locust(base_url: str, path: str, duration_s: float) -> Measure:
    with tempfile.TemporaryDirectory() as scratch:
        locustfile = Path(scratch) / "locustfile.py"
        locustfile.write_text(LOCUSTFILE.format(pacing=PACING_S, path=path))
        result: LoadResult = run_locustfile(locustfile, base_url, USERS, spawn_rate=USERS, duration_s=duration_s,
                                            cwd=Path(scratch))  # fmt: skip
    return Measure(result.percentiles_ms["p95"], result.achieved_rps, saturated=result.saturated)


TOOLS: dict[str, tuple[str, Callable[[str, str, float], Measure]]] = {
    "grade loadgen": ("open model, 100 users x 1 req / 0.5 s", ours),
    "hey": ("-c 100 -q 2 (rate-limited workers)", hey),
    "locust": ("100 users, constant_pacing(0.5)", locust),
    "wrk": (f"-c {WRK_CONNECTIONS} closed loop", wrk),
}


def client_cpu() -> int:
    """The CPU this script (and so every client) is pinned to."""
    return min(os.sched_getaffinity(0))


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    return done.stdout + done.stderr


# ---------------------------------------------------------------- capacity


def capacity(base_url: str, duration_s: float, runs: int) -> list[list[str]]:
    """Raise the offered rate on /fast until most runs of a step report saturation; one table row per step."""
    rows = []
    for rate in CAPACITY_RATES:
        plan = LoadPlan(
            base_url, (Request("GET", "/fast"),), users=CAPACITY_USERS, pacing_s=CAPACITY_USERS / rate, warmup_s=1.0,
            duration_s=duration_s, timeout_s=2.0, cpu=client_cpu(), max_requests=1_000_000,
        )  # fmt: skip
        results = [run_load(plan) for _ in range(runs)]
        saturated = [r for r in results if r.saturated]
        verdict = saturated[0].saturation_reason if len(saturated) * 2 > runs else "no"
        rows.append([f"{rate}", *medians(results), f"{len(saturated)}/{runs}", verdict])
        print(f"  capacity {rate:>6} req/s: {len(saturated)}/{runs} saturated", file=sys.stderr)
        if verdict != "no":
            break
    return rows


def medians(results: list[LoadResult]) -> list[str]:
    """Achieved rate, p50, p99, send lag, loop lag and CPU: each the median over `results`."""
    med = statistics.median
    return [
        f"{med(r.achieved_rps for r in results):.0f}",
        f"{med(r.percentiles_ms['p50'] for r in results):.2f}",
        f"{med(r.percentiles_ms['p99'] for r in results):.2f}",
        f"{med(r.send_lag_ms_p99 for r in results):.2f} ms",
        f"{med(r.loop_lag_ms_p99 for r in results):.2f} ms",
        f"{med(r.cpu_fraction for r in results):.0%}",
    ]


# ---------------------------------------------------------------- report


def row(server: str, tool: str, how: str, runs: list[Measure], truth: float) -> list[str]:
    """One accuracy row: medians over the runs; the band is that of the median run."""
    middle = sorted(runs, key=lambda r: r.p95_ms)[len(runs) // 2]
    p95 = statistics.median(r.p95_ms for r in runs)
    rps = statistics.median(r.rps for r in runs)
    saturated = sum(r.saturated for r in runs)
    return [server, tool, how, f"{rps:.0f}", f"{p95:.1f}", f"{truth:.1f}", f"{(p95 - truth) / truth:+.1%}",
            middle.band, f"{saturated}/{len(runs)}"]  # fmt: skip


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def accuracy_report(base_url: str, runs: int, duration_s: float) -> str:
    """Every tool against both servers, `runs` times each: the accuracy table."""
    overhead = base_overhead_ms(base_url)
    truths = {"uniform 30-70 ms": (UNIFORM, 68.0 + overhead),
              "stall 0.5 s / 3 s": (STALL, stall_truth_ms(duration_s, overhead))}  # fmt: skip
    rows = []
    for server, (path, truth) in truths.items():
        for tool, (how, measure) in TOOLS.items():
            measures = []
            for _ in range(runs):
                measures.append(measure(base_url, path, duration_s))
                print(f"  {server} / {tool}: p95 {measures[-1].p95_ms:.1f} ms", file=sys.stderr)
            rows.append(row(server, tool, how, measures, truth))
    headers = ["server", "tool", "load", "req/s", "p95 ms", "truth ms", "error", "p95 band", "saturated"]
    title = f"Accuracy of p95 (median of {runs} runs of {duration_s:g} s; base overhead {overhead:.2f} ms)"
    return title + "\n" + table(headers, rows)


def capacity_report(base_url: str, runs: int, duration_s: float) -> str:
    """The capacity ramp: its table and the highest rate kept on schedule."""
    steps = capacity(base_url, duration_s, runs)
    headers = ["offered", "achieved", "p50 ms", "p99 ms", "send lag p99", "loop lag p99", "CPU", "saturated", "reason"]
    kept = [int(step[0]) for step in steps if step[-1] == "no"]
    return (
        f"Capacity of grade's generator on one core (GET /fast, {CAPACITY_USERS} users, {duration_s:g} s per run, "
        f"median of {runs} runs per step)\n{table(headers, steps)}\n"
        f"capacity: {max(kept, default=0)} req/s kept on schedule"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs of each measurement (medians are reported)")
    parser.add_argument("--duration", type=float, default=6.0, help="measured seconds per run (a multiple of 3)")
    parser.add_argument("--capacity-duration", type=float, default=3.0, help="measured seconds per capacity step")
    parser.add_argument("--only", choices=("accuracy", "capacity"), help="run one part only")
    args = parser.parse_args()
    missing = [tool for tool in ("wrk", "hey") if not shutil.which(tool)]
    if missing and args.only != "capacity":
        print(f"missing: {', '.join(missing)}", file=sys.stderr)
        return 2
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = cpus[-1] if len(cpus) > 1 else None
    began = time.monotonic()
    reports = []
    with running(cpu=server_cpu) as base_url:
        os.sched_setaffinity(0, {cpus[0]})  # this process and every client it starts: the first CPU
        if args.only != "capacity":
            reports.append(accuracy_report(base_url, args.runs, args.duration))
        if args.only != "accuracy":
            reports.append(capacity_report(base_url, args.runs, args.capacity_duration))
    print("\n\n".join(reports))
    print(f"\nclients on CPU {cpus[0]}, server on CPU {server_cpu}; {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
