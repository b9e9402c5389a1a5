"""Indexes in each syntax, where they are created, and whether the documentation explains them."""

from __future__ import annotations

from pathlib import Path

from grader.model import Location
from grader.probes.db_indexes import Index, IndexFacts, find_indexes
from grader.probes.migrations import find_migrations
from tests.probes.codetree import repo_with


def indexes_of(tmp_path: Path, files: dict[str, str]) -> IndexFacts:
    repo = repo_with(tmp_path / "repo", files)
    return find_indexes(repo, find_migrations(repo))


def summary(found: IndexFacts) -> set[tuple[str | None, tuple[str, ...], str | None, bool, str, bool]]:
    return {(i.table, i.columns, i.name, i.unique, i.how, i.in_migration) for i in found.indexes}


def test_sql_indexes_with_names_expressions_partial_and_quoted_identifiers(tmp_path: Path) -> None:
    sql = """\
CREATE TABLE tasks (id serial, user_id int, created_at timestamptz, title text);
CREATE INDEX tasks_user_created_idx ON tasks (user_id, created_at DESC NULLS LAST);
create unique index concurrently if not exists "users_email_key" on public."users" using btree (lower(email));
CREATE INDEX ON tasks (title) WHERE deleted_at IS NULL;
"""
    found = indexes_of(tmp_path, {"migrations/001_init.up.sql": sql, "migrations/001_init.down.sql": "DROP TABLE t;"})
    assert summary(found) == {
        ("tasks", ("user_id", "created_at"), "tasks_user_created_idx", False, "sql", True),
        ("users", ("lower(email)",), "users_email_key", True, "sql", True),
        ("tasks", ("title",), None, False, "sql", True),
    }
    lines = {i.name: i.location.line for i in found.indexes}
    assert lines["tasks_user_created_idx"] == 2 and lines["users_email_key"] == 3


KNEX = """\
exports.up = (knex) => knex.schema
  .createTable('tasks', (t) => {
    t.increments();
    t.string('email').notNullable().unique();
    t.timestamp('created_at').defaultTo(knex.fn.now()).index();
    t.index(['user_id', 'status'], 'tasks_user_status');
  })
  .alterTable('users', (t) => {
    t.unique('login');
  });
exports.down = (knex) => knex.schema.dropTable('tasks');
"""
TYPEORM_MIGRATION = """\
export class AddIndex1700000000000 {
  async up(queryRunner) {
    await queryRunner.createIndex('tasks', new TableIndex({ name: 'IDX_TASK_DUE', columnNames: ['due_at'] }));
  }
  async down(queryRunner) { await queryRunner.dropIndex('tasks', 'IDX_TASK_DUE'); }
}
"""
ENTITY = """\
@Entity('projects')
@Index(['ownerId', 'createdAt'])
export class Project {
  @Index({ unique: true })
  @Column()
  slug!: string;
}
"""
SEQUELIZE = """\
module.exports = {
  up: (queryInterface) => queryInterface.addIndex('users', ['email']),
  down: () => {},
};
"""
PGM = "exports.up = (pgm) => {\n  pgm.createIndex('tags', 'name');\n};\n"
ALEMBIC = """\
revision = "a1"
down_revision = None
def upgrade():
    op.create_index(op.f("ix_notes_owner"), "notes", ["owner_id"], unique=True)
def downgrade():
    op.drop_index("ix_notes_owner")
"""


def test_indexes_from_orm_and_migration_tools(tmp_path: Path) -> None:
    found = indexes_of(
        tmp_path,
        {
            "migrations/001_tasks.js": KNEX,
            "src/migrations/1700000000000-AddIndex.ts": TYPEORM_MIGRATION,
            "src/projects/project.entity.ts": ENTITY,
            "db/migrations/20240101-users.js": SEQUELIZE,
            "pgm/migrations/1_tags.js": PGM,
            "alembic/versions/a1_notes.py": ALEMBIC,
        },
    )
    assert summary(found) == {
        ("tasks", ("email",), None, True, "knex", True),
        ("tasks", ("created_at",), None, False, "knex", True),
        ("tasks", ("user_id", "status"), None, False, "knex", True),
        ("users", ("login",), None, True, "knex", True),
        ("tasks", ("due_at",), "IDX_TASK_DUE", False, "typeorm", True),
        ("projects", ("ownerId", "createdAt"), None, False, "typeorm", False),
        ("projects", ("slug",), None, True, "typeorm", False),
        ("users", ("email",), None, False, "sequelize", True),
        ("tags", ("name",), None, False, "node-pg-migrate", True),
        ("notes", ("owner_id",), "ix_notes_owner", True, "alembic", True),
    }


PRISMA = """\
model User {
  id    Int    @id
  email String @unique
  tasks Task[]
}

model Task {
  id        Int      @id
  userId    Int
  createdAt DateTime
  @@index([userId, createdAt(sort: Desc)])
  @@map("tasks")
}
"""


def test_prisma_schema_indexes_count_as_migrated_when_prisma_migrations_exist(tmp_path: Path) -> None:
    schema_only = indexes_of(tmp_path / "a", {"prisma/schema.prisma": PRISMA})
    assert summary(schema_only) == {
        ("user", ("email",), None, True, "prisma", False),
        ("tasks", ("userId", "createdAt"), None, False, "prisma", False),
    }
    migrated = indexes_of(
        tmp_path / "b",
        {
            "prisma/schema.prisma": PRISMA,
            "prisma/migrations/20240101000000_init/migration.sql": 'CREATE TABLE "User" ("id" INTEGER);\n',
        },
    )
    assert all(i.in_migration for i in migrated.indexes)
    assert [i.location.line for i in migrated.indexes] == [3, 11]


def test_one_entry_per_table_and_columns_the_migration_winning(tmp_path: Path) -> None:
    found = indexes_of(
        tmp_path,
        {
            "src/task.entity.ts": "@Entity('tasks')\nexport class Task {\n  @Index()\n  @Column()\n"
            "  status!: string;\n}\n",
            "migrations/002_idx.sql": "CREATE INDEX tasks_status_idx ON tasks (status);\n",
        },
    )
    (index,) = found.indexes
    assert (index.name, index.in_migration, index.location.path) == ("tasks_status_idx", True, "migrations/002_idx.sql")


def test_documented_by_name_by_an_indexes_section_or_by_a_line_about_indexes(tmp_path: Path) -> None:
    sql = """\
CREATE INDEX tasks_status_idx ON tasks (status);
CREATE INDEX tasks_user_id_created_at_idx ON tasks (user_id, created_at);
CREATE INDEX ON users (email);
CREATE INDEX ON categories (name);
CREATE INDEX ON tags (label);
"""
    readme = """\
# API

Uses `tasks_status_idx` for the status filter.

## Performance notes

The users table has an index on email for logins.
Categories are sorted by name.

## Indexes

| table | columns |
| --- | --- |
| tasks | user_id, created_at |
"""
    found = indexes_of(tmp_path, {"migrations/001_idx.sql": sql, "README.md": readme})
    documented = {i.label: str(i.documented) if i.documented else None for i in found.indexes}
    assert documented == {
        "tasks_status_idx on tasks (status)": "README.md:3",
        "tasks_user_id_created_at_idx on tasks (user_id, created_at)": "README.md:10",
        "users (email)": "README.md:7",
        "categories (name)": None,  # named, but not in a sentence about indexes
        "tags (label)": None,
    }
    assert found.docs == ("README.md",)


def test_label_of_an_index_without_a_table() -> None:
    index = Index(None, ("a",), None, False, "knex", Location("m.js", 1), True)
    assert index.label == "? (a)"
