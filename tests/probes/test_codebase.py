"""The codebase inventory on real git repositories, tsc's diagnostics, and why tsc does not run."""

from __future__ import annotations

import json
from pathlib import Path

from grader.probes.codebase import TscDiagnostic, inventory, parse_diagnostics, run_tsc
from tests.conftest import require_tool
from tests.probes.codetree import repo_with

PACKAGE = json.dumps({"name": "p", "devDependencies": {"typescript": "^5.9.2"}})


def test_source_files_by_language_leave_configuration_and_build_output_out(tmp_path: Path) -> None:
    repo = repo_with(
        tmp_path / "p",
        {
            "package.json": PACKAGE,
            "tsconfig.json": '{"compilerOptions": {"strict": true}}',
            "src/app.ts": "export const x = 1;\n",
            "src/legacy.js": "module.exports = 1;\n",
            "test/app.spec.ts": "it('works', () => {});\n",
            "test/helper.test.js": "it('works', () => {});\n",
            "jest.config.js": "module.exports = {};\n",
            "eslint.config.mjs": "export default [];\n",
            ".eslintrc.cjs": "module.exports = {};\n",
            "knexfile.ts": "export default {};\n",
            "dist/app.js": "exports.x = 1;\n",
            "public/app.min.js": "!function(){}();\n",
            "scripts/seed.py": "print(1)\n",
        },
    )
    found = inventory(repo)
    assert {(s.path, s.language, s.test) for s in found.sources} == {
        ("src/app.ts", "typescript", False),
        ("src/legacy.js", "javascript", False),
        ("test/app.spec.ts", "typescript", True),
        ("test/helper.test.js", "javascript", True),
        ("scripts/seed.py", "python", False),
    }
    assert set(found.left_out) == {
        "jest.config.js", "eslint.config.mjs", ".eslintrc.cjs", "knexfile.ts", "dist/app.js", "public/app.min.js",
    }  # fmt: skip
    assert found.tsconfig is not None and found.tsconfig.strict is True
    assert (found.typescript_dependency, found.node_project) == ("^5.9.2", True)


def test_tsc_output_becomes_diagnostics_with_file_and_line() -> None:
    output = (
        "src/tasks/tasks.controller.ts(16,11): error TS2322: Type 'string' is not assignable to type 'number'.\n"
        "src/a b/x.ts(3,1): error TS2345: Argument of type '{ a: number; }' is not assignable to parameter of type\n"
        "  'Task'.\n"
        "    Property 'id' is missing.\n"
        "error TS5023: Unknown compiler option 'strictest'.\n"
        "Found 3 errors in 2 files.\n"
    )
    assert parse_diagnostics(output) == (
        TscDiagnostic("src/tasks/tasks.controller.ts", 16, 11, "TS2322",
                      "Type 'string' is not assignable to type 'number'."),
        TscDiagnostic("src/a b/x.ts", 3, 1, "TS2345",
                      "Argument of type '{ a: number; }' is not assignable to parameter of type 'Task'. "
                      "Property 'id' is missing."),
        TscDiagnostic(None, None, None, "TS5023", "Unknown compiler option 'strictest'."),
    )  # fmt: skip


def test_tsc_does_not_run_without_package_json_tsconfig_or_typescript(tmp_path: Path) -> None:
    cases = {
        "no-package": ({"src/a.ts": "export {};\n", "tsconfig.json": "{}"}, "not a Node.js project (no package.json)"),
        "no-tsconfig": ({"package.json": PACKAGE, "src/a.ts": "export {};\n"}, "no tsconfig.json"),
        "no-typescript": (
            {"package.json": '{"name": "p"}', "tsconfig.json": "{}", "src/a.ts": "export {};\n"},
            "typescript is not a dependency",
        ),
    }
    for name, (files, why) in cases.items():
        repo = repo_with(tmp_path / name, files)
        run = run_tsc(repo, inventory(repo), tmp_path / f"{name}-work")
        assert (run.status, run.ran, run.reason) == ("not_run", False, f"tsc not run: {why}"), name
        assert not (tmp_path / f"{name}-work").exists()  # nothing was copied or installed


def test_a_failed_install_is_reported_and_tsc_is_not_claimed(tmp_path: Path) -> None:
    require_tool("npm")
    lock = {"name": "p", "lockfileVersion": 3, "requires": True, "packages": {"": {"name": "p"}}}
    repo = repo_with(
        tmp_path / "p",
        {
            "package.json": PACKAGE,
            "package-lock.json": json.dumps(lock),  # out of sync: typescript is missing from the lock
            "tsconfig.json": "{}",
            "src/a.ts": "export const a: number = 1;\n",
        },
    )
    run = run_tsc(repo, inventory(repo), tmp_path / "work", install_timeout_s=120)
    assert run.status == "install_failed" and not run.ran
    assert run.reason.startswith("tsc not run: npm ci failed")
