"""Data-layer checks read from the repository: migrations, indexes, soft delete and cursor pagination."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from checks._evidence import capped
from checks._parts import Part, combine, ratio
from grader.facts import Facts
from grader.model import Evidence, Location, Verdict
from grader.plugin import check
from grader.probes.data_access import DataAccessFacts, Finding
from grader.probes.db_indexes import IndexFacts
from grader.probes.migrations import Migration, MigrationFacts

_SHOWN = 3  # findings quoted per sub-criterion
_DOWN_PROBLEM = {"missing": "no down migration", "empty": "its down migration does nothing"}


@check(
    "db.migrations",
    title="Migration files are present, ordered, and reversible",
    requires=("db.migrations",),
    remediation="Keep every schema change in a migration file whose name starts with a fixed-width number or a "
    "timestamp (`003_add_tasks_index.sql`, `20240601120000_add_index.ts`), in the order the schema needs them; "
    "give each a down step that undoes it (`003_....down.sql`, `down()`, `downgrade()`), or state in the file "
    "that it is irreversible and make down throw.",
)
def migrations(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Reads SQL/ORM migration folders: names sort in the order the tables need; each has a down step or says not."""
    found = facts.get("db.migrations", MigrationFacts)
    sync = [Evidence(f"{s.message}: the schema changes outside migrations", s.location) for s in found.schema_sync]
    if not found.migrations:
        return Verdict.failed(
            "no migration files found (looked for migrations/, prisma/migrations/, alembic/versions/)",
            evidence=tuple(sync),
        )
    evidence = [Evidence(p.message, p.location) for p in found.problems]
    not_ok = [m for m in found.migrations if not m.reversal_ok]
    evidence += capped((_down_evidence(m) for m in not_ok), len(not_ok), "migrations without a down step")
    stated = [m for m in found.migrations if m.reversible == "irreversible"]
    evidence += [Evidence(f"{m.name}: irreversible, and says so ({m.note})", m.down) for m in stated]
    total = len(found.migrations)
    tools = ", ".join(sorted({m.tool for m in found.migrations}))
    seen = f"{total} migration(s) in {', '.join(found.folders)} ({tools})"
    ordered = Part(
        "ordered", 0.0 if found.problems else 1.0, f"{len(found.problems)} problem(s)" if found.problems else seen
    )
    reversible = Part("reversible", ratio(total - len(not_ok), total), f"{total - len(not_ok)} of {total}")
    return combine([ordered, reversible], [*evidence, *sync])


def _down_evidence(migration: Migration) -> Evidence:
    problem = _DOWN_PROBLEM.get(migration.reversible, migration.reversible)
    note = f" ({migration.note})" if migration.note else ""
    return Evidence(f"{migration.name}: {problem}{note}", migration.down or Location(migration.path))


@check(
    "db.indexes",
    title="Indexes are created in migrations and documented",
    requires=("db.indexes",),
    remediation="Create the indexes your queries need in a migration (`CREATE INDEX tasks_user_id_created_at_idx "
    "ON tasks (user_id, created_at DESC);`, `table.index(['user_id'])`, `@@index([userId])`), and document each "
    "in the README or docs/: an 'Indexes' section naming the index, its table and columns, and the query it "
    "serves.",
    defaults={"min_indexes": 1},
    threshold="min_indexes",
)
def indexes(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Finds indexes in migrations and schemas; documented when the docs name it, or its table and columns."""
    found = facts.get("db.indexes", IndexFacts)
    wanted = int(options.get("min_indexes", 1))
    count = float(len(found.indexes))
    if not found.indexes:
        return Verdict.failed(
            "no index is created in a migration, schema or entity", value=count, threshold=wanted, unit="indexes"
        )
    created = [i for i in found.indexes if i.in_migration]
    evidence = [
        Evidence(f"declared here, but no migration creates it: {i.label}", i.location)
        for i in found.indexes
        if not i.in_migration
    ]
    undocumented = [i for i in found.indexes if i.documented is None]
    where = f" (searched {', '.join(found.docs[:5])})" if found.docs else " (no README or docs found)"
    evidence += capped(
        (Evidence(f"not documented{where}: {i.label}", i.location) for i in undocumented),
        len(undocumented),
        "undocumented indexes",
    )
    evidence += [
        Evidence(f"{i.label}: documented in {i.documented}", i.location)
        for i in found.indexes
        if i.documented is not None
    ]
    in_migrations = Part(
        "created in migrations",
        min(1.0, len(created) / wanted) if wanted else 1.0,
        f"{len(created)} of {len(found.indexes)}",
    )
    documented = Part(
        "documented",
        ratio(len(found.indexes) - len(undocumented), len(found.indexes)),
        f"{len(found.indexes) - len(undocumented)} of {len(found.indexes)}",
    )
    verdict = combine([in_migrations, documented], evidence)
    return Verdict(verdict.outcome, verdict.score, verdict.summary, count, wanted, "indexes", verdict.evidence)


@check(
    "db.soft_delete",
    title="Soft delete: a deleted_at column, deletes that set it, reads that skip deleted rows",
    requires=("db.access",),
    remediation="Add a nullable `deleted_at TIMESTAMPTZ` column in a migration; make DELETE run `UPDATE ... SET "
    "deleted_at = now()` (TypeORM: @DeleteDateColumn + softDelete(); Sequelize: `paranoid: true`; Prisma: set "
    "`deletedAt`), and filter every read with `deleted_at IS NULL` (or `deletedAt: null`).",
)
def soft_delete(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Looks for a deleted_at column, deletes that set it instead of removing rows, and reads that filter it."""
    found = facts.get("db.access", DataAccessFacts)
    evidence: list[Evidence] = []
    parts = [
        _found_part(
            "deleted_at column", found.deleted_column, "no deleted_at column in a migration, schema or entity", evidence
        ),
        _found_part("deletes set it", found.deleted_write, "no delete sets deleted_at: rows are removed", evidence),
        _found_part("reads skip deleted rows", found.deleted_filter, "no query filters deleted_at IS NULL", evidence),
    ]
    return combine(parts, evidence)


@check(
    "api.cursor_pagination",
    title="Cursor-based pagination: a cursor parameter in, the next cursor out",
    requires=("db.access",),
    remediation="Let list endpoints take `?cursor=` (or `?after=`) and `?limit=`, answer with the page and a "
    "`nextCursor` (null on the last page), and query with a keyset condition on the sort key, e.g. "
    "`WHERE (created_at, id) < ($1, $2) ORDER BY created_at DESC, id DESC LIMIT $3`, not OFFSET. Document the "
    "parameter in the OpenAPI document.",
)
def cursor_pagination(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Reads the code and OpenAPI document: a cursor parameter in, a next cursor out, a keyset query behind them."""
    found = facts.get("db.access", DataAccessFacts)
    evidence: list[Evidence] = []
    spec = found.spec_source or "the OpenAPI document"
    evidence += [Evidence(f"documented in {spec}: {op}") for op in found.spec_cursor]
    evidence += [Evidence(f"documented in {spec}: response property {p}") for p in found.spec_next]
    accepts = _found_part(
        "takes a cursor",
        found.cursor_input,
        "no handler reads a cursor or after parameter",
        evidence,
        documented=bool(found.spec_cursor),
    )
    returns = _found_part(
        "returns the next cursor",
        found.next_cursor,
        "no response carries a next cursor",
        evidence,
        documented=bool(found.spec_next),
    )
    evidence += [Evidence(f"offset pagination: {f.text}", f.location) for f in found.offset_query[:_SHOWN]]
    verdict = combine([accepts, returns], evidence)
    if not verdict.outcome.scored or verdict.score != 1.0:
        return verdict
    if found.keyset_query:
        keyset = [Evidence(f"keyset query: {f.text}", f.location) for f in found.keyset_query[:_SHOWN]]
        return Verdict.passed(verdict.summary + "; keyset query found", evidence=(*verdict.evidence, *keyset))
    return Verdict.warned(
        verdict.summary + "; no keyset condition found (e.g. WHERE (created_at, id) < ($1, $2)): check the cursor "
        "is not an encoded OFFSET",
        evidence=verdict.evidence,
    )


def _found_part(
    name: str, findings: Sequence[Finding], missing: str, evidence: list[Evidence], *, documented: bool = False
) -> Part:
    """Met when the code shows the pattern (or the API document declares it); quotes the first findings."""
    evidence += [Evidence(f"{name}: {f.text}", f.location) for f in findings[:_SHOWN]]
    if findings:
        more = f" (+{len(findings) - _SHOWN} more)" if len(findings) > _SHOWN else ""
        return Part(name, 1.0, f"{findings[0].location}{more}")
    if documented:
        return Part(name, 1.0, "documented in the OpenAPI document")
    evidence.append(Evidence(missing))
    return Part(name, 0.0, "not found")
