"""The canonical JSON form of a report, described by ``schema/report.schema.json``.

``from_dict(to_dict(r)) == r`` for every report whose strings are valid Unicode and whose
numbers are finite; ``counts`` is derived, so ``from_dict`` ignores it. The rendered text
replaces lone surrogates (file names decoded with ``surrogateescape``) with U+FFFD.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import fields, is_dataclass
from enum import Enum
from importlib.resources import files
from typing import Any

from grader.model import (
    AssertionResult,
    CheckResult,
    CriterionResult,
    Distribution,
    Evidence,
    Location,
    Outcome,
    ProbeRecord,
    Report,
    Target,
)

_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonReporter:
    """Renders the canonical JSON."""

    name = "json"
    suffix = ".json"

    def render(self, report: Report) -> str:
        """Pretty-printed JSON, UTF-8 safe."""
        return scrub_surrogates(json.dumps(to_dict(report), indent=2, ensure_ascii=False)) + "\n"


def scrub_surrogates(text: str) -> str:
    """Replace lone surrogates, which no UTF-8 file can hold, with U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of :func:`to_dict`'s output."""
    text = files("grader.reporters").joinpath("schema", "report.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def to_dict(report: Report) -> dict[str, Any]:
    """The report as plain JSON data, with its outcome counts."""
    data: dict[str, Any] = _plain(report)
    data["counts"] = report.counts()
    return data


def _plain(obj: Any) -> Any:
    """Dataclasses to dicts, enums to values, tuples to lists; non-finite floats to None."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, (list, tuple)):
        return [_plain(item) for item in obj]
    if isinstance(obj, dict):
        return {str(key): _plain(value) for key, value in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def from_dict(data: dict[str, Any]) -> Report:
    """Rebuild a report from :func:`to_dict`'s output (or its parsed JSON)."""
    return Report(
        schema_version=data["schema_version"],
        grader_version=data["grader_version"],
        curriculum=data["curriculum"],
        curriculum_sha256=data["curriculum_sha256"],
        phase=data["phase"],
        phase_title=data["phase_title"],
        target=Target(**data["target"]),
        started_at=data["started_at"],
        duration_s=data["duration_s"],
        score=data["score"],
        pass_mark=data["pass_mark"],
        passed=data["passed"],
        incomplete=data["incomplete"],
        criteria=tuple(_criterion(c) for c in data["criteria"]),
        probes=tuple(_probe(p) for p in data["probes"]),
        plugin_errors=tuple(data["plugin_errors"]),
        options=dict(data["options"]),
        assertions=tuple(_assertion(a) for a in data.get("assertions", ())),  # absent in reports before gates
    )


def _assertion(data: dict[str, Any]) -> AssertionResult:
    """One assertion gate."""
    return AssertionResult(
        check_id=data["check_id"],
        level=data["level"],
        outcome=Outcome(data["outcome"]),
        summary=data["summary"],
        source=data["source"],
    )


def _criterion(data: dict[str, Any]) -> CriterionResult:
    """One criterion and its checks."""
    return CriterionResult(
        text=data["text"],
        section=data["section"],
        kind=data["kind"],
        outcome=Outcome(data["outcome"]),
        score=data["score"],
        weight=data["weight"],
        required=data["required"],
        checks=tuple(_check(c) for c in data["checks"]),
        manual_reason=data["manual_reason"],
    )


def _check(data: dict[str, Any]) -> CheckResult:
    """One check result and its evidence."""
    return CheckResult(
        check_id=data["check_id"],
        title=data["title"],
        outcome=Outcome(data["outcome"]),
        score=data["score"],
        summary=data["summary"],
        weight=data["weight"],
        value=data["value"],
        threshold=data["threshold"],
        unit=data["unit"],
        evidence=tuple(_evidence(e) for e in data["evidence"]),
        remediation=data["remediation"],
        duration_ms=data["duration_ms"],
    )


def _evidence(data: dict[str, Any]) -> Evidence:
    """One piece of evidence."""
    location = data["location"]
    return Evidence(
        message=data["message"],
        location=None if location is None else Location(**location),
        detail=data["detail"],
        distribution=_distribution(data.get("distribution")),
    )


def _distribution(data: dict[str, Any] | None) -> Distribution | None:
    """A drawn distribution (absent from reports written before it existed)."""
    if data is None:
        return None
    points = tuple((float(x), float(y)) for x, y in data["points"])
    return Distribution(data["unit"], points, data["threshold"], data["quantile"])


def _probe(data: dict[str, Any]) -> ProbeRecord:
    """One probe record."""
    return ProbeRecord(
        probe_id=data["probe_id"],
        ok=data["ok"],
        duration_ms=data["duration_ms"],
        error=data["error"],
        notes=tuple(data["notes"]),
    )
