"""Parsing GitHub Actions workflows: the `on:` forms, jobs and steps, secrets, and files that are not workflows."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.probes.workflows import Trigger, parse_workflow, read_workflow, runs_tests, scripts_running_tests

PIPELINE = """\
name: Deploy
on:
  push:
    branches: [main]
    tags: ['v*']
  workflow_run:
    workflows: [CI]
    branches: [main]
env:
  NODE_ENV: production
  API_TOKEN: hunter2
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Install and test
        run: |
          npm ci
          npm test -- --coverage
  deploy:
    name: Ship it
    needs: [test]
    if: github.ref == 'refs/heads/main'
    environment:
      name: production
      url: https://example.com
    steps:
      - run: fly deploy --remote-only
        env:
          FLY_API_TOKEN: ${{ secrets.FLY_API_TOKEN }}
          DB_PASSWORD: $DB_PASSWORD_FROM_STEP
      - uses: some/action@v1
        with:
          persist-credentials: false
          api-key: "${{ secrets['VENDOR_KEY'] }}"
          retries: 3
"""


def test_jobs_steps_needs_conditions_and_environments() -> None:
    wf = parse_workflow(".github/workflows/deploy.yml", PIPELINE)
    assert wf.error is None and wf.name == "Deploy"
    test, deploy = wf.jobs
    assert (test.id, test.line, test.needs, test.runs_tests) == ("test", 13, (), True)
    assert [s.line for s in test.steps] == [16, 17] and test.steps[1].label == "Install and test"
    assert (deploy.name, deploy.needs, deploy.condition) == ("Ship it", ("test",), "github.ref == 'refs/heads/main'")
    assert (deploy.environment, deploy.environment_line) == ("production", 26)
    assert deploy.steps[0].run == "fly deploy --remote-only" and deploy.steps[1].uses == "some/action@v1"
    assert not deploy.runs_tests
    assert wf.job("deploy") is deploy and wf.job("nope") is None


def test_triggers_with_branch_tag_and_workflow_filters() -> None:
    wf = parse_workflow("d.yml", PIPELINE)
    assert wf.triggers == (
        Trigger("push", 3, branches=("main",), tags=("v*",)),
        Trigger("workflow_run", 6, branches=("main",), workflows=("CI",)),
    )


@pytest.mark.parametrize(
    ("on", "events"),
    [
        ("on: push", ["push"]),
        ("on: [push, pull_request]", ["push", "pull_request"]),
        ("on:\n  - push\n  - pull_request", ["push", "pull_request"]),
        (
            "on:\n  push:\n  pull_request:\n    branches: [main]\n  workflow_dispatch: {}",
            ["push", "pull_request", "workflow_dispatch"],
        ),
        ('"on": push', ["push"]),  # quoted, as some editors write it
        ("true: push", []),  # not the `on` key (a YAML 1.1 loader would confuse the two)
    ],
    ids=["string", "flow-list", "block-list", "mapping", "quoted-key", "true-key"],
)
def test_every_form_of_on(on: str, events: list[str]) -> None:
    wf = parse_workflow("ci.yml", f"{on}\njobs: {{}}\n")
    if events:
        assert [t.event for t in wf.triggers] == events and wf.error is None
    else:
        assert wf.error is not None and "no `on:` key" in wf.error


def test_literal_credentials_and_secret_references() -> None:
    wf = parse_workflow("d.yml", PIPELINE)
    (literal,) = wf.literal_secrets  # $DB_PASSWORD_FROM_STEP, false and expressions are not literals
    assert (literal.key, literal.line, literal.job, literal.why) == ("API_TOKEN", 11, None, "a credential-like key")
    assert "hunter2" not in literal.redacted
    assert [(r.name, r.line) for r in wf.secret_refs] == [("FLY_API_TOKEN", 31), ("VENDOR_KEY", 36)]


def test_a_token_shaped_value_is_a_literal_credential_whatever_its_key() -> None:
    token = "ghp_" + "a1B2c3D4e5" * 4  # built here: never a real token
    text = f"on: push\njobs:\n  x:\n    steps:\n      - run: echo\n        env:\n          GREETING: {token}\n"
    (literal,) = parse_workflow("x.yml", text).literal_secrets
    assert (literal.key, literal.job, literal.why, literal.line) == ("GREETING", "x", "GitHub token", 7)
    assert token not in literal.redacted


def test_a_commented_secret_is_not_a_reference() -> None:
    text = "on: push\n# uses secrets.OLD_TOKEN\njobs:\n  x:\n    steps:\n      - run: echo ${{ secrets.NEW }}\n"
    assert [r.name for r in parse_workflow("x.yml", text).secret_refs] == ["NEW"]


def test_merge_keys_and_aliases_are_followed_without_expanding_copies() -> None:
    text = """\
on: push
x-defaults: &defaults
  runs-on: ubuntu-latest
  needs: [lint]
jobs:
  lint: {steps: [{run: npx eslint .}]}
  test:
    <<: *defaults
    steps: [{run: npx vitest run}]
"""
    wf = parse_workflow("ci.yml", text)
    assert wf.job("test") is not None and wf.job("test").needs == ("lint",)  # type: ignore[union-attr]
    assert [j.runs_tests for j in wf.jobs] == [False, True]


@pytest.mark.parametrize(
    ("text", "error", "line"),
    [
        ("on: push\njobs:\n  test:\n    steps:\n      - run: npm test\n     - run: oops\n", "not valid YAML", 6),
        ("on: [push\njobs: {}\n", "not valid YAML", 2),
        ("on: push\n---\non: pull_request\n", "not valid YAML", 2),
        ("- just\n- a list\n", "not a mapping", None),
        ("", "not a mapping", None),
        ("name: no trigger\njobs: {}\n", "no `on:` key", 1),
    ],
    ids=["bad-indent", "unclosed-flow", "two-documents", "list", "empty", "no-on"],
)
def test_files_that_are_not_workflows_give_an_error_with_its_line(text: str, error: str, line: int | None) -> None:
    wf = parse_workflow(".github/workflows/ci.yml", text)
    assert wf.error is not None and error in wf.error
    assert wf.error_line == line
    assert wf.jobs == () and wf.triggers == ()


def test_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "binary.yml").write_bytes(b"on: push\n\xff\xfe\x00")
    (tmp_path / "huge.yml").write_text("on: push\n" + "# padding\n" * 60_000, encoding="utf-8")
    assert read_workflow(tmp_path, "binary.yml").error == "not UTF-8 text"
    huge = read_workflow(tmp_path, "huge.yml").error
    assert huge is not None and "larger than the 500000 bytes" in huge
    missing = read_workflow(tmp_path, "gone.yml").error
    assert missing is not None and missing.startswith("cannot be read")


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("npm test", True),
        ("npm ci && npm test", True),
        ("npm run test:unit", True),
        ("npm t", True),
        ("pnpm test", True),
        ("yarn test --ci", True),
        ("npx jest --coverage", True),
        ("npx vitest run", True),
        ("node --test", True),
        ("python -m pytest -q", True),
        ("pytest", True),
        ("npm run coverage", True),  # the package's coverage script runs node --test
        ("npm run lint", False),
        ("npm ci", False),
        ("npm run build", False),
        ("echo testing", False),
    ],
)
def test_which_commands_run_the_tests(command: str, expected: bool) -> None:
    scripts = scripts_running_tests(
        {"scripts": {"coverage": "node --test --experimental-test-coverage", "lint": "eslint ."}}
    )
    assert scripts == {"coverage"}
    assert runs_tests(command, scripts) is expected
