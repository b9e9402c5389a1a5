"""The one entry point: `grade(request) -> Report`, used by the CLI, batch and tests alike."""

from __future__ import annotations

import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from grader import __version__
from grader.assertions import Assertion, merge_assertions
from grader.curriculum import Curriculum, load_curriculum, validate_assertions
from grader.errors import ConfigError, UsageError
from grader.facts import FactStore, LiveOptions, ProbeContext, ProbeListener
from grader.isolation import Isolation, open_isolation
from grader.model import SCHEMA_VERSION, GradeRequest, Outcome, ProbeRecord, Report, Target
from grader.plugin import Registry, load_registry
from grader.probes.history import GitHistory
from grader.project_config import ProjectConfig, load_project_config
from grader.runner import judge_assertions, judge_phase, select
from grader.scoring import phase_score

DEFAULT_TEST_TIMEOUT_S = 300.0


def prepare(request: GradeRequest, *, need_phase: bool = True) -> tuple[Registry, Curriculum]:
    """Load plug-ins and the curriculum, validating the request; raises UsageError subclasses."""
    registry = load_registry(plugins=request.load_plugins)
    curriculum = load_curriculum(request.curriculum, registry.checks, request.overrides)
    if need_phase:
        select(curriculum.phase(request.phase), registry.checks, request.only, request.skip)
    return registry, curriculum


def grade(request: GradeRequest, listener: ProbeListener | None = None) -> Report:
    """Grade the project at `request.path` against one phase and return the report."""
    root = _checked_root(request.path)
    registry, curriculum = prepare(request)
    phase = select(curriculum.phase(request.phase), registry.checks, request.only, request.skip)
    config = load_project_config(root)
    own = validate_assertions(config.assertions, registry.checks, f"{root / 'grade.toml'}: [assertions]", ConfigError)
    assertions = merge_assertions(curriculum.assertions, own)  # grade.toml overrides the curriculum per check
    gates = tuple(a for a in assertions.values() if a.level != "off")
    started = datetime.now(UTC)
    began = time.perf_counter()
    with (
        open_isolation(request.isolation) as isolation,  # last out: kills what the sandbox user left running
        tempfile.TemporaryDirectory(prefix="grade-", ignore_cleanup_errors=True) as scratch,
        ExitStack() as teardown,  # services the probes started are stopped here, also on Ctrl-C
    ):
        isolation.admit(Path(scratch))
        store = FactStore(
            registry.probes, lambda s: _context(root, config, Path(scratch), s, request, teardown, isolation), listener
        )
        store.start("history")
        criteria = judge_phase(phase, registry.checks, store, also=(a.check_id for a in gates))
        asserted = judge_assertions(gates, phase, registry.checks, store, request.overrides)
        history = store.get("history")
        probes = tuple(
            ProbeRecord(o.probe_id, o.error is None, round(o.duration_ms, 1), o.error) for o in store.outcomes()
        )
    score, incomplete = phase_score(criteria)
    pass_mark = request.min_score if request.min_score is not None else phase.pass_mark
    required_failed = any(c.required and c.outcome is Outcome.FAIL for c in criteria)
    gate_failed = any(a.blocking for a in asserted)
    passed = score is not None and score >= pass_mark and not required_failed and not incomplete and not gate_failed
    return Report(
        schema_version=SCHEMA_VERSION,
        grader_version=__version__,
        curriculum=curriculum.name,
        curriculum_sha256=curriculum.sha256,
        phase=phase.id,
        phase_title=phase.title,
        target=_target(root, history),
        started_at=started.isoformat(timespec="seconds"),
        duration_s=round(time.perf_counter() - began, 2),
        score=score,
        pass_mark=pass_mark,
        passed=passed,
        incomplete=incomplete,
        criteria=criteria,
        probes=probes,
        plugin_errors=tuple(registry.load_errors),
        options={**_options(request, assertions), "isolation_used": isolation.detail},
        assertions=asserted,
    )


def _checked_root(path: Path) -> Path:
    if not path.exists():
        raise UsageError(f"path does not exist: {path}")
    if not path.is_dir():
        raise UsageError(f"not a directory: {path} (grade a project folder)")
    return path.resolve()


def _context(
    root: Path,
    config: ProjectConfig,
    scratch: Path,
    store: FactStore,
    request: GradeRequest,
    teardown: ExitStack,
    isolation: Isolation,
) -> ProbeContext:
    return ProbeContext(
        target=root,
        config=config,
        scratch=scratch,
        store=store,
        test_timeout_s=request.test_timeout_s or DEFAULT_TEST_TIMEOUT_S,
        live=LiveOptions(url=request.url, env=dict(request.env), live_url=request.live_url),
        defer=teardown.callback,
        isolation=isolation,
    )


def _target(root: Path, history: object) -> Target:
    if isinstance(history, GitHistory) and history.is_repo:
        return Target(str(root), root.name, history.head, history.branch, history.dirty)
    return Target(str(root), root.name, None, None, False)


def _options(request: GradeRequest, assertions: dict[str, Assertion]) -> dict[str, object]:
    options = {k: v for k, v in asdict(request).items() if k not in ("path", "phase")}
    options["curriculum"] = str(request.curriculum) if request.curriculum else None
    options["assertions"] = {check_id: a.as_option() for check_id, a in sorted(assertions.items())}
    return options
