"""The static test inventory on small repositories written to disk: exact tests, lines and flags."""

from __future__ import annotations

from pathlib import Path

from grader.facts import FactStore, ProbeContext
from grader.plugin import ProbeSpec
from grader.probes.repo import repo_facts
from grader.probes.test_static import StaticTest, inventory
from grader.probes.test_static import test_inventory as inventory_probe  # aliased: pytest would collect test_*
from grader.project_config import ProjectConfig

JEST = """\
const request = require('supertest');
const app = require('../src/app');

function checkCreated(res) {
  expect(res.status).toBe(201);
}

describe('tasks', () => {
  describe('POST /tasks', () => {
    it('creates a task', async () => {
      const res = await request(app).post('/tasks').send({ title: 'a' });
      expect(res.body.title).toBe('a');
    });
    it('answers 200', () => request(app).get('/tasks').expect(200));
    test('uses a helper', async () => {
      checkCreated(await request(app).post('/tasks'));
    });
  });
  it('x', async () => { await request(app).get('/') });
  test('todo', () => {});
  it.skip('later', () => {});
});
"""

EACH = """\
import { namedBody } from './bodies';

function localBody() {
  expect(1).toBe(1);
}

test.each([[1, 2], [2, 3]])('adds one to %i', (a, b) => {
  expect(a + 1).toBe(b);
});
it.each`
  a | b
  ${1} | ${2}
`('tagged $a', ({ a, b }) => {
  expect(a).toBeLessThan(b);
});
it('local body', localBody);
it('imported body', namedBody);
it(`computed ${1 + 1}`, () => {
  const expectedValues = [1, 2];
  expectedValues.forEach((v) => v);
});
describe.skip('archived', () => {
  it('is hidden', () => {
    expect(1).toBe(1);
  });
});
xit('disabled', () => {});
test.todo('write this one');
"""

NODE_TEST = """\
import { test } from 'node:test';
import assert from 'node:assert/strict';

test('health', async (t) => {
  await t.test('responds', (t) => {
    t.assert.equal(1, 1);
  });
  await t.test('strict', () => {
    assert.strictEqual(2, 2);
  });
  await t.test('nothing', async () => {
    await fetch('http://localhost');
  });
});
test('tap style', (t) => {
  t.equal(1, 1);
});
test('only passes', (t) => {
  t.pass();
});
test('skipped by option', { skip: true }, () => {});
"""

TS_SPEC = """\
import { describe, it, expect } from 'vitest';
import { TaskService, type Task } from './tasks.service';

interface Repo<T extends { id: string }> {
  find(id: string): Promise<T | undefined>;
}

const makeRepo = <T extends { id: string }>(items: T[]): Repo<T> => ({
  find: async (id: string) => items.find((i) => i.id === id),
});

describe('TaskService', () => {
  it('finds a task', async (): Promise<void> => {
    const service = new TaskService(makeRepo<Task>([{ id: '1', title: 'a' } as Task]));
    const task = <Task>await service.get('1');
    expect<string | undefined>(task?.id).toBe('1');
  });
  it('does nothing useful', async () => {
    const service: TaskService = new TaskService(makeRepo<Task>([]));
    await service.get('missing')!;
  });
});
"""

TSX_TEST = """\
it('renders', () => {
  render(<Button label="x" />);
  expect(screen.getByText('x')).toBeTruthy();
});
"""

BROKEN_JS = """\
it('before the error', () => { expect(1).toBe(1); });
it('broken', () => { expect(1).toBe( });
it('after the error', () => {});
"""

LATIN1_JS = b"it('caf\xe9', () => { expect('\xe9').toBeTruthy(); });\n"

PYTEST = """\
import pytest


def test_plain_assert():
    assert 1 + 1 == 2


def test_raises():
    with pytest.raises(ZeroDivisionError):
        1 / 0


def test_empty(client):
    client.get("/tasks")
    expected_rows()


@pytest.mark.parametrize("n", [1, 2, 3])
def test_param(n):
    check_positive(n)


def check_positive(n):
    assert n > 0


class TestTasks:
    def test_in_class(self):
        assert_valid({"id": 1})

    def helper(self):
        pass


@pytest.mark.skip(reason="later")
def test_skipped():
    pass


@pytest.fixture
def test_data():
    return 1
"""

UNITTEST = """\
import unittest


class Base(unittest.TestCase):
    def check(self, value):
        self.assertTrue(value)


class ModelTests(Base):
    def test_uses_inherited_helper(self):
        self.check(1)

    def test_fails(self):
        self.fail("boom")

    def test_mock(self):
        self.mock.assert_called_once()

    def test_nothing(self):
        print("hi")

    @unittest.skip("slow")
    def test_slow(self):
        pass
"""

SKIPPED_MODULE = """\
import pytest

pytestmark = [pytest.mark.skipif(True, reason="no db")]


def test_db():
    pass
"""

LATIN1_PY = b"def test_accent():\n    assert 'caf\xe9'\n"

REPO: dict[str, str | bytes] = {
    "package.json": '{"name": "p"}',
    "src/app.js": "it('not a test file', () => {});",
    "src/tasks.service.ts": "export class TaskService {}",
    "tests/tasks.test.js": JEST,
    "tests/helpers.js": "module.exports = {};",
    "tests/types.d.ts": "declare const x: number;",
    "src/each.spec.mjs": EACH,
    "test/health.test.mjs": NODE_TEST,
    "src/tasks.service.spec.ts": TS_SPEC,
    "src/__tests__/Button.tsx": TSX_TEST,
    "tests/broken.test.js": BROKEN_JS,
    "tests/latin1.test.js": LATIN1_JS,
    "node_modules/lib/a.test.js": "it('vendored', () => {});",
    "dist/a.test.js": "it('built', () => {});",
    "py/tests/test_tasks.py": PYTEST,
    "py/tests/models_test.py": UNITTEST,
    "py/tests/test_skipped_module.py": SKIPPED_MODULE,
    "py/tests/test_latin1.py": LATIN1_PY,
    "py/tests/test_broken.py": "def test_x(:\n    pass\n",
    "py/tests/conftest.py": "def test_not_collected():\n    pass\n",
    "py/tasks.py": "def test_helper_in_source():\n    pass\n",
}

JEST_TESTS = [
    (10, "creates a task", True, False),
    (14, "answers 200", True, False),
    (15, "uses a helper", True, False),
    (19, "x", False, False),
    (20, "todo", False, False),
    (21, "later", False, True),
]
EACH_TESTS = [
    (7, "adds one to %i", True, False),
    (10, "tagged $a", True, False),
    (16, "local body", True, False),
    (17, "imported body", True, False),
    (18, "<dynamic>", False, False),
    (23, "is hidden", True, True),
    (27, "disabled", False, True),
    (28, "write this one", False, True),
]
NODE_TESTS = [
    (5, "responds", True, False),
    (8, "strict", True, False),
    (11, "nothing", False, False),
    (15, "tap style", True, False),
    (18, "only passes", False, False),
    (21, "skipped by option", False, True),
]
PYTEST_TESTS = [
    (4, "test_plain_assert", True, False),
    (8, "test_raises", True, False),
    (13, "test_empty", False, False),
    (19, "test_param", True, False),
    (28, "TestTasks::test_in_class", True, False),
    (36, "test_skipped", False, True),
]
UNITTEST_TESTS = [
    (10, "ModelTests::test_uses_inherited_helper", True, False),
    (13, "ModelTests::test_fails", True, False),
    (16, "ModelTests::test_mock", True, False),
    (19, "ModelTests::test_nothing", False, False),
    (23, "ModelTests::test_slow", False, True),
]


def write_repo(root: Path) -> list[str]:
    """Write REPO under root; return its paths (what the repo probe would list, vendored dirs included)."""
    for rel, content in REPO.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return sorted(REPO)


def rows(tests: tuple[StaticTest, ...], file: str) -> list[tuple[int, str, bool, bool]]:
    return [(t.line, t.name, t.asserts, t.skipped) for t in tests if t.file == file]


def test_test_files_follow_the_naming_conventions(tmp_path: Path) -> None:
    inv = inventory(tmp_path, write_repo(tmp_path))
    assert inv.test_files == (
        "py/tests/models_test.py",
        "py/tests/test_broken.py",
        "py/tests/test_latin1.py",
        "py/tests/test_skipped_module.py",
        "py/tests/test_tasks.py",
        "src/__tests__/Button.tsx",
        "src/each.spec.mjs",
        "src/tasks.service.spec.ts",
        "test/health.test.mjs",
        "tests/broken.test.js",
        "tests/helpers.js",
        "tests/latin1.test.js",
        "tests/tasks.test.js",
    )


def test_jest_tests_with_supertest_helpers_and_nested_describes(tmp_path: Path) -> None:
    inv = inventory(tmp_path, write_repo(tmp_path))
    assert rows(inv.tests, "tests/tasks.test.js") == JEST_TESTS
    assert {t.framework for t in inv.tests if t.file.endswith(".js")} == {"jest-like"}


def test_each_tables_named_bodies_and_skips(tmp_path: Path) -> None:
    inv = inventory(tmp_path, write_repo(tmp_path))
    assert rows(inv.tests, "src/each.spec.mjs") == EACH_TESTS


def test_node_test_subtests_replace_their_parent(tmp_path: Path) -> None:
    inv = inventory(tmp_path, write_repo(tmp_path))
    assert rows(inv.tests, "test/health.test.mjs") == NODE_TESTS


def test_typescript_and_tsx_parse_with_their_grammars(tmp_path: Path) -> None:
    inv = inventory(tmp_path, write_repo(tmp_path))
    assert rows(inv.tests, "src/tasks.service.spec.ts") == [
        (13, "finds a task", True, False),
        (18, "does nothing useful", False, False),
    ]
    assert rows(inv.tests, "src/__tests__/Button.tsx") == [(1, "renders", True, False)]
    assert not [e for e in inv.parse_errors if e.startswith("src/")]


def test_pytest_and_unittest_tests(tmp_path: Path) -> None:
    inv = inventory(tmp_path, write_repo(tmp_path))
    assert rows(inv.tests, "py/tests/test_tasks.py") == PYTEST_TESTS
    assert rows(inv.tests, "py/tests/models_test.py") == UNITTEST_TESTS
    assert rows(inv.tests, "py/tests/test_skipped_module.py") == [(6, "test_db", False, True)]
    frameworks = {t.file: t.framework for t in inv.tests if t.file.endswith(".py")}
    assert frameworks["py/tests/test_tasks.py"] == "pytest" and frameworks["py/tests/models_test.py"] == "unittest"


def test_broken_and_non_utf8_files_are_noted_and_the_rest_still_counts(tmp_path: Path) -> None:
    inv = inventory(tmp_path, write_repo(tmp_path))
    assert rows(inv.tests, "tests/broken.test.js") == [
        (1, "before the error", True, False),
        (3, "after the error", False, False),
    ]
    assert rows(inv.tests, "tests/latin1.test.js") == [(1, "caf\ufffd", True, False)]
    assert rows(inv.tests, "py/tests/test_latin1.py") == [(1, "test_accent", True, False)]
    assert rows(inv.tests, "py/tests/test_broken.py") == []
    assert [e.split(":")[0] for e in inv.parse_errors] == [
        "py/tests/test_broken.py",
        "py/tests/test_latin1.py",
        "tests/broken.test.js",
    ]
    assert inv.parse_errors[0] == "py/tests/test_broken.py: line 1: invalid syntax"
    assert "line 2" in inv.parse_errors[1] and "codec can't decode" in inv.parse_errors[1]
    assert inv.parse_errors[2].startswith("tests/broken.test.js: syntax error near line 2")


def test_totals_and_the_empty_tests(tmp_path: Path) -> None:
    inv = inventory(tmp_path, write_repo(tmp_path))
    assert len(inv.tests) == 6 + 8 + 6 + 2 + 1 + 2 + 1 + 6 + 5 + 1 + 1
    assert [(t.file, t.line) for t in inv.empty] == [
        ("py/tests/models_test.py", 19),
        ("py/tests/test_tasks.py", 13),
        ("src/each.spec.mjs", 18),
        ("src/tasks.service.spec.ts", 18),
        ("test/health.test.mjs", 11),
        ("test/health.test.mjs", 18),
        ("tests/broken.test.js", 3),
        ("tests/tasks.test.js", 19),
        ("tests/tasks.test.js", 20),
    ]


def test_oversized_and_unreadable_files_are_noted(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "huge.test.js").write_bytes(b"//" + b"x" * 1_000_000)
    (tmp_path / "tests" / "gone.test.js").symlink_to(tmp_path / "missing.js")
    inv = inventory(tmp_path, ["tests/gone.test.js", "tests/huge.test.js"])
    assert inv.test_files == ("tests/gone.test.js", "tests/huge.test.js") and inv.tests == ()
    assert inv.parse_errors == (
        "tests/gone.test.js: not a regular file",
        "tests/huge.test.js: larger than 1,000,000 bytes, not parsed",
    )


def test_the_probe_reads_the_files_the_repo_probe_lists(tmp_path: Path) -> None:
    write_repo(tmp_path)
    store = FactStore(
        {"repo": ProbeSpec("repo", repo_facts, 60, "")},
        lambda s: ProbeContext(tmp_path, ProjectConfig(), tmp_path, s, 10),
    )
    inv = inventory_probe(ProbeContext(tmp_path, ProjectConfig(), tmp_path, store, 10))
    assert "node_modules/lib/a.test.js" not in inv.test_files and "dist/a.test.js" not in inv.test_files
    assert rows(inv.tests, "tests/tasks.test.js") == JEST_TESTS
    assert len(inv.empty) == 9
