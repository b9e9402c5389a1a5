"""The batch's progress on stderr: done/total, failures so far, ETA.

On a terminal one status line is redrawn in place, and every submission that could not be
graded is printed above it; otherwise (a log file, CI) every finished submission is one line.
"""

from __future__ import annotations

import threading
import time
from typing import TextIO

from grader.batch.model import Status, SubmissionResult
from grader.reporters.html import duration, points


class BatchProgress:
    """Counts finished submissions and prints where the batch is."""

    def __init__(self, total: int, stream: TextIO, *, enabled: bool = True) -> None:
        self.total = total
        self.done = 0
        self.failures = 0
        self.cached = 0
        self._stream = stream
        self._enabled = enabled
        self._live = enabled and stream.isatty()
        self._began = time.monotonic()
        self._lock = threading.Lock()

    def finished(self, result: SubmissionResult) -> None:
        """Count one finished submission and say so."""
        with self._lock:
            self.done += 1
            self.failures += result.status is not Status.GRADED
            self.cached += result.cached
            line = f"[{self.done}/{self.total}] {result.student}: {describe(result)}"
            if self._live and result.status is Status.GRADED:
                self._redraw()
            elif self._live:
                self._write(f"\r\x1b[K{line}\n")
                self._redraw()
            else:
                self._write(f"{line} · {self.status()}\n")

    def tick(self) -> None:
        """Redraw the status line (its ETA moves) on a terminal."""
        with self._lock:
            if self._live:
                self._redraw()

    def close(self) -> None:
        """End the status line."""
        with self._lock:
            if self._live:
                self._write("\r\x1b[K")

    def status(self) -> str:
        """'12/30 done, 1 not graded, 3 from cache, ETA 2 min 10 s'."""
        parts = [f"{self.done}/{self.total} done", f"{self.failures} not graded"]
        if self.cached:
            parts.append(f"{self.cached} from cache")
        eta = self.eta_s()
        parts.append("ETA —" if eta is None else f"ETA {duration(eta)}")
        return ", ".join(parts)

    def eta_s(self) -> float | None:
        """Seconds left at the pace of the submissions graded so far (cached ones are free)."""
        graded = self.done - self.cached
        remaining = self.total - self.done
        if remaining == 0:
            return 0.0
        if graded == 0:
            return None
        return (time.monotonic() - self._began) / graded * remaining

    def _redraw(self) -> None:
        self._write(f"\r\x1b[Kgrading: {self.status()}")

    def _write(self, text: str) -> None:
        if self._enabled:
            self._stream.write(text)
            self._stream.flush()


def describe(result: SubmissionResult) -> str:
    """'passed, 85.0/100', 'timed out: over the 900 s limit', with '(cached)' when reused."""
    if result.status is Status.GRADED:
        text = f"{result.verdict}, {points(result.score)}/100"
    else:
        text = f"{result.status.label}: {result.reason}"
    return f"{text} (cached)" if result.cached else text
