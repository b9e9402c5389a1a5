"""Node.js suites: detect the runner, install from the lockfile, run it with the grader's flags.

The runner (jest, vitest, mocha, node:test) comes from `scripts.test` (followed through
`npm run …`), else from the dependencies, else node:test when test files exist. It is run
straight from node_modules/.bin with the learner's own arguments, minus the flags the grader
controls (reporters, output files, coverage, watch mode), plus the grader's: results and
coverage land in the workspace's `out` directory, never in the copy. Installing is
:mod:`grader.probes.node_install`'s job.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from grader.probes.coverage_data import istanbul_lines, only_sources, v8_lines
from grader.probes.custom_command import run_custom_command
from grader.probes.node_install import as_dict, install_dependencies, install_env
from grader.probes.result_files import (
    ResultFileError,
    jest_coverage_map,
    parse_jest_json,
    parse_junit,
    parse_mocha_json,
    says_no_tests,
)
from grader.probes.suite_run import (
    FileCoverage,
    SuiteWorkspace,
    Tally,
    TestCase,
    TestRun,
    rel_path,
)

JS_SUFFIXES = (".js", ".cjs", ".mjs", ".jsx", ".ts", ".cts", ".mts", ".tsx")
PLAIN_JS = (".js", ".cjs", ".mjs")  # what V8 coverage can be mapped back to without source maps
_TEST_NAME = re.compile(r"(^|[./_-])(test|spec|e2e-spec)s?\.[cm]?[jt]sx?$|^test-.*\.[cm]?[jt]s$")
_TEST_DIRS = frozenset({"test", "tests", "__tests__", "__mocks__", "spec", "e2e"})
_NOT_SOURCE_DIRS = frozenset({"node_modules", "coverage", "dist", "build", "out", ".next", "public", "scripts"})
_CONFIG_NAME = re.compile(r"(^|\.)config\.[cm]?[jt]s$|^\.|^(gulpfile|gruntfile|webpack|rollup|babel|eslint)\b", re.I)
_COVERAGE_GLOB = "**/*.{js,jsx,mjs,cjs,ts,tsx,mts,cts}"
_COVERAGE_EXCLUDES = ("**/node_modules/**", "**/{coverage,dist,build}/**", "**/*.d.ts")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_NO_TEST_SCRIPT = "no test specified"  # npm init's placeholder
_JEST_IDENTITY_PROCESSOR = "identity-results-processor.cjs"  # written into `out` before jest runs


@dataclass(frozen=True, slots=True)
class RunnerSpec:
    """How to drive one runner: its binary, the flags the grader owns, where results land."""

    name: str
    binary: str | None  # in node_modules/.bin (None for node:test)
    owned: tuple[str, ...]  # learner flags starting with one of these are dropped
    valued: frozenset[str]  # owned flags that take their value as the next word
    results: str  # file name in `out`


RUNNERS: dict[str, RunnerSpec] = {
    spec.name: spec
    for spec in (
        RunnerSpec(
            "jest", "jest",
            ("--coverage", "--collectCoverage", "--json", "--outputFile", "--watch", "--ci", "--forceExit",
             "--testLocationInResults", "--testResultsProcessor"),
            frozenset({"--outputFile", "--coverageDirectory", "--coverageReporters", "--collectCoverageFrom",
                       "--coverageProvider", "--coverageThreshold", "--testResultsProcessor"}),
            "jest.json",
        ),
        RunnerSpec(
            "vitest", "vitest",
            ("--coverage", "--reporter", "--outputFile", "--watch", "--ui", "--run", "--includeTaskLocation"),
            frozenset({"--reporter", "--outputFile"}),
            "vitest.json",
        ),
        RunnerSpec(
            "mocha", "mocha",
            ("--reporter", "-R", "--reporter-option", "-O", "--watch", "-w", "--exit"),
            frozenset({"--reporter", "-R", "--reporter-option", "--reporter-options", "-O"}),
            "mocha.json",
        ),
        RunnerSpec(
            "node:test", None,
            ("--test-reporter", "--experimental-test-coverage", "--watch"),
            frozenset({"--test-reporter", "--test-reporter-destination"}),
            "node-test.xml",
        ),
    )
}  # fmt: skip
_RUNNER_PACKAGES = ("jest", "vitest", "mocha")  # detection order when scripts.test names none
_RUNNER_ENTRY_SCRIPTS = (("jest/bin/jest", "jest"), ("vitest/vitest", "vitest"), ("mocha/bin/", "mocha"))


@dataclass(frozen=True, slots=True)
class Invocation:
    """A runner call found in the project's scripts: what precedes it, the runner, its arguments."""

    runner: str
    prefix: tuple[str, ...]  # kept words before the runner (cross-env, dotenv -e …, node and its flags)
    entry: str  # the runner word itself: "jest", "node_modules/jest/bin/jest.js", or "--test"
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


# ---------------------------------------------------------------- files


def is_test_path(path: str) -> bool:
    """Whether a JS/TS file is a test (by name or by living in a test directory)."""
    parts = path.split("/")
    return bool(_TEST_NAME.search(parts[-1])) or any(p in _TEST_DIRS for p in parts[:-1])


def node_sources(files: Sequence[str]) -> list[str]:
    """The project's own JS/TS source files: not tests, configs, declarations or build output."""
    return [
        f
        for f in files
        if f.endswith(JS_SUFFIXES)
        and not f.endswith(".d.ts")
        and not is_test_path(f)
        and not _CONFIG_NAME.search(f.rsplit("/", 1)[-1])
        and not any(p in _NOT_SOURCE_DIRS for p in f.split("/")[:-1])
    ]


# ---------------------------------------------------------------- runner detection


def detect_invocation(package_json: Mapping[str, Any], files: Sequence[str]) -> tuple[Invocation | None, str]:
    """The runner call to make and a note saying how it was chosen; (None, why) when there is none."""
    scripts = as_dict(package_json.get("scripts"))
    script = scripts.get("test") if isinstance(scripts.get("test"), str) else None
    found = list(_invocations(script, scripts, 0)) if script else []
    if found:
        more = f" (it runs {len(found)} test commands; graded the first)" if len(found) > 1 else ""
        return found[0], f"runner detected from scripts.test {script!r}{more}"
    deps = {**as_dict(package_json.get("dependencies")), **as_dict(package_json.get("devDependencies"))}
    named = next((name for name in _RUNNER_PACKAGES if name in deps), None)
    unknown = f"scripts.test ({script!r}) names no known runner" if script and _NO_TEST_SCRIPT not in script else ""
    if named:
        return Invocation(named, (), named, ()), _joined(unknown, f"runner detected from the dependencies: {named}")
    if any(f.endswith(JS_SUFFIXES) and is_test_path(f) for f in files):
        return Invocation("node:test", ("node",), "--test", ()), _joined(unknown, "no runner declared: ran node --test")
    if unknown:
        return None, f"{unknown} and no test files were found"
    return None, "package.json has no test script and no test files were found"


def _joined(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _invocations(script: str, scripts: Mapping[str, Any], depth: int) -> Iterator[Invocation]:
    """Runner calls in a script, following `npm run x` / `yarn x` / `pnpm x` into other scripts."""
    for segment in re.split(r"&&|\|\||[;|&]", script):
        try:
            words = shlex.split(segment)
        except ValueError:
            continue
        assignments = _leading_assignments(words)
        env = tuple((name, value) for name, _, value in (w.partition("=") for w in assignments))
        words = words[len(assignments) :]
        target = _script_reference(words, scripts)
        if target is not None and depth < 4:
            yield from _invocations(scripts[target], scripts, depth + 1)
        elif (invocation := _invocation_in(words, env)) is not None:
            yield invocation


def _leading_assignments(words: list[str]) -> list[str]:
    taken: list[str] = []
    for word in words:
        if not _ASSIGNMENT.match(word):
            break
        taken.append(word)
    return taken


def _script_reference(words: list[str], scripts: Mapping[str, Any]) -> str | None:
    """The script named by `npm run x`, `npm test`, `yarn x`, `pnpm run x` …, if it exists."""
    if not words or words[0] not in ("npm", "yarn", "pnpm"):
        return None
    rest = [w for w in words[1:] if not w.startswith("-")]
    if rest[:1] in (["run"], ["run-script"]):
        rest = rest[1:]
    elif rest[:1] in (["test"], ["t"]):
        rest = ["test"]
    name = rest[0] if rest else ""
    return name if isinstance(scripts.get(name), str) else None


def _invocation_in(words: list[str], env: tuple[tuple[str, str], ...]) -> Invocation | None:
    for i, word in enumerate(words):
        runner = _runner_word(word, words[:i])
        if runner is not None:
            node_at = max((j for j in range(i) if _basename(words[j]) == "node"), default=i)
            prefix = _kept_prefix(words[:node_at]) + tuple(words[node_at:i])
            return Invocation(runner, prefix, word, tuple(words[i + 1 :]), env)
    return None


def _basename(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def _runner_word(word: str, before: list[str]) -> str | None:
    base = _basename(word)
    if base in ("jest", "vitest", "mocha", "_mocha"):
        return "mocha" if base == "_mocha" else base
    if word == "--test" and any(_basename(w) == "node" for w in before):
        return "node:test"
    return next((runner for marker, runner in _RUNNER_ENTRY_SCRIPTS if marker in word), None)


def _kept_prefix(words: list[str]) -> tuple[str, ...]:
    """Drop npx and coverage wrappers (nyc, c8 and their options): the grader measures coverage itself."""
    kept: list[str] = []
    for word in words:
        if _basename(word) in ("nyc", "c8"):
            break
        if word != "npx" and not (kept == [] and word.startswith("-")):
            kept.append(word)
    return tuple(kept)


# ---------------------------------------------------------------- commands


def runner_command(inv: Invocation, src: Path, out: Path, *, coverage: bool = True) -> list[str] | None:
    """The full argv for the runner with the grader's flags, or None if its binary is not installed.

    `coverage=False` leaves out vitest's coverage flags (its coverage provider is missing).
    """
    spec = RUNNERS[inv.runner]
    args = _without_owned(inv.args, spec)
    if inv.runner == "node:test":
        return [*inv.prefix, "--test", *_node_test_flags(out / spec.results), *args]
    entry = inv.entry
    if "/" not in entry:
        binary = src / "node_modules" / ".bin" / (spec.binary or entry)
        if not binary.exists():
            return None
        entry = str(binary)
    if inv.runner == "vitest":
        args = [a for a in args if a not in ("run", "watch", "dev")]
        return [*inv.prefix, entry, "run", *args, *_vitest_flags(out, spec.results, coverage)]
    flags = _jest_flags if inv.runner == "jest" else _mocha_flags
    return [*inv.prefix, entry, *args, *flags(out, spec.results)]


def _without_owned(args: Sequence[str], spec: RunnerSpec) -> list[str]:
    kept: list[str] = []
    skip_value = False
    for arg in args:
        if skip_value:
            skip_value = False
        elif arg.startswith(spec.owned):
            skip_value = "=" not in arg and arg in spec.valued
        else:
            kept.append(arg)
    return kept


def _jest_flags(out: Path, results: str) -> list[str]:
    """Jest's flags, the project's own results processor replaced by an identity one."""
    globs = [_COVERAGE_GLOB, *(f"!{g}" for g in _COVERAGE_EXCLUDES)]
    identity = out / _JEST_IDENTITY_PROCESSOR
    return [
        "--ci", "--json", f"--outputFile={out / results}", "--testLocationInResults",
        "--coverage", "--coverageProvider=v8", "--coverageReporters=json", f"--coverageDirectory={out / 'coverage'}",
        *(f"--collectCoverageFrom={g}" for g in globs), "--coverageThreshold={}", "--watchAll=false", "--forceExit",
        f"--testResultsProcessor={identity}",
    ]  # fmt: skip


def _vitest_flags(out: Path, results: str, coverage: bool) -> list[str]:
    flags = ["--reporter=json", f"--outputFile={out / results}", "--includeTaskLocation"]
    if not coverage:
        return flags
    return [
        *flags, "--coverage.enabled", "--coverage.provider=v8", "--coverage.reporter=json",
        f"--coverage.reportsDirectory={out / 'coverage'}", f"--coverage.include={_COVERAGE_GLOB}",
        *(f"--coverage.exclude={g}" for g in _COVERAGE_EXCLUDES),
    ]  # fmt: skip


def _mocha_flags(out: Path, results: str) -> list[str]:
    return ["--reporter", "json", "--reporter-option", f"output={out / results}", "--exit"]


def _node_test_flags(destination: Path) -> list[str]:
    return ["--test-reporter=junit", f"--test-reporter-destination={destination}"]


# ---------------------------------------------------------------- the pipeline


def run_node_suite(ws: SuiteWorkspace, *, timeout_s: float, install_timeout_s: float, command: str | None) -> TestRun:
    """Install, rebuild native modules, run the suite under coverage, parse what it wrote."""
    ws.language = "node"
    package_json = ws.repo.package_json
    if package_json is None:
        return ws.finish("install_failed", "package.json could not be parsed as a JSON object")
    node_manager = ws.repo.package_manager in ("npm", "pnpm", "yarn")
    ws.package_manager = ws.repo.package_manager if node_manager else "npm"
    lockfile = ws.repo.lockfile if node_manager else None
    invocation, how = detect_invocation(package_json, ws.repo.files)
    if command is None and invocation is None:
        return ws.finish("no_tests", how)
    if ws.which("node") is None:
        return ws.finish("unsupported", "not run: node is not installed")
    if command is None:
        ws.notes.append(how)
    installed = install_dependencies(ws, lockfile, install_timeout_s)
    if installed is not None:
        return installed
    if command is not None:
        return _run_custom(ws, command, timeout_s)
    assert invocation is not None
    return _run_runner(ws, invocation, timeout_s)


def _test_env(ws: SuiteWorkspace, inv_env: Mapping[str, str], *, v8_coverage: bool) -> dict[str, str]:
    """PATH with node_modules/.bin first, as `npm test` has it, the script's assignments, V8 coverage if asked."""
    path = f"{ws.src / 'node_modules' / '.bin'}{os.pathsep}{ws.env()['PATH']}"
    v8 = {"NODE_V8_COVERAGE": str(ws.out / "v8")} if v8_coverage else {}
    return {"PATH": path, **v8, **inv_env}


def _run_pretest(ws: SuiteWorkspace, timeout_s: float) -> None:
    scripts = as_dict((ws.repo.package_json or {}).get("scripts"))
    if isinstance(scripts.get("pretest"), str):
        result = ws.run(["sh", "-c", scripts["pretest"]], timeout_s=timeout_s, env=_test_env(ws, {}, v8_coverage=False))
        ws.notes.append(f"ran scripts.pretest first ({'ok' if result.ok else f'exit {result.returncode}'})")


def _run_runner(ws: SuiteWorkspace, inv: Invocation, timeout_s: float) -> TestRun:
    ws.runner = inv.runner
    measured = inv.runner != "vitest" or _vitest_coverage_ready(ws, timeout_s)
    if inv.runner == "jest":  # replaces any results processor the project configures (it could rewrite results)
        (ws.out / _JEST_IDENTITY_PROCESSOR).write_text("module.exports = (results) => results;\n", encoding="utf-8")
    argv = runner_command(inv, ws.src, ws.out, coverage=measured)
    if argv is None:
        return ws.finish("install_failed", f"{inv.runner} is not installed: add it to devDependencies")
    _run_pretest(ws, timeout_s)
    env = _test_env(ws, dict(inv.env), v8_coverage=inv.runner in ("mocha", "node:test"))
    result = ws.run(argv, timeout_s=timeout_s, env=env)
    if result.timed_out:
        return ws.failed_step("timed_out", inv.runner, result)
    spec = RUNNERS[inv.runner]
    try:
        tally = _PARSERS[inv.runner](ws.out / spec.results, ws.src)
    except ResultFileError:
        if says_no_tests(result.output):
            return ws.outcome(inv.runner, Tally(0, 0, 0), result)
        return ws.failed_step("crashed", f"{inv.runner} wrote no results", result)
    return ws.outcome(inv.runner, tally, result, _coverage(ws, inv.runner) if measured else None)


def _vitest_coverage_ready(ws: SuiteWorkspace, timeout_s: float) -> bool:
    """Whether @vitest/coverage-v8 is there, adding the version matching vitest (not saved) if npm can."""
    modules = ws.src / "node_modules"
    if (modules / "@vitest" / "coverage-v8").is_dir():
        return True
    try:
        version = str(json.loads((modules / "vitest" / "package.json").read_text("utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return False  # vitest itself is missing: reported when its binary is looked for
    npm = ws.which("npm")
    if ws.package_manager != "npm" or npm is None:
        ws.notes.append("coverage not measured: @vitest/coverage-v8 is not installed")
        return False
    package = f"@vitest/coverage-v8@{version}"
    result = ws.run(
        [npm, "install", "--no-save", "--ignore-scripts", "--no-audit", "--no-fund", package],
        timeout_s=timeout_s, env=install_env(), network=True,
    )  # fmt: skip
    ws.notes.append(f"added {package} (not saved) to measure coverage" if result.ok else f"could not add {package}")
    return result.ok


def parse_node_test(path: Path, base: Path) -> Tally:
    """node --test's JUnit, where a file that defines no test, or fails to load, is a 'test' named by its path."""
    cases: list[TestCase] = []
    for case in parse_junit(path, base).cases:
        file = rel_path(case.name, base) if case.name.startswith("/") else None
        if file is None:
            cases.append(case)
        elif case.status == "failed":
            cases.append(replace(case, name="(test file failed to run)", file=file))
    return Tally.of(cases)


_PARSERS: dict[str, Callable[[Path, Path], Tally]] = {
    "jest": parse_jest_json,
    "vitest": parse_jest_json,
    "mocha": parse_mocha_json,
    "node:test": parse_node_test,
}


def _coverage(ws: SuiteWorkspace, runner: str | None) -> tuple[FileCoverage, ...] | None:
    """Coverage of the project's sources: istanbul for jest/vitest, converted V8 data otherwise."""
    sources = node_sources(ws.repo.files)
    if runner in ("jest", "vitest"):
        coverage_map = jest_coverage_map(ws.out / RUNNERS[runner].results)
        return only_sources(istanbul_lines(coverage_map, ws.src), sources) if coverage_map else None
    plain = [s for s in sources if s.endswith(PLAIN_JS)]
    if len(plain) < len(sources):
        ws.notes.append("TypeScript sources are not measured under mocha or node:test (no source maps)")
    if not plain or not (ws.out / "v8").is_dir():
        return None
    return only_sources(v8_lines(ws.out / "v8", plain, ws.src), plain)


def _run_custom(ws: SuiteWorkspace, command: str, timeout_s: float) -> TestRun:
    """A grade.toml command; V8 coverage unless it runs a runner that transforms the code (jest, vitest)."""
    transformed = any(inv.runner in ("jest", "vitest") for inv in _invocations(command, {}, 0))
    if transformed:
        ws.notes.append("coverage not measured: the command runs a transforming runner (jest/vitest)")
    return run_custom_command(
        ws, command, timeout_s=timeout_s, env=_test_env(ws, {}, v8_coverage=not transformed),
        coverage=(lambda: None) if transformed else (lambda: _coverage(ws, None)),
    )  # fmt: skip
