"""Migration files: which tool, in what order they run, and whether each can be undone.

Recognised: plain SQL (`NNN_name.sql`, `NNN_name.up.sql` + `.down.sql`, `up/` + `down/` folders,
Flyway `V1__x.sql` + `U1__x.sql`, dbmate/goose/sql-migrate sections in one file), Prisma
(`migrations/<stamp>_name/migration.sql`), TypeORM, MikroORM, Knex, Sequelize, node-pg-migrate and
Kysely (`up`/`down` functions, read with tree-sitter), Alembic (`upgrade`/`downgrade`, with the
`down_revision` chain) and Django (operations without a reverse).
"""

from __future__ import annotations

import ast
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from grader.facts import ProbeContext
from grader.model import Location
from grader.plugin import probe
from grader.probes.node_install import as_dict
from grader.probes.repo import RepoFacts
from grader.probes.source_files import classify, doc_files, is_output_file, read_all
from grader.probes.text_files import line_at
from grader.probes.ts_syntax import FunctionBody, exported_functions, parse

MIGRATION_DIRS = frozenset({"migrations", "migration", "versions"})
_CODE_SUFFIXES = (".js", ".cjs", ".mjs", ".ts", ".cts", ".mts")
_LEADING_VERSION = re.compile(r"^(\d+)(?=[_\-.]|$)")
_FLYWAY = re.compile(r"^([VU])(\d+(?:[._]\d+)*)__", re.IGNORECASE)
_TRAILING_STAMP = re.compile(r"(\d{10,})$")
_DOWN_FILE = re.compile(r"(?:[._-]down)\.sql$", re.IGNORECASE)
_UP_SUFFIX = re.compile(r"(?:[._-](?:up|down))?\.sql$", re.IGNORECASE)
_SECTION = re.compile(r"^[ \t]*--\s*\+?\s*(?:migrate|goose)\s*:?\s*(up|down)\b.*$", re.IGNORECASE | re.MULTILINE)
_SQL_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
IRREVERSIBLE = re.compile(
    r"\birreversible\b|\bnot reversible\b|\b(?:can ?not|can't|cannot) be (?:undone|reverted|reversed|rolled back)"
    r"|\bno (?:down|rollback)\b|\bone-way\b",
    re.IGNORECASE,
)
_ROLLBACK_DOC = re.compile(r"\broll(?:ing)?[ -]?back\b|\bdown migration", re.IGNORECASE)
_NAME = r"""[`'"]?(?:\w+[`'"]?\.[`'"]?)?(\w+)[`'"]?"""
CREATES_TABLE = (
    re.compile(rf"\bCREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}", re.IGNORECASE),
    re.compile(r"""\bcreateTable\w*\(\s*[`'"](\w+)[`'"]"""),
    re.compile(r"""new\s+Table\(\s*\{\s*name:\s*[`'"](\w+)[`'"]"""),
)
USES_TABLE = (
    re.compile(rf"\bALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_NAME}", re.IGNORECASE),
    re.compile(rf"\bREFERENCES\s+{_NAME}", re.IGNORECASE),
    re.compile(rf"\bCREATE\s+(?:UNIQUE\s+)?INDEX\b[^;]*?\bON\s+(?:ONLY\s+)?{_NAME}", re.IGNORECASE),
    re.compile(rf"\bINSERT\s+INTO\s+{_NAME}", re.IGNORECASE),
    re.compile(r"""\bschema\.(?:alterTable|table)\(\s*[`'"](\w+)[`'"]"""),
    re.compile(r"""\.inTable\(\s*[`'"](\w+)[`'"]|\.references\(\s*[`'"](\w+)\.\w+[`'"]"""),
    re.compile(r"""\b(?:addColumn|addIndex|addConstraint|addColumns|alterTable|createIndex)\(\s*[`'"](\w+)[`'"]"""),
    re.compile(r"""\breferences:\s*(?:\{\s*model:\s*)?[`'"](\w+)[`'"]"""),
)
_SCHEMA_SYNC = (
    (re.compile(r"\bsynchronize\s*:\s*true\b"), "TypeORM `synchronize: true` changes the schema at start-up"),
    (re.compile(r"\bsequelize\.sync\(|\bdb\.sync\(\s*\{\s*(?:force|alter)"), "Sequelize `sync()` changes the schema"),
    (re.compile(r"\bprisma\s+db\s+push\b|\bdrizzle-kit\s+push\b"), "the schema is pushed without migrations"),
)
_TOOL_PACKAGES = {
    "typeorm": "typeorm",
    "@mikro-orm/migrations": "mikro-orm",
    "knex": "knex",
    "sequelize": "sequelize",
    "node-pg-migrate": "node-pg-migrate",
    "kysely": "kysely",
}


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration: its files, its place in the order, and whether it can be undone."""

    name: str  # e.g. "002_create_tasks", or a Prisma migration's directory name
    folder: str  # the migrations directory it belongs to
    tool: str  # "sql" | "flyway" | "prisma" | "typeorm" | "knex" | "sequelize" | "node-pg-migrate" | "alembic" | ...
    path: str  # the file with the forward change
    version: tuple[int, ...] | None  # the sortable number or timestamp its name starts with
    reversible: str  # "yes" | "auto" (the tool reverses it) | "irreversible" (says so) | "empty" | "missing"
    down: Location | None  # where the reverse change is (or the irreversibility is stated)
    note: str = ""  # how reversibility was decided, e.g. "down() throws"

    @property
    def reversal_ok(self) -> bool:
        """Reversible, or documented as not."""
        return self.reversible in ("yes", "auto", "irreversible")


@dataclass(frozen=True, slots=True)
class MigrationIssue:
    """Something wrong with the migrations (their order, a schema changed outside them), and where."""

    message: str
    location: Location


@dataclass(frozen=True, slots=True)
class MigrationFacts:
    """Every migration found, grouped by folder, with what is wrong with their order."""

    migrations: tuple[Migration, ...]
    problems: tuple[MigrationIssue, ...]
    skipped: tuple[str, ...]  # files in migration folders that are not migrations (runner scripts, env.py...)
    schema_sync: tuple[MigrationIssue, ...]  # the schema changed without migrations (synchronize: true...)

    @property
    def folders(self) -> tuple[str, ...]:
        """The migration folders, in order of first appearance."""
        return tuple(dict.fromkeys(m.folder for m in self.migrations))


@dataclass(frozen=True, slots=True)
class _Found:
    """A migration being read, with the text of its forward change (for table order)."""

    migration: Migration
    up_text: str
    revision: str | None = None  # Alembic
    down_revisions: tuple[str, ...] = ()


@probe("db.migrations", timeout_s=120)
def migration_files(ctx: ProbeContext) -> MigrationFacts:
    """Find the migration files, read which tool wrote them, their order and their down steps."""
    return find_migrations(ctx.fact("repo", RepoFacts))


def find_migrations(repo: RepoFacts) -> MigrationFacts:
    """Migrations of one repository."""
    candidates = [p for p in repo.files if _in_migration_dir(p)]
    texts = dict(read_all(repo, candidates))
    tool_hint = _tool_from_packages(repo)
    rollback_doc = _rollback_doc(repo)
    found: list[_Found] = []
    skipped: list[str] = []
    paired_downs = {p for p in texts if p.endswith(".sql") and _is_down_file(p) and _up_partner(p, texts)}
    for path in candidates:
        if path in paired_downs or path not in texts:
            continue
        item = _read_one(path, texts, tool_hint, rollback_doc)
        if item is None:
            skipped.append(path)
        else:
            found.append(item)
    found.sort(key=lambda f: (f.migration.folder, f.migration.version or (), f.migration.name))
    problems = [p for folder, items in _by_folder(found).items() for p in _order_problems(folder, items)]
    return MigrationFacts(
        migrations=tuple(f.migration for f in found),
        problems=tuple(problems),
        skipped=tuple(skipped),
        schema_sync=tuple(_schema_sync(repo)),
    )


def _in_migration_dir(path: str) -> bool:
    parts = path.split("/")
    suffix = PurePosixPath(path).suffix
    if is_output_file(path) or path.endswith(".d.ts") or suffix not in (".sql", ".py", *_CODE_SUFFIXES):
        return False
    dirs = set(parts[:-1])
    return bool(dirs & {"migrations", "migration"}) or ("versions" in dirs and suffix == ".py")


def _folder(path: str) -> str:
    """The migrations directory of a file (a Prisma migration's or an up/down folder's parent)."""
    parts = path.split("/")
    parent = parts[:-1]
    if parent and parent[-1] not in MIGRATION_DIRS and len(parent) > 1 and parent[-2] in MIGRATION_DIRS:
        return "/".join(parent[:-1])
    return "/".join(parent)


def _version(name: str) -> tuple[int, ...] | None:
    if (flyway := _FLYWAY.match(name)) is not None:
        return tuple(int(n) for n in re.split(r"[._]", flyway.group(2)))
    if (leading := _LEADING_VERSION.match(name)) is not None:
        return (int(leading.group(1)),)
    if (trailing := _TRAILING_STAMP.search(name)) is not None:
        return (int(trailing.group(1)),)
    return None


def _read_one(path: str, texts: dict[str, str], tool_hint: str | None, rollback_doc: Location | None) -> _Found | None:
    text = texts[path]
    suffix = PurePosixPath(path).suffix
    if suffix == ".py":
        return _python_migration(path, text)
    if suffix in _CODE_SUFFIXES:
        return _code_migration(path, text, tool_hint)
    return _sql_migration(path, texts, rollback_doc)


# ------------------------------------------------------------------ SQL


def _sql_migration(path: str, texts: dict[str, str], rollback_doc: Location | None) -> _Found | None:
    file = PurePosixPath(path)
    if "seed" in file.name.lower():
        return None
    if file.name == "migration.sql" and file.parent.parent.name in MIGRATION_DIRS:
        return _prisma_migration(path, texts, rollback_doc)
    name = _UP_SUFFIX.sub("", file.name)
    base = Migration(
        name, _folder(path), "flyway" if _FLYWAY.match(name) else "sql", path, _version(name), "missing", None
    )
    if _is_down_file(path):
        return _Found(replace(base, note="a down file without its up file"), "")
    text = texts[path]
    sections = list(_SECTION.finditer(text))
    if sections:
        return _sectioned(base, text, sections)
    down = _partner(path, texts, want_down=True)
    if down is None:
        return _Found(_without_down(base, text), text)
    return _Found(replace(base, reversible=_sql_down_state(texts[down]), down=Location(down, 1)), text)


def _sql_down_state(body: str) -> str:
    """A down script's state: "yes" with a statement in it, "irreversible" if an empty one says so, else "empty"."""
    if _SQL_COMMENT.sub("", body).strip():
        return "yes"
    return "irreversible" if IRREVERSIBLE.search(body) else "empty"


def _is_down_file(path: str) -> bool:
    file = PurePosixPath(path)
    flyway = _FLYWAY.match(file.name)
    return (
        bool(_DOWN_FILE.search(file.name))
        or file.name == "down.sql"
        or file.parent.name == "down"
        or (flyway is not None and flyway.group(1) in "Uu")
    )


def _up_partner(path: str, texts: dict[str, str]) -> str | None:
    """The up file of a down file (a Prisma migration's `down.sql` belongs to its `migration.sql`)."""
    file = PurePosixPath(path)
    if file.name == "down.sql":
        prisma = str(file.parent / "migration.sql")
        return prisma if prisma in texts else None
    return _partner(path, texts, want_down=False)


def _partner(path: str, texts: dict[str, str], *, want_down: bool) -> str | None:
    """The SQL file on the other side of `path`: same stem (or Flyway version), same folder or up/ + down/."""
    file = PurePosixPath(path)
    stem = _UP_SUFFIX.sub("", file.name)
    flyway = _FLYWAY.match(file.name)
    for other in texts:
        candidate = PurePosixPath(other)
        if other == path or candidate.suffix != ".sql" or _is_down_file(other) != want_down:
            continue
        if flyway is not None:
            match = _FLYWAY.match(candidate.name)
            if match is not None and match.group(2) == flyway.group(2) and candidate.parent == file.parent:
                return other
            continue
        up_down_dirs = {candidate.parent.name, file.parent.name} == {"up", "down"}
        beside = candidate.parent == file.parent or (up_down_dirs and candidate.parent.parent == file.parent.parent)
        if beside and _UP_SUFFIX.sub("", candidate.name) == stem:
            return other
    return None


def _sectioned(base: Migration, text: str, sections: list[re.Match[str]]) -> _Found:
    """One file with `-- migrate:up` / `-- migrate:down` (dbmate), `-- +goose Up`, `-- +migrate Down` sections."""
    spans = {
        m.group(1).lower(): (m, sections[i + 1].start() if i + 1 < len(sections) else len(text))
        for i, m in enumerate(sections)
    }
    up_match, up_end = spans.get("up", (None, 0))
    up_text = text[up_match.end() : up_end] if up_match else text
    if "down" not in spans:
        return _Found(_without_down(base, text), up_text)
    down_match, down_end = spans["down"]
    where = Location(base.path, line_at(text, down_match.start()))
    return _Found(replace(base, reversible=_sql_down_state(text[down_match.end() : down_end]), down=where), up_text)


def _prisma_migration(path: str, texts: dict[str, str], rollback_doc: Location | None) -> _Found:
    directory = PurePosixPath(path).parent
    down = str(directory / "down.sql")
    text = texts[path]
    base = Migration(directory.name, str(directory.parent), "prisma", path, _version(directory.name), "missing", None)
    if down in texts:
        return _Found(replace(base, reversible=_sql_down_state(texts[down]), down=Location(down, 1)), text)
    if rollback_doc is not None:
        note = "Prisma has no down migrations; rollback is documented"
        return _Found(replace(base, reversible="irreversible", down=rollback_doc, note=note), text)
    return _Found(_without_down(base, text), text)


def _without_down(base: Migration, text: str) -> Migration:
    """A migration with no reverse step: fine only if it says it is irreversible."""
    stated = IRREVERSIBLE.search(text)
    if stated is None:
        return base
    where = Location(base.path, line_at(text, stated.start()))
    return replace(base, reversible="irreversible", down=where, note="states it is irreversible")


# ------------------------------------------------------------------ JS / TS


def _code_migration(path: str, text: str, tool_hint: str | None) -> _Found | None:
    functions = exported_functions(parse(path, text), frozenset({"up", "down"}))
    if "up" not in functions:
        return None
    name = PurePosixPath(path).stem
    base = Migration(name, _folder(path), _code_tool(text, tool_hint), path, _version(name), "missing", None)
    return _Found(_judge_down(base, text, functions.get("down")), text)


def _code_tool(text: str, hint: str | None) -> str:
    if "MigrationInterface" in text or "QueryRunner" in text:
        return "typeorm"
    if "queryInterface" in text:
        return "sequelize"
    if re.search(r"\bpgm\b|shorthands", text):
        return "node-pg-migrate"
    if re.search(r"\bknex\b|\bKnex\b", text):
        return "knex"
    return hint or "js"


def _judge_down(base: Migration, text: str, down: FunctionBody | None) -> Migration:
    if down is None:
        if base.tool == "node-pg-migrate" and "pgm.sql(" not in text:
            return replace(base, reversible="auto", note="node-pg-migrate reverses up() itself")
        return _without_down(base, text)
    where = Location(base.path, down.line)
    if down.disabled:
        return replace(base, reversible="irreversible", down=where, note="down is set to false")
    if down.throws:
        return replace(base, reversible="irreversible", down=where, note="down() throws")
    if down.empty:
        stated = "irreversible" if IRREVERSIBLE.search(text) else "empty"
        return replace(base, reversible=stated, down=where, note="down() is empty")
    return replace(base, reversible="yes", down=where)


# ------------------------------------------------------------------ Python


def _python_migration(path: str, text: str) -> _Found | None:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    name = PurePosixPath(path).stem
    if "upgrade" in functions:
        return _alembic(path, text, tree, name, functions)
    if any(isinstance(n, ast.ClassDef) and n.name == "Migration" for n in tree.body):
        return _django(path, tree, name)
    return None


def _alembic(path: str, text: str, tree: ast.Module, name: str, functions: dict[str, ast.FunctionDef]) -> _Found:
    values: dict[str, ast.expr] = {}
    for node in tree.body:  # `revision = "a1"` and the newer template's `revision: str = "a1"`
        if isinstance(node, ast.Assign):
            values.update((t.id, node.value) for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            values[node.target.id] = node.value
    revision = _literal(values.get("revision"))
    parents = _revision_ids(_literal(values.get("down_revision")))
    base = Migration(name, _folder(path), "alembic", path, None, "missing", None)
    migration = _downgrade(base, text, functions.get("downgrade"))
    return _Found(migration, text, revision if isinstance(revision, str) else None, parents)


def _downgrade(base: Migration, text: str, down: ast.FunctionDef | None) -> Migration:
    if down is None:
        return _without_down(base, text)
    body = [s for s in down.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    where = Location(base.path, down.lineno)
    if any(isinstance(s, ast.Raise) for s in body):
        return replace(base, reversible="irreversible", down=where, note="downgrade() raises")
    if all(isinstance(s, ast.Pass) for s in body):
        state = "irreversible" if IRREVERSIBLE.search(text) else "empty"
        return replace(base, reversible=state, down=where, note="downgrade() does nothing")
    return replace(base, reversible="yes", down=where)


def _revision_ids(value: object) -> tuple[str, ...]:
    """`down_revision` as a tuple: one id, several (a merge), or none (the first revision)."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (tuple, list)):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def _literal(node: ast.expr | None) -> object:
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return None


def _django(path: str, tree: ast.Module, name: str) -> _Found:
    """Django reverses its schema operations itself; RunPython/RunSQL need their reverse given."""
    base = Migration(name, _folder(path), "django", path, _version(name), "auto", None)
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
            continue
        if call.func.attr in ("RunPython", "RunSQL"):
            keyword = "reverse_code" if call.func.attr == "RunPython" else "reverse_sql"
            if len(call.args) < 2 and not any(k.arg == keyword for k in call.keywords):
                where = Location(path, call.lineno)
                return _Found(
                    replace(base, reversible="missing", down=where, note=f"{call.func.attr} without {keyword}"), ""
                )
    return _Found(base, "")


# ------------------------------------------------------------------ order


def _by_folder(found: list[_Found]) -> dict[str, list[_Found]]:
    groups: dict[str, list[_Found]] = defaultdict(list)
    for item in found:
        groups[item.migration.folder].append(item)
    return groups


def _order_problems(folder: str, items: list[_Found]) -> list[MigrationIssue]:
    if all(i.migration.tool == "alembic" for i in items):
        return _revision_chain(items)
    problems = [
        MigrationIssue(
            f"{i.migration.name}: no number or timestamp prefix, so its place in the order is undefined",
            Location(i.migration.path),
        )
        for i in items
        if i.migration.version is None
    ]
    versioned = [i.migration for i in items if i.migration.version is not None]
    counts = Counter(m.version for m in versioned)
    for version, count in counts.items():
        if count > 1:
            names = [m.name for m in versioned if m.version == version]
            where = Location(next(m.path for m in versioned if m.version == version))
            problems.append(
                MigrationIssue(f"{count} migrations share version {_dotted(version)}: {', '.join(names)}", where)
            )
    problems += _name_order(versioned)
    problems += _tables_before_creation([i for i in items if i.migration.version is not None])
    return problems


def _dotted(version: tuple[int, ...] | None) -> str:
    return ".".join(map(str, version or ()))


def _name_order(migrations: list[Migration]) -> list[MigrationIssue]:
    """Runners that sort by file name run `10_x` before `2_y`: numbers need a fixed width."""
    by_name = sorted(migrations, key=lambda m: m.name if m.tool == "prisma" else PurePosixPath(m.path).name)
    for named, numbered in zip(by_name, migrations, strict=True):
        if named is not numbered:
            message = (
                f"sorted by name, {named.name} comes before {numbered.name} although its number is higher: "
                "pad the numbers to one width (002, 010) or use timestamps"
            )
            return [MigrationIssue(message, Location(named.path))]
    return []


def _tables_before_creation(items: list[_Found]) -> list[MigrationIssue]:
    """A migration that alters, references or indexes a table that a later migration creates."""
    created_at: dict[str, int] = {}
    for index, item in enumerate(items):
        for table, _ in _tables(item.up_text, CREATES_TABLE):
            created_at.setdefault(table, index)
    problems = []
    for index, item in enumerate(items):
        own = {t for t, _ in _tables(item.up_text, CREATES_TABLE)}
        for table, offset in _tables(item.up_text, USES_TABLE):
            creator = created_at.get(table)
            if table not in own and creator is not None and creator > index:
                problems.append(
                    MigrationIssue(
                        f"{item.migration.name} uses table {table!r}, which {items[creator].migration.name} creates "
                        "later: the migrations cannot run in order on an empty database",
                        Location(item.migration.path, line_at(item.up_text, offset)),
                    )
                )
    return problems


def _tables(text: str, patterns: Iterable[re.Pattern[str]]) -> list[tuple[str, int]]:
    """(table name in lower case, offset) for each match of `patterns` outside SQL comments."""
    code = _SQL_COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    return [
        (name.lower(), match.start())
        for pattern in patterns
        for match in pattern.finditer(code)
        for name in match.groups()
        if name
    ]


def _revision_chain(items: list[_Found]) -> list[MigrationIssue]:
    """Alembic runs revisions along `down_revision`: one root, one head, no missing links."""
    revisions = {i.revision: i for i in items if i.revision}
    problems = [
        MigrationIssue(f"{i.migration.name}: no `revision` id", Location(i.migration.path))
        for i in items
        if not i.revision
    ]
    for item in items:
        for parent in item.down_revisions:
            if parent not in revisions:
                problems.append(
                    MigrationIssue(
                        f"{item.migration.name}: down_revision {parent!r} is not in the folder",
                        Location(item.migration.path),
                    )
                )
    referenced = {parent for i in items for parent in i.down_revisions}
    heads = [i for i in items if i.revision and i.revision not in referenced]
    if len(heads) > 1:
        names = ", ".join(h.migration.name for h in heads)
        problems.append(
            MigrationIssue(
                f"{len(heads)} heads ({names}): merge them (alembic merge heads)", Location(heads[0].migration.path)
            )
        )
    roots = [i for i in items if i.revision and not i.down_revisions]
    if len(roots) > 1:
        problems.append(
            MigrationIssue(f"{len(roots)} first revisions (down_revision = None)", Location(roots[1].migration.path))
        )
    return problems


# ------------------------------------------------------------------ context


def _tool_from_packages(repo: RepoFacts) -> str | None:
    package_json = repo.package_json or {}
    declared = {**as_dict(package_json.get("dependencies")), **as_dict(package_json.get("devDependencies"))}
    return next((tool for package, tool in _TOOL_PACKAGES.items() if package in declared), None)


def _rollback_doc(repo: RepoFacts) -> Location | None:
    """The first document describing how to roll migrations back (Prisma has no down files)."""
    for path, text in read_all(repo, doc_files(repo)):
        if (match := _ROLLBACK_DOC.search(text)) is not None:
            return Location(path, line_at(text, match.start()))
    return None


def _schema_sync(repo: RepoFacts) -> list[MigrationIssue]:
    sources, _ = classify(repo)
    found = []
    for path, text in read_all(repo, [source.path for source in sources if not source.test]):
        for pattern, what in _SCHEMA_SYNC:
            if (match := pattern.search(text)) is not None:
                found.append(MigrationIssue(what, Location(path, line_at(text, match.start()))))
    scripts = as_dict((repo.package_json or {}).get("scripts"))
    for name, command in scripts.items():
        if isinstance(command, str) and _SCHEMA_SYNC[2][0].search(command):
            found.append(MigrationIssue(f"{_SCHEMA_SYNC[2][1]} (scripts.{name})", Location("package.json")))
    return found
