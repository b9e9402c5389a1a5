"""db.migrations, db.indexes, db.soft_delete and api.cursor_pagination judged on hand-built facts."""

from __future__ import annotations

import pytest

from checks.data_layer import cursor_pagination, indexes, migrations, soft_delete
from grader.facts import Facts
from grader.model import Location, Outcome
from grader.probes.data_access import DataAccessFacts, Finding
from grader.probes.db_indexes import Index, IndexFacts
from grader.probes.migrations import Migration, MigrationFacts, MigrationIssue


def migration(name: str, state: str = "yes", note: str = "") -> Migration:
    path = f"migrations/{name}.up.sql"
    down = Location(f"migrations/{name}.down.sql", 1) if state == "yes" else None
    return Migration(name, "migrations", "sql", path, (int(name[:3]),), state, down, note)


def test_ordered_reversible_migrations_pass() -> None:
    facts = MigrationFacts((migration("001_users"), migration("002_tasks")), (), (), ())
    verdict = migrations(Facts({"db.migrations": facts}), {})
    assert verdict.outcome is Outcome.PASS
    assert verdict.summary == "ordered: 2 migration(s) in migrations (sql); reversible: 2 of 2"


def test_order_problems_and_missing_downs_cost_their_parts() -> None:
    stated = Migration("003_fix", "migrations", "sql", "migrations/003_fix.sql", (3,), "irreversible",
                       Location("migrations/003_fix.sql", 1), "states it is irreversible")  # fmt: skip
    problem = MigrationIssue("1_tasks uses table 'users', which 2_users creates later", Location("m/1_tasks.sql", 3))
    facts = MigrationFacts(
        (migration("001_users", "missing"), migration("002_tasks", "empty", "down() is empty"), stated),
        (problem,), (),
        (MigrationIssue("TypeORM `synchronize: true` changes the schema at start-up", Location("src/db.ts", 4)),),
    )  # fmt: skip
    verdict = migrations(Facts({"db.migrations": facts}), {})
    assert verdict.outcome is Outcome.FAIL and verdict.score == pytest.approx(round(1 / 6, 3))
    messages = [(e.message, str(e.location)) for e in verdict.evidence]
    assert messages == [
        ("1_tasks uses table 'users', which 2_users creates later", "m/1_tasks.sql:3"),
        ("001_users: no down migration", "migrations/001_users.up.sql"),
        ("002_tasks: its down migration does nothing (down() is empty)", "migrations/002_tasks.up.sql"),
        ("003_fix: irreversible, and says so (states it is irreversible)", "migrations/003_fix.sql:1"),
        ("TypeORM `synchronize: true` changes the schema at start-up: the schema changes outside migrations",
         "src/db.ts:4"),
    ]  # fmt: skip


def test_no_migrations_fail_with_the_schema_sync_as_evidence() -> None:
    sync = (MigrationIssue("the schema is pushed without migrations (scripts.db)", Location("package.json")),)
    verdict = migrations(Facts({"db.migrations": MigrationFacts((), (), (), sync)}), {})
    assert verdict.outcome is Outcome.FAIL and verdict.score == 0.0
    assert verdict.summary.startswith("no migration files found")
    assert [str(e.location) for e in verdict.evidence] == ["package.json"]


def index(name: str | None, *, migrated: bool = True, documented: bool = True) -> Index:
    doc = Location("README.md", 40) if documented else None
    return Index("tasks", ("status",), name, False, "sql", Location("migrations/002.sql", 3), migrated, doc)


def test_indexes_in_migrations_and_documented_pass_with_their_count() -> None:
    facts = IndexFacts((index("tasks_status_idx"), index(None)), ("README.md",))
    verdict = indexes(Facts({"db.indexes": facts}), {"min_indexes": 1})
    assert verdict.outcome is Outcome.PASS
    assert (verdict.value, verdict.threshold, verdict.unit) == (2.0, 1, "indexes")


def test_undocumented_and_entity_only_indexes_lose_credit() -> None:
    facts = IndexFacts((index("a", documented=False), index("b", migrated=False)), ("README.md", "docs/db.md"))
    verdict = indexes(Facts({"db.indexes": facts}), {"min_indexes": 2})
    assert verdict.outcome is Outcome.FAIL and verdict.score == pytest.approx(0.5)
    messages = [e.message for e in verdict.evidence]
    assert "declared here, but no migration creates it: b on tasks (status)" in messages
    assert "not documented (searched README.md, docs/db.md): a on tasks (status)" in messages
    none = indexes(Facts({"db.indexes": IndexFacts((), ())}), {"min_indexes": 1})
    assert none.outcome is Outcome.FAIL and none.value == 0


def finding(path: str, line: int, text: str) -> tuple[Finding, ...]:
    return (Finding(Location(path, line), text),)


def access(**found: tuple[Finding, ...]) -> DataAccessFacts:
    fields = ("deleted_column", "deleted_filter", "deleted_write", "cursor_input", "next_cursor", "keyset_query",
              "offset_query")  # fmt: skip
    return DataAccessFacts(**{f: found.get(f, ()) for f in fields}, spec_source=None)  # type: ignore[arg-type]


def test_soft_delete_needs_the_column_the_write_and_the_filter() -> None:
    complete = access(
        deleted_column=finding("migrations/003.sql", 1, "ALTER TABLE tasks ADD deleted_at timestamptz"),
        deleted_write=finding("src/repo.ts", 40, "UPDATE tasks SET deleted_at = now()"),
        deleted_filter=finding("src/repo.ts", 12, "WHERE deleted_at IS NULL"),
    )
    assert soft_delete(Facts({"db.access": complete}), {}).outcome is Outcome.PASS
    column_only = access(deleted_column=complete.deleted_column)
    verdict = soft_delete(Facts({"db.access": column_only}), {})
    assert verdict.outcome is Outcome.FAIL and verdict.score == pytest.approx(0.333)
    assert "no query filters deleted_at IS NULL" in [e.message for e in verdict.evidence]


def test_cursor_pagination_passes_with_a_keyset_query_and_warns_without() -> None:
    code = {
        "cursor_input": finding("src/dto.ts", 9, "cursor?: string;"),
        "next_cursor": finding("src/service.ts", 20, "return { data, nextCursor };"),
    }
    keyset = finding("src/repo.ts", 22, "AND (created_at, id) < ($2, $3)")
    assert cursor_pagination(Facts({"db.access": access(**code, keyset_query=keyset)}), {}).outcome is Outcome.PASS
    warned = cursor_pagination(Facts({"db.access": access(**code)}), {})
    assert warned.outcome is Outcome.WARN and "no keyset condition found" in warned.summary


def test_cursor_pagination_from_the_openapi_document_alone_and_offset_only() -> None:
    documented = DataAccessFacts((), (), (), (), (), (), (), "openapi.json", ("GET /tasks ?cursor",), ("nextCursor",))
    verdict = cursor_pagination(Facts({"db.access": documented}), {})
    assert verdict.outcome is Outcome.WARN  # declared, but no keyset query seen in the code
    assert "documented in openapi.json: GET /tasks ?cursor" in [e.message for e in verdict.evidence]
    offset = access(offset_query=finding("src/tasks.ts", 12, "LIMIT $1 OFFSET $2"))
    failed = cursor_pagination(Facts({"db.access": offset}), {})
    assert failed.outcome is Outcome.FAIL and failed.score == 0.0
    assert ("offset pagination: LIMIT $1 OFFSET $2", "src/tasks.ts:12") in [
        (e.message, str(e.location)) for e in failed.evidence
    ]
