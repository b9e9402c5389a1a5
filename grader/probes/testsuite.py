"""The `tests.run` probe: the learner's test suite, run in a copy under coverage the grader controls.

Committed coverage reports and result files are never read: the copy leaves them out and every
result the grader parses is written by its own run into a directory outside the copy. Every
process runs through :mod:`grader.sandbox` (own process group, time limit, scrubbed env,
capped output). Learner problems end in a :class:`TestRun` with a status and a reason; only
grader faults raise.
"""

from __future__ import annotations

from pathlib import Path

from grader.facts import ProbeContext
from grader.isolation import UNCONFINED, Isolation
from grader.plugin import probe
from grader.probes.node_tests import run_node_suite
from grader.probes.python_tests import PYTHON_MARKERS, run_python_suite
from grader.probes.repo import RepoFacts
from grader.probes.suite_run import FileCoverage, SuiteWorkspace, TestCase, TestRun

__all__ = ["FileCoverage", "TestCase", "TestRun", "run_test_suite", "test_run"]

INSTALL_TIMEOUT_S = 600.0


@probe("tests.run", timeout_s=1800)
def test_run(ctx: ProbeContext) -> TestRun:
    """Install the project's dependencies and run its tests under coverage, in a copy."""
    repo = ctx.fact("repo", RepoFacts)
    return run_test_suite(
        repo,
        ctx.scratch / "tests",
        timeout_s=ctx.config.tests.timeout_s or ctx.test_timeout_s,
        command=ctx.config.tests.command,
        isolation=ctx.isolation,
    )


test_run.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, despite its name


def run_test_suite(
    repo: RepoFacts,
    workdir: Path,
    *,
    timeout_s: float,
    install_timeout_s: float = INSTALL_TIMEOUT_S,
    command: str | None = None,
    isolation: Isolation = UNCONFINED,
) -> TestRun:
    """Copy the submission into `workdir`, install, run the suite and measure coverage."""
    ws = SuiteWorkspace(repo, workdir, isolation=isolation)
    language = project_language(repo)
    if language is None:
        return ws.finish(
            "unsupported",
            "neither a Node.js project (package.json) nor a Python one "
            "(pyproject.toml, setup.py, setup.cfg, requirements.txt, Pipfile or .py files) was found",
        )
    ws.prepare()
    pipeline = run_node_suite if language == "node" else run_python_suite
    return pipeline(ws, timeout_s=timeout_s, install_timeout_s=install_timeout_s, command=command)


def project_language(repo: RepoFacts) -> str | None:
    """'node' when there is a package.json at the root, else 'python' when Python markers or files exist."""
    if repo.has("package.json"):
        return "node"
    if any(repo.has(marker) for marker in PYTHON_MARKERS) or "python" in repo.languages:
        return "python"
    return None
