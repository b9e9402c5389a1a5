"""API checks on the running service: JSON responses, a full CRUD round trip, standardised errors."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from grader.facts import Facts
from grader.model import Evidence, Verdict
from grader.plugin import check
from grader.probes.http_api import CrudRun, ErrorFacts, ErrorReply, JsonFacts, JsonReply
from grader.probes.http_session import ID_PATHS
from grader.probes.live import Exchange

NO_RESOURCE = "could not find the main resource; set [api] resource in grade.toml"
MIN_PROVOKED = 3  # fewer provoked errors than this (no resource known) cannot show one consistent format
# The statuses each provoked error may answer with.
EXPECTED_ERRORS: Mapping[str, tuple[int, ...]] = {
    "unknown route": (404,),
    "unknown id": (404,),
    "invalid body": (400, 422),
    "no token": (401,),
    "malformed JSON": tuple(range(400, 500)),
}


def exchange_evidence(exchange: Exchange, note: str = "") -> Evidence:
    """An exchange as evidence: 'GET /tasks -> 200' (and a note) with the trimmed request and response."""
    return Evidence(f"{exchange.summary}: {note}" if note else exchange.summary, detail=exchange.detail)


def _content_type(exchange: Exchange) -> str:
    return next((v for k, v in exchange.response_headers.items() if k.lower() == "content-type"), "none")


@check(
    "api.json",
    title="The API answers with JSON",
    requires=("http.json",),
    remediation="Answer every route with `res.json(...)` (or `res.status(401).json({ error: ... })`) instead of "
    "`res.send('text')`, so the Content-Type is application/json and the body parses. In Flask return "
    "`jsonify(...)`; FastAPI does this for you when a route returns a dict or a model.",
)
def api_json(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """GETs the documented read endpoints, `/` and the health path, and checks each reply is JSON."""
    replies = [r for r in facts.get("http.json", JsonFacts).replies if r.documented or r.exchange.status != 404]
    if not replies:
        return Verdict.failed("no read endpoint answered: document your GET routes in OpenAPI or grade.toml")
    bad = [r for r in replies if not (r.json_type and r.parses)]
    evidence = tuple(
        exchange_evidence(r.exchange, _json_problem(r)) for r in bad + [r for r in replies if r not in bad]
    )
    summary = f"{len(replies) - len(bad)} of {len(replies)} read endpoints answered with JSON"
    kw: dict[str, Any] = {"value": len(bad), "threshold": 0, "unit": "non-JSON replies", "evidence": evidence}
    if not bad:
        return Verdict.passed(summary, **kw)
    return Verdict.failed(summary, score=1 - len(bad) / len(replies), **kw)


def _json_problem(reply: JsonReply) -> str:
    if reply.exchange.status is None:
        return "no response"
    problems = [] if reply.json_type else [f"Content-Type is {_content_type(reply.exchange)}"]
    problems += [] if reply.parses else ["the body is not JSON"]
    return "; ".join(problems) or "JSON"


@check(
    "api.crud",
    title="Create, read, list, update and delete all work",
    requires=("http.crud",),
    remediation="Implement the five routes of the main resource, e.g. in Express: `router.post('/')` answering "
    "`res.status(201).json(item)` with its `id`, `router.get('/:id')` (404 when missing), `router.get('/')` "
    "listing items, `router.put('/:id')` or `router.patch('/:id')` saving the change, and `router.delete('/:id')` "
    "answering 204 so that a later GET gives 404. Compare ids with the right type (`Number(req.params.id)`). "
    "Flask/FastAPI: the same five routes with `@app.post`/`@app.get`/`@app.put`/`@app.delete`, returning 201/204.",
)
def api_crud(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Creates an item of the main resource, reads it, finds it in the list, updates, deletes, reads again."""
    run = facts.get("http.crud", CrudRun)
    if run.resource is None:
        return Verdict.failed(NO_RESOURCE)
    steps = _crud_steps(run)
    good = sum(ok for _, ok, _ in steps)
    evidence = [Evidence(n) for n in run.notes]
    if run.login_problem:
        evidence += [Evidence(f"login failed: {run.login_problem}"), *(exchange_evidence(e) for e in run.login)]
    evidence += [e for _, _, e in steps]
    summary = f"{good} of {len(steps)} CRUD steps behaved on {run.resource}"
    kw: dict[str, Any] = {"value": good, "threshold": len(steps), "unit": "steps", "evidence": tuple(evidence)}
    if good == len(steps):
        return Verdict.passed(summary, **kw)
    return Verdict.failed(summary, score=good / len(steps), **kw)


def _crud_steps(run: CrudRun) -> list[tuple[str, bool, Evidence]]:
    """(step, behaved, evidence) for create, read, list, update, delete and read-after-delete."""
    created = run.create is not None and run.create.status == 201 and run.item_id is not None
    gone = _status_in(run.after_delete, 404)
    still_there = " (the item is still there)" if _status_in(run.after_delete, 200) else ""
    return [
        _step("create", run.create, created, _create_problem(run)),
        _step("read", run.read, _status_in(run.read, 200), _expected(run.read, "200")),
        _step("list", run.listing, _status_in(run.listing, 200) and run.in_list, _list_problem(run)),
        _step("update", run.update, _status_in(run.update, 200, 204) and run.change_visible, _update_problem(run)),
        _step("delete", run.delete, _status_in(run.delete, 200, 204), _expected(run.delete, "204 (or 200)")),
        _step("read after delete", run.after_delete, gone, _expected(run.after_delete, "404") + still_there),
    ]


def _step(name: str, exchange: Exchange | None, ok: bool, problem: str) -> tuple[str, bool, Evidence]:
    if exchange is None:
        return name, ok, Evidence(f"{name}: not attempted (no id from the create step)")
    return name, ok, exchange_evidence(exchange, f"{name}: {'ok' if ok else problem}")


def _status_in(exchange: Exchange | None, *statuses: int) -> bool:
    return exchange is not None and exchange.status in statuses


def _expected(exchange: Exchange | None, statuses: str) -> str:
    got = exchange.status if exchange is not None and exchange.status is not None else "no response"
    return f"expected {statuses}, got {got}"


def _create_problem(run: CrudRun) -> str:
    if run.create is None or run.create.status not in (200, 201):
        hint = f" (login: {run.login_problem})" if run.login_problem else ""
        return _expected(run.create, "201") + hint
    if run.item_id is None:
        return f"no id in the body (looked for {', '.join(ID_PATHS)})"
    return _expected(run.create, "201 Created")


def _list_problem(run: CrudRun) -> str:
    if not _status_in(run.listing, 200):
        return _expected(run.listing, "200")
    return f"the new item ({run.item_id}) is not in the list"


def _update_problem(run: CrudRun) -> str:
    if not _status_in(run.update, 200, 204):
        return _expected(run.update, "200 or 204")
    reread = f" ({run.reread.summary})" if run.reread is not None else ""
    return f"the change is not visible when the item is read again{reread}"


@check(
    "api.errors",
    title="Error responses are standardised JSON without stack traces",
    requires=("http.errors",),
    remediation="End the Express app with a 404 handler and one error-handling middleware, "
    "`app.use((err, req, res, next) => res.status(err.status || 500).json({ error: { code, message } }))`, "
    "that logs `err.stack` but never sends it, answers 400 for invalid JSON (`err.type === "
    "'entity.parse.failed'`), 400/422 for validation errors and 401 without a token, all in the same shape. "
    "Flask: `@app.errorhandler(HTTPException)` returning `jsonify(error=...)`; FastAPI: exception handlers "
    "for `HTTPException` and `RequestValidationError`, with `debug=False`.",
)
def api_errors(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Provokes 404s, a validation error, a missing token and malformed JSON; all must share one JSON shape."""
    errors = facts.get("http.errors", ErrorFacts)
    shapes = Counter(r.shape for r in errors.replies if r.is_json).most_common()
    common = shapes[0][0] if shapes else None
    judged = [(r, _error_problems(r, common)) for r in errors.replies]
    seen = ", ".join(f"{shape} ({n})" for shape, n in shapes) or "none"
    evidence = [Evidence(f"error body shapes seen: {seen}")]
    evidence += [exchange_evidence(r.exchange, f"{r.case}: {'; '.join(p) or 'ok'}") for r, p in judged]
    evidence += [Evidence(f"not provoked: {s}") for s in errors.skipped]
    bad = sum(1 for _, p in judged if p)
    summary = f"{len(judged) - bad} of {len(judged)} provoked errors answered as expected" + (
        f"; {len(shapes)} different error shapes" if len(shapes) > 1 else ""
    )
    kw: dict[str, Any] = {"value": bad, "threshold": 0, "unit": "bad error responses", "evidence": tuple(evidence)}
    if bad == 0 and len(judged) < MIN_PROVOKED:
        return Verdict.warned(f"{summary}; too few to judge the error format (set [api] resource)", **kw)
    if bad == 0:
        return Verdict.passed(summary, **kw)
    # Each reply can fail on status, JSON, leaks and shape: partial credit per property that held.
    problems = sum(len(p) for _, p in judged)
    return Verdict.failed(summary, score=max(0.0, 1 - problems / (4 * len(judged))), **kw)


def _error_problems(reply: ErrorReply, common: str | None) -> list[str]:
    """What is wrong with one error response: its status, not JSON, leaked internals, an unusual shape."""
    status = reply.exchange.status
    problems = []
    if status not in EXPECTED_ERRORS[reply.case]:
        expected = (
            "a 4xx status" if reply.case == "malformed JSON" else " or ".join(map(str, EXPECTED_ERRORS[reply.case]))
        )
        problems.append(f"expected {expected}, got {status if status is not None else 'no response'}")
    if not reply.is_json:
        problems.append(f"not JSON (Content-Type {_content_type(reply.exchange)})")
    if reply.leaks:
        problems.append(f"leaks internals: {', '.join(repr(x) for x in reply.leaks[:3])}")
    if reply.is_json and reply.shape != common:
        problems.append(f"shape {reply.shape} differs from the usual {common}")
    return problems
