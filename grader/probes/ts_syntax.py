"""Small helpers over tree-sitter syntax trees of JavaScript and TypeScript files."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

import tree_sitter_javascript
import tree_sitter_typescript
from tree_sitter import Language, Node, Parser

_JAVASCRIPT = Language(tree_sitter_javascript.language())
_TYPESCRIPT = Language(tree_sitter_typescript.language_typescript())
_TSX = Language(tree_sitter_typescript.language_tsx())
_BY_SUFFIX = {".ts": _TYPESCRIPT, ".mts": _TYPESCRIPT, ".cts": _TYPESCRIPT, ".tsx": _TSX}
FUNCTION_TYPES = frozenset(
    {"function_declaration", "function_expression", "arrow_function", "method_definition", "generator_function"}
)


def parse(path: str, text: str) -> Node:
    """The syntax tree of a JS/TS file (the grammar chosen by its suffix)."""
    language = _BY_SUFFIX.get(PurePosixPath(path).suffix, _JAVASCRIPT)
    return Parser(language).parse(text.encode("utf-8", errors="surrogateescape")).root_node


def text_of(node: Node | None) -> str:
    """The source text of a node ('' for None)."""
    return "" if node is None or node.text is None else node.text.decode("utf-8", errors="replace")


def line_of(node: Node) -> int:
    """The 1-based line a node starts on."""
    return node.start_point.row + 1


def descendants(node: Node, *types: str) -> Iterator[Node]:
    """Every node below `node` (depth first, in source order) whose type is one of `types`."""
    stack = list(reversed(node.named_children))
    while stack:
        current = stack.pop()
        if current.type in types:
            yield current
        stack.extend(reversed(current.named_children))


def string_value(node: Node | None) -> str | None:
    """The value of a plain string literal node, else None."""
    if node is None or node.type != "string":
        return None
    return "".join(text_of(c) for c in node.named_children if c.type in ("string_fragment", "escape_sequence"))


@dataclass(frozen=True, slots=True)
class FunctionBody:
    """What a function (or a value standing for one) does, as far as reversibility goes."""

    line: int
    empty: bool  # no statement at all (comments do not count)
    throws: bool  # its body throws: the author says it cannot be undone
    disabled: bool = False  # the value is `false` (node-pg-migrate's "irreversible")


def body_of(value: Node, line: int) -> FunctionBody | None:
    """A function's body summary, for a function node or a `false` literal; None for anything else."""
    if value.type == "false":
        return FunctionBody(line, empty=True, throws=False, disabled=True)
    if value.type not in FUNCTION_TYPES:
        return None
    body = value.child_by_field_name("body")
    if body is None:
        return FunctionBody(line, empty=True, throws=False)
    if body.type != "statement_block":  # an arrow function's expression body
        return FunctionBody(line, empty=False, throws=False)
    statements = [c for c in body.named_children if c.type != "comment"]
    throws = any(s.type == "throw_statement" for s in statements)
    return FunctionBody(line, empty=not statements, throws=throws)


def exported_functions(root: Node, names: frozenset[str]) -> dict[str, FunctionBody]:
    """Functions named in `names` however a migration file defines them.

    Covers class methods (TypeORM, MikroORM), `export function up`, `export const up = ...`,
    `exports.up = ...` / `module.exports.up = ...`, and object literals (`module.exports = { up, down }`).
    The first definition of each name wins.
    """
    found: dict[str, FunctionBody] = {}
    for node in descendants(
        root, "method_definition", "function_declaration", "variable_declarator", "assignment_expression", "pair"
    ):
        name, value = _named_value(node)
        if name in names and name not in found and value is not None:
            body = body_of(value, line_of(node))
            if body is not None:
                found[name] = body
    return found


def _named_value(node: Node) -> tuple[str | None, Node | None]:
    if node.type in ("method_definition", "function_declaration"):
        return text_of(node.child_by_field_name("name")), node
    if node.type == "variable_declarator":
        return text_of(node.child_by_field_name("name")), node.child_by_field_name("value")
    if node.type == "pair":
        return text_of(node.child_by_field_name("key")).strip("'\""), node.child_by_field_name("value")
    left = node.child_by_field_name("left")
    if left is None or left.type != "member_expression":
        return None, None
    target = text_of(left.child_by_field_name("object"))
    if target not in ("exports", "module.exports"):
        return None, None
    return text_of(left.child_by_field_name("property")), node.child_by_field_name("right")


def has_syntax_error(root: Node) -> bool:
    """Whether tree-sitter had to recover from an error anywhere in the file."""
    return root.has_error
