"""The curriculum as data: phases, their criteria, and the checks that judge them, validated on load."""

from __future__ import annotations

import difflib
import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from grader.assertions import Assertion, parse_assertions
from grader.errors import CurriculumError, UsageError
from grader.plugin import CheckSpec

DEFAULT_CURRICULUM = "roadmap-2026.toml"
CRITERION_KINDS = ("completion", "carried", "feature", "checklist")
_CRITERION_KEYS = {"text", "section", "kind", "weight", "required", "checks", "planned", "manual"}


@dataclass(frozen=True, slots=True)
class CheckRef:
    """One check judging a criterion, with its weight inside the criterion and its options."""

    id: str
    weight: float
    options: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Criterion:
    """A completion criterion in the roadmap's wording, and how it is judged."""

    text: str
    section: str
    kind: str
    weight: float
    required: bool
    checks: tuple[CheckRef, ...]
    planned: tuple[str, ...]
    manual: str | None


@dataclass(frozen=True, slots=True)
class Phase:
    """One phase of the curriculum."""

    id: int
    title: str
    pass_mark: float
    criteria: tuple[Criterion, ...]

    def check_ids(self) -> tuple[str, ...]:
        """Every check this phase runs, once each, in order of first use."""
        return tuple(dict.fromkeys(ref.id for c in self.criteria for ref in c.checks))


@dataclass(frozen=True, slots=True)
class Curriculum:
    """A validated curriculum file."""

    name: str
    source: str
    sha256: str
    phases: Mapping[int, Phase]
    assertions: tuple[Assertion, ...] = ()  # the top-level [assertions] table, validated

    def phase(self, phase_id: int) -> Phase:
        """The phase with this id; CurriculumError naming the valid ones otherwise."""
        if phase_id not in self.phases:
            valid = ", ".join(str(p) for p in sorted(self.phases))
            raise CurriculumError(f"unknown phase {phase_id}: {self.name} has phases {valid}")
        return self.phases[phase_id]


Overrides = Mapping[str, Mapping[str, Any]]


def load_curriculum(
    path: Path | None, checks: Mapping[str, CheckSpec], overrides: Overrides | None = None
) -> Curriculum:
    """Load and validate a curriculum (the bundled roadmap when `path` is None)."""
    if path is None:
        raw_bytes = files("grader.curricula").joinpath(DEFAULT_CURRICULUM).read_bytes()
        source = DEFAULT_CURRICULUM
    else:
        try:
            raw_bytes = path.read_bytes()
        except OSError as exc:
            raise CurriculumError(f"cannot read curriculum {path}: {exc.strerror}") from None
        source = str(path)
    try:
        data = tomllib.loads(raw_bytes.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CurriculumError(f"curriculum {source}: not valid TOML: {exc}") from None
    _check_overrides(overrides or {}, checks, source)
    parser = _Parser(source, checks, overrides or {})
    return Curriculum(
        name=parser.string(data, "name", "the file"),
        source=source,
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        phases=parser.phases(data),
        assertions=validate_assertions(
            parse_assertions(
                data.get("assertions", {}), f"curriculum {source}: [assertions]", "curriculum", CurriculumError
            ),
            checks,
            f"curriculum {source}: [assertions]",
        ),
    )


def validate_assertions(
    assertions: tuple[Assertion, ...],
    checks: Mapping[str, CheckSpec],
    where: str,
    error: type[UsageError] = CurriculumError,
) -> tuple[Assertion, ...]:
    """Reject unknown check ids (with a suggestion) and options, exactly like the curriculum's own."""
    for assertion in assertions:
        if assertion.check_id not in checks:
            raise error(f"{where}: unknown check id {assertion.check_id!r}{_suggest(assertion.check_id, checks)}")
        _validate_options(assertion.options, checks[assertion.check_id], f"{where} {assertion.check_id}", error)
    return assertions


def _check_overrides(overrides: Overrides, checks: Mapping[str, CheckSpec], source: str) -> None:
    for check_id, options in overrides.items():
        if check_id not in checks:
            raise CurriculumError(f"override: unknown check id {check_id!r}{_suggest(check_id, checks)}")
        _validate_options(options, checks[check_id], f"override of {check_id}")


def _validate_options(
    options: Mapping[str, Any], spec: CheckSpec, where: str, error: type[UsageError] = CurriculumError
) -> None:
    for key, value in options.items():
        if key not in spec.defaults:
            known = ", ".join(sorted(spec.defaults)) or "none"
            raise error(f"{where}: check {spec.id!r} has no option {key!r} (options: {known})")
        default = spec.defaults[key]
        numeric = isinstance(default, int | float) and not isinstance(default, bool)
        ok = (
            isinstance(value, int | float) and not isinstance(value, bool)
            if numeric
            else isinstance(value, type(default))
        )
        if not ok:
            raise error(f"{where}: option {spec.id}.{key} must be a {type(default).__name__}, got {value!r}")


def _suggest(name: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True, slots=True)
class _Parser:
    """Turns the TOML tables into validated dataclasses, naming the place of every error."""

    source: str
    checks: Mapping[str, CheckSpec]
    overrides: Overrides

    def fail(self, where: str, message: str) -> CurriculumError:
        return CurriculumError(f"curriculum {self.source}: {where}: {message}")

    def string(self, table: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
        value = table.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"{key!r} must be a non-empty string")
        return value

    def number(self, table: Mapping[str, Any], key: str, where: str, default: float, top: float | None = None) -> float:
        value = table.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or value < 0
            or (top is not None and value > top)
        ):
            bounds = f"between 0 and {top:g}" if top is not None else "a number >= 0"
            raise self.fail(where, f"{key!r} must be {bounds}, got {value!r}")
        return float(value)

    def phases(self, data: Mapping[str, Any]) -> dict[int, Phase]:
        unknown = set(data) - {"name", "phase", "assertions"}
        if unknown:
            raise self.fail("top level", f"unknown key(s) {', '.join(sorted(unknown))}")
        tables = data.get("phase")
        if not isinstance(tables, list) or not tables:
            raise self.fail("top level", "needs at least one [[phase]] table")
        phases: dict[int, Phase] = {}
        for index, table in enumerate(tables, 1):
            phase = self.phase(table, f"phase table #{index}")
            if phase.id in phases:
                raise self.fail(f"phase {phase.id}", "defined twice")
            phases[phase.id] = phase
        return phases

    def phase(self, table: Mapping[str, Any], where: str) -> Phase:
        unknown = set(table) - {"id", "title", "pass_mark", "criterion"}
        if unknown:
            raise self.fail(where, f"unknown key(s) {', '.join(sorted(unknown))}")
        phase_id = table.get("id")
        if isinstance(phase_id, bool) or not isinstance(phase_id, int) or phase_id < 0:
            raise self.fail(where, "'id' must be a whole number >= 0")
        where = f"phase {phase_id}"
        criteria = table.get("criterion", [])
        if not isinstance(criteria, list) or not criteria:
            raise self.fail(where, "needs at least one [[phase.criterion]]")
        return Phase(
            id=phase_id,
            title=self.string(table, "title", where),
            pass_mark=self.number(table, "pass_mark", where, 70, top=100),
            criteria=tuple(self.criterion(c, f"{where}, criterion #{i}") for i, c in enumerate(criteria, 1)),
        )

    def criterion(self, table: Mapping[str, Any], where: str) -> Criterion:
        if not isinstance(table, dict):
            raise self.fail(where, "must be a table")
        text = self.string(table, "text", where)
        where = f"{where} ({text!r})"
        unknown = set(table) - _CRITERION_KEYS
        if unknown:
            raise self.fail(where, f"unknown key(s) {', '.join(sorted(unknown))}")
        kind = self.string(table, "kind", where, "completion")
        if kind not in CRITERION_KINDS:
            raise self.fail(where, f"'kind' must be one of {', '.join(CRITERION_KINDS)}, got {kind!r}")
        if "manual" in table and ("checks" in table or "planned" in table):
            raise self.fail(where, "a 'manual' criterion takes no 'checks' or 'planned'")
        if not any(k in table for k in ("checks", "planned", "manual")):
            raise self.fail(where, "needs 'checks' and/or 'planned', or 'manual'")
        if "checks" in table and not table["checks"]:
            raise self.fail(where, "'checks' is empty")
        required = table.get("required", False)
        if not isinstance(required, bool):
            raise self.fail(where, "'required' must be true or false")
        planned = self.planned(table.get("planned", []), where)
        # A planned check that is now built (e.g. by a plug-in) is simply run.
        built = tuple(CheckRef(p, 1.0, self.options(p, {}, where)) for p in planned if p in self.checks)
        return Criterion(
            text=text,
            section=self.string(table, "section", where, "Completion Criteria"),
            kind=kind,
            weight=self.number(table, "weight", where, 1),
            required=required,
            checks=self.check_refs(table.get("checks", []), where) + built,
            planned=tuple(p for p in planned if p not in self.checks),
            manual=self.string(table, "manual", where) if "manual" in table else None,
        )

    def planned(self, value: Any, where: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(where, "'planned' must be a list of check ids")
        return tuple(value)

    def check_refs(self, value: Any, where: str) -> tuple[CheckRef, ...]:
        if not isinstance(value, list):
            raise self.fail(where, "'checks' must be a list of check ids or {id, weight, options} tables")
        return tuple(self.check_ref(entry, where) for entry in value)

    def check_ref(self, entry: Any, where: str) -> CheckRef:
        table: Mapping[str, Any] = {"id": entry} if isinstance(entry, str) else entry
        if not isinstance(table, dict) or set(table) - {"id", "weight", "options"}:
            raise self.fail(where, f"bad check entry {entry!r}: use a check id or {{id, weight, options}}")
        check_id = self.string(table, "id", where)
        if check_id not in self.checks:
            raise self.fail(where, f"unknown check id {check_id!r}{_suggest(check_id, self.checks)}")
        options = table.get("options", {})
        if not isinstance(options, dict):
            raise self.fail(where, f"options of {check_id!r} must be a table")
        return CheckRef(check_id, self.number(table, "weight", where, 1), self.options(check_id, options, where))

    def options(self, check_id: str, given: Mapping[str, Any], where: str) -> Mapping[str, Any]:
        spec = self.checks[check_id]
        _validate_options(given, spec, f"curriculum {self.source}: {where}")
        return {**spec.defaults, **given, **self.overrides.get(check_id, {})}
