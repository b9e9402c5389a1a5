"""The microservices fixtures graded at phase 8: every service really installed, started, traced and stopped."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from grader.api import grade
from grader.facts import FactStore, LiveOptions, ProbeContext
from grader.model import CheckResult, GradeRequest, Outcome, Report
from grader.plugin import Registry
from grader.probes import repo as repo_module
from grader.probes.micro_live import micro_live
from grader.project_config import load_project_config
from tests.conftest import require_tool

pytestmark = pytest.mark.slow
MICRO_CHECKS = ("micro.services", "micro.gateway", "micro.queue", "micro.tracing", "micro.fault_tolerance")


def processes_with(marker: str) -> list[int]:
    """Live processes whose environment carries `marker` (every service the grader started gets it)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def graded(root: Path, *only: str) -> tuple[dict[str, CheckResult], Report]:
    """Grade `root` at phase 8, then make sure no service it started is left running."""
    marker = f"MICRO_TEST_RUN={uuid.uuid4().hex}"
    name, value = marker.split("=")
    report = grade(GradeRequest(path=root, phase=8, only=only, env={name: value}))
    assert processes_with(marker) == []
    return {r.check_id: r for c in report.criteria for r in c.checks}, report


@pytest.fixture(scope="module")
def good(built_fixture: Callable[[str], Path]) -> dict[str, CheckResult]:
    require_tool("node")
    require_tool("npm")
    return graded(built_fixture("micro-good"))[0]


def test_the_good_project_passes_every_microservices_check(good: dict[str, CheckResult]) -> None:
    assert {c: good[c].outcome for c in MICRO_CHECKS} == dict.fromkeys(MICRO_CHECKS, Outcome.PASS), {
        c: good[c].summary for c in MICRO_CHECKS
    }
    assert good["micro.services"].value == 3
    assert "3 of 3 routes" in good["micro.tracing"].summary
    assert any("logged by orders" in e.message for e in good["micro.tracing"].evidence)
    fault = good["micro.fault_tolerance"]
    assert "with users stopped, GET /users -> 503" in fault.summary and "(an error)" in fault.summary
    assert fault.value is not None and fault.threshold == 2000
    assert any('"SERVICE_UNAVAILABLE"' in (e.detail or "") for e in fault.evidence)


def test_the_flawed_project_fails_with_evidence(built_fixture: Callable[[str], Path]) -> None:
    require_tool("node")
    require_tool("npm")
    results, report = graded(built_fixture("micro-flawed"))
    outcomes = {c: results[c].outcome for c in MICRO_CHECKS}
    assert outcomes == {
        "micro.services": Outcome.FAIL,
        "micro.gateway": Outcome.PASS,  # it does route requests while every service is up
        "micro.queue": Outcome.FAIL,
        "micro.tracing": Outcome.FAIL,
        "micro.fault_tolerance": Outcome.FAIL,
    }, {c: results[c].summary for c in MICRO_CHECKS}
    services = results["micro.services"]
    assert any(e.location and (e.location.path, e.location.line) == ("orders/index.js", 2) for e in services.evidence)
    assert "reached no service behind it" in results["micro.tracing"].summary
    fault = results["micro.fault_tolerance"]
    assert "GET /users got no answer within 5 s" in fault.summary and fault.score == 0.25
    assert not report.passed


def test_without_start_commands_tracing_is_judged_statically_and_fault_tolerance_is_not_run(
    built_fixture: Callable[[str], Path], tmp_path: Path
) -> None:
    root = tmp_path / "no-config"
    shutil.copytree(built_fixture("micro-good"), root)
    (root / "grade.toml").unlink()
    results, _ = graded(root, "micro.tracing", "micro.fault_tolerance", "micro.gateway")
    tracing = results["micro.tracing"]
    assert (tracing.outcome, tracing.score) == (Outcome.WARN, 0.5)
    assert "judged from the code only: the live part was not run (needs grade.toml [microservices]" in tracing.summary
    fault = results["micro.fault_tolerance"]
    assert fault.outcome is Outcome.NOT_RUN
    assert fault.summary.startswith("not run: needs grade.toml [microservices] start commands")
    assert results["micro.gateway"].outcome is Outcome.PASS


@pytest.fixture
def teardown() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def test_a_service_that_will_not_start_is_reported_with_its_log(tmp_path: Path, teardown: ExitStack) -> None:
    require_tool("python3")
    root = tmp_path / "project"
    (root / "users").mkdir(parents=True)
    (root / "users" / "app.py").write_text("raise SystemExit('users: cannot open its database')\n")
    (root / "grade.toml").write_text(
        '[microservices]\ngateway = "gw"\n'
        '[[microservices.service]]\nname = "gw"\nstart = "exec python3 -m http.server $PORT --bind 127.0.0.1"\n'
        '[[microservices.service]]\nname = "users"\ncwd = "users"\nstart = "python3 app.py"\n'
    )
    config = load_project_config(root)
    registry = Registry()
    registry.add_module(repo_module)
    scratch = Path(tempfile.mkdtemp(dir=tmp_path))

    def context(store: FactStore) -> ProbeContext:
        return ProbeContext(root, config, scratch, store, 60, LiveOptions(env={"MARK": "x"}), teardown.callback)

    fact = micro_live(context(FactStore(registry.probes, context)))
    assert fact.status == "not_started"
    assert fact.reason.startswith("service 'users' did not start: it exited with code 1")
    assert "cannot open its database" in fact.log_tail
    assert not any("`" in line for line in fact.started)  # nothing started: the gateway comes last
    assert (scratch / "micro" / "users.log").is_file()
