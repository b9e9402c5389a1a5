"""The CI/CD checks on real workflow texts, and on the cicd-good and cicd-flawed fixtures graded end to end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from checks.cicd import environments, pipeline, workflow
from grader.api import grade
from grader.facts import Facts
from grader.model import CheckResult, GradeRequest, Location, Outcome, Verdict
from grader.probes.workflows import WorkflowFacts, parse_workflow

TEST_JOB = """\
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: npm ci && npm test
"""
CI = "name: CI\non:\n  push:\n    branches: [main]\n  pull_request:\njobs:\n" + TEST_JOB


def facts_of(*other_ci: str, **files: str) -> WorkflowFacts:
    """Workflow facts of `files` (name -> text, stored under .github/workflows/)."""
    return WorkflowFacts(
        tuple(parse_workflow(f".github/workflows/{name}.yml", text) for name, text in files.items()), other_ci
    )


def judge(check: Callable[[Facts, Any], Verdict], found: WorkflowFacts, **options: Any) -> Verdict:
    spec = check.__grade_check__  # type: ignore[attr-defined]
    return check(Facts({"ci.workflows": found}), {**spec.defaults, **options})


def messages(verdict: Verdict) -> str:
    return "\n".join(e.message for e in verdict.evidence)


# --- ci.workflow ----------------------------------------------------------------------------------


def test_tests_on_push_and_pull_request_pass() -> None:
    verdict = judge(workflow, facts_of(ci=CI))
    assert verdict.outcome is Outcome.PASS
    assert "job `test` runs the tests: npm ci && npm test" in messages(verdict)
    assert "runs on push (branches: main), pull_request" in messages(verdict)


@pytest.mark.parametrize(
    ("on", "score", "missing"),
    [
        ("push", 0.75, "does not run on pull_request"),
        ("pull_request", 0.75, "does not run on push"),
        ("workflow_dispatch", 0.5, "does not run on push; does not run on pull_request"),
    ],
)
def test_missing_triggers_cost_a_quarter_each(on: str, score: float, missing: str) -> None:
    verdict = judge(workflow, facts_of(ci=f"on: {on}\njobs:\n{TEST_JOB}"))
    assert (verdict.outcome, verdict.score) == (Outcome.FAIL, score)
    assert verdict.summary == f".github/workflows/ci.yml: {missing}"


def test_a_workflow_without_tests_gets_at_most_half() -> None:
    lint = "on: [push, pull_request]\njobs:\n  lint:\n    steps:\n      - run: npm ci && npm run lint\n"
    verdict = judge(workflow, facts_of(lint=lint))
    assert (verdict.outcome, verdict.score) == (Outcome.FAIL, 0.5)
    assert "no step runs the tests" in verdict.summary


def test_tests_in_a_reusable_workflow_count_for_its_caller() -> None:
    caller = "on: [push, pull_request]\njobs:\n  tests:\n    uses: ./.github/workflows/tests.yml\n"
    reusable = "on: workflow_call\njobs:\n" + TEST_JOB
    verdict = judge(workflow, facts_of(ci=caller, tests=reusable))
    assert verdict.outcome is Outcome.PASS
    assert "job `tests` runs the tests in ./.github/workflows/tests.yml" in messages(verdict)


def test_no_workflow_other_ci_and_broken_files() -> None:
    assert judge(workflow, facts_of()).summary == "no GitHub Actions workflow in .github/workflows/"
    other = judge(workflow, facts_of(".gitlab-ci.yml"))
    assert other.outcome is Outcome.NOT_RUN and ".gitlab-ci.yml" in other.summary
    broken = judge(pipeline, facts_of(ci="on: push\njobs:\n  test:\n   - bad: [\n"))
    assert broken.outcome is Outcome.FAIL and broken.summary.startswith("no workflow could be read")
    (evidence,) = broken.evidence
    assert evidence.location == Location(".github/workflows/ci.yml", 5)
    assert evidence.message.startswith("cannot be read: not valid YAML")


def test_a_broken_file_beside_a_good_one_is_still_reported() -> None:
    verdict = judge(workflow, facts_of(ci=CI, old="on: push\njobs: [\n"))
    assert verdict.outcome is Outcome.PASS
    assert any(e.location == Location(".github/workflows/old.yml", 3) for e in verdict.evidence)


# --- ci.pipeline ----------------------------------------------------------------------------------

DEPLOY = """\
on:
  push:
    branches: [main]
jobs:
{test}
  build:
    needs: test
    steps:
      - uses: docker/build-push-action@v6
  deploy:
    needs: build
    environment: production
    steps:
      - run: kubectl set image deployment/api api=ghcr.io/me/api:${{{{ github.sha }}}}
"""


def test_test_build_deploy_through_needs_on_main_only_passes() -> None:
    verdict = judge(pipeline, facts_of(deploy=DEPLOY.format(test=TEST_JOB)))
    assert verdict.outcome is Outcome.PASS, verdict.summary
    assert "deploy job `deploy` runs after test → build (needs)" in messages(verdict)
    assert "the workflow only runs on push (main)" in messages(verdict)


def test_one_job_that_tests_builds_then_deploys_counts_in_step_order() -> None:
    one_job = """\
on:
  push:
    tags: ['v*']
jobs:
  release:
    steps:
      - run: npm ci && npm test
      - run: docker build -t api . && docker push api
      - run: flyctl deploy --image api
"""
    assert judge(pipeline, facts_of(release=one_job)).outcome is Outcome.PASS
    # The tests now run in the deploy step, after the deploy command.
    wrong_order = one_job.replace("npm ci && npm test", "npm ci")
    wrong_order = wrong_order.replace("flyctl deploy --image api", "flyctl deploy --image api && npm test")
    verdict = judge(pipeline, facts_of(release=wrong_order))
    assert verdict.outcome is Outcome.FAIL and "does not wait for the tests" in verdict.summary


def test_a_deploy_beside_the_tests_from_any_branch_fails() -> None:
    flawed = "on: [push, pull_request]\njobs:\n" + TEST_JOB + "  deploy:\n    steps:\n      - run: fly deploy\n"
    verdict = judge(pipeline, facts_of(main=flawed))
    assert (verdict.outcome, verdict.score) == (Outcome.FAIL, 0.25)  # automatic, nothing else
    text = messages(verdict)
    assert "`deploy` does not wait for a job that runs the tests" in text
    assert "`deploy` can run on `pull_request` of any branch and no `if` keeps it to main or master" in text


def test_a_branch_condition_gates_a_deploy_in_a_workflow_that_also_runs_on_prs() -> None:
    text = DEPLOY.format(test=TEST_JOB).replace("branches: [main]", "branches: ['**']")
    text = text.replace("    needs: build\n", "    needs: build\n    if: github.ref_name == 'main'\n")
    verdict = judge(pipeline, facts_of(deploy=text + "\n"))
    assert verdict.outcome is Outcome.PASS
    assert "`deploy` runs only when `github.ref_name == 'main'`" in messages(verdict)
    release = text.replace("github.ref_name == 'main'", "github.ref_name == 'release'")
    assert judge(pipeline, facts_of(deploy=release), main_branches=["release"]).outcome is Outcome.PASS


def test_an_environment_alone_is_a_warning_because_its_branch_rule_is_invisible() -> None:
    text = DEPLOY.format(test=TEST_JOB).replace("  push:\n    branches: [main]\n", "  push:\n")
    verdict = judge(pipeline, facts_of(deploy=text))
    assert (verdict.outcome, verdict.score) == (Outcome.WARN, 0.875)
    assert "deployment branch rule" in messages(verdict)


def test_a_manual_only_deploy_is_not_automated() -> None:
    text = DEPLOY.format(test=TEST_JOB).replace("  push:\n    branches: [main]\n", "  workflow_dispatch:\n")
    verdict = judge(pipeline, facts_of(deploy=text))
    assert (verdict.outcome, verdict.score) == (Outcome.FAIL, 0.75)
    assert "only deployed by hand" in verdict.summary


def test_a_deploy_after_a_successful_ci_run_counts_as_tested() -> None:
    follow = """\
on:
  workflow_run:
    workflows: [CI]
    types: [completed]
    branches: [main]
jobs:
  deploy:
    if: github.event.workflow_run.conclusion == 'success'
    steps:
      - run: docker build -t api . && docker push api
      - run: ssh deploy@example.com 'docker compose pull && docker compose up -d'
"""
    assert judge(pipeline, facts_of(ci=CI, deploy=follow)).outcome is Outcome.PASS
    unchecked = follow.replace("    if: github.event.workflow_run.conclusion == 'success'\n", "")
    verdict = judge(pipeline, facts_of(ci=CI, deploy=unchecked))
    assert verdict.outcome is Outcome.FAIL and "does not wait for the tests" in verdict.summary


def test_a_reusable_deploy_workflow_is_judged_through_its_caller() -> None:
    caller = "on:\n  push:\n    branches: [main]\njobs:\n" + TEST_JOB
    caller += "  ship:\n    needs: test\n    uses: ./.github/workflows/ship.yml\n    secrets: inherit\n"
    reusable = """\
on: workflow_call
jobs:
  image:
    steps:
      - uses: docker/build-push-action@v6
  rollout:
    needs: image
    environment: production
    steps:
      - uses: appleboy/ssh-action@v1
"""
    verdict = judge(pipeline, facts_of(main=caller, ship=reusable))
    assert verdict.outcome is Outcome.PASS, verdict.summary
    assert "main.yml:ship" in verdict.summary and "ship.yml" not in verdict.summary


def test_no_deploy_job_fails() -> None:
    verdict = judge(pipeline, facts_of(ci=CI))
    assert (verdict.outcome, verdict.score) == (Outcome.FAIL, 0.0)
    assert verdict.summary.startswith("no job deploys")


# --- ci.environments ------------------------------------------------------------------------------

ENVIRONMENTS = """\
on:
  push:
    branches: [main]
jobs:
{test}
  staging:
    needs: test
    environment: staging
    steps:
      - run: ./deploy.sh
        env:
          TOKEN: ${{{{ secrets.DEPLOY_TOKEN }}}}
  production:
    needs: staging
    environment:
      name: production
      url: https://example.com
    steps:
      - run: ./deploy.sh
        env:
          TOKEN: ${{{{ secrets.DEPLOY_TOKEN }}}}
"""


def test_staging_and_production_with_secrets_pass() -> None:
    verdict = judge(environments, facts_of(deploy=ENVIRONMENTS.format(test=TEST_JOB)))
    assert verdict.outcome is Outcome.PASS
    located = {e.message: e.location for e in verdict.evidence}
    assert located["job `staging` deploys to `staging`"] == Location(".github/workflows/deploy.yml", 13)
    assert located["job `production` deploys to `production`"] == Location(".github/workflows/deploy.yml", 21)
    assert located["credentials read from secrets: DEPLOY_TOKEN"] == Location(".github/workflows/deploy.yml", 17)


def test_a_literal_credential_in_a_deploy_job_fails_with_its_line() -> None:
    text = ENVIRONMENTS.format(test=TEST_JOB).replace("${{ secrets.DEPLOY_TOKEN }}", "hunter2", 1)
    verdict = judge(environments, facts_of(deploy=text))
    assert (verdict.outcome, verdict.score) == (Outcome.FAIL, 0.75)
    assert verdict.summary == "missing: no credential written into a workflow"
    (leak,) = [e for e in verdict.evidence if "literal credential" in e.message]
    assert leak.location == Location(".github/workflows/deploy.yml", 17)
    assert "hunter2" not in leak.message and "TOKEN" in leak.message


def test_a_literal_password_for_a_test_database_is_only_a_warning() -> None:
    test_env = TEST_JOB.replace("    steps:\n", "    env:\n      DB_PASSWORD: postgres\n    steps:\n")
    verdict = judge(environments, facts_of(deploy=ENVIRONMENTS.format(test=test_env)))
    assert verdict.outcome is Outcome.WARN
    assert "literal value for DB_PASSWORD in job test: fine for a throwaway test service" in messages(verdict)


def test_no_environments_and_no_secrets() -> None:
    verdict = judge(environments, facts_of(ci=CI))
    assert (verdict.outcome, verdict.score) == (Outcome.FAIL, 0.25)
    assert verdict.summary == (
        "missing: a staging environment, a production environment, credentials from ${{ secrets.* }}"
    )


def test_an_environment_chosen_at_run_time_is_explained() -> None:
    text = ENVIRONMENTS.format(test=TEST_JOB).replace("environment: staging", "environment: ${{ inputs.target }}")
    verdict = judge(environments, facts_of(deploy=text))
    assert verdict.outcome is Outcome.FAIL and "staging" in verdict.summary
    assert "picks its environment at run time" in messages(verdict)


# --- the fixtures, graded end to end --------------------------------------------------------------

CICD_CHECKS = ("ci.workflow", "ci.pipeline", "ci.environments")


def results(repo: Path) -> dict[str, CheckResult]:
    report = grade(GradeRequest(path=repo, phase=4, only=CICD_CHECKS))
    return {c.check_id: c for criterion in report.criteria for c in criterion.checks}


def test_the_good_fixture_passes_every_cicd_check(built_fixture: Callable[[str], Path]) -> None:
    by_id = results(built_fixture("cicd-good"))
    assert {cid: by_id[cid].outcome for cid in CICD_CHECKS} == dict.fromkeys(CICD_CHECKS, Outcome.PASS), {
        cid: by_id[cid].summary for cid in CICD_CHECKS
    }
    assert "deploy-staging, .github/workflows/deploy.yml:deploy-production" in by_id["ci.pipeline"].summary


def test_the_flawed_fixture_fails_each_with_the_reason(built_fixture: Callable[[str], Path]) -> None:
    by_id = results(built_fixture("cicd-flawed"))
    assert (by_id["ci.workflow"].outcome, by_id["ci.workflow"].score) == (Outcome.FAIL, 0.75)
    assert by_id["ci.workflow"].summary == ".github/workflows/main.yml: does not run on pull_request"
    assert (by_id["ci.pipeline"].outcome, by_id["ci.pipeline"].score) == (Outcome.FAIL, 0.25)
    assert "a deploy does not wait for the tests" in by_id["ci.pipeline"].summary
    environments_result = by_id["ci.environments"]
    assert (environments_result.outcome, environments_result.score) == (Outcome.FAIL, 0.0)
    (leak,) = [e for e in environments_result.evidence if "literal credential" in e.message]
    assert leak.location == Location(".github/workflows/main.yml", 15)
