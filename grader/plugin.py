"""How checks and probes are declared, and how plug-ins supply them.

A plug-in is any module whose top-level functions are decorated with
:func:`check` or :func:`probe`. Built-in ones are listed in
``BUILTIN_MODULES``; third-party packages add theirs through the
``grade.plugins`` entry point group.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from grader.model import Verdict

if TYPE_CHECKING:
    from grader.facts import Facts, ProbeContext

ENTRY_POINT_GROUP = "grade.plugins"

BUILTIN_MODULES: tuple[str, ...] = (
    "grader.probes.repo",
    "grader.probes.history",
    "grader.probes.testsuite",
    "grader.probes.test_static",
    "grader.probes.secrets_probe",
    "grader.probes.service",
    "grader.probes.persistence",
    "grader.probes.openapi",
    "grader.probes.routes",
    "grader.probes.contract",
    "grader.probes.http_session",
    "grader.probes.http_api",
    "grader.probes.http_obs",
    "grader.probes.http_auth",
    "grader.probes.http_security",
    "grader.probes.loadtest_docs",
    "grader.probes.load",
    "grader.probes.microservices",
    "grader.probes.micro_live",
    "grader.probes.db_probes",
    "grader.probes.jobs",
    "grader.probes.containers",
    "grader.probes.docker_build",
    "grader.probes.workflows",
    "grader.probes.deploy",
    "grader.probes.obs_files",
    "grader.probes.test_layers",
    "grader.probes.design_docs",
    "grader.probes.terraform",
    "grader.probes.codebase",
    "grader.probes.migrations",
    "grader.probes.db_indexes",
    "grader.probes.data_access",
    "grader.probes.nest",
    "checks.testing",
    "checks.security",
    "checks.repo",
    "checks.service",
    "checks.api",
    "checks.api_contract",
    "checks.observability",
    "checks.auth",
    "checks.web_security",
    "checks.performance",
    "checks.microservices",
    "checks.data",
    "checks.containers",
    "checks.cicd",
    "checks.deployment",
    "checks.portfolio",
    "checks.obs_files",
    "checks.test_layers",
    "checks.design",
    "checks.infra",
    "checks.codebase",
    "checks.data_layer",
)

CheckFunc = Callable[["Facts", Mapping[str, Any]], Verdict]
ProbeFunc = Callable[["ProbeContext"], Any]
F = TypeVar("F", bound=Callable[..., Any])

_CHECK_ATTR = "__grade_check__"
_PROBE_ATTR = "__grade_probe__"


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """A registered check: a pure function of facts and options."""

    id: str
    title: str
    requires: tuple[str, ...]
    func: CheckFunc
    description: str
    remediation: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    threshold: str | None = None  # the option that holds the pass threshold, if any
    origin: str = ""


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    """A registered probe: gathers one fact, with I/O, once per run."""

    id: str
    func: ProbeFunc
    timeout_s: float
    description: str
    origin: str = ""


def check(
    id: str,
    *,
    title: str,
    requires: tuple[str, ...],
    remediation: str,
    defaults: Mapping[str, Any] | None = None,
    threshold: str | None = None,
) -> Callable[[F], F]:
    """Declare a check; its docstring says what it looks at."""

    def mark(func: F) -> F:
        spec = CheckSpec(
            id=id,
            title=title,
            requires=requires,
            func=func,
            description=inspect.cleandoc(func.__doc__ or title),
            remediation=remediation,
            defaults=dict(defaults or {}),
            threshold=threshold,
            origin=func.__module__,
        )
        setattr(func, _CHECK_ATTR, spec)
        func.__test__ = False  # type: ignore[attr-defined]  # never collected by pytest as a test
        return func

    return mark


def probe(id: str, *, timeout_s: float) -> Callable[[F], F]:
    """Declare a probe; its docstring says what fact it gathers."""

    def mark(func: F) -> F:
        doc = inspect.cleandoc(func.__doc__ or id)
        setattr(func, _PROBE_ATTR, ProbeSpec(id, func, timeout_s, doc, func.__module__))
        func.__test__ = False  # type: ignore[attr-defined]  # never collected by pytest as a test
        return func

    return mark


@dataclass(slots=True)
class Registry:
    """The checks and probes available to one run, and what failed to load."""

    checks: dict[str, CheckSpec] = field(default_factory=dict)
    probes: dict[str, ProbeSpec] = field(default_factory=dict)
    load_errors: list[str] = field(default_factory=list)

    def add_module(self, module: ModuleType) -> None:
        """Register every check and probe a plug-in module declares."""
        for value in vars(module).values():
            if (spec := getattr(value, _PROBE_ATTR, None)) is not None:
                self._add(self.probes, spec, "probe")
            if (cspec := getattr(value, _CHECK_ATTR, None)) is not None:
                self._add(self.checks, cspec, "check")

    def _add(self, table: dict[str, Any], spec: CheckSpec | ProbeSpec, kind: str) -> None:
        existing = table.get(spec.id)
        if existing is not None and existing.origin != spec.origin:
            self.load_errors.append(
                f"{kind} {spec.id!r} from {spec.origin} ignored: already defined by {existing.origin}"
            )
            return
        table[spec.id] = spec

    def drop_unsatisfiable(self) -> None:
        """Remove checks whose facts no probe provides, recording why."""
        for spec in list(self.checks.values()):
            missing = [r for r in spec.requires if r not in self.probes]
            if missing:
                del self.checks[spec.id]
                self.load_errors.append(
                    f"check {spec.id!r} from {spec.origin} disabled: no probe provides {', '.join(missing)}"
                )


def load_registry(*, plugins: bool = True, extra_modules: tuple[str, ...] = ()) -> Registry:
    """Load the built-in modules, then third-party plug-ins, each on its own."""
    registry = Registry()
    for name in BUILTIN_MODULES + extra_modules:
        registry.add_module(importlib.import_module(name))
    if plugins:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                loaded = ep.load()
            except Exception as exc:  # a broken plug-in must not stop the others
                registry.load_errors.append(f"plug-in {ep.name!r} failed to load: {type(exc).__name__}: {exc}")
                continue
            if isinstance(loaded, ModuleType):
                registry.add_module(loaded)
            else:
                registry.load_errors.append(f"plug-in {ep.name!r} is not a module ({ep.value})")
    registry.drop_unsatisfiable()
    return registry
