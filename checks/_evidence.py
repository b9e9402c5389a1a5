"""Helpers shared by the built-in checks for shaping evidence."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from grader.model import Evidence

MAX_ITEMS = 25


def display(text: str) -> str:
    """Text safe to show and serialise: file names that are not UTF-8 come out with replacement marks."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def capped(items: Iterable[Evidence], total: int, what: str) -> tuple[Evidence, ...]:
    """At most MAX_ITEMS evidence items, plus a line saying how many more there were."""
    kept = list(items)[:MAX_ITEMS]
    if total > len(kept):
        kept.append(Evidence(f"... and {total - len(kept)} more {what}"))
    return tuple(kept)


def line_ranges(lines: Sequence[int]) -> str:
    """Compress [1, 2, 3, 7, 9, 10] into '1-3, 7, 9-10'."""
    spans: list[str] = []
    start = prev = None
    for n in sorted(lines):
        if prev is not None and n == prev + 1:
            prev = n
            continue
        if start is not None:
            spans.append(f"{start}" if start == prev else f"{start}-{prev}")
        start = prev = n
    if start is not None:
        spans.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ", ".join(spans)
