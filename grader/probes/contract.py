"""Contract probes: bounded schemathesis runs against the live service, driven from its OpenAPI document.

- `api.conformance`: a few valid (positive) requests per operation; responses must match the documented
  status codes, content types and schemas.
- `api.negative`: a few invalid (negative) requests per operation that takes input; answers must be 4xx,
  never 5xx, and an invalid body must never be accepted with a 2xx.

Cases come from schemathesis (`APIOperation.as_strategy(GenerationMode...)` driven by a seeded Hypothesis run);
requests go through `live.send` so every one is an Exchange; responses are judged by schemathesis's own checks.
Operations that need auth use the `http.session` login (a fresh user).
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import hypothesis
import requests
import schemathesis
from hypothesis.errors import HypothesisException
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import AcceptedNegativeData, Failure, FailureGroup, ServerError
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from grader.facts import ProbeContext
from grader.plugin import probe
from grader.probes.http_session import Session
from grader.probes.live import ApiMap, Exchange, LiveService, live_service, send
from grader.probes.openapi import base_path, external_refs, optional_service
from grader.probes.routes import DeclaredRoutes

SEED = 20_240_601
REQUEST_TIMEOUT_S = 5.0
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
SKIPPED_SUFFIXES = ("/logout", "/signout", "/sign-out")  # would end the grader's session
SERVER_ERROR = "server error"
ACCEPTED_INVALID = "accepted invalid input"
NON_CONFORMING = "response does not match the spec"
NO_RESPONSE = "no response"
RATE_LIMITED = 429
RATE_LIMITED_REASON = "rate limited (429 Too Many Requests)"
# One schemathesis run at a time: Hypothesis compiles source to describe strategies, and CPython 3.11's
# compiler state is shared between threads ("AST constructor recursion depth mismatch" when two runs overlap).
_GENERATION_LOCK = threading.Lock()
# Bodies that no JSON API should accept, sent when the operations have no documented schema.
FALLBACK_BODIES: tuple[tuple[str, bytes], ...] = (
    ("malformed JSON", b'{"title": '),
    ("a JSON array instead of an object", b"[]"),
    ("a JSON string instead of an object", b'"grader"'),
)


@dataclass(frozen=True, slots=True)
class ContractFinding:
    """One request whose answer broke the contract."""

    operation: str  # "POST /tasks"
    kind: str  # SERVER_ERROR, ACCEPTED_INVALID, NON_CONFORMING or NO_RESPONSE
    message: str  # one line: what schemathesis found
    exchange: Exchange


@dataclass(frozen=True, slots=True)
class ContractRun:
    """One bounded run of generated requests against the live service."""

    mode: str  # "positive" or "negative"
    ran: bool
    reason: str  # why it did not run ("" when it ran)
    tested: tuple[str, ...] = ()  # operations that got at least one conclusive answer
    untested: tuple[tuple[str, str], ...] = ()  # (operation, why)
    findings: tuple[ContractFinding, ...] = ()
    requests: int = 0
    duration_s: float = 0.0
    seed: int = SEED
    auth: str = ""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Plan:
    """How one mode runs: what to generate, how much, and how to judge an answer."""

    mode: GenerationMode
    max_examples: int
    time_cap_s: float
    max_requests: int
    judge: Callable[[Any, httpx.Response], tuple[str, str] | None]  # (case, response) -> (kind, message)


@probe("api.conformance", timeout_s=90)
def api_conformance(ctx: ProbeContext) -> ContractRun:
    """Send a few valid requests per documented operation and check each answer against the document."""
    live, reason = optional_service(ctx)
    if live is None:
        return ContractRun("positive", ran=False, reason=reason)
    api = ctx.fact("api", ApiMap)
    if api.spec is None:
        return ContractRun("positive", ran=False, reason="there is no OpenAPI document to check answers against")
    return run_contract(live, api, _auth(ctx, api, needed=_needs_auth(api)), POSITIVE)


@probe("api.negative", timeout_s=120)
def api_negative(ctx: ProbeContext) -> ContractRun:
    """Send a few invalid requests per operation that takes input; record 5xx answers and accepted invalid bodies."""
    live = live_service(ctx)
    api = ctx.fact("api", ApiMap)
    why = "no OpenAPI document"
    if api.spec is not None:
        run = run_contract(live, api, _auth(ctx, api, needed=_needs_auth(api)), NEGATIVE)
        if run.ran:
            return run
        why = run.reason
    routes = ctx.store.get("api.routes")
    declared = routes.routes if isinstance(routes, DeclaredRoutes) else ()
    targets = [(op.method, op.path) for op in api.operations] or [(r.method, r.path) for r in declared]
    return run_fallback(live, targets, _auth(ctx, api, needed=True), why)


def _needs_auth(api: ApiMap) -> bool:
    return any(op.requires_auth for op in api.operations)


# ---------------------------------------------------------------- authentication


@dataclass(frozen=True, slots=True)
class _Auth:
    """The headers that authenticate the grader's requests, or why there are none."""

    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    problem: str = ""  # why operations that need auth cannot be tested ("" when they can)
    how: str = ""


def _auth(ctx: ProbeContext, api: ApiMap, *, needed: bool) -> _Auth:
    """The `http.session` login (a fresh user), when `needed`; its failure only marks operations untested."""
    if not needed:
        return _Auth(how="no documented operation requires authentication")
    session = ctx.store.get("http.session")
    if not isinstance(session, Session):
        reason = getattr(session, "message", None) or getattr(session, "reason", None) or "no session"
        return _Auth(problem=f"could not log in: {reason}")
    if session.token is None:
        return _Auth(problem=f"could not log in: {session.problem}")
    how = f"as a fresh user (registered through {api.register_path}, logged in through {api.login_path})"
    return _Auth(session.headers, how=how)


# ---------------------------------------------------------------- schemathesis runs


def _judge_positive(case: Any, response: httpx.Response) -> tuple[str, str] | None:
    failures = _failures(case, response, [not_a_server_error, status_code_conformance, content_type_conformance,
                                          response_schema_conformance])  # fmt: skip
    if not failures:
        return None
    kind = SERVER_ERROR if any(isinstance(f, ServerError) for f in failures) else NON_CONFORMING
    return kind, "; ".join(dict.fromkeys(_describe(f) for f in failures))


def _judge_negative(case: Any, response: httpx.Response) -> tuple[str, str] | None:
    failures = _failures(case, response, [not_a_server_error, negative_data_rejection])
    if any(isinstance(f, ServerError) for f in failures):
        return SERVER_ERROR, f"invalid input got {response.status_code}: {_invalid_part(case)}"
    body_negative = _negative_locations(case) & {ParameterLocation.BODY}
    accepted = any(isinstance(f, AcceptedNegativeData) for f in failures) and response.is_success
    if accepted and body_negative and case.method.upper() in BODY_METHODS:
        return ACCEPTED_INVALID, f"an invalid body was accepted with {response.status_code}: {_invalid_part(case)}"
    return None


POSITIVE = _Plan(GenerationMode.POSITIVE, max_examples=3, time_cap_s=20.0, max_requests=150, judge=_judge_positive)
NEGATIVE = _Plan(GenerationMode.NEGATIVE, max_examples=5, time_cap_s=30.0, max_requests=250, judge=_judge_negative)


def _failures(case: Any, response: httpx.Response, checks: list[Any]) -> list[Failure]:
    try:
        case.validate_response(response, checks=checks)
    except FailureGroup as group:
        return [f for f in group.exceptions if isinstance(f, Failure)]
    return []


def _describe(failure: Failure) -> str:
    detail = " ".join(failure.message.split())
    return f"{failure.title}: {detail[:200]}" if detail else failure.title


def _negative_locations(case: Any) -> set[ParameterLocation]:
    meta = case.meta
    if meta is None:
        return set()
    return {location for location, info in meta.components.items() if info.mode.is_negative}


def _invalid_part(case: Any) -> str:
    meta = case.meta
    description = getattr(getattr(meta, "phase", None), "data", None)
    text = getattr(description, "description", None)
    where = ", ".join(sorted(location.value for location in _negative_locations(case)))
    return f"{text} (in the {where})" if text else f"invalid {where or 'input'}"


@dataclass(slots=True)
class _OperationState:
    stop: str | None = None  # why this operation stops (a finding, a cap, a 429)
    conclusive: bool = False  # got at least one answer that says something


class _Runner:
    """One bounded run: sends each generated case, counts requests, stops at the caps."""

    def __init__(self, live: LiveService, client: httpx.Client, plan: _Plan, base: str) -> None:
        self.live = live
        self.client = client
        self.plan = plan
        self.base_url = live.base_url + base
        self.deadline = time.monotonic() + plan.time_cap_s
        self.requests = 0
        self.findings: list[ContractFinding] = []
        self.stopped: str | None = None  # set when the service stops answering

    def exhausted(self) -> str | None:
        """Why no more requests may be sent, if so."""
        if self.stopped is not None:
            return self.stopped
        if time.monotonic() >= self.deadline:
            return f"time cap of {self.plan.time_cap_s:.0f} s reached"
        if self.requests >= self.plan.max_requests:
            return f"request cap of {self.plan.max_requests} reached"
        return None

    def operation(self, label: str, operation: Any) -> str | None:
        """Run up to max_examples cases of one operation; None if it got a conclusive answer, else why not."""
        state = _OperationState()

        @hypothesis.given(operation.as_strategy(generation_mode=self.plan.mode))
        @hypothesis.settings(
            max_examples=self.plan.max_examples,
            database=None,
            deadline=None,
            phases=[hypothesis.Phase.generate],
            suppress_health_check=list(hypothesis.HealthCheck),
            print_blob=False,
        )
        @hypothesis.seed(SEED)
        def one(case: Any) -> None:
            state.stop = state.stop or self.exhausted()
            if state.stop is None:
                state.stop, answered = self._case(label, case)
                state.conclusive = state.conclusive or answered

        try:
            one()
        except HypothesisException as exc:  # e.g. no invalid value exists for this operation's inputs
            return f"no {self.plan.mode.value} case could be generated ({type(exc).__name__})"
        if state.conclusive:
            return None
        return state.stop or "no case was generated"

    def _case(self, label: str, case: Any) -> tuple[str | None, bool]:
        """Send one case and judge it: (a reason to stop this operation or None, whether the answer counts)."""
        try:
            response, exchange = self._send(case)
        except Exception as exc:  # a case schemathesis cannot serialise (an unsupported media type): skip it
            return f"a generated case could not be sent ({type(exc).__name__})", False
        self.requests += 1
        if response is None:
            self.findings.append(ContractFinding(label, NO_RESPONSE, exchange.error or NO_RESPONSE, exchange))
            self.stopped = f"the service stopped answering ({exchange.summary})"
            return NO_RESPONSE, True
        if response.status_code == RATE_LIMITED:
            return RATE_LIMITED_REASON, False
        try:
            verdict = self.plan.judge(case, response)
        except Exception as exc:  # e.g. a response schema schemathesis cannot use: not the answer's fault
            return f"the answer could not be judged ({type(exc).__name__}: {exc})", False
        if verdict is None:
            return None, True
        self.findings.append(ContractFinding(label, verdict[0], verdict[1], exchange))
        return verdict[0], True

    def _send(self, case: Any) -> tuple[httpx.Response | None, Exchange]:
        """Send a case through `live.send` as schemathesis would send it (query, headers, body bytes)."""
        kwargs = case.as_transport_kwargs(base_url=self.base_url)
        prepared = requests.Request(
            method=kwargs["method"],
            url=kwargs["url"],
            params=kwargs.get("params"),
            headers={k: v for k, v in kwargs["headers"].items() if k.lower() not in _NOISE_HEADERS},
            json=kwargs.get("json"),
            data=kwargs.get("data"),
            cookies=kwargs.get("cookies"),
        ).prepare()
        body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
        path = (prepared.url or "")[len(self.live.base_url) :] or "/"
        headers = {k: _text(v) for k, v in prepared.headers.items() if k.lower() != "content-length"}
        content = body if isinstance(body, bytes) else None
        return send(self.client, str(prepared.method), path, headers=headers, content=content)


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


_NOISE_HEADERS = frozenset({"user-agent", "accept-encoding", "connection", "x-schemathesis-testcaseid"})


def run_contract(live: LiveService, api: ApiMap, session: _Auth, plan: _Plan) -> ContractRun:
    """Run `plan` over every documented operation, within its caps; operations needing auth use the session."""
    mode = plan.mode.value
    spec = api.spec
    assert spec is not None
    if refs := external_refs(spec):
        reason = f"the document has $refs to other files ({', '.join(refs[:3])}), which the grader does not follow"
        return ContractRun(mode, ran=False, reason=reason + ": bundle it into one file")
    with _GENERATION_LOCK:
        began = time.monotonic()
        try:
            schema = schemathesis.openapi.from_dict(copy.deepcopy(dict(spec)), config=_config(session))
        except Exception as exc:  # schemathesis refuses documents it cannot use: say why, the check decides
            return ContractRun(mode, ran=False, reason=f"schemathesis could not load the document: {exc}")
        with live.client(timeout_s=REQUEST_TIMEOUT_S) as client:
            runner = _Runner(live, client, plan, base_path(spec))
            tested, untested = _run_operations(runner, schema, api, session)
    return ContractRun(
        mode,
        ran=True,
        reason="",
        tested=tuple(tested),
        untested=tuple(untested),
        findings=tuple(runner.findings),
        requests=runner.requests,
        duration_s=time.monotonic() - began,
        auth=session.how or session.problem,
    )


def _config(session: _Auth) -> SchemathesisConfig:
    """Explicit settings (never a schemathesis.toml found on disk): the session's auth headers on every case, no
    generated security headers, ASCII strings without NUL bytes (readable evidence; the criterion is about
    validation, not about emoji or NUL bytes)."""
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "headers": dict(session.headers),
            "generation": {"with-security-parameters": False, "allow-x00": False, "codec": "ascii"},
        }
    )


def _run_operations(
    runner: _Runner, schema: Any, api: ApiMap, session: _Auth
) -> tuple[list[str], list[tuple[str, str]]]:
    tested: list[str] = []
    untested: list[tuple[str, str]] = []
    for label, operation, why in _operations(schema, api, session, runner.plan.mode):
        if why is None:
            why = runner.exhausted() or runner.operation(label, operation)
        if why is None:
            tested.append(label)
        else:
            untested.append((label, why))
    return tested, untested


def _operations(
    schema: Any, api: ApiMap, session: _Auth, mode: GenerationMode
) -> Iterator[tuple[str, Any, str | None]]:
    """(label, schemathesis operation, reason to skip it or None), auth endpoints last."""
    needs_auth = {(op.method, op.path) for op in api.operations if op.requires_auth}
    base = base_path(api.spec or {})
    loaded: list[tuple[str, Any, str | None]] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            loaded.append((f"{result.err()}", None, "schemathesis could not use this operation"))
            continue
        operation = result.ok()
        label = f"{operation.method.upper()} {base}{operation.path}"
        loaded.append((label, operation, _skip_reason(operation, label, needs_auth, session, mode)))
    auth_paths = {api.register_path, api.login_path, api.refresh_path}
    yield from sorted(loaded, key=lambda item: item[0].split(" ", 1)[-1] in auth_paths)


def _skip_reason(
    operation: Any, label: str, needs_auth: set[tuple[str, str]], session: _Auth, mode: GenerationMode
) -> str | None:
    method, path = label.split(" ", 1)
    if path.lower().rstrip("/").endswith(SKIPPED_SUFFIXES):
        return "skipped: it would end the grader's session"
    if (method, path) in needs_auth and session.problem:
        return f"needs authentication, but {session.problem}"
    if mode is GenerationMode.NEGATIVE and not _takes_input(operation):
        return "takes no input"
    return None


def _takes_input(operation: Any) -> bool:
    return bool(len(operation.body) or len(operation.path_parameters) or len(operation.query))


# ---------------------------------------------------------------- without a schema


def run_fallback(live: LiveService, targets: Sequence[tuple[str, str]], session: _Auth, why: str) -> ContractRun:
    """Without usable request schemas (`why`): send bodies no JSON API may accept to each POST/PUT/PATCH route."""
    began = time.monotonic()
    findings: list[ContractFinding] = []
    tested: list[str] = []
    untested: list[tuple[str, str]] = []
    sent = 0
    headers = {**session.headers, "Content-Type": "application/json"}
    with live.client(timeout_s=REQUEST_TIMEOUT_S) as client:
        for method, template in dict.fromkeys(t for t in targets if t[0] in BODY_METHODS):
            label = f"{method} {template}"
            exchanges, finding = _fallback_operation(client, method, template, headers)
            sent += len(exchanges)
            if finding is not None:
                findings.append(ContractFinding(label, *finding))
            last = exchanges[-1]
            if last.status in (401, 403, RATE_LIMITED):
                untested.append((label, f"inconclusive: {last.summary}"))
            else:
                tested.append(label)
    return ContractRun(
        "negative",
        ran=True,
        reason="",
        tested=tuple(tested),
        untested=tuple(untested),
        findings=tuple(findings),
        requests=sent,
        duration_s=time.monotonic() - began,
        auth=session.how or session.problem,
        notes=(f"{why}: only bodies that are never valid were sent (malformed JSON, wrong JSON types)",),
    )


def _fallback_operation(
    client: httpx.Client, method: str, template: str, headers: Mapping[str, str]
) -> tuple[list[Exchange], tuple[str, str, Exchange] | None]:
    """Send each fallback body until one gives a finding or an inconclusive answer (401, 403, 429)."""
    exchanges: list[Exchange] = []
    for what, body in FALLBACK_BODIES:
        response, exchange = send(client, method, _fill_params(template), headers=headers, content=body)
        exchanges.append(exchange)
        if (kind := _fallback_finding(response, what)) is not None:
            return exchanges, (kind, f"{what} got {exchange.summary}", exchange)
        if exchange.status in (401, 403, RATE_LIMITED):
            break
    return exchanges, None


def _fallback_finding(response: httpx.Response | None, what: str) -> str | None:
    if response is None:
        return NO_RESPONSE
    if response.status_code >= 500:
        return SERVER_ERROR
    if response.is_success and what == FALLBACK_BODIES[0][0]:
        return ACCEPTED_INVALID
    return None


def _fill_params(template: str) -> str:
    """'/tasks/{id}' -> '/tasks/1'."""
    return "/".join("1" if s.startswith("{") and s.endswith("}") else s for s in template.split("/"))
