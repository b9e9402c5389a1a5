"""The codebase's languages and tsconfig (`code.inventory`), and a real `tsc --noEmit` run (`code.tsc`).

The type check runs in a copy of the submission after installing its dependencies the way the
test-suite probe does (:mod:`grader.probes.node_install`), through :mod:`grader.sandbox`. When it
cannot run, the fact says why instead of raising, so the static part can still be judged.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from grader.facts import ProbeContext
from grader.isolation import UNCONFINED, Isolation
from grader.plugin import probe
from grader.probes.node_install import as_dict, install_dependencies
from grader.probes.repo import RepoFacts
from grader.probes.source_files import SourceFile, classify
from grader.probes.suite_run import SuiteWorkspace
from grader.probes.tsconfig import TsConfig, find_tsconfig, load_tsconfig
from grader.sandbox import ProcessResult

INSTALL_TIMEOUT_S = 600.0
TSC_TIMEOUT_S = 300.0
MAX_DIAGNOSTICS = 200
_DIAGNOSTIC = re.compile(r"^(?P<file>[^\s(][^(]*)\((?P<line>\d+),(?P<col>\d+)\): error (?P<code>TS\d+): (?P<msg>.*)$")
_GLOBAL_DIAGNOSTIC = re.compile(r"^error (?P<code>TS\d+): (?P<msg>.*)$")
_FOUND = re.compile(r"Found (\d+) errors?")


@dataclass(frozen=True, slots=True)
class CodeInventory:
    """The submission's source files by language, and its tsconfig."""

    sources: tuple[SourceFile, ...]
    left_out: tuple[str, ...]  # JS/TS files not counted: tool configuration, build output, static assets
    tsconfig: TsConfig | None
    typescript_dependency: str | None  # the version range in package.json, None if TypeScript is not a dependency
    node_project: bool  # has a package.json

    def of(self, language: str) -> tuple[SourceFile, ...]:
        """The source files in `language`."""
        return tuple(s for s in self.sources if s.language == language)


@dataclass(frozen=True, slots=True)
class TscDiagnostic:
    """One error tsc reported."""

    path: str | None  # repo-relative; None for a global error (e.g. a bad option)
    line: int | None
    column: int | None
    code: str  # e.g. "TS2322"
    message: str


@dataclass(frozen=True, slots=True)
class TscRun:
    """`tsc --noEmit` on the project, or why it did not run."""

    status: str  # "passed" | "failed" | "not_run" | "install_failed" | "timed_out" | "crashed"
    reason: str
    tsconfig: str | None
    command: str | None
    duration_s: float
    diagnostics: tuple[TscDiagnostic, ...] = ()
    error_count: int = 0  # as tsc counted them ("Found N errors"), which may exceed the diagnostics kept
    strict: bool | None = None  # the effective `strict` from `tsc --showConfig` (inherited settings included)
    log_tail: str = ""
    notes: tuple[str, ...] = ()

    @property
    def ran(self) -> bool:
        """Whether tsc checked the project (passed or reported errors)."""
        return self.status in ("passed", "failed")


@probe("code.inventory", timeout_s=60)
def code_inventory(ctx: ProbeContext) -> CodeInventory:
    """Sort the submission's files into TypeScript, JavaScript and Python source; read its tsconfig."""
    return inventory(ctx.fact("repo", RepoFacts))


def inventory(repo: RepoFacts) -> CodeInventory:
    """The inventory of one repository."""
    sources, left_out = classify(repo)
    config_path = find_tsconfig(repo.files)
    package_json = repo.package_json or {}
    declared = {**as_dict(package_json.get("dependencies")), **as_dict(package_json.get("devDependencies"))}
    version = declared.get("typescript")
    return CodeInventory(
        sources=tuple(sources),
        left_out=tuple(left_out),
        tsconfig=load_tsconfig(repo.root, config_path) if config_path else None,
        typescript_dependency=str(version) if version is not None else None,
        node_project=repo.has("package.json"),
    )


@probe("code.tsc", timeout_s=INSTALL_TIMEOUT_S + 2 * TSC_TIMEOUT_S + 60)
def code_tsc(ctx: ProbeContext) -> TscRun:
    """Install the dependencies in a copy and run `tsc --noEmit` on the project's tsconfig."""
    repo = ctx.fact("repo", RepoFacts)
    return run_tsc(repo, ctx.fact("code.inventory", CodeInventory), ctx.scratch / "tsc", isolation=ctx.isolation)


def run_tsc(
    repo: RepoFacts,
    found: CodeInventory,
    workdir: Path,
    *,
    install_timeout_s: float = INSTALL_TIMEOUT_S,
    isolation: Isolation = UNCONFINED,
) -> TscRun:
    """Copy, install and type-check; every outcome, including "could not run", is a TscRun."""
    config = found.tsconfig.path if found.tsconfig else None
    why_not = _why_not_runnable(found)
    if why_not is not None:
        return TscRun("not_run", why_not, config, None, 0.0)
    assert config is not None
    ws = SuiteWorkspace(repo, workdir, language="node", isolation=isolation)
    if ws.which("node") is None or ws.which("npx") is None:
        return TscRun("not_run", "tsc not run: node/npx is not installed", config, None, 0.0)
    node_manager = repo.package_manager in ("npm", "pnpm", "yarn")
    ws.package_manager = repo.package_manager if node_manager else "npm"
    ws.prepare()
    failed = install_dependencies(ws, repo.lockfile if node_manager else None, install_timeout_s)
    if failed is not None:
        status = "install_failed" if failed.status == "install_failed" else "not_run"
        reason = f"tsc not run: {failed.reason.removeprefix('not run: ')}"
        return TscRun(status, reason, config, None, 0.0, log_tail=failed.log_tail, notes=failed.notes)
    strict = _effective_strict(ws, config)
    result = ws.run(
        ["npx", "--no-install", "tsc", "--noEmit", "--pretty", "false", "-p", config], timeout_s=TSC_TIMEOUT_S
    )
    return _tsc_outcome(result, config, strict, tuple(ws.notes))


def _why_not_runnable(found: CodeInventory) -> str | None:
    if not found.node_project:
        return "tsc not run: not a Node.js project (no package.json)"
    if found.tsconfig is None:
        return "tsc not run: no tsconfig.json"
    if found.typescript_dependency is None:
        return "tsc not run: typescript is not a dependency"
    return None


def _effective_strict(ws: SuiteWorkspace, config: str) -> bool | None:
    """`strict` as tsc resolves it, packages in `extends` included (None if --showConfig failed)."""
    result = ws.run(["npx", "--no-install", "tsc", "--showConfig", "-p", config], timeout_s=TSC_TIMEOUT_S)
    start = result.output.find("{")
    if not result.ok or start < 0:
        return None
    try:
        shown = json.loads(result.output[start:])
    except ValueError:
        return None
    value = as_dict(shown.get("compilerOptions") if isinstance(shown, dict) else None).get("strict")
    return value is True


def _tsc_outcome(result: ProcessResult, config: str, strict: bool | None, notes: tuple[str, ...]) -> TscRun:
    command, took = result.command, round(result.duration_s, 3)
    if result.timed_out:
        return TscRun(
            "timed_out",
            f"tsc timed out after {took:.0f} s",
            config,
            command,
            took,
            strict=strict,
            log_tail=result.tail,
            notes=notes,
        )
    diagnostics = parse_diagnostics(result.output)
    counted = _FOUND.search(result.output)
    count = int(counted.group(1)) if counted else len(diagnostics)
    if result.returncode == 0:
        return TscRun(
            "passed", f"tsc --noEmit passed in {took:.1f} s", config, command, took, strict=strict, notes=notes
        )
    if not diagnostics:
        return TscRun(
            "crashed",
            f"tsc exited {result.returncode} without reporting an error",
            config,
            command,
            took,
            strict=strict,
            log_tail=result.tail,
            notes=notes,
        )
    return TscRun(
        "failed",
        f"tsc reported {count} error(s)",
        config,
        command,
        took,
        diagnostics[:MAX_DIAGNOSTICS],
        count,
        strict,
        result.tail,
        notes,
    )


def parse_diagnostics(output: str) -> tuple[TscDiagnostic, ...]:
    """tsc's `--pretty false` errors: `file(line,col): error TSnnnn: message`, plus indented continuation lines."""
    found: list[TscDiagnostic] = []
    for raw in output.splitlines():
        line = raw.rstrip()
        if (match := _DIAGNOSTIC.match(line)) is not None:
            path = match.group("file").strip().replace("\\", "/").removeprefix("./")
            found.append(
                TscDiagnostic(
                    path, int(match.group("line")), int(match.group("col")), match.group("code"), match.group("msg")
                )
            )
        elif (match := _GLOBAL_DIAGNOSTIC.match(line)) is not None:
            found.append(TscDiagnostic(None, None, None, match.group("code"), match.group("msg")))
        elif found and raw.startswith((" ", "\t")) and line.strip():
            last = found[-1]
            found[-1] = TscDiagnostic(last.path, last.line, last.column, last.code, f"{last.message} {line.strip()}")
    return tuple(found)
