"""Terraform: every `*.tf` file parsed with python-hcl2, its top-level blocks with their lines.

Values stay as python-hcl2 gives them (string quotes stripped; expressions as `${...}`);
:meth:`TerraformFacts.resolve` follows `var.x` and `local.x` to their defaults so a check can
read `limit_amount = var.budget` or `count = length(var.azs)`. `.tfvars` files are not read.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions
from lark import Token, Tree
from lark.exceptions import LarkError, UnexpectedInput

from grader.facts import ProbeContext
from grader.plugin import probe
from grader.probes.repo import RepoFacts
from grader.probes.text_files import read_text

_SKIPPED_DIRS = frozenset({".terraform"})
_OPTIONS = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
_REFERENCE = re.compile(r"^\$\{\s*(?:(?:toset|tolist)\(\s*)?(var|local)\.([\w-]+)\s*\)?\s*\}$")
_LENGTH = re.compile(r"^\$\{\s*length\(\s*(.+?)\s*\)\s*\}$")


@dataclass(frozen=True, slots=True)
class TfBlock:
    """One top-level block (resource, data, module, variable, locals, ...) of a Terraform file."""

    kind: str
    labels: tuple[str, ...]
    path: str
    line: int
    body: Mapping[str, Any]
    lines: Mapping[str, int]  # the line of each attribute or nested block of the body

    @property
    def address(self) -> str:
        """`aws_subnet.public` for a resource, `module.vpc`, `data.aws_ami.ubuntu`, `variable.region`."""
        return ".".join(self.labels if self.kind == "resource" else (self.kind, *self.labels))

    def line_of(self, attribute: str) -> int:
        """The line of an attribute (or nested block), else of the block itself."""
        return self.lines.get(attribute, self.line)


@dataclass(frozen=True, slots=True)
class TfParseError:
    """A Terraform file python-hcl2 could not parse."""

    path: str
    line: int | None
    message: str


@dataclass(frozen=True, slots=True)
class TerraformFacts:
    """The Terraform files of the repository, their blocks, and the files that did not parse."""

    files: tuple[str, ...]
    blocks: tuple[TfBlock, ...]
    errors: tuple[TfParseError, ...]

    def resources(self, *types: str) -> tuple[TfBlock, ...]:
        """The resource blocks of the given types."""
        return tuple(b for b in self.blocks if b.kind == "resource" and b.labels and b.labels[0] in types)

    def modules(self, source_part: str) -> tuple[TfBlock, ...]:
        """The module blocks whose `source` contains `source_part` (e.g. terraform-aws-modules/vpc)."""
        return tuple(b for b in self.blocks if b.kind == "module" and source_part in str(b.body.get("source", "")))

    def resolve(self, value: Any) -> Any:
        """`value` with a whole `${var.x}`/`${local.x}` (also in toset()/tolist()) replaced by its default."""
        for _ in range(5):  # a local may point at a variable
            match = _REFERENCE.match(value) if isinstance(value, str) else None
            if match is None:
                return value
            value = self._definition(match.group(1), match.group(2))
        return value

    def instances(self, block: TfBlock) -> int | None:
        """How many instances `count` or `for_each` make (1 without either); None when it cannot be told."""
        for attribute in ("count", "for_each"):
            if attribute not in block.body:
                continue
            value = self.resolve(block.body[attribute])
            length = _LENGTH.match(value) if isinstance(value, str) else None
            if length is not None:
                value = self.resolve(f"${{{length.group(1)}}}")
            if isinstance(value, list | dict):
                return len(value)
            number = as_number(value)
            return int(number) if number is not None else None
        return 1

    def _definition(self, kind: str, name: str) -> Any:
        for block in self.blocks:
            if kind == "var" and block.kind == "variable" and block.labels == (name,):
                return block.body.get("default")
            if kind == "local" and block.kind == "locals" and name in block.body:
                return block.body[name]
        return None


def as_number(value: Any) -> float | None:
    """A number from an int, float or numeric string ("50", "50.0"), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def as_bool(value: Any) -> bool | None:
    """True/False from a bool or "true"/"false", else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


@probe("infra.terraform", timeout_s=120)
def terraform_files(ctx: ProbeContext) -> TerraformFacts:
    """Parse every Terraform file (`*.tf`) with python-hcl2; record the blocks and the files that fail."""
    repo = ctx.fact("repo", RepoFacts)
    return parse_terraform(repo.root, repo.files)


def parse_terraform(root: Path, files: Sequence[str]) -> TerraformFacts:
    """Parse the `*.tf` files among `files` (relative to `root`)."""
    paths = [f for f in files if f.endswith(".tf") and not _SKIPPED_DIRS.intersection(f.split("/"))]
    blocks: list[TfBlock] = []
    errors: list[TfParseError] = []
    for path in paths:
        file = read_text(root, path)
        if file.text is None:
            errors.append(TfParseError(path, None, f"not read: {file.problem}"))
            continue
        try:
            blocks.extend(parse_blocks(path, file.text))
        except UnexpectedInput as exc:
            errors.append(TfParseError(path, exc.line if exc.line > 0 else None, _describe(exc)))
        except (LarkError, ValueError, TypeError, RecursionError) as exc:
            errors.append(TfParseError(path, None, f"{type(exc).__name__}: {_first_line(exc)}"))
    return TerraformFacts(tuple(paths), tuple(blocks), tuple(errors))


def parse_blocks(path: str, text: str) -> list[TfBlock]:
    """The top-level blocks of one file; raises a lark error when it does not parse.

    python-hcl2 serialises the blocks of each kind as a list in file order, nested by their
    labels; the parse tree gives the same blocks in the same order with their lines.
    """
    tree = hcl2.parses_to_tree(text)
    nodes = [(*_block_key(node), node.meta.line, _body_lines(node)) for node in _top_level_blocks(tree)]
    data = hcl2.serialize(hcl2.transform(tree, discard_comments=True), serialization_options=_OPTIONS)
    seen: Counter[str] = Counter()
    blocks = []
    for kind, labels, line, lines in nodes:
        entries = data.get(kind)
        body = entries[seen[kind]] if isinstance(entries, list) and seen[kind] < len(entries) else {}
        seen[kind] += 1
        for label in labels:
            body = body.get(label, {}) if isinstance(body, dict) else {}
        blocks.append(TfBlock(kind, labels, path, line, body if isinstance(body, dict) else {}, lines))
    return blocks


def _top_level_blocks(tree: Tree[Any]) -> Iterator[Tree[Any]]:
    for body in tree.children:
        if isinstance(body, Tree) and body.data == "body":
            yield from (c for c in body.children if isinstance(c, Tree) and c.data == "block")


def _block_key(block: Tree[Any]) -> tuple[str, tuple[str, ...]]:
    """(kind, labels) of a block node of the parse tree."""
    words = [
        "".join(t for t in child.scan_values(lambda v: isinstance(v, Token)) if t.type != "DBLQUOTE")
        for child in block.children
        if isinstance(child, Tree) and child.data in ("identifier", "string")
    ]
    return words[0], tuple(words[1:])


def _body_lines(block: Tree[Any]) -> dict[str, int]:
    lines: dict[str, int] = {}
    for body in block.children:
        if isinstance(body, Tree) and body.data == "body":
            for child in body.children:
                if isinstance(child, Tree) and child.data in ("attribute", "block"):
                    name = next(child.children[0].scan_values(lambda v: isinstance(v, Token)), None)
                    if name is not None:
                        lines.setdefault(str(name), child.meta.line)
    return lines


def _describe(exc: UnexpectedInput) -> str:
    """`line 14, column 3: unexpected '}', expected one of: COMMA, RSQB` from a lark error."""
    where = f"line {exc.line}, column {exc.column}: " if exc.line > 0 else ""
    token = getattr(exc, "token", None)
    if isinstance(token, Token) and token.type == "$END":
        found = "unexpected end of file"
    elif token is not None:
        found = f"unexpected {str(token).strip()[:40]!r}"
    else:
        found = f"unexpected {str(getattr(exc, 'char', '?'))!r}"
    expected = sorted(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ())
    listed = f", expected one of: {', '.join(expected[:6])}{', ...' if len(expected) > 6 else ''}" if expected else ""
    return f"{where}{found}{listed}"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
