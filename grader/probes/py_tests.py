"""Python test cases (pytest and unittest conventions), read with the `ast` module."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import TypeGuard

from grader.probes.static_cases import StaticTest

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

SKIP_DECORATORS = frozenset({"skip", "skipif", "skipIf", "skipUnless"})
SELF_SKIPS = frozenset({"pytest.skip", "self.skipTest"})
ASSERTING_CALLS = frozenset({"pytest.raises", "pytest.warns", "pytest.fail", "pytest.deprecated_call", "self.fail"})
ASSERTION_NAME = re.compile(r"(assert|expect)(?![a-z])")  # assert_valid, assertEqual, expect; not 'expected'
PARSE_FAILURES = (SyntaxError, ValueError, RecursionError)


def scan_python(path: str, source: bytes) -> tuple[list[StaticTest], str | None]:
    """The test cases of one Python file, and why it did not parse cleanly (if it did not)."""
    module, error = _parse(source)
    if module is None:
        return [], error
    return list(_Collector(path).module_tests(module)), error


def _parse(source: bytes) -> tuple[ast.Module | None, str | None]:
    """Parse honouring coding cookies; on failure retry with undecodable bytes replaced."""
    try:
        return ast.parse(source), None
    except PARSE_FAILURES as exc:
        error = _describe(exc)
    try:
        return ast.parse(source.decode("utf-8", errors="replace")), error
    except PARSE_FAILURES:
        return None, error


def _describe(exc: Exception) -> str:
    if isinstance(exc, SyntaxError) and exc.lineno is not None:
        return f"line {exc.lineno}: {exc.msg}"
    return f"{type(exc).__name__}: {exc}"


class _Collector:
    """Walks one module's top level and its test classes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.unittest_classes: set[str] = set()  # TestCase subclasses seen so far in this module
        self.class_helpers: dict[str, frozenset[str]] = {}  # class -> its asserting helpers, for subclasses

    def module_tests(self, module: ast.Module) -> Iterator[StaticTest]:
        skipped = _marked_skip(module.body)
        helpers = _helpers(module.body, "")
        for stmt in module.body:
            if _is_test_function(stmt):
                yield self._test(stmt, "", "pytest", skipped, helpers)
            elif isinstance(stmt, ast.ClassDef):
                if self._is_unittest(stmt):
                    self.unittest_classes.add(stmt.name)
                yield from self._class_tests(stmt, "", skipped, helpers)

    def _class_tests(
        self, cls: ast.ClassDef, prefix: str, skipped: bool, helpers: frozenset[str]
    ) -> Iterator[StaticTest]:
        framework = "unittest" if cls.name in self.unittest_classes else "pytest"
        prefix = f"{prefix}{cls.name}::"
        skipped = skipped or _decorated_skip(cls) or _marked_skip(cls.body)
        inherited = [self.class_helpers.get(_dotted(base), frozenset()) for base in cls.bases]
        helpers = helpers.union(_helpers(cls.body, "self."), *inherited)
        self.class_helpers[cls.name] = helpers
        if framework == "pytest" and not cls.name.startswith("Test"):
            return  # not collected, but its helpers serve subclasses
        for stmt in cls.body:
            if _is_test_function(stmt):
                yield self._test(stmt, prefix, framework, skipped, helpers)
            elif isinstance(stmt, ast.ClassDef) and framework == "pytest":
                yield from self._class_tests(stmt, prefix, skipped, helpers)

    def _is_unittest(self, cls: ast.ClassDef) -> bool:
        bases = [_dotted(base) for base in cls.bases]
        return any(b.endswith("TestCase") or b in self.unittest_classes for b in bases)

    def _test(
        self, fn: FunctionNode, prefix: str, framework: str, skipped: bool, helpers: frozenset[str]
    ) -> StaticTest:
        return StaticTest(
            file=self.path,
            line=fn.lineno,
            name=f"{prefix}{fn.name}",
            framework=framework,
            asserts=_asserts(fn, helpers),
            skipped=skipped or _decorated_skip(fn) or _skips_itself(fn),
        )


def _is_test_function(stmt: ast.stmt) -> TypeGuard[FunctionNode]:
    return (
        isinstance(stmt, FunctionNode)
        and stmt.name.startswith("test")
        and not any(_dotted(d).endswith("fixture") for d in stmt.decorator_list)
    )


def _helpers(body: list[ast.stmt], prefix: str) -> frozenset[str]:
    """How non-test functions of `body` that assert directly are called: 'check' or 'self.check'."""
    return frozenset(
        f"{prefix}{stmt.name}"
        for stmt in body
        if isinstance(stmt, FunctionNode) and not stmt.name.startswith("test") and _asserts(stmt, frozenset())
    )


def _asserts(fn: FunctionNode, helpers: frozenset[str]) -> bool:
    """Whether the body (nested functions included) asserts, directly or through one of `helpers`."""
    return any(_is_assertion(node, helpers) for stmt in fn.body for node in ast.walk(stmt))


def _is_assertion(node: ast.AST, helpers: frozenset[str]) -> bool:
    if isinstance(node, ast.Assert):
        return True
    if not isinstance(node, ast.Call):
        return False
    name = _dotted(node.func)
    return name in ASSERTING_CALLS or name in helpers or ASSERTION_NAME.match(name.rsplit(".", 1)[-1]) is not None


def _decorated_skip(node: FunctionNode | ast.ClassDef) -> bool:
    return any(_is_skip_mark(d) for d in node.decorator_list)


def _marked_skip(body: list[ast.stmt]) -> bool:
    """Whether a `pytestmark = ...` assignment in `body` applies a skip mark."""
    for stmt in body:
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in stmt.targets):
            marks = stmt.value.elts if isinstance(stmt.value, ast.List | ast.Tuple) else [stmt.value]
            return any(_is_skip_mark(mark) for mark in marks)
    return False


def _is_skip_mark(expr: ast.expr) -> bool:
    return _dotted(expr).rsplit(".", 1)[-1] in SKIP_DECORATORS


def _skips_itself(fn: FunctionNode) -> bool:
    """Whether the body calls pytest.skip() or self.skipTest() unconditionally."""
    return any(
        isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and _dotted(stmt.value.func) in SELF_SKIPS
        for stmt in fn.body
    )


def _dotted(expr: ast.expr) -> str:
    """'pytest.mark.skip' for `pytest.mark.skip(...)`; a part that is not a plain name becomes ''."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute | ast.Call):
        if isinstance(expr, ast.Attribute):
            parts.append(expr.attr)
            expr = expr.value
        else:
            expr = expr.func
    parts.append(expr.id if isinstance(expr, ast.Name) else "")
    return ".".join(reversed(parts))
