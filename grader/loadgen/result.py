"""What a load run measured: HdrHistogram figures, error counts, and whether the generator kept up."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from grader.loadgen.plan import LoadPlan

HIGHEST_US = 60_000_000
SIGNIFICANT_DIGITS = 3
MAX_CPU_FRACTION = 0.9
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
# Fractions the CDF is sampled at: even steps, denser in the tail.
CDF_FRACTIONS = (
    *(i / 50 for i in range(46)),
    *(0.9 + i / 100 for i in range(1, 10)),
    0.995,
    0.999,
    1.0,
)
_Z95 = 1.959964


def new_histogram() -> HdrHistogram:
    """Microseconds from 1 µs to 60 s, 3 significant digits (no bucket rounding near a threshold)."""
    return HdrHistogram(1, HIGHEST_US, SIGNIFICANT_DIGITS)


@dataclass(slots=True)
class Records:
    """What the measured window saw; filled in by the engine, summarised by :func:`summarise`."""

    latency: HdrHistogram = field(default_factory=new_histogram)
    per_request: dict[str, HdrHistogram] = field(default_factory=dict)
    per_request_failed: Counter[str] = field(default_factory=Counter)
    status_counts: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    send_lag: HdrHistogram = field(default_factory=new_histogram)
    loop_lag: HdrHistogram = field(default_factory=new_histogram)
    sent: int = 0  # intended in the measured window
    sent_total: int = 0  # warm-up included
    capped_at_s: float | None = None  # seconds into the measured window when max_requests stopped the schedule
    cpu_fraction: float = 0.0

    def record(self, name: str, elapsed_us: int, status: int, error: str) -> None:
        """One request of the measured window: its latency from the intended send time, and how it ended."""
        elapsed_us = min(max(elapsed_us, 1), HIGHEST_US)
        self.latency.record_value(elapsed_us)
        self.per_request[name].record_value(elapsed_us)
        if error:
            self.errors[error] += 1
        else:
            self.status_counts[status] += 1
        if error or status >= 400:
            self.per_request_failed[name] += 1


@dataclass(frozen=True, slots=True)
class LoadResult:
    """The figures of one run: latency percentiles with an error band, counts, and the generator's own health.

    Counts and latencies are those of requests intended in the measured window (warm-up excluded);
    latencies are timed from the intended send time, with errors and timeouts included at their
    elapsed time (a timeout at exactly timeout_s). `saturated` means the generator could not keep
    its schedule: the figures are then inconclusive, never a fail.
    """

    definition: str
    offered_rps: float
    achieved_rps: float  # completed responses / measured window
    sent: int  # requests intended in the measured window (one that expired waiting for its connection included)
    completed: int  # of those, answered with a status
    ok: int  # of those, status < 400
    status_counts: Mapping[int, int]
    errors: Mapping[str, int]  # transport errors by kind: "timeout", "connection refused", ...
    percentiles_ms: Mapping[str, float]  # "p50", "p90", "p95", "p99", "max"
    p95_band_ms: tuple[float, float]  # 95% order-statistic interval, widened by the generator's timing error
    cdf: tuple[tuple[float, float], ...]  # (latency_ms, fraction <= it)
    per_request: Mapping[str, tuple[int, float, int]]  # name -> (count, p95_ms, failed: errors + status >= 400)
    saturated: bool
    saturation_reason: str
    send_lag_ms_p99: float  # lateness of sends whose connection was free at the intended time
    loop_lag_ms_p99: float  # event-loop lag measured by a 10 ms ticker
    cpu_fraction: float  # generator CPU time / wall time over the measured window
    samples: int  # recorded latencies
    sent_total: int = 0  # warm-up included
    measured_s: float = 0.0  # the measured window (shorter than planned when the request cap cut it)
    capped: bool = False  # max_requests stopped the schedule early

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (status codes as string keys)."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["status_counts"] = {str(k): v for k, v in self.status_counts.items()}
        data["errors"] = dict(self.errors)
        data["percentiles_ms"] = dict(self.percentiles_ms)
        data["per_request"] = {k: list(v) for k, v in self.per_request.items()}
        data["p95_band_ms"] = list(self.p95_band_ms)
        data["cdf"] = [list(point) for point in self.cdf]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoadResult:
        """The inverse of :meth:`to_json`."""
        return cls(
            **{
                **data,
                "status_counts": {int(k): int(v) for k, v in data["status_counts"].items()},
                "per_request": {k: (int(v[0]), float(v[1]), int(v[2])) for k, v in data["per_request"].items()},
                "p95_band_ms": (float(data["p95_band_ms"][0]), float(data["p95_band_ms"][1])),
                "cdf": tuple((float(x), float(y)) for x, y in data["cdf"]),
            }
        )


def summarise(plan: LoadPlan, records: Records) -> LoadResult:
    """Turn the raw records of a run into its LoadResult (saturation judged here)."""
    hist = records.latency
    samples = hist.get_total_count()
    completed = sum(records.status_counts.values())
    send_lag = _ms(_percentile(records.send_lag, 99.0))
    loop_lag = _ms(_percentile(records.loop_lag, 99.0))
    reason = saturation_reason(plan.max_lag_ms, send_lag, loop_lag, records.cpu_fraction)
    capped = records.capped_at_s is not None
    measured_s = min(plan.duration_s, max(records.capped_at_s or plan.duration_s, 0.0))
    definition = plan.definition()
    if capped:
        definition += f"; stopped by the cap of {plan.max_requests} requests after {measured_s:.1f} s measured"
    return LoadResult(
        definition=definition,
        offered_rps=plan.offered_rps,
        achieved_rps=completed / measured_s if measured_s > 0 else 0.0,
        sent=records.sent,
        completed=completed,
        ok=sum(n for status, n in records.status_counts.items() if status < 400),
        status_counts=dict(sorted(records.status_counts.items())),
        errors=dict(records.errors.most_common()),
        percentiles_ms=_percentiles_ms(hist),
        p95_band_ms=p95_band(hist, timing_error_ms=max(send_lag, loop_lag)),
        cdf=cdf(hist),
        per_request={
            name: (h.get_total_count(), _ms(_percentile(h, 95.0)), records.per_request_failed[name])
            for name, h in records.per_request.items()
        },
        saturated=bool(reason),
        saturation_reason=reason,
        send_lag_ms_p99=send_lag,
        loop_lag_ms_p99=loop_lag,
        cpu_fraction=round(records.cpu_fraction, 3),
        samples=samples,
        sent_total=records.sent_total,
        measured_s=measured_s,
        capped=capped,
    )


def saturation_reason(max_lag_ms: float, send_lag_ms: float, loop_lag_ms: float, cpu_fraction: float) -> str:
    """Why the generator could not be trusted to have kept its schedule ('' when it could)."""
    reasons = []
    if send_lag_ms > max_lag_ms:
        reasons.append(
            f"send lag p99 {send_lag_ms:.1f} ms > {max_lag_ms:g} ms: the generator could not keep its schedule"
        )
    if loop_lag_ms > max_lag_ms:
        reasons.append(f"event-loop lag p99 {loop_lag_ms:.1f} ms > {max_lag_ms:g} ms")
    if cpu_fraction > MAX_CPU_FRACTION:
        reasons.append(f"generator CPU {cpu_fraction:.0%} of a core > {MAX_CPU_FRACTION:.0%}")
    return "; ".join(reasons)


def p95_band(hist: HdrHistogram, timing_error_ms: float) -> tuple[float, float]:
    """95% confidence interval of p95 from order statistics, in ms, widened by timing and histogram error.

    The interval's ranks are n*q -/+ 1.96*sqrt(n*q*(1-q)); the lower value is taken at the lower edge
    of its histogram bucket and the upper at the upper edge. The generator's own lateness can only
    have added to a latency, so the lower bound is lowered by it.
    """
    n = hist.get_total_count()
    if not n:
        return (0.0, 0.0)
    low_rank, high_rank = p95_ranks(n)
    values = hist.get_percentile_to_value_dict([100.0 * low_rank / n, 100.0 * high_rank / n])
    low = hist.get_lowest_equivalent_value(values[100.0 * low_rank / n])
    high = hist.get_highest_equivalent_value(values[100.0 * high_rank / n])
    return (round(max(_ms(low) - timing_error_ms, 0.0), 3), round(_ms(high), 3))


def p95_ranks(n: int) -> tuple[int, int]:
    """1-based ranks bounding a 95% confidence interval of the 95th percentile of n samples."""
    q = 0.95
    spread = _Z95 * math.sqrt(n * q * (1 - q))
    return min(max(math.floor(n * q - spread), 1), n), min(max(math.ceil(n * q + spread), 1), n)


def cdf(hist: HdrHistogram) -> tuple[tuple[float, float], ...]:
    """(latency_ms, fraction of requests <= it) at about 60 fractions, for a chart."""
    if not hist.get_total_count():
        return ()
    percents = [100.0 * f for f in CDF_FRACTIONS]
    values = hist.get_percentile_to_value_dict(percents)
    return tuple((_ms(values[p]), round(p / 100.0, 4)) for p in sorted(values))


def _percentiles_ms(hist: HdrHistogram) -> dict[str, float]:
    if not hist.get_total_count():
        return dict.fromkeys(PERCENTILES, 0.0)
    values = hist.get_percentile_to_value_dict(list(PERCENTILES.values()))
    return {key: _ms(values[p]) for key, p in PERCENTILES.items()}


def _percentile(hist: HdrHistogram, percent: float) -> int:
    return int(hist.get_value_at_percentile(percent)) if hist.get_total_count() else 0


def _ms(microseconds: int) -> float:
    return round(microseconds / 1000.0, 3)
