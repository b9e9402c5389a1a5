"""CI/CD checks on the GitHub Actions workflows.

Tests run on every push and pull request; deployments follow test → build → deploy through `needs`, only
from the main branch; staging and production environments take their credentials from `secrets`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checks._evidence import capped, display
from checks._parts import unmet
from grader.facts import Facts
from grader.model import Evidence, Location, Verdict
from grader.plugin import check
from grader.probes.workflows import Job, LiteralSecret, Step, Workflow, WorkflowFacts

_BUILD_RUN = re.compile(
    r"\b(?:docker\s+(?:buildx\s+)?build|docker\s+push|docker(?:-|\s+)compose\b[^\n]*\bbuild|podman\s+build"
    r"|buildah\s+bud|(?:npm|pnpm|yarn|bun)\s+(?:run\s+)?build)\b",
    re.I,
)
_BUILD_USES = re.compile(r"^(?:docker/build-push-action|docker/bake-action|redhat-actions/buildah-build)@", re.I)
_DEPLOY_RUN = re.compile(
    r"\b(?:fly(?:ctl)?\s+deploy|vercel\b[^\n]*(?:--prod|\bdeploy)|netlify\s+deploy|railway\s+up|render\s+deploy"
    r"|git\s+push\s+\S*heroku|heroku\s+container:release|kubectl\s+(?:apply|set\s+image|rollout)"
    r"|helm\s+(?:upgrade|install)|aws\s+ecs\s+update-service|aws\s+deploy|eb\s+deploy|(?:serverless|sls|cdk)\s+deploy"
    r"|terraform\s+apply|gcloud\s+(?:run|app)\s+deploy|az\s+(?:webapp|containerapp)\s+(?:up|update|deploy)"
    r"|wrangler\s+(?:deploy|publish)|docker\s+stack\s+deploy|ssh\s[^\n]*(?:docker|pm2|systemctl|deploy)"
    r"|pm2\s+(?:deploy|reload)|api\.render\.com/deploy|deploy[-_]?hook)",
    re.I,
)
_DEPLOY_USES = re.compile(
    r"deploy|appleboy/(?:ssh|scp)-action|heroku|vercel|netlify|superfly/flyctl|railway|gh-pages|wrangler", re.I
)
_ROLE_NAME = {"build": re.compile(r"build|image|docker", re.I), "deploy": re.compile(r"deploy|release|rollout", re.I)}
_STAGING = re.compile(r"stag(?:e|ing)|pre-?prod|\buat\b", re.I)
_PRODUCTION = re.compile(r"prod(?:uction)?\b|\blive\b", re.I)
# Events that never run a workflow from an arbitrary branch's code (manual, scheduled, a release, a caller's).
_BRANCH_SAFE_EVENTS = frozenset({"workflow_dispatch", "schedule", "release", "workflow_call", "repository_dispatch"})
_AUTOMATIC_EVENTS = frozenset({"push", "workflow_run", "release", "schedule", "repository_dispatch"})
_PR_EVENTS = ("pull_request", "pull_request_target")


@dataclass(frozen=True, slots=True)
class _Roles:
    """What each job does (test, build, deploy), looking into the reusable workflows a job calls."""

    by_path: Mapping[str, Workflow]

    def called(self, job: Job) -> Workflow | None:
        """The repository's own reusable workflow the job calls (`uses: ./.github/workflows/x.yml`)."""
        if not job.uses or not job.uses.startswith("./"):
            return None
        return self.by_path.get(job.uses[2:].split("@")[0])

    def does(self, job: Job, role: str, seen: frozenset[str] = frozenset()) -> bool:
        """Whether the job tests, builds or deploys (by its steps, its name, or the workflow it calls)."""
        if self.step_index(job, role) is not None:
            return True
        if role in _ROLE_NAME and _ROLE_NAME[role].search(f"{job.id} {job.name or ''}"):
            return True
        called = self.called(job)
        if called is None or called.path in seen:
            return False
        return any(self.does(inner, role, seen | {called.path}) for inner in called.jobs)

    @staticmethod
    def step_index(job: Job, role: str) -> int | None:
        """The position of the job's first step that tests, builds or deploys."""
        return next((i for i, step in enumerate(job.steps) if _step_does(step, role)), None)

    def in_order(self, job: Job, first: str, then: str, seen: frozenset[str] = frozenset()) -> bool:
        """Whether, inside one job, `first` work comes before `then` work.

        Inside a job: a `first` step before the `then` step (a job named for `then` does it at its end). Inside a
        reusable workflow the job calls: the same in one of its jobs, or through its jobs' `needs`.
        """
        before = self.step_index(job, first)
        after = self.step_index(job, then)
        if after is None and self.does(job, then):
            after = len(job.steps)
        if before is not None and after is not None and before < after:
            return True
        called = self.called(job)
        if called is None or called.path in seen:
            return False
        inner_seen = seen | {called.path}
        return any(
            self.in_order(inner, first, then, inner_seen)
            or (
                self.does(inner, then, inner_seen)
                and any(self.does(a, first, inner_seen) for a in _ancestors(called, inner))
            )
            for inner in called.jobs
        )


def _roles(facts: WorkflowFacts) -> _Roles:
    return _Roles({w.path: w for w in facts.readable})


def _step_does(step: Step, role: str) -> bool:
    if role == "test":
        return step.runs_tests
    run_pattern, uses_pattern = (_BUILD_RUN, _BUILD_USES) if role == "build" else (_DEPLOY_RUN, _DEPLOY_USES)
    return bool((step.run and run_pattern.search(step.run)) or (step.uses and uses_pattern.search(step.uses)))


def _ancestors(workflow: Workflow, job: Job) -> list[Job]:
    """The jobs `job` waits for through `needs`, directly or not (nearest first)."""
    found: dict[str, Job] = {}
    queue = list(job.needs)
    while queue:
        job_id = queue.pop(0)
        if job_id in found or job_id == job.id or (needed := workflow.job(job_id)) is None:
            continue
        found[job_id] = needed
        queue += needed.needs
    return list(found.values())


def _label(job: Job) -> str:
    return f"`{display(job.id)}`"


def _where(workflow: Workflow, line: int | None) -> Location:
    return Location(display(workflow.path), line)


def _broken_evidence(facts: WorkflowFacts) -> list[Evidence]:
    return [Evidence(f"cannot be read: {w.error}", _where(w, w.error_line)) for w in facts.broken]


def _without_workflows(facts: WorkflowFacts) -> Verdict | None:
    """The verdict when there is no readable workflow to judge (None when there is one)."""
    if facts.readable:
        return None
    if facts.broken:
        return Verdict.failed(
            f"no workflow could be read ({len(facts.broken)} file(s) in .github/workflows/)",
            evidence=tuple(_broken_evidence(facts)),
        )
    if facts.other_ci:
        return Verdict.not_run(
            f"only GitHub Actions workflows are judged; this project uses {', '.join(facts.other_ci)}",
            evidence=tuple(Evidence("CI configuration of another service", Location(name)) for name in facts.other_ci),
        )
    return Verdict.failed("no GitHub Actions workflow in .github/workflows/")


def _triggers_text(workflow: Workflow, events: Iterable[str]) -> str:
    parts = []
    for trigger in workflow.triggers:
        if trigger.event in events:
            branches = f" (branches: {', '.join(trigger.branches)})" if trigger.branches else ""
            parts.append(f"{trigger.event}{branches}")
    return ", ".join(parts)


@check(
    "ci.workflow",
    title="A GitHub Actions workflow runs the tests on every push and pull request",
    requires=("ci.workflows",),
    remediation="Add `.github/workflows/ci.yml` with `on: {push: {branches: [main]}, pull_request: {}}` and a job "
    "that checks out the code, sets up the runtime (`actions/setup-node`), installs (`npm ci`) and runs the "
    "tests (`npm test`). Make the branch protection of main require it.",
)
def workflow(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Reads `.github/workflows/*.yml`: which workflow runs a test command, and whether it runs on push and PRs."""
    found = facts.get("ci.workflows", WorkflowFacts)
    if (early := _without_workflows(found)) is not None:
        return early
    roles = _roles(found)

    def judged(w: Workflow) -> tuple[float, bool, bool, bool]:
        tests = any(roles.does(job, "test") for job in w.jobs)
        push, pr = "push" in w.events(), bool(w.events() & set(_PR_EVENTS))
        return (2 * tests + push + pr) / 4, tests, push, pr

    best = max(found.readable, key=lambda w: judged(w)[0])
    score, tests, push, pr = judged(best)
    evidence = _test_evidence(best, roles)
    if push or pr:
        line = next(t.line for t in best.triggers if t.event == "push" or t.event in _PR_EVENTS)
        evidence.append(Evidence(f"runs on {_triggers_text(best, ('push', *_PR_EVENTS))}", _where(best, line)))
    missing = [
        text
        for ok, text in (
            (tests, "no step runs the tests (npm test, jest, vitest, node --test, pytest...)"),
            (push, "does not run on push"),
            (pr, "does not run on pull_request"),
        )
        if not ok
    ]
    evidence += [Evidence(text, _where(best, None)) for text in missing]
    evidence += _broken_evidence(found)
    name = display(best.path)
    shown = capped(evidence, len(evidence), "observations")
    if not missing:
        return Verdict.passed(f"{name} runs the tests on push and pull_request", evidence=shown)
    return Verdict.failed(f"{name}: {'; '.join(missing)}", score=score, evidence=shown)


def _test_evidence(w: Workflow, roles: _Roles) -> list[Evidence]:
    evidence = []
    for job in w.jobs:
        steps = [s for s in job.steps if s.runs_tests]
        evidence += [
            Evidence(f"job {_label(job)} runs the tests: {display(s.label)}", _where(w, s.line)) for s in steps
        ]
        if not steps and roles.called(job) is not None and roles.does(job, "test"):
            evidence.append(Evidence(f"job {_label(job)} runs the tests in {job.uses}", _where(w, job.line)))
    return evidence


@dataclass(frozen=True, slots=True)
class _Deploy:
    """One deploy job and how it stands: tested first, built first, kept to the main branch."""

    workflow: Workflow
    job: Job
    tested: bool
    built: bool
    gate: float  # 1: only main can deploy; 0.5: only an environment's (invisible) branch rule; 0: any branch
    evidence: tuple[Evidence, ...]


@check(
    "ci.pipeline",
    title="Deployments are automated: test → build → deploy through `needs`, only from main",
    requires=("ci.workflows",),
    defaults={"main_branches": ["main", "master"]},
    remediation="In one workflow give three jobs an order: `test` (npm ci && npm test), `build` with "
    "`needs: test` (docker build/push, or `npm run build`) and `deploy` with `needs: build`, "
    "`environment: production` and `if: github.ref == 'refs/heads/main' && github.event_name == 'push'`, "
    "so a failed test stops the release and a pull request or feature branch never deploys.",
)
def pipeline(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Finds the deploy jobs, follows their `needs` back to a test and a build job, and reads the branch gate."""
    found = facts.get("ci.workflows", WorkflowFacts)
    if (early := _without_workflows(found)) is not None:
        return early
    roles = _roles(found)
    main = tuple(str(b) for b in options["main_branches"])
    deploys = [
        _judge_deploy(w, job, roles, found, main)
        for w in found.readable
        if w.events() - {"workflow_call"}  # a reusable workflow is judged through the job that calls it
        for job in w.jobs
        if roles.does(job, "deploy")
    ]
    if not deploys:
        return Verdict.failed(
            "no job deploys: looked for deploy steps (fly deploy, kubectl, ssh, deploy actions...) and jobs named "
            "deploy or release",
            evidence=tuple(_broken_evidence(found)),
        )
    automated = any(d.workflow.events() & _AUTOMATIC_EVENTS for d in deploys)
    gated_jobs = [
        d for d in deploys if _is_production(f"{d.job.environment or ''} {d.job.id} {d.job.name or ''}")
    ] or deploys
    parts = {
        "automatic": 1.0 if automated else 0.0,
        "tested": 1.0 if all(d.tested for d in deploys) else 0.0,
        "built": 1.0 if all(d.built for d in deploys) else 0.0,
        "gated": min(d.gate for d in gated_jobs),
    }
    evidence = [e for d in deploys for e in d.evidence]
    if not automated:
        evidence.append(Evidence("the deploy workflows only run by hand (workflow_dispatch)"))
    evidence += _broken_evidence(found)
    score = sum(parts.values()) / len(parts)
    summary = _pipeline_summary(deploys, parts)
    shown = capped(evidence, len(evidence), "observations")
    if score == 1.0:
        return Verdict.passed(summary, evidence=shown)
    if [k for k, v in parts.items() if v < 1.0] == ["gated"] and parts["gated"] > 0:
        return Verdict.warned(summary, score=score, evidence=shown)
    return Verdict.failed(summary, score=score, evidence=shown)


def _pipeline_summary(deploys: Sequence[_Deploy], parts: Mapping[str, float]) -> str:
    jobs = ", ".join(f"{display(d.workflow.path)}:{d.job.id}" for d in deploys)
    problems = {
        "automatic": "only deployed by hand",
        "tested": "a deploy does not wait for the tests",
        "built": "no build step between the tests and a deploy",
        "gated": "a deploy can run from branches other than main"
        if parts["gated"] == 0
        else "only an environment's branch rule (not visible in the repository) keeps deploys to main",
    }
    failing = [problems[k] for k, v in parts.items() if v < 1.0]
    return f"deploy job(s) {jobs}: " + ("test → build → deploy, main only" if not failing else "; ".join(failing))


def _judge_deploy(w: Workflow, job: Job, roles: _Roles, found: WorkflowFacts, main: Sequence[str]) -> _Deploy:
    before = _ancestors(w, job)
    upstream = _upstream_tests(w, job, before, found, roles)
    tested = upstream or any(roles.does(a, "test") for a in before) or roles.in_order(job, "test", "deploy")
    build_job = next((a for a in before if roles.does(a, "build")), None)
    if build_job is None and roles.in_order(job, "build", "deploy"):
        build_job = job  # built in the deploy job itself, before the deploy step
    built = build_job is not None and (
        upstream
        or roles.in_order(build_job, "test", "build")
        or any(roles.does(a, "test") for a in _ancestors(w, build_job))
    )
    order = " → ".join(a.id for a in reversed(before))
    evidence = [
        Evidence(
            f"deploy job {_label(job)}" + (f" runs after {order} (needs)" if order else " needs no other job"),
            _where(w, job.line),
        )
    ]
    if not tested:
        evidence.append(Evidence(f"{_label(job)} does not wait for a job that runs the tests", _where(w, job.line)))
    if not built:
        evidence.append(
            Evidence(
                f"no build (docker build/push, npm run build) after the tests and before {_label(job)}",
                _where(w, job.line),
            )
        )
    gate, gate_evidence = _gate(w, job, before, main)
    return _Deploy(w, job, tested, built, gate, tuple(evidence + gate_evidence))


def _upstream_tests(w: Workflow, job: Job, before: Sequence[Job], found: WorkflowFacts, roles: _Roles) -> bool:
    """Whether the workflow runs after a testing workflow succeeded (`on: workflow_run` + a conclusion check)."""
    followed = {name for t in w.triggers if t.event == "workflow_run" for name in t.workflows}
    testing = any(
        (other.name in followed) and any(roles.does(j, "test") for j in other.jobs) for other in found.readable
    )
    conditions = " ".join(c for c in (job.condition, *(a.condition for a in before)) if c)
    return testing and re.search(r"workflow_run\.conclusion\s*==\s*['\"]success['\"]", conditions) is not None


def _gate(w: Workflow, job: Job, before: Sequence[Job], main: Sequence[str]) -> tuple[float, list[Evidence]]:
    """1.0 when only main (or a tag) can reach the deploy job; 0.5 when only an environment might; else 0."""
    for candidate in (job, *before):
        if candidate.condition and _branch_condition(candidate.condition, main):
            text = f"{_label(candidate)} runs only when `{display(candidate.condition)}`"
            return 1.0, [Evidence(text, _where(w, candidate.line))]
    unsafe = [t for t in w.triggers if not _branch_safe(t.event, t.branches, t.tags, main)]
    if not unsafe:
        events = ", ".join(f"{t.event}" + (f" ({', '.join(t.branches)})" if t.branches else "") for t in w.triggers)
        return 1.0, [Evidence(f"the workflow only runs on {events}", _where(w, w.triggers[0].line))]
    evidence = [
        Evidence(
            f"{_label(job)} can run on `{t.event}`"
            + (f" of branches {', '.join(t.branches)}" if t.branches else " of any branch")
            + f" and no `if` keeps it to {' or '.join(main)}",
            _where(w, t.line),
        )
        for t in unsafe
    ]
    if job.environment and (_is_production(job.environment) or _STAGING.search(job.environment)):
        evidence.append(
            Evidence(
                f"{_label(job)} deploys to the `{display(job.environment)}` environment: its deployment branch rule "
                "(in the repository settings) may restrict it to main, but the grader cannot see it",
                _where(w, job.environment_line),
            )
        )
        return 0.5, evidence
    return 0.0, evidence


def _branch_condition(condition: str, main: Sequence[str]) -> bool:
    """`github.ref == 'refs/heads/main'`, `github.ref_name == 'main'`, a tag ref, or a main-only workflow_run."""
    names = "|".join(re.escape(b) for b in main)
    value = rf"""['"](?:refs/heads/)?(?:{names})['"]"""
    ref = r"github\.(?:ref|ref_name|event\.workflow_run\.head_branch)\b"
    tag = r"""startsWith\(\s*github\.ref\s*,\s*['"]refs/tags/"""
    return re.search(rf"{ref}\s*==\s*{value}|{value}\s*==\s*{ref}|{tag}", condition) is not None


def _branch_safe(event: str, branches: Sequence[str], tags: Sequence[str], main: Sequence[str]) -> bool:
    """Whether this trigger can only start the workflow from the main branch's code (or a tag, or by hand)."""
    if event in _BRANCH_SAFE_EVENTS:
        return True
    if event in ("push", "workflow_run") and branches:
        return all(b in main for b in branches)
    return event == "push" and bool(tags) and not branches


def _is_production(name: str) -> bool:
    """`production`, `prod-eu`, `live`; not `preprod`."""
    return _PRODUCTION.search(name) is not None and _STAGING.search(name) is None


@check(
    "ci.environments",
    title="Staging and production environments, with credentials from GitHub secrets",
    requires=("ci.workflows",),
    remediation="Create `staging` and `production` environments (repository Settings → Environments), give each "
    "its own secrets, and deploy with one job per environment (`environment: staging`, then "
    "`environment: production` with `needs` on staging). Read every credential as `${{ secrets.NAME }}`; "
    "never write one into a workflow, and rotate any that was committed.",
)
def environments(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Reads each job's `environment`, the `${{ secrets.* }}` references, and credentials written as literals."""
    found = facts.get("ci.workflows", WorkflowFacts)
    if (early := _without_workflows(found)) is not None:
        return early
    roles = _roles(found)
    staging = _environment_jobs(found, _STAGING.search)
    production = _environment_jobs(found, _is_production)
    refs = [(w, r) for w in found.readable for r in w.secret_refs]
    leaks = [(w, s, _is_deploy_context(w, s, roles)) for w in found.readable for s in w.literal_secrets]
    serious = [(w, s) for w, s, in_deploy in leaks if in_deploy or s.token_shaped]
    evidence = [
        Evidence(f"job {_label(j)} deploys to `{display(j.environment or '')}`", _where(w, j.environment_line))
        for w, j in staging + production
    ]
    if refs:
        names = sorted({r.name for _, r in refs})
        w, first = refs[0]
        evidence.append(Evidence(f"credentials read from secrets: {', '.join(names)}", _where(w, first.line)))
    evidence += [_leak_evidence(w, s, in_deploy) for w, s, in_deploy in leaks]
    dynamic = [(w, j) for w in found.readable for j in w.jobs if j.environment and "${{" in j.environment]
    evidence += [
        Evidence(
            f"job {_label(j)} picks its environment at run time ({display(j.environment or '')}): name "
            "staging and production literally so they can be checked",
            _where(w, j.environment_line),
        )
        for w, j in dynamic
    ]
    evidence += _broken_evidence(found)
    parts = {
        "a staging environment": bool(staging),
        "a production environment": bool(production),
        "credentials from ${{ secrets.* }}": bool(refs),
        "no credential written into a workflow": not serious,
    }
    missing, score = unmet(parts.items())
    shown = capped(evidence, len(evidence), "observations")
    if missing:
        return Verdict.failed(f"missing: {', '.join(missing)}", score=score, evidence=shown)
    if leaks:
        return Verdict.warned(
            "staging and production environments, secrets from GitHub; a test job writes a credential literally",
            evidence=shown,
        )
    return Verdict.passed("staging and production environments; credentials come from GitHub secrets", evidence=shown)


def _environment_jobs(found: WorkflowFacts, matches: Callable[[str], object]) -> list[tuple[Workflow, Job]]:
    return [
        (w, j)
        for w in found.readable
        for j in w.jobs
        if j.environment and "${{" not in j.environment and matches(j.environment)
    ]


def _is_deploy_context(w: Workflow, secret: LiteralSecret, roles: _Roles) -> bool:
    """Whether the literal reaches a deploy: in a deploy job or an environment's job, or workflow-wide beside one."""
    jobs = w.jobs if secret.job is None else [j for j in w.jobs if j.id == secret.job]
    return any(j.environment or roles.does(j, "deploy") for j in jobs)


def _leak_evidence(w: Workflow, secret: LiteralSecret, in_deploy: bool) -> Evidence:
    where = f"job {secret.job}" if secret.job else "the workflow-wide env"
    if in_deploy or secret.token_shaped:
        message = f"literal credential {display(secret.key)}: {secret.redacted} ({secret.why}) in {where}"
    else:
        message = (
            f"literal value for {display(secret.key)} in {where}: fine for a throwaway test service, "
            "never for a real one"
        )
    return Evidence(message, _where(w, secret.line))
