"""A test command the learner configured in grade.toml, run through `sh -c` and counted from its output."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from grader.probes.result_files import count_from_output
from grader.probes.suite_run import FileCoverage, SuiteWorkspace, TestRun, limits_note


def run_custom_command(
    ws: SuiteWorkspace,
    command: str,
    *,
    timeout_s: float,
    env: Mapping[str, str],
    coverage: Callable[[], tuple[FileCoverage, ...] | None],
) -> TestRun:
    """Run `command` in the copy; counts come from the runner's closing summary (no per-test results)."""
    ws.notes.append(f"test command from grade.toml: {command}")
    result = ws.run(["sh", "-c", command], timeout_s=timeout_s, env=env)
    if result.timed_out:
        return ws.failed_step("timed_out", "the test command", result)
    tally = count_from_output(result.output)
    if tally.found == 0 and not result.ok:
        reason = (
            f"the test command failed (exit {result.returncode}){limits_note(result)} "
            "and printed no test summary the grader knows"
        )
        return ws.finish("crashed", reason, log_tail=result.tail, duration_s=result.duration_s)
    ws.notes.append("counts read from the command's closing summary; coverage only where the grader could inject it")
    return ws.outcome("the test command", tally, result, coverage() if tally.found else None)
