"""Line coverage from what the grader's runs wrote: istanbul maps, raw V8 coverage, coverage.py JSON.

All three end as :class:`FileCoverage` per repo-relative source file. The V8 conversion follows
v8-to-istanbul: every line of a loaded script starts covered; a line lying entirely within a
range whose count is 0 is uncovered (innermost range wins). Blank and comment-only lines are
not counted.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from grader.probes.suite_run import FileCoverage, rel_path

Range = tuple[int, int, int]  # start offset, end offset (UTF-16 units), count


def file_coverage(path: str, executable: Iterable[int], covered: Iterable[int]) -> FileCoverage:
    """A FileCoverage from the executable and covered line numbers."""
    lines = set(executable)
    hit = lines & set(covered)
    return FileCoverage(path, len(lines), len(hit), tuple(sorted(lines - hit)))


def only_sources(found: Mapping[str, FileCoverage], sources: Iterable[str]) -> tuple[FileCoverage, ...]:
    """The measured files that are the project's sources (not tests, not dependencies), sorted."""
    return tuple(found[path] for path in sorted(set(sources)) if path in found)


def istanbul_lines(coverage_map: Mapping[str, Any], base: Path) -> dict[str, FileCoverage]:
    """Per-line coverage from an istanbul map: a line is covered if a statement starting on it ran."""
    result: dict[str, FileCoverage] = {}
    for key, entry in coverage_map.items():
        data = entry.get("data", entry) if isinstance(entry, dict) else {}
        rel = rel_path(data.get("path") or key, base)
        if rel is None:
            continue
        counts: dict[int, int] = {}
        hits = data.get("s") or {}
        for sid, loc in (data.get("statementMap") or {}).items():
            line = loc["start"]["line"]
            counts[line] = max(counts.get(line, 0), int(hits.get(sid) or 0))
        result[rel] = file_coverage(rel, counts, (line for line, n in counts.items() if n > 0))
    return result


def coveragepy_lines(report: Path, base: Path) -> dict[str, FileCoverage]:
    """Per-line coverage from `coverage json` output."""
    data = json.loads(report.read_text(encoding="utf-8"))
    result: dict[str, FileCoverage] = {}
    for name, entry in (data.get("files") or {}).items():
        rel = rel_path(base / name, base)
        if rel is not None:
            executed = entry.get("executed_lines") or []
            result[rel] = file_coverage(rel, [*executed, *(entry.get("missing_lines") or [])], executed)
    return result


def v8_lines(v8_dir: Path, sources: Iterable[str], base: Path) -> dict[str, FileCoverage]:
    """Per-line coverage of `sources` (JavaScript, repo-relative) from NODE_V8_COVERAGE output.

    A source no process loaded counts with every executable line uncovered.
    """
    wanted = {str((base / s).resolve()): s for s in sources}
    ranges: dict[str, list[list[Range]]] = {s: [] for s in wanted.values()}
    for report in sorted(v8_dir.glob("coverage-*.json")):
        for script in _load_v8(report):
            rel = wanted.get(_url_path(script.get("url", "")))
            if rel is not None:
                ranges[rel].append(_script_ranges(script))
    return {rel: _v8_file(rel, (base / rel).read_text("utf-8", errors="replace"), runs) for rel, runs in ranges.items()}


def _load_v8(report: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []  # a process killed while writing its report: its coverage is lost
    scripts = data.get("result") if isinstance(data, dict) else None
    return scripts if isinstance(scripts, list) else []


def _url_path(url: str) -> str:
    return str(Path(unquote(urlparse(url).path)).resolve()) if url.startswith("file://") else ""


def _script_ranges(script: Mapping[str, Any]) -> list[Range]:
    """All block ranges of a script, outermost first, so inner ranges are applied last."""
    found = [
        (int(r["startOffset"]), int(r["endOffset"]), int(r["count"]))
        for fn in script.get("functions") or []
        for r in fn.get("ranges") or []
    ]
    return sorted(found, key=lambda r: (r[0], -r[1]))


def _v8_file(rel: str, text: str, runs: list[list[Range]]) -> FileCoverage:
    starts, ends = _line_bounds(text)
    executable = _executable_lines(text)
    covered: set[int] = set()
    for run in runs:
        counts = [1] * len(starts)
        for start, end, count in run:
            first = bisect.bisect_left(starts, start)
            for i in range(first, len(starts)):
                if starts[i] > end:
                    break
                if ends[i] <= end:
                    counts[i] = count
        covered.update(i + 1 for i, n in enumerate(counts) if n > 0)
    return file_coverage(rel, executable, covered)


def _line_bounds(text: str) -> tuple[list[int], list[int]]:
    """Each line's start and end offset in UTF-16 code units (V8's unit), newline excluded."""
    starts: list[int] = []
    ends: list[int] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        starts.append(offset)
        ends.append(offset + _utf16_len(body))
        offset += _utf16_len(line)
    return starts, ends


def _utf16_len(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _executable_lines(text: str) -> list[int]:
    """Line numbers that are neither blank, a shebang, nor only comment."""
    lines: list[int] = []
    in_block = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if in_block:
            in_block = "*/" not in line
            line = line.split("*/", 1)[1].strip() if not in_block else ""
        if line.startswith("/*"):
            in_block = "*/" not in line[2:]
            line = line[2:].split("*/", 1)[1].strip() if not in_block else ""
        if line and not line.startswith(("//", "#!")):
            lines.append(number)
    return lines
