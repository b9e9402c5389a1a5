"""The learner's optional `grade.toml`: how to run their project, and documented test fakes."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.assertions import Assertion, parse_assertions
from grader.errors import ConfigError
from grader.probes.api_config import ApiConfig, AuthConfig, parse_api_config, parse_auth_config
from grader.probes.jobs_config import JobsConfig, parse_jobs_config
from grader.probes.load_config import LoadConfig, parse_load_config
from grader.probes.micro_config import MicroservicesConfig, parse_microservices_config
from grader.probes.service_config import ServiceConfig, parse_service_config

CONFIG_NAME = "grade.toml"

_SECTIONS = frozenset(
    {"tests", "secrets", "service", "services", "api", "auth", "assertions", "load", "microservices", "jobs"}
)


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
    service: ServiceConfig = field(default_factory=ServiceConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    load: LoadConfig = field(default_factory=LoadConfig)
    microservices: MicroservicesConfig = field(default_factory=MicroservicesConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)
    assertions: tuple[Assertion, ...] = ()  # `[assertions]`: shape checked here, ids and options by api.grade
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
    return parse_project_config(raw, str(path))


def parse_project_config(raw: dict[str, Any], source: str = CONFIG_NAME) -> ProjectConfig:
    """Validate a parsed grade.toml; ConfigError names the source, the section and the problem."""
    unknown = set(raw) - _SECTIONS
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {', '.join(sorted(unknown))}")
    tests = _table(raw, "tests", source, {"timeout", "command"})
    secrets = _table(raw, "secrets", source, {"allow_paths", "allow_fingerprints"})
    return ProjectConfig(
        found=True,
        tests=TestsConfig(
            timeout_s=_number(tests.get("timeout"), f"{source}: [tests] timeout"),
            command=_string(tests.get("command"), f"{source}: [tests] command"),
        ),
        secrets=SecretsConfig(
            allow_paths=_strings(secrets.get("allow_paths", []), f"{source}: [secrets] allow_paths"),
            allow_fingerprints=_strings(
                secrets.get("allow_fingerprints", []), f"{source}: [secrets] allow_fingerprints"
            ),
        ),
        service=parse_service_config(raw, source),
        api=parse_api_config(raw.get("api", {})),
        auth=parse_auth_config(raw.get("auth", {})),
        load=parse_load_config(raw, source),
        microservices=parse_microservices_config(raw, source),
        jobs=parse_jobs_config(raw, source),
        assertions=parse_assertions(raw.get("assertions", {}), f"{source}: [assertions]", "grade.toml", ConfigError),
        raw=raw,
    )


def _table(raw: dict[str, Any], name: str, path: str, keys: set[str]) -> dict[str, Any]:
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
