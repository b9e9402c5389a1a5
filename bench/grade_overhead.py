"""How long `grade --phase 5` takes next to what it cannot avoid: starting the service and the load run itself.

Builds fixtures/express-perf-good into a git repository, then runs the `grade` CLI on it `--runs`
times: once with only the load checks (perf.latency_p95, perf.concurrency, perf.cache_hit_rate),
once for the whole phase. From each JSON report it reads the probe durations and prints, as
medians: the wall time, the service start (install + databases + ready), the load run as
planned (warm-up + measured window), and the rest: the grader's own overhead plus what the
other probes add while the load run waits for them.

    /work/venv/bin/python bench/grade_overhead.py [--runs 3]     # about 2 minutes per run
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fixtures.build import build_repo  # noqa: E402
from grader.probes.load_config import LoadConfig  # noqa: E402

LOAD_CHECKS = ("perf.latency_p95", "perf.concurrency", "perf.cache_hit_rate")


def grade_once(repo: Path, out: Path, only: tuple[str, ...]) -> dict[str, float]:
    """Run the CLI once; wall time and the probe durations (s) from its JSON report."""
    selection = [arg for check in only for arg in ("--only", check)]
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import sys; from grader.cli import main; sys.exit(main())", str(repo), "--phase", "5",
         "--out", str(out), "--format", "json", "-q", *selection],
        check=False, capture_output=True,
    )  # fmt: skip
    wall = time.perf_counter() - began
    report = json.loads(next(out.glob("*.json")).read_text())
    probes = {p["probe_id"]: p["duration_ms"] / 1000 for p in report["probes"]}
    return {"wall": wall, "service": probes.get("service", 0.0), "load": probes.get("perf.load", 0.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    planned = LoadConfig().warmup_s + LoadConfig().duration_s
    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        repo = build_repo("express-perf-good", Path(tmp) / "express-perf-good")
        print(f"{'selection':<22}{'wall s':>8}{'service start s':>17}{'load run s':>12}{'rest s':>8}{'wall/load':>11}")
        for name, only in (("load checks only", LOAD_CHECKS), ("whole phase 5", ())):
            runs = [grade_once(repo, Path(tmp) / f"out-{name[:4]}-{i}", only) for i in range(args.runs)]
            wall = statistics.median(r["wall"] for r in runs)
            service = statistics.median(r["service"] for r in runs)
            rest = wall - service - planned
            print(f"{name:<22}{wall:>8.1f}{service:>17.1f}{planned:>12.1f}{rest:>8.1f}{wall / planned:>10.2f}x")
    print(f"load run as planned: {planned:g} s (warm-up + measured window); medians of {args.runs} run(s)")


if __name__ == "__main__":
    main()
