"""Assertions: Lighthouse-CI style gates on single checks, from the curriculum or the learner's grade.toml.

An `[assertions]` table maps check ids to a level or ``[level, {options}]``::

    [assertions]
    tests.coverage = ["error", {min = 0.85}]   # the run fails unless the check passes with min 0.85
    security.headers = "warn"                  # reported only
    repo.readme = "off"                        # no gate (e.g. to switch off a curriculum's assertion)

Assertions never change scores or criterion outcomes. This module only parses the table's
shape; the check ids and options are validated against the registry by
:func:`grader.curriculum.validate_assertions`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from grader.errors import UsageError

LEVELS = ("error", "warn", "off")


@dataclass(frozen=True, slots=True)
class Assertion:
    """One asserted check: its level, the options it is re-judged with, and where it was declared."""

    check_id: str
    level: str
    options: Mapping[str, Any] = field(default_factory=dict)
    source: str = "grade.toml"  # "curriculum" or "grade.toml"

    def as_option(self) -> dict[str, Any]:
        """The plain form recorded in ``Report.options["assertions"]``."""
        return {"level": self.level, "options": dict(self.options), "source": self.source}


def parse_assertions(
    table: Any, where: str, source: str, error: type[UsageError] = UsageError
) -> tuple[Assertion, ...]:
    """The `[assertions]` table as Assertions; dotted keys (`tests.coverage = ...`) are flattened."""
    if not isinstance(table, dict):
        raise error(f"{where} must be a table")
    return tuple(_entries(table, "", where, source, error))


def _entries(
    table: Mapping[str, Any], prefix: str, where: str, source: str, error: type[UsageError]
) -> list[Assertion]:
    out: list[Assertion] = []
    for key, value in table.items():
        check_id = f"{prefix}{key}"
        if isinstance(value, dict):  # `tests.coverage = ...` is TOML for {"tests": {"coverage": ...}}
            out += _entries(value, f"{check_id}.", where, source, error)
        else:
            out.append(_entry(check_id, value, where, source, error))
    return out


def _entry(check_id: str, value: Any, where: str, source: str, error: type[UsageError]) -> Assertion:
    shape = f'{where} {check_id}: expected a level ("error", "warn" or "off") or [level, {{options}}]'
    options: Any = {}
    if isinstance(value, str):
        level = value
    elif isinstance(value, list) and len(value) in (1, 2) and isinstance(value[0], str):
        level, options = value[0], value[1] if len(value) == 2 else {}
        if not isinstance(options, dict):
            raise error(f"{shape}, got options {options!r}")
    else:
        raise error(f"{shape}, got {value!r}")
    if level not in LEVELS:
        raise error(f"{where} {check_id}: unknown level {level!r} (levels: {', '.join(LEVELS)})")
    return Assertion(check_id, level, dict(options), source)


def merge_assertions(*layers: tuple[Assertion, ...]) -> dict[str, Assertion]:
    """The effective assertions: each later layer overrides the earlier ones per check id."""
    merged: dict[str, Assertion] = {}
    for layer in layers:
        for assertion in layer:
            merged[assertion.check_id] = assertion
    return merged
