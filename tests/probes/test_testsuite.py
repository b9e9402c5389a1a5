"""The test-suite probe on real projects written to tmp_path: real installs, real runners, real coverage.

npm installs use the shared cache under GRADE_CACHE_DIR (or ~/.cache/grade), so after the first
run they take seconds. A missing node/npm skips these tests locally and fails them under CI=true.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from grader.facts import FactStore, ProbeContext
from grader.probes.coverage_data import istanbul_lines, v8_lines
from grader.probes.node_tests import detect_invocation, node_sources, runner_command
from grader.probes.python_tests import requirement_args
from grader.probes.repo import RepoFacts, repo_facts
from grader.probes.result_files import count_from_output
from grader.probes.suite_run import SuiteWorkspace
from grader.probes.testsuite import TestRun, run_test_suite
from grader.project_config import ProjectConfig
from tests.conftest import require_tool

CALC = """\
function add(a, b) {
  return a + b;
}

// only half of this module is exercised by the tests
function divide(a, b) {
  if (b === 0) {
    throw new Error('division by zero');
  }
  return a / b;
}

function unused(x) {
  const doubled = x * 2;
  return doubled + 1;
}

module.exports = { add, divide, unused };
"""

CALC_TESTS_NODE = """\
const test = require('node:test');
const assert = require('node:assert');
const { add, divide } = require('../src/calc');

test('adds', () => assert.strictEqual(add(1, 2), 3));
test('adds negatives', () => assert.strictEqual(add(-1, -2), -3));
test('divides', () => assert.strictEqual(divide(6, 3), 2));
test('is wrong on purpose', () => assert.strictEqual(add(2, 2), 5));
test('not yet', { skip: true }, () => {});
"""

CALC_TESTS_MOCHA = """\
const assert = require('assert');
const { add, divide } = require('../src/calc');

describe('calc', () => {
  it('adds', () => assert.strictEqual(add(1, 2), 3));
  it('divides', () => assert.strictEqual(divide(6, 3), 2));
  it('is wrong on purpose', () => assert.strictEqual(add(2, 2), 5));
  it.skip('not yet', () => {});
});
"""

MISSING_IN_CALC = (8, 9, 13, 14, 15, 16)  # the zero-division branch and unused(); 14 lines count (no blank/comment)


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def package_json(**fields: object) -> str:
    return json.dumps({"name": "learner-project", "version": "1.0.0", "private": True, **fields}, indent=2)


def facts_for(root: Path) -> RepoFacts:
    """The repo fact for a directory, gathered by the real probe."""
    store = FactStore(probes={}, make_context=lambda s: None)  # type: ignore[arg-type,return-value]
    ctx = ProbeContext(target=root, config=ProjectConfig(), scratch=root, store=store, test_timeout_s=60)
    return repo_facts(ctx)


def grade_tests(project: Path, work: Path, **kw: object) -> TestRun:
    kw.setdefault("timeout_s", 120)
    return run_test_suite(facts_for(project), work, **kw)  # type: ignore[arg-type]


def coverage_of(run: TestRun, path: str) -> tuple[int, int, tuple[int, ...]]:
    found = {f.path: f for f in run.coverage or ()}
    assert path in found, f"{path} not measured: {sorted(found)}"
    return found[path].lines_total, found[path].lines_covered, found[path].missing


def live_processes_under(root: Path) -> list[int]:
    """PIDs of non-zombie processes whose working directory is inside `root`."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            cwd = Path(os.readlink(entry / "cwd"))
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if cwd.is_relative_to(root) and stat[stat.rfind(")") + 2] not in "ZXx":
            pids.append(int(entry.name))
    return pids


@pytest.fixture
def node() -> None:
    require_tool("node")
    require_tool("npm")


# ---------------------------------------------------------------- node --test: no dependencies, fast


@pytest.mark.usefixtures("node")
def test_node_test_counts_cases_and_measures_v8_coverage(tmp_path: Path) -> None:
    project = write(tmp_path / "p", {
        "package.json": package_json(scripts={"test": "node --test"}),
        "src/calc.js": CALC,
        "test/calc.test.js": CALC_TESTS_NODE,
    })  # fmt: skip
    run = grade_tests(project, tmp_path / "work")
    assert (run.status, run.language, run.runner) == ("ran", "node", "node:test"), run.reason
    assert (run.passed, run.failed, run.skipped, run.found) == (3, 1, 1, 5)
    failed = [c for c in run.cases if c.status == "failed"]
    assert [c.name for c in failed] == ["is wrong on purpose"]
    assert failed[0].file == "test/calc.test.js" and failed[0].line == 8
    assert "5" in (failed[0].message or "")
    total, covered, missing = coverage_of(run, "src/calc.js")
    assert total == 14 and missing == MISSING_IN_CALC
    assert 0.5 <= covered / total <= 0.6
    assert [f.path for f in run.coverage or ()] == ["src/calc.js"]  # the test file is not a source
    assert not (project / "node_modules").exists() and not (project / "coverage").exists()


@pytest.mark.usefixtures("node")
def test_custom_command_is_counted_from_its_output_with_v8_coverage(tmp_path: Path) -> None:
    project = write(tmp_path / "p", {
        "package.json": package_json(),
        "src/calc.js": CALC,
        "test/calc.test.js": CALC_TESTS_NODE,
    })  # fmt: skip
    run = grade_tests(project, tmp_path / "work", command="node --test --test-reporter=tap")
    assert run.status == "ran", run.reason
    assert (run.passed, run.failed, run.skipped, run.cases) == (3, 1, 1, ())
    assert coverage_of(run, "src/calc.js")[2] == MISSING_IN_CALC
    assert any("grade.toml" in n for n in run.notes)


@pytest.mark.usefixtures("node")
def test_hanging_suite_times_out_and_leaves_no_process(tmp_path: Path) -> None:
    project = write(tmp_path / "p", {
        "package.json": package_json(scripts={"test": "node --test"}),
        "test/hang.test.js": """\
            const test = require('node:test');
            test('never ends', () => new Promise(() => setInterval(() => {}, 1000)));
        """,
    })  # fmt: skip
    run = grade_tests(project, tmp_path / "work", timeout_s=3)
    assert run.status == "timed_out" and "timed out after 3 s" in run.reason
    assert run.runner == "node:test" and run.found == 0
    assert live_processes_under(tmp_path) == []


# ---------------------------------------------------------------- no install needed: clear statuses


def test_project_that_is_neither_node_nor_python_is_unsupported(tmp_path: Path) -> None:
    project = write(tmp_path / "p", {"README.md": "# my notes\n", "main.go": "package main\n"})
    run = grade_tests(project, tmp_path / "work")
    assert run.status == "unsupported" and run.language is None
    assert "package.json" in run.reason and "pyproject.toml" in run.reason
    assert run.commands == () and run.coverage is None


def test_package_json_without_tests_is_no_tests(tmp_path: Path) -> None:
    project = write(tmp_path / "p", {
        "package.json": package_json(scripts={"test": 'echo "Error: no test specified" && exit 1'}),
        "index.js": "console.log('hi');\n",
    })  # fmt: skip
    run = grade_tests(project, tmp_path / "work")
    assert (run.status, run.language, run.found) == ("no_tests", "node", 0)
    assert run.reason == "package.json has no test script and no test files were found"
    assert run.commands == ()


def test_python_project_without_tests_is_no_tests(tmp_path: Path) -> None:
    project = write(tmp_path / "p", {"requirements.txt": "flask\n", "app.py": "x = 1\n"})
    run = grade_tests(project, tmp_path / "work")
    assert (run.status, run.language) == ("no_tests", "python")
    assert "test_*.py" in run.reason and run.commands == ()


@pytest.mark.usefixtures("node")
def test_runner_that_finds_zero_tests_is_no_tests(tmp_path: Path) -> None:
    project = write(tmp_path / "p", {
        "package.json": package_json(scripts={"test": "node --test"}),
        "test/empty.test.js": "// nothing here yet\n",
    })  # fmt: skip
    run = grade_tests(project, tmp_path / "work")
    assert run.status == "no_tests" and run.reason == "node:test found no tests"


@pytest.mark.usefixtures("node")
def test_test_file_that_fails_to_load_is_one_failure(tmp_path: Path) -> None:
    project = write(tmp_path / "p", {
        "package.json": package_json(scripts={"test": "node --test"}),
        "test/ok.test.js": "require('node:test')('fine', () => {});\n",
        "test/broken.test.js": "require('node:test')('never', () => {}); syntax error(\n",
    })  # fmt: skip
    run = grade_tests(project, tmp_path / "work")
    assert (run.status, run.passed, run.failed) == ("ran", 1, 1), run.reason
    broken = next(c for c in run.cases if c.status == "failed")
    assert (broken.name, broken.file) == ("(test file failed to run)", "test/broken.test.js")


# ---------------------------------------------------------------- real npm installs (shared cache)


@pytest.mark.slow
@pytest.mark.usefixtures("node")
def test_npm_ci_with_lockfile_out_of_sync_is_install_failed(tmp_path: Path) -> None:
    lock = {
        "name": "learner-project", "version": "1.0.0", "lockfileVersion": 3, "requires": True,
        "packages": {"": {"name": "learner-project", "version": "1.0.0", "dependencies": {"is-number": "^6.0.0"}}},
    }  # fmt: skip
    project = write(tmp_path / "p", {
        "package.json": package_json(scripts={"test": "node --test"}, dependencies={"is-number": "^7.0.0"}),
        "package-lock.json": json.dumps(lock),
        "test/a.test.js": "require('node:test')('a', () => {});\n",
    })  # fmt: skip
    run = grade_tests(project, tmp_path / "work")
    assert run.status == "install_failed", run.reason
    assert run.reason.startswith("npm ci failed (exit 1): npm error `npm ci` can only install packages when")
    assert "npm ci" in run.commands[0] and len(run.commands) == 1
    assert "Missing: is-number@7.0.0 from lock file" in run.log_tail


@pytest.mark.slow
@pytest.mark.usefixtures("node")
def test_mocha_project(tmp_path: Path) -> None:
    project = write(tmp_path / "p", {
        "package.json": package_json(
            scripts={"test": "nyc --reporter=lcov mocha --timeout 5000 'spec/**/*.spec.js'"},
            devDependencies={"mocha": "^11.0.0"},
        ),
        "src/calc.js": CALC,
        "spec/calc.spec.js": CALC_TESTS_MOCHA,
    })  # fmt: skip
    run = grade_tests(project, tmp_path / "work")
    assert (run.status, run.runner, run.package_manager) == ("ran", "mocha", "npm"), run.reason + run.log_tail
    assert (run.passed, run.failed, run.skipped) == (2, 1, 1)
    failed = next(c for c in run.cases if c.status == "failed")
    assert (failed.name, failed.file, failed.line) == ("calc is wrong on purpose", "spec/calc.spec.js", 7)
    assert coverage_of(run, "src/calc.js")[2] == MISSING_IN_CALC
    assert "nyc" not in run.commands[-1] and "spec/**/*.spec.js" in run.commands[-1]
    assert any("no lockfile" in n for n in run.notes)


@pytest.mark.slow
@pytest.mark.usefixtures("node")
def test_suite_printing_50_mb_is_captured_capped_and_still_parsed(tmp_path: Path) -> None:
    project = write(tmp_path / "p", {
        "package.json": package_json(scripts={"test": "mocha"}, devDependencies={"mocha": "^11.0.0"}),
        "test/loud.spec.js": """\
            it('is very chatty', () => {
              const line = 'x'.repeat(1023) + '\\n';
              for (let i = 0; i < 50 * 1024; i++) process.stdout.write(line);
            });
            it('is quiet', () => {});
        """,
    })  # fmt: skip
    run = grade_tests(project, tmp_path / "work")
    assert (run.status, run.passed, run.failed) == ("ran", 2, 0), run.reason
    assert len(run.log_tail) < 50_000


@pytest.mark.slow
@pytest.mark.usefixtures("node")
def test_typescript_jest_project_with_ts_jest_and_root_dir(tmp_path: Path) -> None:
    """NestJS-style: jest config in package.json with rootDir src, ts-jest, .spec.ts next to the code.

    The project's coverage threshold, coverage directory and results processor (which would fake the
    results) are all overridden.
    """
    project = write(tmp_path / "p", {
        "package.json": package_json(
            scripts={"test": "jest --runInBand", "test:watch": "jest --watch"},
            devDependencies={"jest": "^29.7.0", "ts-jest": "^29.2.0", "typescript": "^5.6.0", "@types/jest": "^29.5.0"},
            jest={
                "moduleFileExtensions": ["js", "json", "ts"], "rootDir": "src", "testRegex": ".*\\.spec\\.ts$",
                "transform": {"^.+\\.(t|j)s$": "ts-jest"}, "testEnvironment": "node",
                "coverageThreshold": {"global": {"lines": 100}}, "coverageDirectory": "../coverage",
                "testResultsProcessor": "<rootDir>/../fake-results.js",
            },
        ),
        "tsconfig.json": json.dumps({"compilerOptions": {"strict": True, "esModuleInterop": True, "target": "es2020",
                                                         "module": "commonjs", "types": ["jest"]}}),
        "src/price.ts": """\
            export function total(prices: number[]): number {
              return prices.reduce((sum, p) => sum + p, 0);
            }

            export function discount(amount: number, percent: number): number {
              if (percent > 100) {
                throw new Error('too much');
              }
              return amount - (amount * percent) / 100;
            }
        """,
        "src/unused.ts": "export const answer = (): number => 42;\n",
        "fake-results.js": "module.exports = (r) => ({ ...r, numFailedTests: 0, testResults: [] });\n",
        "src/price.spec.ts": """\
            import { total, discount } from './price';

            describe('price', () => {
              it('sums', () => expect(total([1, 2, 3])).toBe(6));
              it('discounts', () => expect(discount(100, 10)).toBe(90));
              it('is wrong on purpose', () => expect(total([])).toBe(1));
              it.todo('handles currencies');
            });
        """,
    })  # fmt: skip
    run = grade_tests(project, tmp_path / "work")
    assert (run.status, run.runner) == ("ran", "jest"), run.reason + run.log_tail
    assert (run.passed, run.failed, run.skipped) == (2, 1, 1)
    failed = next(c for c in run.cases if c.status == "failed")
    assert (failed.name, failed.file, failed.line) == ("price is wrong on purpose", "src/price.spec.ts", 6)
    assert "Expected: 1" in (failed.message or "")
    assert coverage_of(run, "src/price.ts")[2] == (7, 8)  # the throw and its closing brace
    assert coverage_of(run, "src/unused.ts")[1] == 0  # never imported, still counted
    assert "--runInBand" in run.commands[-1]
    assert not (project / "coverage").exists()


@pytest.mark.slow
@pytest.mark.usefixtures("node")
def test_vitest_project_gets_its_coverage_provider(tmp_path: Path) -> None:
    project = write(tmp_path / "p", {
        "package.json": package_json(type="module", scripts={"test": "vitest"}, devDependencies={"vitest": "^3.2.0"}),
        "src/calc.js": CALC.replace("module.exports = { add, divide, unused };", "export { add, divide, unused };"),
        "src/calc.test.js": """\
            import { describe, it, expect } from 'vitest';
            import { add, divide } from './calc.js';

            describe('calc', () => {
              it('adds', () => expect(add(1, 2)).toBe(3));
              it('divides', () => expect(divide(6, 3)).toBe(2));
              it('is wrong on purpose', () => expect(add(2, 2)).toBe(5));
            });
        """,
    })  # fmt: skip
    run = grade_tests(project, tmp_path / "work")
    assert (run.status, run.runner) == ("ran", "vitest"), run.reason + run.log_tail
    assert (run.passed, run.failed, run.skipped) == (2, 1, 0)
    assert any("@vitest/coverage-v8@3." in n for n in run.notes)
    total, covered, missing = coverage_of(run, "src/calc.js")
    assert 8 in missing and 14 in missing and 2 not in missing
    assert 0.3 <= covered / total <= 0.8


# ---------------------------------------------------------------- Python


@pytest.mark.slow
def test_pytest_project_in_a_fresh_venv(tmp_path: Path) -> None:
    project = write(tmp_path / "p", {
        "pyproject.toml": """\
            [tool.coverage.run]
            omit = ["shop/*"]   # a learner trying to shape the measurement: ignored

            [tool.pytest.ini_options]
            addopts = "-x"
        """,
        "requirements.txt": "",
        "shop/__init__.py": "",
        "shop/cart.py": """\
            def total(prices):
                return sum(prices)


            def discount(amount, percent):
                if percent > 100:
                    raise ValueError("too much")
                return amount - amount * percent / 100
        """,
        "tests/test_cart.py": """\
            import pytest
            from shop.cart import discount, total


            def test_total():
                assert total([1, 2]) == 3


            def test_discount():
                assert discount(100, 10) == 90


            @pytest.mark.skip(reason="later")
            def test_later():
                pass
        """,
    })  # fmt: skip
    run = grade_tests(project, tmp_path / "work")
    assert (run.status, run.language, run.runner, run.package_manager) == ("ran", "python", "pytest", "pip"), run.reason
    assert (run.passed, run.failed, run.skipped) == (2, 0, 1)
    case = next(c for c in run.cases if c.name.endswith("test_discount"))
    assert (case.file, case.line) == ("tests/test_cart.py", 9)
    assert coverage_of(run, "shop/cart.py") == (6, 5, (7,))  # the learner's omit did not apply
    assert not (project / ".coverage").exists()


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"requirements.txt": "flask\n", "requirements-dev.txt": "pytest\n"},
         ["-r", "requirements.txt", "-r", "requirements-dev.txt"]),
        ({"pyproject.toml": '[build-system]\nrequires = ["setuptools"]\n[project]\nname = "x"\nversion = "1"\n'
                            '[project.optional-dependencies]\ntest = ["pytest-mock"]\ndocs = ["mkdocs"]\n'},
         ["-e", ".[test]"]),
        ({"pyproject.toml": '[project]\nname = "x"\ndependencies = ["fastapi>=0.110"]\n'
                            '[project.optional-dependencies]\ndev = ["httpx"]\n'},
         ["fastapi>=0.110", "httpx"]),
    ],
)  # fmt: skip
def test_python_requirements_install_the_project_and_its_test_extras(
    tmp_path: Path, files: dict[str, str], expected: list[str]
) -> None:
    ws = SuiteWorkspace(facts_for(write(tmp_path / "p", {**files, "tests/test_a.py": ""})), tmp_path / "work")
    assert requirement_args(ws) == expected


# ---------------------------------------------------------------- the sample learner projects


@pytest.mark.slow
@pytest.mark.usefixtures("node")
def test_fixture_express_good(fixture_repos: dict[str, Path], tmp_path: Path) -> None:
    run = grade_tests(fixture_repos["express-good"], tmp_path / "work", timeout_s=300)
    assert (run.status, run.runner) == ("ran", "jest"), run.reason + run.log_tail
    assert run.passed >= 55 and run.failed == 0
    assert run.line_coverage is not None and run.line_coverage > 0.9


@pytest.mark.slow
@pytest.mark.usefixtures("node")
def test_fixture_express_flawed_ignores_the_committed_coverage_claim(
    fixture_repos: dict[str, Path], tmp_path: Path
) -> None:
    repo = fixture_repos["express-flawed"]
    committed = json.loads((repo / "coverage" / "coverage-summary.json").read_text())
    assert committed["total"]["lines"]["pct"] == 100
    run = grade_tests(repo, tmp_path / "work", timeout_s=300)
    assert (run.status, run.failed) == ("ran", 1), run.reason + run.log_tail
    assert run.line_coverage is not None and run.line_coverage < 0.8
    assert not (tmp_path / "work" / "src" / "coverage").exists()  # never copied, so never read
    assert json.loads((repo / "coverage" / "coverage-summary.json").read_text()) == committed  # nor overwritten


@pytest.mark.slow
def test_fixture_python_flask(fixture_repos: dict[str, Path], tmp_path: Path) -> None:
    run = grade_tests(fixture_repos["python-flask"], tmp_path / "work", timeout_s=300)
    assert (run.status, run.runner, run.failed) == ("ran", "pytest", 0), run.reason + run.log_tail
    assert run.passed >= 30
    assert run.line_coverage is not None and run.line_coverage > 0.9


# ---------------------------------------------------------------- pure parts, no processes


@pytest.mark.parametrize(
    ("script", "runner", "learner_part"),
    [
        ("jest", "jest", ["{bin}/jest"]),
        ("cross-env NODE_ENV=test jest --runInBand --coverage --watch", "jest",
         ["cross-env", "NODE_ENV=test", "{bin}/jest", "--runInBand"]),
        ("NODE_OPTIONS=--experimental-vm-modules npx jest", "jest", ["{bin}/jest"]),
        ("node --experimental-vm-modules node_modules/jest/bin/jest.js -i", "jest",
         ["node", "--experimental-vm-modules", "node_modules/jest/bin/jest.js", "-i"]),
        ("npm run lint && npm run test:unit", "mocha", ["{bin}/mocha", "test/unit", "--recursive"]),
        ("c8 -r lcov node --test --test-reporter=spec test/", "node:test", ["node", "--test", "test/"]),
        ("vitest --watch", "vitest", ["{bin}/vitest", "run"]),
    ],
)  # fmt: skip
def test_runner_detection_from_scripts(tmp_path: Path, script: str, runner: str, learner_part: list[str]) -> None:
    """The learner's words are kept in order, wrappers and the flags the grader owns are not."""
    scripts = {"test": script, "lint": "eslint .", "test:unit": "mocha test/unit --recursive -R spec"}
    invocation, note = detect_invocation({"scripts": scripts}, [])
    assert invocation is not None and invocation.runner == runner, note
    bin_dir = tmp_path / "node_modules" / ".bin"
    bin_dir.mkdir(parents=True)
    for name in ("jest", "mocha", "vitest"):
        (bin_dir / name).touch()
    argv = runner_command(invocation, tmp_path, tmp_path / "out")
    assert argv is not None
    expected = [w.format(bin=bin_dir) for w in learner_part]
    positions = [argv.index(w) for w in expected]
    assert positions == sorted(positions), argv
    for dropped in ("nyc", "c8", "npx", "lcov", "--watch", "-R", "spec", "--test-reporter=spec"):
        assert dropped not in argv
    assert argv.count("--coverage") <= 1
    assert dict(invocation.env).get("NODE_OPTIONS", "--experimental-vm-modules") == "--experimental-vm-modules"


def test_runner_detection_falls_back_to_dependencies_then_node_test() -> None:
    inv, note = detect_invocation({"scripts": {"test": "./run.sh"}, "devDependencies": {"vitest": "1"}}, [])
    assert inv is not None and inv.runner == "vitest" and "names no known runner" in note
    inv, note = detect_invocation({}, ["src/a.js", "src/a.test.js"])
    assert inv is not None and inv.runner == "node:test"
    inv, note = detect_invocation({"scripts": {"test": "./run.sh"}}, ["src/a.js"])
    assert inv is None and note == "scripts.test ('./run.sh') names no known runner and no test files were found"


def test_node_sources_leave_out_tests_configs_and_build_output() -> None:
    files = ["src/app.ts", "src/app.spec.ts", "src/types.d.ts", "test/app.e2e-spec.ts", "jest.config.js",
             "dist/main.js", "src/__tests__/x.js", "index.js", ".eslintrc.js", "src/routes/users.mjs"]  # fmt: skip
    assert node_sources(files) == ["src/app.ts", "index.js", "src/routes/users.mjs"]


def test_istanbul_line_coverage_uses_statement_start_lines(tmp_path: Path) -> None:
    data = {
        "path": str(tmp_path / "src" / "a.js"),
        "statementMap": {
            "0": {"start": {"line": 1, "column": 0}, "end": {"line": 1, "column": 9}},
            "1": {"start": {"line": 2, "column": 0}, "end": {"line": 4, "column": 1}},
            "2": {"start": {"line": 3, "column": 2}, "end": {"line": 3, "column": 9}},
            "3": {"start": {"line": 3, "column": 10}, "end": {"line": 3, "column": 19}},
        },
        "s": {"0": 1, "1": 1, "2": 0, "3": 2},
    }
    found = istanbul_lines({data["path"]: data}, tmp_path)  # type: ignore[dict-item]
    assert found["src/a.js"].lines_total == 3 and found["src/a.js"].missing == ()


def test_v8_conversion_innermost_zero_range_uncovers_whole_lines_only(tmp_path: Path) -> None:
    source = "const a = 1;\nfunction f() {\n  return '\U0001f600';\n}\nif (a) { g(); } else { h(); }\n"
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "m.js").write_text(source, encoding="utf-8")
    fn_start, other = source.index("function"), source.index("else") + 6
    fn_end = source.index("}\n", fn_start) + 2  # UTF-16 length of the emoji is 2: offsets after it shift by one
    report = {"result": [{"url": (tmp_path / "src" / "m.js").as_uri(), "functions": [
        {"functionName": "", "ranges": [{"startOffset": 0, "endOffset": len(source) + 1, "count": 1}]},
        {"functionName": "f", "ranges": [{"startOffset": fn_start, "endOffset": fn_end + 1, "count": 0}]},
        {"functionName": "", "ranges": [{"startOffset": other, "endOffset": other + 7,
                                          "count": 0}]},
    ]}]}  # fmt: skip
    (tmp_path / "v8").mkdir()
    (tmp_path / "v8" / "coverage-1.json").write_text(json.dumps(report))
    found = v8_lines(tmp_path / "v8", ["src/m.js"], tmp_path)["src/m.js"]
    assert (found.lines_total, found.missing) == (5, (2, 3, 4))  # line 5 is only partly in a zero range
    unloaded = v8_lines(tmp_path / "empty", ["src/m.js"], tmp_path)["src/m.js"]
    assert (unloaded.lines_covered, unloaded.missing) == (0, (1, 2, 3, 4, 5))


@pytest.mark.parametrize(
    ("output", "counts"),
    [
        ("==== 3 failed, 40 passed, 2 skipped in 1.2s ====", (40, 3, 2)),
        ("Test Suites: 1 failed, 3 passed, 4 total\nTests:       2 passed, 2 total", (2, 0, 0)),
        ("  12 passing (30ms)\n  1 pending\n  2 failing", (12, 2, 1)),
        ("# tests 4\n# pass 3\n# fail 1\n# skipped 0", (3, 1, 0)),
        (" Test Files  1 failed (1)\n      Tests  1 failed | 5 passed (6)", (5, 1, 0)),
    ],
)
def test_counts_from_runner_summaries(output: str, counts: tuple[int, int, int]) -> None:
    tally = count_from_output(output)
    assert (tally.passed, tally.failed, tally.skipped) == counts
