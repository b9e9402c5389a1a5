"""The learner's optional `grade.toml`: how to run their project, and documented test fakes."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.errors import ConfigError

CONFIG_NAME = "grade.toml"

# Sections that later parts of the grader read; accepted and kept as they are for now.
_RESERVED_SECTIONS = frozenset({"service", "services", "api", "auth", "load"})


@dataclass(frozen=True, slots=True)
class TestsConfig:
    """`[tests]`: how long the suite may take; an explicit command when detection guesses wrong."""

    timeout_s: float | None = None
    command: str | None = None


@dataclass(frozen=True, slots=True)
class SecretsConfig:
    """`[secrets]`: documented test fakes that are not leaks."""

    allow_paths: tuple[str, ...] = ()
    allow_fingerprints: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProjectConfig:
    """The parsed grade.toml (all defaults when the file is absent)."""

    found: bool = False
    tests: TestsConfig = TestsConfig()
    secrets: SecretsConfig = SecretsConfig()
    raw: dict[str, Any] = field(default_factory=dict)


def load_project_config(root: Path) -> ProjectConfig:
    """Read `root/grade.toml`, raising ConfigError with the file and the problem."""
    path = root / CONFIG_NAME
    if not path.is_file():
        return ProjectConfig()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(raw) - {"tests", "secrets"} - _RESERVED_SECTIONS
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}")
    tests = _table(raw, "tests", path, {"timeout", "command"})
    secrets = _table(raw, "secrets", path, {"allow_paths", "allow_fingerprints"})
    return ProjectConfig(
        found=True,
        tests=TestsConfig(
            timeout_s=_number(tests.get("timeout"), f"{path}: [tests] timeout"),
            command=_string(tests.get("command"), f"{path}: [tests] command"),
        ),
        secrets=SecretsConfig(
            allow_paths=_strings(secrets.get("allow_paths", []), f"{path}: [secrets] allow_paths"),
            allow_fingerprints=_strings(secrets.get("allow_fingerprints", []), f"{path}: [secrets] allow_fingerprints"),
        ),
        raw=raw,
    )


def _table(raw: dict[str, Any], name: str, path: Path, keys: set[str]) -> dict[str, Any]:
    table = raw.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    unknown = set(table) - keys
    if unknown:
        raise ConfigError(f"{path}: [{name}] has unknown key(s) {', '.join(sorted(unknown))}")
    return table


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where} must be a positive number of seconds")
    return float(value)


def _string(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be a non-empty string")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    return tuple(value)
