"""JavaScript/TypeScript test cases (jest, vitest, mocha, node:test), read with tree-sitter."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

import tree_sitter_javascript
import tree_sitter_typescript
from tree_sitter import Language, Node, Parser, Query, QueryCursor

from grader.probes.static_cases import StaticTest

FRAMEWORK = "jest-like"
DYNAMIC = "<dynamic>"

# Declaration names -> whether the name alone means "skipped".
TEST_BASES: Mapping[str, bool] = {
    "it": False, "test": False, "specify": False, "fit": False, "xit": True, "xtest": True, "xspecify": True,
}  # fmt: skip
SUITE_BASES: Mapping[str, bool] = {
    "describe": False, "suite": False, "context": False, "fdescribe": False, "xdescribe": True, "xcontext": True,
}  # fmt: skip
MODIFIERS = frozenset({"only", "skip", "todo", "concurrent", "sequential", "failing", "fails"})
SKIPPING_MODIFIERS = frozenset({"skip", "todo"})
FACTORIES = frozenset({"each", "for", "skipIf", "runIf"})  # it.each(table)(title, fn)
FUNCTION_TYPES = frozenset({"arrow_function", "function_expression", "function_declaration"})
ASSERTION_NAME = re.compile(r"(assert|expect)(?![a-z])|should$")  # assertValid, expect; not 'expected'
# Assertion methods of a node:test / tap / ava test context (`t.equal(...)`); `t.pass()` checks nothing.
CONTEXT_ASSERTIONS = frozenset({
    "ok", "notOk", "equal", "notEqual", "strictEqual", "notStrictEqual", "deepEqual", "notDeepEqual",
    "deepStrictEqual", "notDeepStrictEqual", "same", "notSame", "strictSame", "strictNotSame", "match", "notMatch",
    "throws", "doesNotThrow", "rejects", "doesNotReject", "resolves", "resolveMatch", "has", "type", "error",
    "fail", "plan", "emits", "is", "not", "truthy", "falsy", "true", "false", "like", "regex", "snapshot",
    "matchSnapshot",
})  # fmt: skip

CALLS_QUERY = "(call_expression) @call"
FUNCTIONS_QUERY = """
(function_declaration name: (identifier) @name) @function
(variable_declarator name: (identifier) @name value: [(arrow_function) (function_expression)] @function)
"""


@dataclass(frozen=True, slots=True)
class _Grammar:
    language: Language
    calls: Query
    functions: Query


def _grammar(language: Language) -> _Grammar:
    return _Grammar(language, Query(language, CALLS_QUERY), Query(language, FUNCTIONS_QUERY))


_JAVASCRIPT = _grammar(Language(tree_sitter_javascript.language()))
_TYPESCRIPT = _grammar(Language(tree_sitter_typescript.language_typescript()))
_TSX = _grammar(Language(tree_sitter_typescript.language_tsx()))
GRAMMAR_BY_SUFFIX = {".ts": _TYPESCRIPT, ".mts": _TYPESCRIPT, ".cts": _TYPESCRIPT, ".tsx": _TSX}


@dataclass(frozen=True, slots=True)
class _Declaration:
    kind: str  # "test" or "suite"
    skipped: bool
    parent: Node | None = None  # for a node:test subtest `t.test(...)`: the test that owns `t`


def scan_js(path: str, source: bytes) -> tuple[list[StaticTest], str | None]:
    """The test cases of one JS/TS file, and a note if it has syntax errors (what was found still counts)."""
    grammar = GRAMMAR_BY_SUFFIX.get(PurePosixPath(path).suffix, _JAVASCRIPT)
    root = Parser(grammar.language).parse(source).root_node
    return _FileScan(grammar, root).tests(path), _syntax_error(root)


class _FileScan:
    """One parsed file: its calls, the functions it declares, and which calls declare tests."""

    def __init__(self, grammar: _Grammar, root: Node) -> None:
        self.grammar = grammar
        self.calls = _calls(grammar, root)
        self.functions = _functions(grammar, root)
        self.declarations: dict[Node, _Declaration | None] = {}

    def tests(self, path: str) -> list[StaticTest]:
        """Test declarations, except node:test tests whose subtests are counted instead."""
        found = [(call, d) for call in self.calls if (d := self.declaration(call)) is not None and d.kind == "test"]
        containers = {d.parent for _, d in found if d.parent is not None}
        return [self._static_test(path, call, d) for call, d in found if call not in containers]

    def declaration(self, call: Node) -> _Declaration | None:
        """What `call` declares (a test, a suite), or None; memoised."""
        if call not in self.declarations:
            self.declarations[call] = self._classify(call)
        return self.declarations[call]

    def _classify(self, call: Node) -> _Declaration | None:
        names = _chain(call.child_by_field_name("function"))
        for kind, bases in (("test", TEST_BASES), ("suite", SUITE_BASES)):
            if (skips := _jest_like(names, bases)) is not None:
                return _Declaration(kind, skips or self._skipped(call))
        if len(names) == 2 and names[1] == "test" and (parent := self._subtest_parent(call, names[0])) is not None:
            return _Declaration("test", self._skipped(call), parent)
        return None

    def _skipped(self, call: Node) -> bool:
        """Pending (no callback), skipped by an option, or inside a skipped suite or test."""
        args = _arguments(call)
        return _callback(args) is None or _skip_option(args) or self._in_skipped_block(call)

    def _in_skipped_block(self, call: Node) -> bool:
        node = call.parent
        while node is not None:
            if node.type == "call_expression" and (decl := self.declaration(node)) is not None:
                return decl.skipped
            node = node.parent
        return False

    def _subtest_parent(self, call: Node, context: str) -> Node | None:
        """The test whose callback's first parameter is `context`, if `call` is inside it."""
        node = call.parent
        while node is not None:
            if node.type in FUNCTION_TYPES and _first_param(node) == context and (host := _host_call(node)):
                decl = self.declaration(host)
                if decl is not None and decl.kind == "test":
                    return host
            node = node.parent
        return None

    def _static_test(self, path: str, call: Node, decl: _Declaration) -> StaticTest:
        args = _arguments(call)
        return StaticTest(
            file=path,
            line=call.start_point.row + 1,
            name=_title(args),
            framework=FRAMEWORK,
            asserts=self._callback_asserts(_callback(args)),
            skipped=decl.skipped,
        )

    def _callback_asserts(self, callback: Node | None) -> bool:
        if callback is None:
            return False
        fn = self.functions.get(_text(callback)) if callback.type == "identifier" else callback
        if fn is None or fn.type not in FUNCTION_TYPES:
            return True  # imported, or built by a wrapper call: benefit of the doubt
        return self._asserts(fn, follow_helpers=True)

    def _asserts(self, fn: Node, *, follow_helpers: bool) -> bool:
        """Whether any call in `fn` asserts, or (one level deep) calls a local function that does."""
        context = _first_param(fn)
        for call in _calls(self.grammar, fn):
            if _is_assertion(call, context):
                return True
            helper = self._local_function(call) if follow_helpers else None
            if helper is not None and self._asserts(helper, follow_helpers=False):
                return True
        return False

    def _local_function(self, call: Node) -> Node | None:
        callee = call.child_by_field_name("function")
        return self.functions.get(_text(callee)) if callee is not None and callee.type == "identifier" else None


def _calls(grammar: _Grammar, node: Node) -> list[Node]:
    """Every call expression in `node`, in source order."""
    calls = QueryCursor(grammar.calls).captures(node).get("call", [])
    return sorted(calls, key=lambda n: n.start_byte)


def _functions(grammar: _Grammar, root: Node) -> dict[str, Node]:
    """Functions declared by name in the file (`function f` and `const f = () => ...`), first wins."""
    found: dict[str, Node] = {}
    for _, captures in QueryCursor(grammar.functions).matches(root):
        found.setdefault(_text(captures["name"][0]), captures["function"][0])
    return found


def _chain(node: Node | None) -> list[str]:
    """The names along a callee, root first: `it.each(t)` -> ['it', 'each', '()']; a root that is not a name is ''."""
    names: list[str] = []
    while node is not None and node.type in ("member_expression", "call_expression"):
        if node.type == "member_expression":
            names.append(_text(node.child_by_field_name("property")))
            node = node.child_by_field_name("object")
        else:
            names.append("()")
            node = node.child_by_field_name("function")
    names.append(_text(node) if node is not None and node.type == "identifier" else "")
    return names[::-1]


def _jest_like(names: list[str], bases: Mapping[str, bool]) -> bool | None:
    """Whether a jest-style declaration skips its test (None: `names` is not a declaration from `bases`)."""
    head, *modifiers = names
    if modifiers[-2:-1] and modifiers[-1] == "()":  # it.each(table)(...), test.skipIf(cond)(...)
        if modifiers[-2] not in FACTORIES:
            return None
        modifiers = modifiers[:-2]
    if head not in bases or not MODIFIERS.issuperset(modifiers):
        return None
    return bases[head] or not SKIPPING_MODIFIERS.isdisjoint(modifiers)


def _is_assertion(call: Node, context: str | None) -> bool:
    """expect(...), assert.*(...), sinon.assert.*, x.should..., request(...).expect(...), or `context`.equal(...)."""
    names = _chain(call.child_by_field_name("function"))
    if any(ASSERTION_NAME.match(name) for name in names):
        return True
    return context is not None and len(names) == 2 and names[0] == context and names[1] in CONTEXT_ASSERTIONS


def _arguments(call: Node) -> list[Node]:
    """The call's arguments (none for a tagged template such as it.each`table`)."""
    args = call.child_by_field_name("arguments")
    if args is None or args.type != "arguments":
        return []
    return [a for a in args.named_children if a.type != "comment"]


def _callback(args: list[Node]) -> Node | None:
    """The test's body: its last argument after the title, unless that is an options object."""
    return args[-1] if len(args) >= 2 and args[-1].type != "object" else None


def _skip_option(args: list[Node]) -> bool:
    """Whether an options object says `skip: ...` or `todo: ...` (node:test, vitest), other than false."""
    return any(
        pair.type == "pair"
        and _text(pair.child_by_field_name("key")) in ("skip", "todo")
        and _text(pair.child_by_field_name("value")) != "false"
        for arg in args
        if arg.type == "object"
        for pair in arg.named_children
    )


def _title(args: list[Node]) -> str:
    """A literal title ('...', "...", or `...` without substitutions), else '<dynamic>'."""
    first = args[0] if args else None
    if first is None or first.type not in ("string", "template_string"):
        return DYNAMIC
    if any(child.type == "template_substitution" for child in first.named_children):
        return DYNAMIC
    return _text(first)[1:-1]


def _first_param(fn: Node) -> str | None:
    """The name of a function's first parameter (`t` in `(t) => ...` or `async function (t: T)`)."""
    param = fn.child_by_field_name("parameter")  # `t => ...`
    if param is None:
        params = fn.child_by_field_name("parameters")
        named = [p for p in params.named_children if p.type != "comment"] if params is not None else []
        param = named[0] if named else None
    if param is not None and param.type in ("required_parameter", "optional_parameter"):  # TypeScript
        param = param.child_by_field_name("pattern")
    return _text(param) if param is not None and param.type == "identifier" else None


def _host_call(fn: Node) -> Node | None:
    """The call `fn` is passed to as an argument, if it is."""
    args = fn.parent
    host = args.parent if args is not None and args.type == "arguments" else None
    return host if host is not None and host.type == "call_expression" else None


def _syntax_error(root: Node) -> str | None:
    """Where the first syntax error is, if any."""
    if not root.has_error:
        return None
    node = root
    while (child := next((c for c in node.children if c.has_error), None)) is not None:
        node = child  # down to the innermost ERROR or MISSING node
    return f"syntax error near line {node.start_point.row + 1} (tests found elsewhere in the file still count)"


def _text(node: Node | None) -> str:
    return (node.text or b"").decode("utf-8", errors="replace") if node is not None else ""
