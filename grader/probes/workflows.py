"""GitHub Actions workflows: their triggers, jobs and order, the steps that run tests, and the secrets they use.

Files are parsed with PyYAML's safe composer, which keeps every node's line for evidence. Mapping keys
are read as written, so the workflow key `on:` stays "on" (a YAML 1.1 loader would turn it into True),
and aliases are never expanded into copies.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from grader.facts import ProbeContext
from grader.plugin import probe
from grader.probes.repo import RepoFacts
from grader.probes.secrets import redact

WORKFLOW_DIR = ".github/workflows/"
MAX_BYTES = 500_000
# CI configurations of other services: named when there is no GitHub Actions workflow to judge.
OTHER_CI_FILES = (
    ".gitlab-ci.yml",
    ".circleci/config.yml",
    "Jenkinsfile",
    "azure-pipelines.yml",
    "bitbucket-pipelines.yml",
    ".travis.yml",
)

# A shell command that runs a test suite.
TEST_COMMAND = re.compile(
    r"(?:^|[\s;&|(])(?:"
    r"(?:npm|pnpm|yarn|bun)\s+(?:run\s+)?test(?::[\w:.-]+)?\b|npm\s+t\b"
    r"|(?:npx\s+|pnpm\s+(?:exec\s+)?|yarn\s+)?(?:jest|vitest|mocha|ava)\b"
    r"|node\s+--test\b|deno\s+test\b"
    r"|(?:python3?\s+-m\s+)?pytest\b|python3?\s+-m\s+unittest\b|\btox\b|\bnox\b"
    r"|go\s+test\b|cargo\s+test\b|\./gradlew\s+test\b|mvn\b[^\n]*\b(?:test|verify)\b"
    r")",
    re.M,
)
# A package script run by name, e.g. `npm run coverage` or `yarn test:ci`.
_SCRIPT_RUN = re.compile(
    r"(?:^|[\s;&|(])(?:npm\s+run(?:-script)?|pnpm(?:\s+run)?|yarn(?:\s+run)?|bun\s+run)\s+([\w:.-]+)"
)
# An env/with key whose value is a credential, e.g. DB_PASSWORD, api-key, GITHUB_TOKEN, clientSecret.
_SECRET_KEY = re.compile(
    r"(?:^|[_\-.])(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)"
    r"(?:$|[_\-.])|(?:password|secret|token|apikey)$",
    re.I,
)
KEY_NAMED = "a credential-like key"  # why a literal is suspect when only its key's name says so
# Values whose shape alone says "live credential", whatever the key.
_TOKEN_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{40,})")),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[A-Z2-7]{16}\b")),
    ("Slack token", re.compile(r"\bxox[abposr]-[\w-]{10,}")),
    ("Stripe live key", re.compile(r"\b[rs]k_live_\w{16,}")),
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
)
# Values that are not credentials although their key says so: flags, and references to other variables.
_NOT_A_CREDENTIAL = re.compile(r"(?i)^(?:true|false|yes|no|on|off|null|~|\d+|\$\w+|\$\{\w+\})$")
_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}")
_SECRET_REF = re.compile(r"\bsecrets\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*['\"]([A-Za-z_]\w*)['\"]\s*\])")


@dataclass(frozen=True, slots=True)
class Trigger:
    """One event the workflow runs on, with its branch and tag filters (empty: no filter)."""

    event: str
    line: int
    branches: tuple[str, ...] = ()
    branches_ignore: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    workflows: tuple[str, ...] = ()  # workflow_run: the workflows whose runs trigger this one


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a job: a shell command (`run`) or an action (`uses`)."""

    line: int
    name: str | None
    run: str | None
    uses: str | None
    runs_tests: bool

    @property
    def label(self) -> str:
        """How to name the step in evidence: its name, its action, or its command's first line."""
        return self.name or self.uses or (self.run or "").strip().split("\n")[0][:80]


@dataclass(frozen=True, slots=True)
class Job:
    """One job: what it waits for (`needs`), when it runs (`if`), where it deploys, and its steps."""

    id: str
    line: int
    name: str | None
    needs: tuple[str, ...]
    condition: str | None  # the job's `if`
    environment: str | None
    environment_line: int | None
    uses: str | None  # a reusable workflow the job calls instead of having steps
    steps: tuple[Step, ...]

    @property
    def runs_tests(self) -> bool:
        """Whether one of its steps runs a test suite."""
        return any(step.runs_tests for step in self.steps)


@dataclass(frozen=True, slots=True)
class LiteralSecret:
    """A credential written into the workflow instead of read from `${{ secrets.* }}`."""

    key: str
    line: int
    job: str | None  # None: the workflow-wide `env`
    why: str  # KEY_NAMED, or the token shape, e.g. "GitHub token"
    redacted: str

    @property
    def token_shaped(self) -> bool:
        """The value itself looks like a live credential (not only its key's name)."""
        return self.why != KEY_NAMED


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A `${{ secrets.NAME }}` reference."""

    name: str
    line: int


@dataclass(frozen=True, slots=True)
class Workflow:
    """One workflow file, or why it could not be read as one (`error`, at `error_line`)."""

    path: str
    name: str | None = None
    triggers: tuple[Trigger, ...] = ()
    jobs: tuple[Job, ...] = ()
    secret_refs: tuple[SecretRef, ...] = ()
    literal_secrets: tuple[LiteralSecret, ...] = ()
    error: str | None = None
    error_line: int | None = None

    def job(self, job_id: str) -> Job | None:
        """The job with this id, if the workflow has it."""
        return next((job for job in self.jobs if job.id == job_id), None)

    def events(self) -> set[str]:
        """The names of the events the workflow runs on."""
        return {t.event for t in self.triggers}


@dataclass(frozen=True, slots=True)
class WorkflowFacts:
    """Every `.github/workflows/*.yml|yaml` file, parsed, and other CI configurations present."""

    workflows: tuple[Workflow, ...]
    other_ci: tuple[str, ...] = ()

    @property
    def readable(self) -> tuple[Workflow, ...]:
        """The workflows that parsed."""
        return tuple(w for w in self.workflows if w.error is None)

    @property
    def broken(self) -> tuple[Workflow, ...]:
        """The workflow files that could not be read as workflows."""
        return tuple(w for w in self.workflows if w.error is not None)


@probe("ci.workflows", timeout_s=60)
def workflow_facts(ctx: ProbeContext) -> WorkflowFacts:
    """Parse every GitHub Actions workflow: triggers, jobs, needs, conditions, environments, tests and secrets."""
    repo = ctx.fact("repo", RepoFacts)
    paths = [p for p in repo.files if _is_workflow_file(p)]
    scripts = scripts_running_tests(repo.package_json or {})
    return WorkflowFacts(
        tuple(read_workflow(repo.root, path, scripts) for path in paths),
        tuple(name for name in OTHER_CI_FILES if repo.has(name)),
    )


def scripts_running_tests(package_json: Mapping[str, Any]) -> frozenset[str]:
    """The package.json scripts that run the tests, e.g. {"coverage"} for `"coverage": "jest --coverage"`."""
    scripts = package_json.get("scripts")
    if not isinstance(scripts, dict):
        return frozenset()
    return frozenset(
        name for name, command in scripts.items() if isinstance(command, str) and TEST_COMMAND.search(command)
    )


def _is_workflow_file(path: str) -> bool:
    rest = path[len(WORKFLOW_DIR) :] if path.startswith(WORKFLOW_DIR) else ""
    return bool(rest) and "/" not in rest and rest.lower().endswith((".yml", ".yaml"))


def read_workflow(root: Path, path: str, scripts: frozenset[str] = frozenset()) -> Workflow:
    """Read and parse one workflow file; a file that cannot be read or parsed gives a Workflow with `error`."""
    try:
        size = (root / path).stat().st_size
        if size > MAX_BYTES:
            return Workflow(path, error=f"{size} bytes: larger than the {MAX_BYTES} bytes a workflow may have")
        text = (root / path).read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return Workflow(path, error="not UTF-8 text")
    except OSError as exc:
        return Workflow(path, error=f"cannot be read: {exc.strerror or exc}")
    return parse_workflow(path, text, scripts)


def parse_workflow(path: str, text: str, scripts: frozenset[str] = frozenset()) -> Workflow:
    """The facts of one workflow's text; malformed YAML gives the parser's problem and line.

    `scripts`: the package.json scripts that run the tests, so `npm run coverage` counts as running them.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).split("\n")[0]
        return Workflow(path, error=f"not valid YAML: {problem}", error_line=mark.line + 1 if mark else None)
    if not isinstance(root, MappingNode):
        return Workflow(path, error="not a workflow: the file is not a mapping of keys (`on:`, `jobs:`...)")
    on = _get(root, "on")
    if on is None:
        return Workflow(path, error="not a workflow: no `on:` key saying when it runs", error_line=1)
    job_nodes = _entries(_get(root, "jobs"))
    literals = list(_literals(_get(root, "env"), None))
    for job_id, (_key, value) in job_nodes.items():
        literals += _job_literals(job_id, value)
    return Workflow(
        path=path,
        name=_text(_get(root, "name")),
        triggers=_triggers(on),
        jobs=tuple(_job(job_id, key, value, scripts) for job_id, (key, value) in job_nodes.items()),
        secret_refs=tuple(_secret_refs(text)),
        literal_secrets=tuple(literals),
    )


def _entries(node: Node | None) -> dict[str, tuple[Node, Node]]:
    """A mapping node's entries by key as written (merge keys `<<` applied), each as (key node, value node)."""
    if not isinstance(node, MappingNode):
        return {}
    out: dict[str, tuple[Node, Node]] = {}
    for key, value in node.value:
        if isinstance(key, ScalarNode) and key.value == "<<":
            merged = value.value if isinstance(value, SequenceNode) else [value]
            for source in merged:
                for name, pair in _entries(source).items():
                    out.setdefault(name, pair)
        elif isinstance(key, ScalarNode):
            out[key.value] = (key, value)
    return out


def _get(node: Node | None, key: str) -> Node | None:
    pair = _entries(node).get(key)
    return pair[1] if pair else None


def _text(node: Node | None) -> str | None:
    """A scalar's text as written (None for a missing, null or non-scalar node)."""
    if not isinstance(node, ScalarNode) or node.tag == "tag:yaml.org,2002:null":
        return None
    return str(node.value)


def _texts(node: Node | None) -> tuple[str, ...]:
    """A scalar or a sequence of scalars, as texts."""
    if isinstance(node, SequenceNode):
        return tuple(t for item in node.value if (t := _text(item)) is not None)
    text = _text(node)
    return (text,) if text is not None else ()


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _triggers(node: Node) -> tuple[Trigger, ...]:
    """`on: push`, `on: [push, pull_request]` or `on: {push: {branches: [main]}, pull_request: ...}`."""
    if isinstance(node, MappingNode):
        return tuple(
            Trigger(
                event,
                _line(key),
                branches=_texts(_get(value, "branches")),
                branches_ignore=_texts(_get(value, "branches-ignore")),
                tags=_texts(_get(value, "tags")),
                workflows=_texts(_get(value, "workflows")),
            )
            for event, (key, value) in _entries(node).items()
        )
    if isinstance(node, SequenceNode):
        return tuple(Trigger(t, _line(item)) for item in node.value if (t := _text(item)))
    event = _text(node)
    return (Trigger(event, _line(node)),) if event else ()


def _job(job_id: str, key: Node, node: Node, scripts: frozenset[str]) -> Job:
    environment = _get(node, "environment")
    env_name = _text(_get(environment, "name")) if isinstance(environment, MappingNode) else _text(environment)
    steps = _get(node, "steps")
    return Job(
        id=job_id,
        line=_line(key),
        name=_text(_get(node, "name")),
        needs=_texts(_get(node, "needs")),
        condition=_text(_get(node, "if")),
        environment=env_name,
        environment_line=_line(environment) if environment is not None else None,
        uses=_text(_get(node, "uses")),
        steps=tuple(_step(item, scripts) for item in steps.value) if isinstance(steps, SequenceNode) else (),
    )


def _step(node: Node, scripts: frozenset[str]) -> Step:
    run = _text(_get(node, "run"))
    return Step(
        line=_line(node),
        name=_text(_get(node, "name")),
        run=run,
        uses=_text(_get(node, "uses")),
        runs_tests=bool(run and runs_tests(run, scripts)),
    )


def runs_tests(command: str, scripts: frozenset[str] = frozenset()) -> bool:
    """Whether a shell command runs a test suite, directly or through one of the package's test `scripts`."""
    if TEST_COMMAND.search(command):
        return True
    return any(match.group(1) in scripts for match in _SCRIPT_RUN.finditer(command))


def _job_literals(job_id: str, job: Node) -> list[LiteralSecret]:
    """Literal credentials in a job's `env`, its steps' `env` and `with` (service containers' are throwaway)."""
    found = list(_literals(_get(job, "env"), job_id))
    steps = _get(job, "steps")
    for step in steps.value if isinstance(steps, SequenceNode) else ():
        found += _literals(_get(step, "env"), job_id)
        found += _literals(_get(step, "with"), job_id)
    return found


def _literals(node: Node | None, job: str | None) -> Iterator[LiteralSecret]:
    for key, (_key_node, value_node) in _entries(node).items():
        value = _text(value_node)
        if not value or "${{" in value:
            continue
        shape = next((name for name, pattern in _TOKEN_SHAPES if pattern.search(value)), None)
        if shape is None and (not _SECRET_KEY.search(key) or _NOT_A_CREDENTIAL.match(value.strip())):
            continue
        why = shape or KEY_NAMED
        yield LiteralSecret(key, _line(value_node), job, why, redact(value))


def _secret_refs(text: str) -> Iterator[SecretRef]:
    """`secrets.NAME` (or `secrets['NAME']`) inside the `${{ }}` expressions of each line."""
    for number, line in enumerate(text.splitlines(), start=1):
        for expression in _EXPRESSION.finditer(line):
            for match in _SECRET_REF.finditer(expression.group(1)):
                yield SecretRef(match.group(1) or match.group(2), number)
