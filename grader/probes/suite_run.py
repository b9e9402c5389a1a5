"""The test-run fact's types, and the grader-owned workspace a suite runs in.

A :class:`SuiteWorkspace` holds a copy of the submission (``src``), a directory the run writes
its results and coverage into (``out``, outside the copy), a scratch HOME, and the log of
every command run, so that each pipeline step reads as one line and ends in a :class:`TestRun`.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grader.isolation import UNCONFINED, Cell, Isolation
from grader.probes.repo import RepoFacts
from grader.sandbox import TAIL_LINES, ProcessResult, run_process, scrubbed_env

# Results or coverage that a submission might carry; never copied, so nothing can be read from them by mistake.
_COMMITTED_OUTPUT_DIRS = ("coverage/", ".nyc_output/", "htmlcov/", "test-results/")


@dataclass(frozen=True, slots=True)
class TestCase:
    """One test as the runner reported it."""

    __test__ = False  # not a pytest class

    name: str
    file: str | None  # repo-relative posix path
    line: int | None
    status: str  # "passed" | "failed" | "skipped"
    duration_s: float | None
    message: str | None  # failure message, trimmed


@dataclass(frozen=True, slots=True)
class FileCoverage:
    """Line coverage of one source file, measured by the grader."""

    path: str  # repo-relative posix
    lines_total: int
    lines_covered: int
    missing: tuple[int, ...]

    @property
    def ratio(self) -> float | None:
        """Covered share of the file's lines, 0..1 (None for a file with no executable line)."""
        return self.lines_covered / self.lines_total if self.lines_total else None


@dataclass(frozen=True, slots=True)
class TestRun:
    """The learner's test suite, run by the grader under coverage the grader controls."""

    __test__ = False

    status: str  # "ran" | "no_tests" | "install_failed" | "timed_out" | "crashed" | "unsupported"
    language: str | None  # "node" | "python"
    runner: str | None  # "jest" | "vitest" | "mocha" | "node:test" | "pytest"
    package_manager: str | None
    commands: tuple[str, ...]  # every command run, shell-quoted
    passed: int
    failed: int
    skipped: int
    duration_s: float
    cases: tuple[TestCase, ...]
    coverage: tuple[FileCoverage, ...] | None  # None if coverage could not be measured
    reason: str  # one sentence: what happened
    log_tail: str  # tail of the relevant output
    notes: tuple[str, ...]  # assumptions made

    @property
    def found(self) -> int:
        """How many tests the runner found."""
        return self.passed + self.failed + self.skipped

    @property
    def line_coverage(self) -> float | None:
        """Covered lines over all measured files, 0..1."""
        if self.coverage is None:
            return None
        total = sum(f.lines_total for f in self.coverage)
        return sum(f.lines_covered for f in self.coverage) / total if total else None


@dataclass(frozen=True, slots=True)
class Tally:
    """What a runner's results said: the cases, or only counts when no case list was available."""

    passed: int
    failed: int
    skipped: int
    cases: tuple[TestCase, ...] = ()

    @classmethod
    def of(cls, cases: Iterable[TestCase]) -> Tally:
        """Count cases by status."""
        cases = tuple(cases)
        return cls(
            passed=sum(c.status == "passed" for c in cases),
            failed=sum(c.status == "failed" for c in cases),
            skipped=sum(c.status == "skipped" for c in cases),
            cases=cases,
        )

    @property
    def found(self) -> int:
        """Tests found, whatever their status."""
        return self.passed + self.failed + self.skipped


NO_TALLY = Tally(0, 0, 0)


@dataclass
class SuiteWorkspace:
    """A grader-owned place to run one suite, and the record of what was run there."""

    repo: RepoFacts
    root: Path
    language: str | None = None
    runner: str | None = None
    package_manager: str | None = None
    commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    isolation: Isolation = field(default_factory=lambda: UNCONFINED)  # how learner commands are confined

    @property
    def src(self) -> Path:
        """The copy of the submission that every command runs in."""
        return self.root / "src"

    @property
    def out(self) -> Path:
        """Where runs write results and coverage: outside the copy, so nothing committed is read."""
        return self.root / "out"

    def prepare(self) -> None:
        """(Re)create the copy, the results directory and the scratch home."""
        for path in (self.src, self.out, self.root / "home"):
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
        skipped = copy_files(self.repo.root, self.repo.files, self.src)
        self.isolation.adopt(self.root)
        if skipped:
            self.notes.append(f"not copied: {', '.join(skipped[:5])}{' …' if len(skipped) > 5 else ''}")

    def read(self, rel: str, limit: int = 1_000_000) -> str:
        """The start of a file in the copy ('' if absent or unreadable)."""
        try:
            with (self.src / rel).open("rb") as fh:
                return fh.read(limit).decode("utf-8", errors="replace")
        except OSError:
            return ""

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The scrubbed environment for a learner process, HOME in the workspace."""
        return scrubbed_env({"HOME": str(self.root / "home"), **(extra or {})})

    def which(self, program: str) -> str | None:
        """Where `program` is on the learner processes' PATH."""
        return shutil.which(program, path=self.env()["PATH"])

    def cell(self, *, network: bool = False) -> Cell:
        """Where this workspace's learner commands run: they may write only here (and use the network if asked)."""
        return Cell(self.isolation, (self.root, self.src), network)

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        network: bool = False,
    ) -> ProcessResult:
        """Run a learner-facing command in the copy, confined, recording it; `network` for installs."""
        cell = self.cell(network=network)
        result = run_process(argv, cwd=cwd or self.src, env=self.env(env), timeout_s=timeout_s, cell=cell)
        self.commands.append(result.command)
        return result

    def finish(
        self,
        status: str,
        reason: str,
        *,
        tally: Tally = NO_TALLY,
        coverage: tuple[FileCoverage, ...] | None = None,
        log_tail: str = "",
        duration_s: float = 0.0,
    ) -> TestRun:
        """The fact, from what the workspace recorded and the outcome given."""
        return TestRun(
            status=status,
            language=self.language,
            runner=self.runner,
            package_manager=self.package_manager,
            commands=tuple(self.commands),
            passed=tally.passed,
            failed=tally.failed,
            skipped=tally.skipped,
            duration_s=round(duration_s, 3),
            cases=tally.cases,
            coverage=coverage,
            reason=reason,
            log_tail=log_tail,
            notes=tuple(self.notes),
        )

    def outcome(
        self, who: str, tally: Tally, result: ProcessResult, coverage: tuple[FileCoverage, ...] | None = None
    ) -> TestRun:
        """'ran' with the counts and coverage, or 'no_tests' when the run found none; limits it hit named."""
        limits = limits_note(result)
        if tally.found == 0:
            reason = f"{who} found no tests{limits}"
            return self.finish("no_tests", reason, log_tail=result.tail, duration_s=result.duration_s)
        counts = f"{tally.passed} passed, {tally.failed} failed, {tally.skipped} skipped"
        reason = f"{who} ran {tally.found} tests: {counts}{limits}"
        return self.finish(
            "ran", reason, tally=tally, coverage=coverage, log_tail=result.tail, duration_s=result.duration_s
        )

    def failed_step(self, status: str, what: str, result: ProcessResult) -> TestRun:
        """A TestRun for a step that failed or hung: for a failed install, the log from its first error."""
        limits = limits_note(result)
        if result.timed_out:
            reason = f"{what} timed out after {result.duration_s:.0f} s and was killed{limits}"
            return self.finish("timed_out", reason, log_tail=result.tail, duration_s=result.duration_s)
        lines = result.output.splitlines()
        first = next((i for i, line in enumerate(lines) if _is_error_line(line)), None)
        reason = f"{what} failed (exit {result.returncode}){limits}" + (
            f": {lines[first].strip()[:240]}" if first is not None else ""
        )
        excerpt = "\n".join(lines[first : first + TAIL_LINES]) if first is not None and status != "crashed" else ""
        return self.finish(status, reason, log_tail=excerpt or result.tail, duration_s=result.duration_s)


def limits_note(result: ProcessResult) -> str:
    """' (the limits the run hit)', or '' when it hit none."""
    return f" ({'; '.join(result.limits_hit)})" if result.limits_hit else ""


_ERROR_PREFIX = re.compile(r"^\s*(npm (error|ERR!)|error|ERROR|ERR_PNPM\w*|E:)?[\s:]*", re.I)


def _is_error_line(line: str) -> bool:
    """A line that says what went wrong (not a bare 'npm error', an error code or a warning)."""
    lowered = line.lower()
    if "error" not in lowered and "conflict" not in lowered and "err!" not in lowered:
        return False
    rest = _ERROR_PREFIX.sub("", line, count=1).strip()
    return bool(rest) and not rest.lower().startswith(("code ", "warn")) and not lowered.lstrip().startswith("warn")


def first_error_line(output: str) -> str:
    """': <the first line that says what went wrong>', or '' if none does."""
    line = next((line for line in output.splitlines() if _is_error_line(line)), None)
    return f": {line.strip()[:240]}" if line is not None else ""


def copy_files(root: Path, files: Iterable[str], dest: Path) -> list[str]:
    """Copy the listed files (relative posix paths) from root into dest; return what was skipped.

    Committed coverage/result directories are left out, and so are symlinks pointing outside the root.
    """
    skipped: list[str] = []
    real_root = root.resolve()
    for rel in files:
        source = root / rel
        if rel.startswith(_COMMITTED_OUTPUT_DIRS) or source.is_dir():
            skipped.append(rel)
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            _copy_one(source, target, real_root)
        except (OSError, ValueError):
            skipped.append(rel)
    return skipped


def _copy_one(source: Path, target: Path, real_root: Path) -> None:
    """Copy a file, or a relative symlink that stays inside the submission (ValueError otherwise)."""
    if not source.is_symlink():
        shutil.copy2(source, target)
    elif not os.path.isabs(os.readlink(source)) and source.resolve().is_relative_to(real_root):
        os.symlink(os.readlink(source), target)
    else:
        raise ValueError(f"{source} points outside the submission")


def rel_path(path: str | Path, base: Path) -> str | None:
    """`path` relative to `base` as posix, or None if it lies outside."""
    try:
        return Path(path).resolve().relative_to(base.resolve()).as_posix()
    except (ValueError, OSError):
        return None
