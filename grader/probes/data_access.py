"""How the code reads and deletes data: soft delete (`deleted_at`) and cursor pagination, found statically.

Each finding is a file and line with the text that matched. Test files are not read for the
behaviour (a test may mention `deleted_at` without the code doing anything about it); migrations,
schemas and entities are read for the soft-delete column. The OpenAPI document in the repository
(or the one grade.toml names) is read too: a documented `cursor` parameter counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from grader.facts import ProbeContext
from grader.model import Location
from grader.plugin import probe
from grader.probes.migrations import MigrationFacts
from grader.probes.openapi import METHODS, find_document
from grader.probes.repo import RepoFacts
from grader.probes.source_files import classify, read_all
from grader.probes.text_files import line_at, line_text

_DELETED = r"""[`'"]?(?:deleted_?at|deletedAt|deleted_on|deletedOn)[`'"]?"""
SOFT_DELETE_COLUMN = (
    re.compile(rf"\b{_DELETED}\s+(?:TIMESTAMP|TIMESTAMPTZ|DATETIME|DATE)\b", re.IGNORECASE),  # SQL
    re.compile(rf"""\b(?:timestamp|timestamps|dateTime|datetime|date)\w*\(\s*{_DELETED}"""),  # Knex
    re.compile(r"@DeleteDateColumn\b"),  # TypeORM
    re.compile(r"\bparanoid\s*:\s*true\b"),  # Sequelize
    re.compile(r"^\s*(?:deletedAt|deleted_at)\s+DateTime\?", re.MULTILINE),  # Prisma
    re.compile(r"\b(?:deleted_?at|deletedAt)\s*:\s*\{[^}]*type:\s*['\"]?(?:timestamp|Date|DATE)", re.IGNORECASE),
    re.compile(rf"""Column\(\s*{_DELETED}\s*,\s*(?:sa\.)?(?:DateTime|TIMESTAMP)""", re.IGNORECASE),  # SQLAlchemy
)
SOFT_DELETE_FILTER = (
    re.compile(rf"\b{_DELETED}\s+IS\s+NULL\b", re.IGNORECASE),
    re.compile(r"""\bwhereNull\(\s*[`'"][\w.]*(?:deleted_?at|deletedAt)[`'"]"""),
    re.compile(r"\b(?:deletedAt|deleted_at)\s*:\s*(?:null\b|IsNull\(\))"),
    re.compile(r"\bwithDeleted\b|\bparanoid\s*:\s*true\b|@DeleteDateColumn\b"),
    re.compile(r"\b(?:deleted_at|deletedAt)\.is_\(\s*None\s*\)|\b(?:deleted_at|deletedAt)\s*==\s*None\b"),
)
SOFT_DELETE_WRITE = (
    re.compile(rf"\bSET\s+(?:[^;]*?,\s*)?{_DELETED}\s*=\s*(?:now\(\)|CURRENT_TIMESTAMP|\$\d+|\?|:\w+)", re.IGNORECASE),
    re.compile(r"\.(?:softDelete|softRemove)\("),
    re.compile(
        r"""\b(?:deletedAt|deleted_at)[`'"]?\s*[:=]\s*(?:new Date\(|Date\.now\(|\w+\.fn\.now\(|func\.now\("""
        r"""|datetime\.|timezone\.now\(|sql`now|['"]now\(\)['"]|NOW\(\))"""
    ),
    re.compile(r"\bparanoid\s*:\s*true\b"),
)
_CURSOR_WORDS = r"(?:cursor|after|startingAfter|starting_after|pageToken|page_token)"
CURSOR_INPUT = (
    re.compile(
        rf"\b(?:req\.query|request\.query|query|dto|params|args|input|filters?|options|opts)\.{_CURSOR_WORDS}\b"
    ),
    re.compile(rf"""@Query\(\s*['"]{_CURSOR_WORDS}['"]"""),
    re.compile(
        rf"""\{{[^{{}}=]*\b{_CURSOR_WORDS}\b[^{{}}=]*\}}\s*(?::\s*\w+\s*)?=\s*(?:req\.|request\.)?(?:query|dto|params)\b"""
    ),
    re.compile(rf"^\s*(?:readonly\s+)?{_CURSOR_WORDS}[?!]?\s*:\s*(?:string|number)\b", re.MULTILINE),
    re.compile(rf"""(?:request\.args|query_params)\.get\(\s*['"]{_CURSOR_WORDS}['"]"""),
    re.compile(rf"\b{_CURSOR_WORDS}\s*:\s*(?:str|int|Optional\[str\]|str \| None)\s*=\s*(?:None|Query)"),
    re.compile(rf"""\bquery\(\s*['"]{_CURSOR_WORDS}['"]|\b{_CURSOR_WORDS}\s*:\s*(?:z|Joi|yup)\."""),
)
NEXT_CURSOR = re.compile(
    r"\b(?:next_?[cC]ursor|nextCursor|next_cursor|endCursor|end_cursor|nextPageToken|next_page_token)\b"
    r"|[?&](?:cursor|after)=\$\{"
)
KEYSET_QUERY = (
    re.compile(  # SQL `WHERE (created_at, id) < ($1, $2)`, query builders' `'task.id > :cursor'`
        r"""(?:\b(?:WHERE|AND|OR)\s+\(?|[`'"])\s*(?:\(\s*[\w."]+\s*,\s*[\w."]+\s*\)|[\w."]+)\s*[<>]=?\s*\(?\s*"""
        r"""(?:\$\d+|\?|:\w+|\$\{)""",
        re.IGNORECASE,
    ),
    re.compile(r"\bcursor\s*:\s*\{"),  # Prisma findMany({ cursor: { id } })
    re.compile(r"\b(?:LessThan|MoreThan)(?:OrEqual)?\("),  # TypeORM
    re.compile(r"""\.(?:where|andWhere)\(\s*['"][\w.]+['"]\s*,\s*['"][<>]=?['"]"""),  # Knex
)
OFFSET_QUERY = re.compile(r"\bOFFSET\s+(?:\$\d+|\?|:\w+|\$\{)|\.offset\(|\bskip\s*:", re.IGNORECASE)
_SPEC_CURSOR_PARAMS = frozenset({"cursor", "after", "starting_after", "startingafter", "page_token", "pagetoken"})
_SPEC_NEXT = frozenset({"nextcursor", "next_cursor", "endcursor", "end_cursor", "nextpagetoken", "next_page_token"})
_CODE_SUFFIXES = (".ts", ".js", ".cjs", ".mjs", ".cts", ".mts", ".py")


@dataclass(frozen=True, slots=True)
class Finding:
    """Where a pattern matched, and the text of that line."""

    location: Location
    text: str


@dataclass(frozen=True, slots=True)
class DataAccessFacts:
    """Soft-delete and pagination patterns found in the code, the schema and the OpenAPI document."""

    deleted_column: tuple[Finding, ...]  # the deleted_at column (migration, schema, entity)
    deleted_filter: tuple[Finding, ...]  # reads that leave deleted rows out
    deleted_write: tuple[Finding, ...]  # deletes that set deleted_at instead of removing the row
    cursor_input: tuple[Finding, ...]  # handlers that take a cursor / after parameter
    next_cursor: tuple[Finding, ...]  # responses that carry the next cursor
    keyset_query: tuple[Finding, ...]  # queries that continue after the cursor (WHERE (created_at, id) < ...)
    offset_query: tuple[Finding, ...]  # OFFSET / skip pagination
    spec_source: str | None  # the OpenAPI document read, if any
    spec_cursor: tuple[str, ...] = ()  # documented operations with a cursor parameter, e.g. "GET /tasks ?cursor"
    spec_next: tuple[str, ...] = ()  # documented response properties carrying the next cursor


@probe("db.access", timeout_s=120)
def data_access(ctx: ProbeContext) -> DataAccessFacts:
    """Look for soft delete (deleted_at column, filtered reads, deletes that set it) and cursor pagination."""
    repo = ctx.fact("repo", RepoFacts)
    migrations = ctx.fact("db.migrations", MigrationFacts)
    document = find_document(repo.root, repo.files, None, ctx.config.api)
    return scan_data_access(repo, migrations, document.source, document.spec)


def scan_data_access(
    repo: RepoFacts, migrations: MigrationFacts, spec_source: str | None, spec: Mapping[str, Any] | None
) -> DataAccessFacts:
    """The patterns of one repository (`spec`: its parsed OpenAPI document, if any)."""
    sources, _ = classify(repo)
    code = [s.path for s in sources if not s.test and s.path.endswith(_CODE_SUFFIXES)]
    schema = sorted(
        {m.path for m in migrations.migrations} | {p for p in repo.files if p.endswith((".sql", ".prisma"))}
    )
    code_texts = dict(read_all(repo, code))
    schema_texts = {**dict(read_all(repo, schema)), **code_texts}
    cursor_ops, next_props = _spec_cursor(spec) if spec else ((), ())
    return DataAccessFacts(
        deleted_column=tuple(_find(schema_texts, SOFT_DELETE_COLUMN)),
        deleted_filter=tuple(_find(code_texts, SOFT_DELETE_FILTER)),
        deleted_write=tuple(_find(code_texts, SOFT_DELETE_WRITE)),
        cursor_input=tuple(_find(code_texts, CURSOR_INPUT)),
        next_cursor=tuple(_find(code_texts, (NEXT_CURSOR,))),
        keyset_query=tuple(_find(code_texts, KEYSET_QUERY)),
        offset_query=tuple(_find(code_texts, (OFFSET_QUERY,))),
        spec_source=spec_source,
        spec_cursor=cursor_ops,
        spec_next=next_props,
    )


def _find(texts: Mapping[str, str], patterns: Iterable[re.Pattern[str]]) -> Iterator[Finding]:
    """Each (file, line) once, for the first pattern that matches there."""
    seen: set[tuple[str, int]] = set()
    for path, text in texts.items():
        for pattern in patterns:
            for match in pattern.finditer(text):
                line = line_at(text, match.start())
                if (path, line) not in seen:
                    seen.add((path, line))
                    yield Finding(Location(path, line), line_text(text, match.start())[:200])


def _spec_cursor(spec: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(operations documenting a cursor query parameter, response properties named like a next cursor)."""
    operations = []
    paths = spec.get("paths")
    for path, item in (paths or {}).items() if isinstance(paths, dict) else ():
        if not isinstance(item, dict):
            continue
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            params = [*_list(item.get("parameters")), *_list(op.get("parameters"))]
            names = [_param_name(spec, p) for p in params]
            operations += [f"{method.upper()} {path} ?{n}" for n in names if n and n.lower() in _SPEC_CURSOR_PARAMS]
    return tuple(operations), tuple(sorted(set(_property_names(spec, _SPEC_NEXT))))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _param_name(spec: Mapping[str, Any], param: Any) -> str | None:
    if isinstance(param, dict) and isinstance(param.get("$ref"), str):
        param = _ref(spec, param["$ref"])
    if isinstance(param, dict) and param.get("in", "query") == "query" and isinstance(param.get("name"), str):
        return str(param["name"])
    return None


def _ref(spec: Mapping[str, Any], ref: str) -> Any:
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _property_names(node: Any, wanted: frozenset[str], depth: int = 0) -> Iterator[str]:
    """Names of schema properties anywhere in the document that are in `wanted` (case-insensitive)."""
    if depth > 40:
        return
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict):
            yield from (name for name in properties if isinstance(name, str) and name.lower() in wanted)
        for value in node.values():
            yield from _property_names(value, wanted, depth + 1)
    elif isinstance(node, list):
        for value in node:
            yield from _property_names(value, wanted, depth + 1)
