"""API contract checks: the OpenAPI document is complete and true, and every endpoint validates its input."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checks._evidence import capped, display
from grader.facts import Facts
from grader.model import Evidence, Location, Outcome, Verdict
from grader.plugin import check
from grader.probes.contract import ContractFinding, ContractRun
from grader.probes.live import ApiMap, Operation
from grader.probes.routes import DeclaredRoutes
from grader.scoring import weighted_mean

DOC_PATHS = re.compile(r"^/(api-docs|docs|swagger|openapi|redoc)([./-]|$)", re.IGNORECASE)
IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})
_PARAM = re.compile(r"\{[^/}]*\}")


@dataclass(frozen=True, slots=True)
class _Part:
    """One aspect of the docs: its score (None when it could not be judged), weight, and evidence."""

    score: float | None
    weight: float
    summary: str
    evidence: tuple[Evidence, ...] = ()
    warn_only: bool = False  # falling short makes the check warn, not fail


@check(
    "api.openapi",
    title="Swagger docs complete",
    requires=("api", "api.routes", "api.conformance"),
    remediation="Serve an OpenAPI document (e.g. swagger-jsdoc + swagger-ui-express, with the JSON at "
    "/api-docs.json) that validates and documents every route the app declares (`:id` as `{id}`). Give each "
    "operation its success (2xx) response and, where a request can be wrong, its error (4xx) responses. Keep "
    "the response schemas true to what the code returns: replay the request shown in each finding and compare "
    "its answer with the documented status and schema.",
)
def api_openapi(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Finds and validates the OpenAPI document, compares it with the routes the source declares, and sends a
    few valid requests per operation (schemathesis) to check the answers against it."""
    api = facts.get("api", ApiMap)
    if api.spec is None:
        evidence = tuple(Evidence(p) for p in api.problems) + tuple(Evidence(n) for n in api.notes)
        return Verdict.failed("no OpenAPI document found", evidence=evidence)
    parts = [
        _validity(api),
        _coverage(api, facts.get("api.routes", DeclaredRoutes)),
        _conformance(facts.get("api.conformance", ContractRun)),
        _responses(api.operations),
    ]
    return _combine(api, parts)


def _combine(api: ApiMap, parts: Sequence[_Part]) -> Verdict:
    judged = [p for p in parts if p.score is not None]
    score = weighted_mean([(p.score or 0.0, p.weight) for p in judged]) or 0.0
    short = [p for p in judged if (p.score or 0.0) < 1.0]
    summary = f"{api.source}: " + "; ".join(p.summary for p in parts)
    evidence = tuple(e for p in sorted(parts, key=lambda p: p.score is None or p.score >= 1.0) for e in p.evidence)
    kw: dict[str, Any] = {"value": round(score * 100, 1), "threshold": 100.0, "unit": "%", "evidence": evidence}
    if not short:
        return Verdict.passed(summary, **kw)
    if all(p.warn_only for p in short):
        return Verdict.warned(summary, score=score, **kw)
    return Verdict.failed(summary, score=score, **kw)


def _validity(api: ApiMap) -> _Part:
    if api.valid:
        return _Part(1.0, 0.3, "the document is valid")
    evidence = tuple(Evidence(f"invalid document: {p}") for p in api.problems)
    return _Part(0.0, 0.3, f"the document is invalid ({len(api.problems)} problem(s) shown)", evidence)


def _coverage(api: ApiMap, declared: DeclaredRoutes) -> _Part:
    routes = [r for r in declared.routes if r.method not in IGNORED_METHODS and not _is_docs(r.path, api.source)]
    notes = tuple(Evidence(f"route scan: {n}") for n in declared.notes)
    if not routes:
        return _Part(None, 0.3, "no route declarations found in the source to compare with", notes)
    documented = _documented(api.operations)
    keys = {(r.method, _shape(r.path)): r for r in routes}
    missing = [r for key, r in keys.items() if not _is_documented(key, documented)]
    summary = f"{len(keys) - len(missing)} of {len(keys)} declared routes documented"
    evidence = capped(
        (Evidence(f"undocumented route: {r.method} {r.path}", Location(display(r.file), r.line)) for r in missing),
        len(missing),
        "undocumented routes",
    )
    return _Part(1 - len(missing) / len(keys), 0.3, summary, evidence + notes)


def _is_docs(path: str, source: str | None) -> bool:
    return bool(DOC_PATHS.match(path)) or path == source


def _shape(path: str) -> str:
    """'/tasks/{taskId}/' -> '/tasks/{}': parameter names and trailing slashes do not matter."""
    return _PARAM.sub("{}", path.rstrip("/") or "/")


def _documented(operations: Sequence[Operation]) -> set[tuple[str, str]]:
    return {(op.method, _shape(op.path)) for op in operations}


def _is_documented(key: tuple[str, str], documented: set[tuple[str, str]]) -> bool:
    method, shape = key
    if method == "ALL":  # app.all('/x', ...): documented if any method of the path is
        return any(path == shape for _, path in documented)
    return key in documented


def _responses(operations: Sequence[Operation]) -> _Part:
    lacking = [
        op for op in operations if not _has(op.responses, "2") or (_can_fail(op) and not _has(op.responses, "4"))
    ]
    if not operations:
        return _Part(None, 0.1, "no operations documented")
    summary = f"{len(operations) - len(lacking)} of {len(operations)} operations document their 2xx and 4xx responses"
    evidence = capped(
        (
            Evidence(f"{op.method} {op.path} documents only {', '.join(op.responses) or 'no responses'}")
            for op in lacking
        ),
        len(lacking),
        "operations without both a 2xx and a 4xx response",
    )
    return _Part(1 - len(lacking) / len(operations), 0.1, summary, evidence, warn_only=True)


def _can_fail(op: Operation) -> bool:
    """Whether a client error is possible: the operation takes a body or a path parameter, or needs auth."""
    return op.request_schema is not None or "{" in op.path or op.requires_auth


def _has(codes: Sequence[str], first: str) -> bool:
    return any(code.upper().startswith(first) for code in codes)


def _conformance(run: ContractRun) -> _Part:
    if not run.ran:
        return _Part(None, 0.3, f"answers not checked ({run.reason})")
    notes = _run_notes(run)
    if not run.tested:
        return _Part(None, 0.3, "no operation could be checked against its answers", notes)
    bad = {f.operation for f in run.findings}
    summary = f"{len(run.tested) - len(bad)} of {len(run.tested)} operations answer as documented"
    evidence = _finding_evidence(run.findings)
    return _Part(1 - len(bad) / len(run.tested), 0.3, summary, evidence + notes)


def _finding_evidence(findings: Sequence[ContractFinding]) -> tuple[Evidence, ...]:
    return capped(
        (Evidence(f"{f.operation}: {f.kind}: {f.message}", detail=f.exchange.detail) for f in findings),
        len(findings),
        "findings",
    )


def _run_notes(run: ContractRun) -> tuple[Evidence, ...]:
    measured = f"{run.requests} requests in {run.duration_s:.1f} s (schemathesis {run.mode} mode, seed {run.seed})"
    untested = [(op, why) for op, why in run.untested if why != "takes no input"]
    notes = [Evidence(measured + (f", {run.auth}" if run.auth else ""))]
    notes += [Evidence(f"not tested: {op}: {why}") for op, why in untested]
    return tuple(notes) + tuple(Evidence(n) for n in run.notes)


@check(
    "api.validation",
    title="Input validation on all endpoints",
    requires=("api.negative",),
    remediation="Validate every request body, path and query parameter before using it (express-validator, zod, "
    "joi or celebrate in Express; pydantic in FastAPI; marshmallow in Flask) and answer invalid input with a "
    "400 or 422 and a JSON error. A 500 means bad input reached code that threw; a 2xx means invalid data was "
    "accepted. Replay the request shown in each finding to reproduce it.",
)
def api_validation(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Sends a few invalid requests (schemathesis negative mode, seeded and bounded) to every documented operation
    that takes input: each must get a 4xx, never a 5xx, and an invalid body must never be accepted with a 2xx."""
    run = facts.get("api.negative", ContractRun)
    notes = _run_notes(run)
    if not run.ran:
        return Verdict.not_run(f"not run: {run.reason}", evidence=notes)
    if not run.tested:
        if run.untested and all(why == "takes no input" for _, why in run.untested):
            return Verdict.not_applicable("no documented operation takes input", evidence=notes)
        return Verdict.not_run("not run: no operation could be tested with invalid input", evidence=notes)
    bad = sorted({f.operation for f in run.findings})
    summary = f"{len(run.tested) - len(bad)} of {len(run.tested)} endpoints reject invalid input with a 4xx"
    kw: dict[str, Any] = {"value": len(bad), "threshold": 0, "unit": "endpoints with findings"}
    evidence = _finding_evidence(run.findings) + notes
    if bad:
        return Verdict.failed(summary, score=1 - len(bad) / len(run.tested), evidence=evidence, **kw)
    outcome = Outcome.WARN if any(why != "takes no input" for _, why in run.untested) else Outcome.PASS
    return Verdict(outcome, 1.0, summary, evidence=evidence, **kw)
