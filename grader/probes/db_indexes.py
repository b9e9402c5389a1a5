"""Database indexes: where they are created (migrations, schemas, entities) and where the docs explain them.

Recognised: SQL `CREATE [UNIQUE] INDEX`, Knex `table.index()`/`.unique()`, TypeORM `createIndex`/`@Index`,
Sequelize `addIndex`, node-pg-migrate `createIndex`, Prisma `@@index`/`@@unique`/`@unique`, Alembic
`op.create_index`. An index is documented when a document names it, or when an "Indexes" section
(or a line that says "index") names its table and every column.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from grader.facts import ProbeContext
from grader.model import Location
from grader.plugin import probe
from grader.probes.migrations import MigrationFacts
from grader.probes.repo import RepoFacts
from grader.probes.source_files import classify, doc_files, read_all
from grader.probes.text_files import line_at

_Q = r"""[`'"]?"""
_SQL_INDEX = re.compile(
    rf"\bCREATE\s+(?P<unique>UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"(?:{_Q}(?P<name>\w+){_Q}\s+)?ON\s+(?:ONLY\s+)?(?:{_Q}\w+{_Q}\.)?{_Q}(?P<table>\w+){_Q}\s*(?:USING\s+\w+\s*)?\(",
    re.IGNORECASE,
)
_STR = r"""[`'"](\w+)[`'"]"""
_LIST = r"""(\[[^\]]*\]|[`'"][\w, ]+[`'"])"""
_KNEX_INDEX = re.compile(rf"\b\w+\.(index|unique)\(\s*{_LIST}")
_CALL_ARGS = r"\((?:[^()\n]|\([^()\n]*\))*\)"  # a call's arguments, one level of nested calls allowed
_KNEX_CHAINED = re.compile(
    rf"\.\w+\(\s*{_STR}(?:[^()\n]|\([^()\n]*\))*\)(?:\.\w+{_CALL_ARGS})*?\.(index|unique)\(\s*\)"
)
_KNEX_TABLE = re.compile(rf"\b(?:createTable|alterTable|table)\w*\(\s*{_STR}")
_CALL_INDEX = re.compile(rf"\b(?:addIndex|createIndex)\(\s*{_STR}\s*,\s*(?:\{{[^}}]*?fields:\s*)?{_LIST}")
_TYPEORM_TABLE_INDEX = re.compile(
    rf"\bcreateIndex\(\s*{_STR}\s*,\s*new\s+TableIndex\(\s*\{{(?P<body>[^}}]*)\}}", re.DOTALL
)
_TYPEORM_DECORATOR = re.compile(
    r"@Index\((?P<args>[^)]*)\)(?P<after>(?:\s*@\w+\([^)]*\))*\s*(?:\w+\s+)*?(?P<prop>\w+)[!?]?\s*:)?"
)
_ENTITY_TABLE = re.compile(rf"@Entity\(\s*(?:\{{\s*name:\s*)?{_STR}")
_ALEMBIC_INDEX = re.compile(rf"\bop\.create_index\(\s*(?:op\.f\(\s*)?{_STR}\s*\)?\s*,\s*{_STR}\s*,\s*{_LIST}")
_PRISMA_MODEL = re.compile(r"^\s*model\s+(\w+)\s*\{", re.MULTILINE)
_PRISMA_BLOCK_INDEX = re.compile(r"@@(index|unique)\(\s*(?:fields:\s*)?\[([^\]]*)\]")
_PRISMA_FIELD_UNIQUE = re.compile(r"^\s*(\w+)\s+\w+[?\[\]]*\s[^\n]*@unique\b", re.MULTILINE)
_PRISMA_MAP = re.compile(r"@@map\(\s*\"(\w+)\"")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$|^(.+)\n[=-]{3,}\s*$", re.MULTILINE)
_SCANNED_SUFFIXES = (".sql", ".prisma", ".js", ".cjs", ".mjs", ".ts", ".cts", ".mts", ".py")


@dataclass(frozen=True, slots=True)
class Index:
    """One index the code creates or declares."""

    table: str | None
    columns: tuple[str, ...]
    name: str | None
    unique: bool
    how: str  # "sql" | "knex" | "typeorm" | "sequelize" | "prisma" | "alembic" | ...
    location: Location
    in_migration: bool  # created by a migration (or a Prisma schema whose migrations are committed)
    documented: Location | None = None  # where a document explains it

    @property
    def label(self) -> str:
        """e.g. 'tasks_status_idx on tasks (status)'."""
        target = f"{self.table or '?'} ({', '.join(self.columns) or '?'})"
        return f"{self.name} on {target}" if self.name else target


@dataclass(frozen=True, slots=True)
class IndexFacts:
    """Every index found, and the documents that were searched for their explanation."""

    indexes: tuple[Index, ...]
    docs: tuple[str, ...]


@probe("db.indexes", timeout_s=120)
def index_facts(ctx: ProbeContext) -> IndexFacts:
    """Find the indexes created in migrations, schemas and entities, and whether the docs explain each."""
    repo = ctx.fact("repo", RepoFacts)
    return find_indexes(repo, ctx.fact("db.migrations", MigrationFacts))


def find_indexes(repo: RepoFacts, migrations: MigrationFacts) -> IndexFacts:
    """Indexes of one repository, with their documentation."""
    migration_paths = {m.path for m in migrations.migrations}
    prisma_migrations = any(m.tool == "prisma" for m in migrations.migrations)
    sources, _ = classify(repo)
    scanned = sorted(
        {s.path for s in sources if not s.test and s.path.endswith(_SCANNED_SUFFIXES)}
        | {p for p in repo.files if p.endswith((".sql", ".prisma"))}
        | migration_paths
    )
    found: list[Index] = []
    for path, text in read_all(repo, scanned):
        in_migration = path in migration_paths or (path.endswith(".prisma") and prisma_migrations)
        found.extend(_indexes_in(path, text, in_migration))
    docs = dict(read_all(repo, doc_files(repo)))
    units = [unit for path, text in docs.items() for unit in _doc_units(path, text)]
    documented = tuple(_with_documentation(index, units) for index in _unique(found))
    return IndexFacts(documented, tuple(docs))


@dataclass(frozen=True, slots=True)
class _Hit:
    """An index as one pattern saw it, at a character offset of the file."""

    table: str | None
    columns: list[str]
    name: str | None
    unique: bool
    how: str
    offset: int


def _indexes_in(path: str, text: str, in_migration: bool) -> Iterator[Index]:
    if path.endswith(".prisma"):
        yield from _prisma_indexes(path, text, in_migration)
        return
    hits = list(_sql_indexes(text))
    if not path.endswith(".sql"):
        hits += [*_knex_indexes(text), *_typeorm_indexes(text), *_call_indexes(text), *_alembic_indexes(text)]
    for hit in hits:
        table = hit.table.lower() if hit.table else None
        columns = tuple(c for c in hit.columns if c)
        where = Location(path, line_at(text, hit.offset))
        yield Index(table, columns, hit.name, hit.unique, hit.how, where, in_migration)


def _sql_indexes(text: str) -> Iterator[_Hit]:
    for match in _SQL_INDEX.finditer(text):
        columns = _sql_columns(text, match.end())
        yield _Hit(match["table"], columns, match["name"], bool(match["unique"]), "sql", match.start())


def _knex_indexes(text: str) -> Iterator[_Hit]:
    """`table.index([...])`, `table.unique('x')` and `t.string('x').index()` inside Knex schema builders."""
    if not _KNEX_TABLE.search(text):
        return
    for match in _KNEX_INDEX.finditer(text):
        unique = match.group(1) == "unique"
        yield _Hit(_table_before(text, match.start()), _names(match.group(2)), None, unique, "knex", match.start())
    for match in _KNEX_CHAINED.finditer(text):
        unique = match.group(2) == "unique"
        yield _Hit(_table_before(text, match.start()), [match.group(1)], None, unique, "knex", match.start())


def _typeorm_indexes(text: str) -> Iterator[_Hit]:
    """`queryRunner.createIndex('t', new TableIndex({...}))` and `@Index(...)` on entities."""
    for match in _TYPEORM_TABLE_INDEX.finditer(text):
        body = match["body"]
        listed = re.search(r"columnNames:\s*(\[[^\]]*\])", body)
        name = re.search(rf"name:\s*{_STR}", body)
        unique = bool(re.search(r"isUnique:\s*true", body))
        found = _names(listed.group(1)) if listed else []
        yield _Hit(match.group(1), found, name.group(1) if name else None, unique, "typeorm", match.start())
    entity = _ENTITY_TABLE.search(text)
    for match in _TYPEORM_DECORATOR.finditer(text):
        args = match["args"]
        array = re.search(r"\[([^\]]*)\]", args)
        name = re.match(rf"\s*{_STR}", args)
        columns = _names(array.group(1)) if array else [match["prop"]] if match["prop"] else []
        table = entity.group(1) if entity else None
        yield _Hit(table, columns, name.group(1) if name else None, "unique: true" in args, "typeorm", match.start())


def _call_indexes(text: str) -> Iterator[_Hit]:
    """Sequelize `queryInterface.addIndex('t', [...])`, node-pg-migrate `pgm.createIndex('t', ...)`."""
    how = "sequelize" if "queryInterface" in text else "node-pg-migrate" if "pgm" in text else "migration"
    for match in _CALL_INDEX.finditer(text):
        yield _Hit(match.group(1), _names(match.group(2)), None, False, how, match.start())


def _alembic_indexes(text: str) -> Iterator[_Hit]:
    for match in _ALEMBIC_INDEX.finditer(text):
        unique = bool(re.search(r"unique\s*=\s*True", text[match.end() : match.end() + 200]))
        yield _Hit(match.group(2), _names(match.group(3)), match.group(1), unique, "alembic", match.start())


def _sql_columns(text: str, start: int) -> list[str]:
    """The column list after `CREATE INDEX ... (`: its top-level items, each reduced to its column name."""
    depth, items, current = 1, [], list[str]()
    for char in text[start : start + 2000]:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                break
        if char == "," and depth == 1:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [_column_name(item) for item in items]


def _column_name(item: str) -> str:
    """`created_at DESC` -> created_at; `lower(name)` -> lower(name); `"userId"` -> userId."""
    item = re.sub(r"\s+(ASC|DESC|NULLS\s+(FIRST|LAST)|COLLATE\s+\S+)\b.*$", "", item.strip(), flags=re.IGNORECASE)
    item = item.strip().replace('"', "").replace("`", "")
    return item if "(" in item else item.split()[0] if item else ""


def _names(literal: str) -> list[str]:
    """The identifiers in `['a', 'b']` or `'a'` or `'a, b'`."""
    return re.findall(r"\w+", re.sub(r"^[\[\s]+|[\]\s]+$", "", literal))


def _table_before(text: str, offset: int) -> str | None:
    """The table of the nearest `createTable('x'` / `alterTable('x'` / `table('x'` before `offset`."""
    tables = [m.group(1) for m in _KNEX_TABLE.finditer(text, 0, offset)]
    return tables[-1] if tables else None


def _prisma_indexes(path: str, text: str, in_migration: bool) -> Iterator[Index]:
    models = list(_PRISMA_MODEL.finditer(text))
    for i, model in enumerate(models):
        end = models[i + 1].start() if i + 1 < len(models) else len(text)
        body = text[model.end() : end]
        mapped = _PRISMA_MAP.search(body)
        table = (mapped.group(1) if mapped else model.group(1)).lower()
        for match in _PRISMA_BLOCK_INDEX.finditer(body):
            where = Location(path, line_at(text, model.end() + match.start()))
            columns = tuple(re.findall(r"\w+", re.sub(r"\([^)]*\)", "", match.group(2))))
            yield Index(table, columns, None, match.group(1) == "unique", "prisma", where, in_migration)
        for match in _PRISMA_FIELD_UNIQUE.finditer(body):
            where = Location(path, line_at(text, model.end() + match.start(1)))
            yield Index(table, (match.group(1),), None, True, "prisma", where, in_migration)


def _unique(indexes: list[Index]) -> list[Index]:
    """One entry per (table, columns): the one in a migration wins over an entity or schema declaration."""
    chosen: dict[tuple[str | None, tuple[str, ...]], Index] = {}
    for index in indexes:
        key = (index.table, tuple(c.lower() for c in index.columns))
        if key not in chosen or (index.in_migration and not chosen[key].in_migration):
            chosen[key] = index
    return list(chosen.values())


@dataclass(frozen=True, slots=True)
class _DocUnit:
    """A piece of documentation: a section about indexes, or one line that mentions an index."""

    path: str
    line: int
    text: str


def _doc_units(path: str, text: str) -> Iterator[_DocUnit]:
    yield _DocUnit(path, 0, text)  # the whole document, for index names
    headings = list(_HEADING.finditer(text))
    for i, heading in enumerate(headings):
        title = heading.group(2) or heading.group(3) or ""
        if re.search(r"\bind(ex|exes|ices)\b", title, re.IGNORECASE):
            end = headings[i + 1].start() if i + 1 < len(headings) else len(text)
            yield _DocUnit(path, line_at(text, heading.start()), text[heading.start() : end])
    for number, line in enumerate(text.splitlines(), start=1):
        if re.search(r"\bind(ex|exes|ices|exed)\b", line, re.IGNORECASE):
            yield _DocUnit(path, number, line)


def _with_documentation(index: Index, units: list[_DocUnit]) -> Index:
    for unit in units:
        if unit.line == 0:
            if index.name and re.search(rf"\b{re.escape(index.name)}\b", unit.text):
                line = line_at(unit.text, unit.text.find(index.name))
                return _documented(index, Location(unit.path, line))
            continue
        if _mentions(unit.text, index):
            return _documented(index, Location(unit.path, unit.line))
    return index


def _mentions(text: str, index: Index) -> bool:
    """The table (when known) and every column are named in `text`."""
    words = [index.table] if index.table else []
    words += [re.sub(r"^\w+\((\w+)\)$", r"\1", c) for c in index.columns]
    return bool(words) and all(re.search(rf"(?<![\w]){re.escape(w)}(?![\w])", text, re.IGNORECASE) for w in words)


def _documented(index: Index, where: Location) -> Index:
    return replace(index, documented=where)
