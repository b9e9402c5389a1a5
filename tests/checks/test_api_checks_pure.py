"""The API and observability checks on hand-built facts (no I/O), and the pure helpers of their probes."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from checks.api import NO_RESOURCE, api_crud, api_errors, api_json
from checks.observability import log_line_problem, obs_health, obs_metrics, obs_structured_logs
from grader.facts import Facts
from grader.model import Outcome, Verdict
from grader.probes.api_config import AuthConfig
from grader.probes.http_api import (
    CrudRun,
    ErrorFacts,
    ErrorReply,
    JsonFacts,
    JsonReply,
    absent_id_like,
    body_shape,
    find_leaks,
)
from grader.probes.http_obs import HealthFacts, LogFacts, MetricFamily, MetricsFacts
from grader.probes.http_session import (
    Credentials,
    credential_body,
    find_id,
    find_token,
    is_json_type,
)
from grader.probes.live import Exchange

JSON = "application/json; charset=utf-8"


def ex(
    method: str, url: str, status: int | None, body: str = "", ms: float = 5.0, content_type: str = JSON
) -> Exchange:
    """A hand-built exchange."""
    headers = {"Content-Type": content_type}
    return Exchange(method, url, {}, None, status, headers, body, ms, None if status else "ConnectError")


def run(check: Callable[[Facts, Mapping[str, Any]], Verdict], fact_id: str, fact: object, **options: Any) -> Verdict:
    """Call a check on one fact with its default options (overridden by `options`)."""
    spec = check.__grade_check__  # type: ignore[attr-defined]
    return check(Facts({fact_id: fact}), {**spec.defaults, **options})


# api.json


def test_json_check_ignores_a_missing_root_and_scores_the_share_of_json_replies() -> None:
    replies = (
        JsonReply(ex("GET", "/", 404, "Cannot GET /", content_type="text/html"), False, False, False),
        JsonReply(ex("GET", "/tasks", 401, '{"error":"no token"}'), True, True, True),
        JsonReply(ex("GET", "/health", 200, "OK", content_type="text/plain"), False, False, False),
    )
    verdict = run(api_json, "http.json", JsonFacts(replies))
    assert verdict.outcome is Outcome.FAIL and verdict.score == 0.5
    assert verdict.evidence[0].message == "GET /health -> 200: Content-Type is text/plain; the body is not JSON"
    assert len(verdict.evidence) == 2


def test_json_check_fails_when_nothing_answered() -> None:
    verdict = run(api_json, "http.json", JsonFacts(()))
    assert verdict.outcome is Outcome.FAIL and verdict.score == 0.0


# api.crud

ITEM = "/tasks/7"


def good_run(**changes: Any) -> CrudRun:
    """A CRUD round trip where every step behaved, with `changes` applied."""
    facts: dict[str, Any] = {
        "resource": "/tasks",
        "create": ex("POST", "/tasks", 201, '{"id": 7}'),
        "item_id": "7",
        "read": ex("GET", ITEM, 200),
        "listing": ex("GET", "/tasks", 200),
        "in_list": True,
        "update": ex("PUT", ITEM, 200),
        "reread": ex("GET", ITEM, 200),
        "change_visible": True,
        "delete": ex("DELETE", ITEM, 204),
        "after_delete": ex("GET", ITEM, 404),
    }
    return CrudRun(**{**facts, **changes})


def test_crud_passes_when_every_step_behaves() -> None:
    verdict = run(api_crud, "http.crud", good_run())
    assert verdict.outcome is Outcome.PASS and verdict.score == 1.0
    assert verdict.summary == "6 of 6 CRUD steps behaved on /tasks"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"create": ex("POST", "/tasks", 200, '{"id": 7}')}, "create: expected 201 Created, got 200"),
        ({"in_list": False}, "list: the new item (7) is not in the list"),
        ({"change_visible": False}, "update: the change is not visible when the item is read again"),
        ({"update": ex("PUT", ITEM, 404)}, "update: expected 200 or 204, got 404"),
        ({"after_delete": ex("GET", ITEM, 200)}, "read after delete: expected 404, got 200 (the item is still there)"),
    ],
)
def test_crud_gives_credit_for_each_step_that_behaved(changes: dict[str, Any], problem: str) -> None:
    verdict = run(api_crud, "http.crud", good_run(**changes))
    assert verdict.outcome is Outcome.FAIL and verdict.score == pytest.approx(5 / 6)
    assert any(problem in e.message for e in verdict.evidence), [e.message for e in verdict.evidence]


NO_ID: dict[str, Any] = dict.fromkeys(("item_id", "read", "listing", "update", "reread", "delete", "after_delete"))


def test_crud_without_an_id_says_where_it_looked_and_why_login_failed() -> None:
    login = (ex("POST", "/auth/login", 404),)
    unauthorised = good_run(create=ex("POST", "/tasks", 401), login=login, login_problem="POST -> 404", **NO_ID)
    verdict = run(api_crud, "http.crud", unauthorised)
    assert verdict.score == 0.0
    messages = [e.message for e in verdict.evidence]
    assert "login failed: POST -> 404" in messages and "POST /auth/login -> 404" in messages
    assert "POST /tasks -> 401: create: expected 201, got 401 (login: POST -> 404)" in messages
    no_id = run(api_crud, "http.crud", good_run(create=ex("POST", "/tasks", 201, "{}"), **NO_ID))
    assert any("no id in the body (looked for id, _id, uuid, data.id" in e.message for e in no_id.evidence)
    assert "read: not attempted (no id from the create step)" in [e.message for e in no_id.evidence]


def test_crud_without_a_resource_says_how_to_name_it() -> None:
    verdict = run(api_crud, "http.crud", CrudRun(resource=None))
    assert verdict.outcome is Outcome.FAIL and verdict.summary == NO_RESOURCE


# api.errors


def error(case: str, status: int, body: Any, *, content_type: str = "application/json") -> ErrorReply:
    """An error reply as the probe would record it."""
    text = body if isinstance(body, str) else json.dumps(body)
    is_json = content_type == "application/json"
    shape = body_shape(json.loads(text)) if is_json else None
    return ErrorReply(case, ex("GET", "/x", status, text, content_type=content_type), is_json, shape, find_leaks(text))


GOOD_ERRORS = (
    error("unknown route", 404, {"error": {"message": "no route"}}),
    error("unknown id", 404, {"error": {"message": "no task"}}),
    error("invalid body", 422, {"error": {"message": "title is required"}}),
    error("no token", 401, {"error": {"message": "log in"}}),
    error("malformed JSON", 400, {"error": {"message": "bad JSON"}}),
)


def test_errors_pass_when_all_share_one_json_shape() -> None:
    verdict = run(api_errors, "http.errors", ErrorFacts(GOOD_ERRORS))
    assert verdict.outcome is Outcome.PASS
    assert verdict.evidence[0].message == "error body shapes seen: {error} (5)"


def test_errors_warn_when_too_few_could_be_provoked() -> None:
    verdict = run(api_errors, "http.errors", ErrorFacts(GOOD_ERRORS[:1], skipped=("unknown id", "invalid body")))
    assert verdict.outcome is Outcome.WARN and verdict.score == 1.0
    assert verdict.summary.endswith("too few to judge the error format (set [api] resource)")


def test_errors_flag_wrong_statuses_odd_shapes_text_and_leaks() -> None:
    stack = "Error: boom\n    at Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)"
    replies = (
        *GOOD_ERRORS[:2],
        error("invalid body", 400, {"message": "title is required"}),
        error("no token", 403, {"error": {"message": "forbidden"}}),
        error("malformed JSON", 500, stack, content_type="text/html"),
    )
    verdict = run(api_errors, "http.errors", ErrorFacts(replies, skipped=("unknown id",)))
    assert verdict.outcome is Outcome.FAIL and verdict.value == 3
    messages = [e.message for e in verdict.evidence]
    assert "GET /x -> 400: invalid body: shape {message} differs from the usual {error}" in messages
    assert "GET /x -> 403: no token: expected 401, got 403" in messages
    assert messages[5].startswith("GET /x -> 500: malformed JSON: expected a 4xx status, got 500; not JSON")
    assert "leaks internals: 'at Layer.handle'" in messages[5]
    assert "not provoked: unknown id" in messages
    assert verdict.score == pytest.approx(1 - 5 / 20)  # 5 failed properties of 4 x 5


@pytest.mark.parametrize(
    ("body", "leak"),
    [
        ('{"stack":"TypeError: x\\n    at Object.<anonymous> (src/app.js:3:9)"}', "at Object.<anonymous>"),
        ("Error\n    at next (/home/ana/api/node_modules/express/lib/router/index.js:280:10)", "/home/ana/api/"),
        ('Traceback (most recent call last):\n  File "app/main.py", line 4, in <module>', "Traceback"),
        ('{"detail": "File \\"/srv/app.py\\", line 9"}', "line 9"),
    ],
)
def test_find_leaks_spots_stack_traces_and_server_paths(body: str, leak: str) -> None:
    assert any(leak in found for found in find_leaks(body)), find_leaks(body)


def test_ordinary_error_bodies_leak_nothing() -> None:
    assert find_leaks('{"error":{"code":"NOT_FOUND","message":"Route GET /tasks/at-home not found"}}') == ()
    assert find_leaks('{"detail": [{"loc": ["body", "title"], "msg": "field required"}]}') == ()


def test_absent_ids_look_like_the_real_ones() -> None:
    assert absent_id_like("42") == "987654321"
    assert absent_id_like("65a1b2c3d4e5f6a7b8c9d0e1") == "0" * 24
    assert len(absent_id_like(None)) == 36 and len(absent_id_like("a-uuid")) == 36


# obs.health


def health(*ms: float, status: int = 200, **kw: Any) -> HealthFacts:
    """Health facts for requests to /health that took `ms` each."""
    timed = tuple(ex("GET", "/health", status, '{"status":"ok"}', t) for t in ms)
    return HealthFacts("/health", (), timed, **{"is_json": True, "status_value": "ok", **kw})


def test_health_passes_fast_with_a_json_status_and_notes_readiness() -> None:
    verdict = run(obs_health, "http.health", health(3, 4, 900, 5, 6, ready=ex("GET", "/ready", 200)))
    assert verdict.outcome is Outcome.PASS and verdict.value == 5  # the median shrugs off one slow request
    assert verdict.evidence[-1].message == "GET /ready -> 200: readiness endpoint"


def test_health_fails_slow_or_missing_and_warns_without_a_status() -> None:
    slow = run(obs_health, "http.health", health(800, 900, 1000, 1100, 1200))
    assert slow.outcome is Outcome.FAIL and slow.score == pytest.approx(0.5) and slow.threshold == 500
    overridden = run(obs_health, "http.health", health(800, 900, 1000, 1100, 1200), max_ms=2000)
    assert overridden.outcome is Outcome.PASS
    broken = run(obs_health, "http.health", health(5, 5, 5, 5, 5, status=503))
    assert broken.outcome is Outcome.FAIL and broken.score == 0.0
    plain = run(obs_health, "http.health", health(5, 5, 5, 5, 5, is_json=False, status_value=None))
    assert plain.outcome is Outcome.WARN and plain.score == 0.9
    missing = run(obs_health, "http.health", HealthFacts(None, (ex("GET", "/health", 404),)))
    assert missing.outcome is Outcome.FAIL and missing.evidence[0].message == "GET /health -> 404"


# obs.metrics

METRICS = ex("GET", "/metrics", 200)


def test_metrics_checks_the_request_histogram_and_its_labels() -> None:
    labelled = MetricFamily("http_request_duration_seconds", "histogram", ("method", "path", "status"))
    ok = run(obs_metrics, "http.metrics", MetricsFacts(METRICS, (labelled,)))
    assert ok.outcome is Outcome.PASS
    bare = MetricFamily("http_server_latency_ms", "histogram", ())
    warned = run(obs_metrics, "http.metrics", MetricsFacts(METRICS, (bare,)))
    assert (
        warned.outcome is Outcome.WARN and warned.summary == "http_server_latency_ms has no method/route/status label"
    )


def test_metrics_fail_when_absent_or_unparseable() -> None:
    absent = run(obs_metrics, "http.metrics", MetricsFacts(ex("GET", "/metrics", 404), parse_error="no 200"))
    assert absent.outcome is Outcome.FAIL and absent.score == 0.0 and absent.summary == "no 200"
    empty = run(obs_metrics, "http.metrics", MetricsFacts(METRICS))
    assert empty.summary == "/metrics exposes no metrics"


# obs.structured_logs


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"level":30,"time":1700000000000,"msg":"request completed"}', ""),  # pino
        ('{"event":"login","level":"info","timestamp":"2030-01-01T00:00:00Z"}', ""),  # structlog
        ('{"asctime":"2030-01-01 00:00:00","levelname":"INFO","message":"up"}', ""),  # python-json-logger
        ('{"@timestamp":"2030-01-01T00:00:00Z","log.level":"info","message":"up"}', ""),  # ECS
        ('{"level":"info","msg":"up"}', "no time"),
        ('["info","up"]', "not a JSON object"),
        ("GET /tasks 200 3 ms", "not JSON"),
        ('{"hello":"world"}', "no level, time, message"),
    ],
)
def test_log_line_problem(line: str, problem: str) -> None:
    assert log_line_problem(line) == problem


def test_structured_logs_ignore_npm_banners_and_honour_min_share() -> None:
    pino = '{"level":30,"time":1,"msg":"ok"}'
    lines = ("> api@1.0.0 start", "> node src/server.js", pino, pino, pino, "listening on 3000")
    verdict = run(obs_structured_logs, "http.logs", LogFacts(lines, len(lines)))
    assert verdict.outcome is Outcome.FAIL and verdict.value == 75.0 and verdict.threshold == 80.0
    assert verdict.evidence[0].message == "not JSON: listening on 3000"
    lenient = run(obs_structured_logs, "http.logs", LogFacts(lines, len(lines)), min_share=0.7)
    assert lenient.outcome is Outcome.PASS
    silent = run(obs_structured_logs, "http.logs", LogFacts((), 0))
    assert silent.outcome is Outcome.FAIL and "printed nothing" in silent.summary


# http_session helpers


def test_tokens_and_ids_are_found_where_apis_usually_put_them() -> None:
    assert find_token({"data": {"token": "t1"}}) == "t1"
    assert find_token({"accessToken": "t2", "user": {}}) == "t2"
    assert find_token({"token": ""}) is None
    assert find_id({"_id": "65a1"}) == "65a1" and find_id({"data": {"id": 3}}) == "3"
    assert find_id({"id": True}) is None


def test_credential_bodies_follow_the_schema_or_grade_toml() -> None:
    schema = {
        "type": "object",
        "required": ["username", "password", "role"],
        "properties": {
            "username": {"type": "string"},
            "password": {"type": "string", "minLength": 8},
            "role": {"type": "string", "enum": ["user", "admin"]},
            "fullName": {"type": "string"},
        },
    }
    creds = Credentials("a@example.com", "grader_1", "Secret-123!")
    register = credential_body(schema, creds, login=False)
    assert register == {"username": "grader_1", "password": "Secret-123!", "role": "user", "fullName": "Grader Bot"}
    assert credential_body(None, creds, login=True) == {"email": "a@example.com", "password": "Secret-123!"}
    auth = AuthConfig(username_field="login", password_field="pass", extra={"terms": True})
    assert credential_body(None, creds, login=False, auth=auth) == {
        "login": "grader_1",
        "pass": "Secret-123!",
        "terms": True,
    }
    assert credential_body(None, creds, login=True, auth=auth) == {"login": "grader_1", "pass": "Secret-123!"}
    assert "Secret-123!" not in repr(creds)


def test_json_content_types() -> None:
    assert is_json_type({"content-type": "application/problem+json"})
    assert is_json_type({"Content-Type": "application/json; charset=utf-8"})
    assert not is_json_type({"Content-Type": "text/html"}) and not is_json_type({})
