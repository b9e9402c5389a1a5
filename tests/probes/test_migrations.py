"""Migration files of each tool on real git repositories: recognised, ordered, and judged reversible or not."""

from __future__ import annotations

from pathlib import Path

from grader.probes.migrations import Migration, MigrationFacts, find_migrations
from tests.probes.codetree import repo_with


def migrations_of(tmp_path: Path, files: dict[str, str]) -> MigrationFacts:
    return find_migrations(repo_with(tmp_path / "repo", files))


def by_name(found: MigrationFacts) -> dict[str, Migration]:
    return {m.name: m for m in found.migrations}


def states(found: MigrationFacts) -> dict[str, str]:
    return {m.name: m.reversible for m in found.migrations}


def test_sql_up_and_down_files_pair_up_and_empty_downs_are_caught(tmp_path: Path) -> None:
    found = migrations_of(
        tmp_path,
        {
            "db/migrations/001_users.up.sql": "CREATE TABLE users (id serial primary key);\n",
            "db/migrations/001_users.down.sql": "DROP TABLE users;\n",
            "db/migrations/002_tasks.up.sql": "CREATE TABLE tasks (user_id int REFERENCES users (id));\n",
            "db/migrations/002_tasks.down.sql": "-- TODO\n\n",
            "db/migrations/003_audit.up.sql": "CREATE TABLE audit (id serial);\n",
            "db/migrations/004_cleanup.down.sql": "DROP TABLE old;\n",
            "db/migrations/seed_demo.sql": "INSERT INTO users DEFAULT VALUES;\n",
        },
    )
    assert states(found) == {"001_users": "yes", "002_tasks": "empty", "003_audit": "missing", "004_cleanup": "missing"}
    assert by_name(found)["001_users"].down is not None
    assert by_name(found)["001_users"].down.path == "db/migrations/001_users.down.sql"  # type: ignore[union-attr]
    assert by_name(found)["004_cleanup"].note == "a down file without its up file"
    assert {m.tool for m in found.migrations} == {"sql"} and found.folders == ("db/migrations",)
    assert found.problems == ()


def test_up_and_down_folders_flyway_and_sectioned_files(tmp_path: Path) -> None:
    found = migrations_of(
        tmp_path,
        {
            "migrations/up/001_a.sql": "CREATE TABLE a (id int);\n",
            "migrations/down/001_a.sql": "DROP TABLE a;\n",
            "sql/migration/V1__init.sql": "CREATE TABLE b (id int);\n",
            "sql/migration/U1__init.sql": "DROP TABLE b;\n",
            "sql/migration/V2__more.sql": "ALTER TABLE b ADD c int;\n",
            "db/migrations/20240101120000_c.sql": "-- migrate:up\nCREATE TABLE c (id int);\n\n"
            "-- migrate:down\nDROP TABLE c;\n",
            "db/migrations/20240102120000_d.sql": "-- +goose Up\nCREATE TABLE d (id int);\n-- +goose Down\n",
            "db/migrations/20240103120000_e.sql": "-- migrate:up\nUPDATE c SET id = 1;\n"
            "-- migrate:down\n-- irreversible: data fix\n",
        },
    )
    assert states(found) == {
        "001_a": "yes", "V1__init": "yes", "V2__more": "missing",
        "20240101120000_c": "yes", "20240102120000_d": "empty", "20240103120000_e": "irreversible",
    }  # fmt: skip
    assert by_name(found)["V1__init"].tool == "flyway" and by_name(found)["V2__more"].version == (2,)
    down = by_name(found)["20240101120000_c"].down
    assert down is not None and (down.path, down.line) == ("db/migrations/20240101120000_c.sql", 4)
    assert set(found.folders) == {"migrations", "sql/migration", "db/migrations"}


def test_prisma_migrations_need_a_down_sql_or_documented_rollback(tmp_path: Path) -> None:
    files = {
        "prisma/schema.prisma": "model Task {\n  id Int @id\n}\n",
        "prisma/migrations/20240101000000_init/migration.sql": 'CREATE TABLE "Task" ("id" INTEGER);\n',
        "prisma/migrations/20240201000000_title/migration.sql": 'ALTER TABLE "Task" ADD "title" TEXT;\n',
        "prisma/migrations/20240201000000_title/down.sql": 'ALTER TABLE "Task" DROP COLUMN "title";\n',
        "prisma/migrations/migration_lock.toml": 'provider = "postgresql"\n',
    }
    found = migrations_of(tmp_path, files)
    assert states(found) == {"20240101000000_init": "missing", "20240201000000_title": "yes"}
    assert {m.tool for m in found.migrations} == {"prisma"} and found.folders == ("prisma/migrations",)
    documented = find_migrations(
        repo_with(tmp_path / "doc", {**files, "docs/db.md": "# Database\n\nTo roll back, run `prisma migrate diff`.\n"})
    )
    init = by_name(documented)["20240101000000_init"]
    assert init.reversible == "irreversible" and init.down is not None and init.down.path == "docs/db.md"


TYPEORM = """\
import { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateTasks1700000000000 implements MigrationInterface {
  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE tasks (id serial PRIMARY KEY)`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    // nothing yet
  }
}
"""
KNEX_MISSING_DOWN = (
    "exports.up = function (knex) {\n  return knex.schema.createTable('users', (t) => t.increments());\n};\n"
)
KNEX_THROWS = """\
exports.up = async (knex) => knex.raw('UPDATE users SET email = lower(email)');
exports.down = async () => {
  throw new Error('data migration');
};
"""
SEQUELIZE = """\
'use strict';
module.exports = {
  async up(queryInterface, Sequelize) {
    await queryInterface.addColumn('users', 'name', Sequelize.STRING);
  },
  down: async (queryInterface) => queryInterface.removeColumn('users', 'name'),
};
"""
PGM_AUTO = "exports.shorthands = undefined;\nexports.up = (pgm) => { pgm.createTable('tags', { id: 'id' }); };\n"
PGM_FALSE = "exports.up = (pgm) => { pgm.sql('UPDATE tags SET x = 1'); };\nexports.down = false;\n"
KYSELY = """\
import { Kysely } from 'kysely';
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createTable('notes').addColumn('id', 'serial').execute();
}
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('notes').execute();
}
"""


def test_js_and_ts_migrations_are_read_with_their_up_and_down_functions(tmp_path: Path) -> None:
    found = migrations_of(
        tmp_path,
        {
            "package.json": '{"name": "p", "dependencies": {"kysely": "^0.27.0"}}',
            "src/migrations/1700000000000-CreateTasks.ts": TYPEORM,
            "src/migrations/index.ts": "export * from './1700000000000-CreateTasks';\n",
            "migrations/20240101000000_users.js": KNEX_MISSING_DOWN,
            "migrations/20240102000000_emails.js": KNEX_THROWS,
            "migrations/20240103000000-name.js": SEQUELIZE,
            "migrations/20240104000000_tags.js": PGM_AUTO,
            "migrations/20240105000000_fix.js": PGM_FALSE,
            "migrations/20240106000000_notes.ts": KYSELY,
        },
    )
    migrations = by_name(found)
    assert {n: (m.tool, m.reversible) for n, m in migrations.items()} == {
        "1700000000000-CreateTasks": ("typeorm", "empty"),
        "20240101000000_users": ("knex", "missing"),
        "20240102000000_emails": ("knex", "irreversible"),
        "20240103000000-name": ("sequelize", "yes"),
        "20240104000000_tags": ("node-pg-migrate", "auto"),
        "20240105000000_fix": ("node-pg-migrate", "irreversible"),
        "20240106000000_notes": ("kysely", "yes"),
    }
    typeorm = migrations["1700000000000-CreateTasks"]
    assert typeorm.down is not None and typeorm.down.line == 8 and typeorm.note == "down() is empty"
    assert migrations["20240102000000_emails"].note == "down() throws"
    assert migrations["20240105000000_fix"].note == "down is set to false"
    assert found.skipped == ("src/migrations/index.ts",)


ALEMBIC = '''\
"""{message}"""
from alembic import op

revision: str = "{rev}"
down_revision = {parent}


def upgrade():
    op.execute("SELECT 1")


def downgrade():
{down}
'''


def alembic(rev: str, parent: str | None, down: str = '    op.execute("SELECT 2")') -> str:
    return ALEMBIC.format(message=rev, rev=rev, parent=repr(parent), down=down)


def test_alembic_revisions_follow_their_chain_and_downgrades_are_read(tmp_path: Path) -> None:
    found = migrations_of(
        tmp_path,
        {
            "alembic/env.py": "from alembic import context\n",
            "alembic/versions/a1_init.py": alembic("a1", None),
            "alembic/versions/b2_tasks.py": alembic("b2", "a1", "    pass"),
            "alembic/versions/c3_fix.py": alembic("c3", "b2", '    raise NotImplementedError("irreversible")'),
            "alembic/versions/d4_other.py": alembic("d4", "b2"),
            "alembic/versions/e5_lost.py": alembic("e5", "zz"),
        },
    )
    assert states(found) == {
        "a1_init": "yes", "b2_tasks": "empty", "c3_fix": "irreversible", "d4_other": "yes", "e5_lost": "yes",
    }  # fmt: skip
    messages = [p.message for p in found.problems]
    assert "e5_lost: down_revision 'zz' is not in the folder" in messages
    assert any(m.startswith("3 heads (c3_fix, d4_other, e5_lost)") for m in messages)
    assert "2 first revisions (down_revision = None)" not in messages  # e5's parent is missing, not None
    assert found.skipped == ()  # env.py is outside versions/


def test_django_migrations_reverse_themselves_unless_run_python_has_no_reverse(tmp_path: Path) -> None:
    ops = "from django.db import migrations\n\nclass Migration(migrations.Migration):\n    operations = [{}]\n"
    found = migrations_of(
        tmp_path,
        {
            "app/migrations/__init__.py": "",
            "app/migrations/0001_initial.py": ops.format("migrations.CreateModel('Task', [])"),
            "app/migrations/0002_data.py": ops.format("migrations.RunPython(forwards)"),
            "app/migrations/0003_data.py": ops.format("migrations.RunPython(forwards, backwards)"),
        },
    )
    assert states(found) == {"0001_initial": "auto", "0002_data": "missing", "0003_data": "auto"}
    assert by_name(found)["0002_data"].note == "RunPython without reverse_code"


def test_order_problems_unnumbered_duplicates_unpadded_and_tables_used_before_creation(tmp_path: Path) -> None:
    found = migrations_of(
        tmp_path,
        {
            "migrations/1_tasks.sql": "CREATE TABLE tasks (\n  id serial,\n  user_id int REFERENCES users (id)\n);\n",
            "migrations/2_users.sql": "CREATE TABLE users (id serial);\n",
            "migrations/2_tags.sql": "-- CREATE INDEX ON missing (x)\nCREATE TABLE tags (id serial);\n",
            "migrations/10_done.sql": "ALTER TABLE tasks ADD done boolean;\n",
            "migrations/add_priority.sql": "ALTER TABLE tasks ADD priority int;\n",
        },
    )
    messages = [(p.message, str(p.location)) for p in found.problems]
    assert messages == [
        ("add_priority: no number or timestamp prefix, so its place in the order is undefined",
         "migrations/add_priority.sql"),
        ("2 migrations share version 2: 2_tags, 2_users", "migrations/2_tags.sql"),
        ("sorted by name, 10_done comes before 1_tasks although its number is higher: pad the numbers to one width "
         "(002, 010) or use timestamps", "migrations/10_done.sql"),
        ("1_tasks uses table 'users', which 2_users creates later: the migrations cannot run in order on an empty "
         "database", "migrations/1_tasks.sql:3"),
    ]  # fmt: skip


def test_knex_table_references_count_for_the_order(tmp_path: Path) -> None:
    tasks = """\
exports.up = (knex) => knex.schema.createTable('tasks', (t) => {
  t.increments();
  t.integer('user_id').references('id').inTable('users');
});
exports.down = (knex) => knex.schema.dropTable('tasks');
"""
    users = (
        "exports.up = (knex) => knex.schema.createTable('users', (t) => t.increments());\nexports.down = () => {};\n"
    )
    found = migrations_of(tmp_path, {"migrations/001_tasks.js": tasks, "migrations/002_users.js": users})
    assert [p.message.split(":")[0] for p in found.problems] == [
        "001_tasks uses table 'users', which 002_users creates later"
    ]
    assert found.problems[0].location.line == 3


def test_no_migrations_and_schema_synchronised_at_start_up(tmp_path: Path) -> None:
    found = migrations_of(
        tmp_path,
        {
            "package.json": '{"name": "p", "scripts": {"db": "prisma db push"}}',
            "src/data-source.ts": "export const source = new DataSource({\n  type: 'postgres',\n"
            "  synchronize: true,\n});\n",
            "src/app.ts": "export const app = 1;\n",
        },
    )
    assert found.migrations == () and found.problems == ()
    assert [(s.message, str(s.location)) for s in found.schema_sync] == [
        ("TypeORM `synchronize: true` changes the schema at start-up", "src/data-source.ts:3"),
        ("the schema is pushed without migrations (scripts.db)", "package.json"),
    ]


def test_binary_huge_and_unparsable_files_in_a_migration_folder_are_skipped(tmp_path: Path) -> None:
    repo = repo_with(
        tmp_path / "repo",
        {
            "migrations/001_ok.sql": "CREATE TABLE a (id int);\n",
            "migrations/002_broken.py": "def upgrade(:\n",
            "migrations/003_broken.js": "exports.up = function ( {\n",
            "migrations/004_huge.sql": "-- " + "x" * 600_000 + "\n",
        },
    )
    (repo.root / "migrations" / "005_blob.sql").write_bytes(b"\0\1\2CREATE TABLE")
    found = find_migrations(repo)
    assert [m.name for m in found.migrations] == ["001_ok"]
    assert set(found.skipped) == {"migrations/002_broken.py", "migrations/003_broken.js"}
