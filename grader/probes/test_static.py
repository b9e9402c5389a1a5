"""Static test inventory: every test case declared in the repository, and which ones assert nothing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import ClassVar

from grader.facts import ProbeContext
from grader.plugin import probe
from grader.probes.js_tests import scan_js
from grader.probes.node_tests import is_test_path
from grader.probes.py_tests import scan_python
from grader.probes.repo import RepoFacts
from grader.probes.static_cases import StaticTest

__all__ = ["StaticTest", "TestInventory", "inventory", "test_inventory"]
__test__ = False  # a probe module, not a pytest module, whatever its name says

MAX_BYTES = 1_000_000
SKIPPED_DIRS = frozenset({"node_modules", "dist", "build", "coverage"})
JS_SUFFIXES = frozenset({".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx"})
DECLARATION_FILES = (".d.ts", ".d.mts", ".d.cts")

Scanner = Callable[[str, bytes], tuple[list[StaticTest], str | None]]


@dataclass(frozen=True, slots=True)
class TestInventory:
    """The test files, the test cases read from them, and the files that could not be read."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    test_files: tuple[str, ...]
    tests: tuple[StaticTest, ...]
    parse_errors: tuple[str, ...]  # "path: reason"; the other files still count

    @property
    def empty(self) -> tuple[StaticTest, ...]:
        """Tests that are not skipped and assert nothing."""
        return tuple(t for t in self.tests if not t.skipped and not t.asserts)


@probe("tests.static", timeout_s=120)
def test_inventory(ctx: ProbeContext) -> TestInventory:
    """Read every JS/TS and Python test file and list its test cases, flagging those without an assertion."""
    repo = ctx.fact("repo", RepoFacts)
    return inventory(repo.root, repo.files)


def inventory(root: Path, files: Sequence[str]) -> TestInventory:
    """The test cases declared in those of `files` (relative to `root`) that are test files."""
    scanned = [(path, scanner) for path in files if (scanner := _scanner(path)) is not None]
    tests: list[StaticTest] = []
    errors: list[str] = []
    for path, scanner in scanned:
        found, error = _scan(root, path, scanner)
        tests.extend(found)
        if error is not None:
            errors.append(f"{path}: {error}")
    return TestInventory(tuple(path for path, _ in scanned), tuple(tests), tuple(errors))


def _scanner(path: str) -> Scanner | None:
    """The scanner for a test file (as the test-suite probe defines one), or None if `path` is not one."""
    *dirs, name = path.split("/")
    if SKIPPED_DIRS.intersection(dirs):
        return None
    if name.endswith(".py"):
        # pytest collects only these names (a tests/conftest.py or helper module holds no tests)
        return scan_python if name.startswith("test_") or name.endswith("_test.py") else None
    if name.endswith(DECLARATION_FILES) or PurePosixPath(name).suffix not in JS_SUFFIXES:
        return None
    return scan_js if is_test_path(path) else None


def _scan(root: Path, path: str, scanner: Scanner) -> tuple[list[StaticTest], str | None]:
    """Read one file (capped) and scan it; an unreadable file gives no tests and a reason."""
    file = root / path
    if not file.is_file():  # e.g. a FIFO or a dangling symlink: never block on it
        return [], "not a regular file"
    try:
        with file.open("rb") as fh:
            source = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        return [], f"unreadable ({exc.strerror})"
    if len(source) > MAX_BYTES:
        return [], f"larger than {MAX_BYTES:,} bytes, not parsed"
    return scanner(path, source)
