"""Soft delete and cursor pagination found in real code, schemas and OpenAPI documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.probes.data_access import DataAccessFacts, scan_data_access
from grader.probes.migrations import find_migrations
from tests.probes.codetree import repo_with


def scan(tmp_path: Path, files: dict[str, str], spec: dict[str, Any] | None = None) -> DataAccessFacts:
    repo = repo_with(tmp_path / "repo", files)
    return scan_data_access(repo, find_migrations(repo), "openapi.json" if spec else None, spec)


def where(findings: tuple[Any, ...]) -> list[str]:
    return [str(f.location) for f in findings]


REPOSITORY = """\
export class TasksRepository {
  list(after: Cursor | null) {
    return this.db.query(
      `SELECT * FROM tasks
        WHERE deleted_at IS NULL
          AND (created_at, id) < ($1, $2)
        ORDER BY created_at DESC, id DESC LIMIT $3`,
      [after.createdAt, after.id, 20],
    );
  }
  remove(id: string) {
    return this.db.query('UPDATE tasks SET updated_at = now(), deleted_at = now() WHERE id = $1', [id]);
  }
}
"""
SERVICE = """\
export async function list(req, res) {
  const { cursor, limit } = req.query;
  const rows = await repo.list(decode(cursor), limit);
  res.json({ data: rows, nextCursor: rows.length ? encode(rows[rows.length - 1]) : null });
}
"""


def test_sql_soft_delete_and_keyset_pagination(tmp_path: Path) -> None:
    found = scan(
        tmp_path,
        {
            "migrations/003_soft_delete.sql": "ALTER TABLE tasks ADD COLUMN deleted_at TIMESTAMPTZ;\n",
            "src/tasks.repository.ts": REPOSITORY,
            "src/tasks.service.js": SERVICE,
            "test/tasks.test.js": "expect(sql).toContain('deleted_at IS NULL');\n",
        },
    )
    assert where(found.deleted_column) == ["migrations/003_soft_delete.sql:1"]
    assert where(found.deleted_filter) == ["src/tasks.repository.ts:5"]  # the test file is not the code
    assert where(found.deleted_write) == ["src/tasks.repository.ts:12"]
    assert where(found.keyset_query) == ["src/tasks.repository.ts:6"]
    assert where(found.cursor_input) == ["src/tasks.service.js:2"]
    assert where(found.next_cursor) == ["src/tasks.service.js:4"]
    assert found.offset_query == ()


def test_orm_soft_delete_typeorm_sequelize_prisma_knex(tmp_path: Path) -> None:
    found = scan(
        tmp_path,
        {
            "src/task.entity.ts": "export class Task {\n  @DeleteDateColumn()\n  deletedAt?: Date;\n}\n",
            "src/tasks.service.ts": "await this.repo.softDelete(id);\nreturn this.repo.find({ withDeleted: false });\n",
            "src/models/user.js": "User.init({ name: DataTypes.STRING }, { sequelize, paranoid: true });\n",
            "prisma/schema.prisma": "model Note {\n  id Int @id\n  deletedAt DateTime?\n}\n",
            "src/notes.ts": "prisma.note.findMany({ where: { deletedAt: null } });\n"
            "prisma.note.update({ where: { id }, data: { deletedAt: new Date() } });\n",
            "migrations/001_tags.js": "exports.up = (knex) => knex.schema.createTable('tags', (t) => {\n"
            "  t.timestamp('deleted_at');\n});\nexports.down = (knex) => knex.schema.dropTable('tags');\n",
            "src/tags.js": "knex('tags').whereNull('tags.deleted_at');\n",
        },
    )
    assert where(found.deleted_column) == [
        "migrations/001_tags.js:2", "prisma/schema.prisma:3", "src/models/user.js:1", "src/task.entity.ts:2",
    ]  # fmt: skip
    assert sorted(where(found.deleted_filter)) == [
        "src/models/user.js:1", "src/notes.ts:1", "src/tags.js:1", "src/task.entity.ts:2", "src/tasks.service.ts:2",
    ]  # fmt: skip
    assert sorted(where(found.deleted_write)) == ["src/models/user.js:1", "src/notes.ts:2", "src/tasks.service.ts:1"]


def test_hard_deletes_and_offset_pagination_find_nothing_soft(tmp_path: Path) -> None:
    found = scan(
        tmp_path,
        {
            "migrations/001.sql": "CREATE TABLE tasks (id serial, deleted boolean);\n",
            "src/tasks.ts": "db.query('DELETE FROM tasks WHERE id = $1', [id]);\n"
            "db.query('SELECT * FROM tasks ORDER BY id LIMIT $1 OFFSET $2', [limit, offset]);\n"
            "const conn = pool.cursor();\n",
        },
    )
    assert (found.deleted_column, found.deleted_filter, found.deleted_write) == ((), (), ())
    assert (found.cursor_input, found.next_cursor, found.keyset_query) == ((), (), ())
    assert where(found.offset_query) == ["src/tasks.ts:2"]


NEST_DTO = """\
export class ListQuery {
  @IsOptional()
  @IsString()
  after?: string;
}
@Get()
list(@Query('cursor') cursor?: string) {}
"""
PYTHON = """\
@app.get("/tasks")
def list_tasks(cursor: str | None = None, limit: int = 20):
    conn = db.cursor()
    rows = conn.execute("SELECT * FROM tasks WHERE id > ? ORDER BY id LIMIT ?", (cursor, limit))
    return {"items": rows, "next_cursor": rows[-1]["id"]}
"""


def test_cursor_inputs_in_nest_and_python(tmp_path: Path) -> None:
    found = scan(tmp_path, {"src/list.ts": NEST_DTO, "app/main.py": PYTHON})
    assert sorted(where(found.cursor_input)) == ["app/main.py:2", "src/list.ts:4", "src/list.ts:7"]
    assert where(found.next_cursor) == ["app/main.py:5"]
    assert where(found.keyset_query) == ["app/main.py:4"]


def test_the_openapi_document_can_declare_the_cursor(tmp_path: Path) -> None:
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/tasks": {
                "parameters": [{"$ref": "#/components/parameters/After"}],
                "get": {
                    "parameters": [{"name": "limit", "in": "query"}, {"name": "cursor", "in": "header"}],
                    "responses": {"200": {"$ref": "#/components/responses/Page"}},
                },
            }
        },
        "components": {
            "parameters": {"After": {"name": "after", "in": "query", "schema": {"type": "string"}}},
            "responses": {
                "Page": {
                    "description": "a page",
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "properties": {"data": {}, "next_cursor": {"type": "string"}}}
                        }
                    },
                }
            },
        },
    }
    found = scan(tmp_path, {"openapi.json": json.dumps(spec), "src/a.ts": "export {};\n"}, spec)
    assert found.spec_cursor == ("GET /tasks ?after",)  # the header named cursor is not a query parameter
    assert found.spec_next == ("next_cursor",)
    assert found.spec_source == "openapi.json"
