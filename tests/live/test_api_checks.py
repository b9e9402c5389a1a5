"""The API checks against real services: the bundled Express fixtures and small Python servers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from checks.api import NO_RESOURCE, api_crud, api_errors, api_json
from grader.model import Outcome
from grader.probes.live import Operation
from tests.live.conftest import Serve
from tests.live.harness import EXPRESS_GOOD_API, Reply, api_map, fact_store, judge, python_service

pytestmark = pytest.mark.slow

TODOS_API = api_map(
    Operation("GET", "/todos"),
    Operation("POST", "/todos"),
    Operation("GET", "/todos/{id}"),
    Operation("PUT", "/todos/{id}"),
    Operation("DELETE", "/todos/{id}"),
    resource="/todos",
)
ITEMS_API = api_map(
    Operation("GET", "/items"),
    Operation("POST", "/items"),
    Operation("GET", "/items/{id}"),
    Operation("PATCH", "/items/{id}"),
    resource="/items",
)
PY_TRACEBACK = 'Traceback (most recent call last):\n  File "/app/server.py", line 12, in do_POST\nValueError: bad'


def test_express_good_passes_every_api_check(serve: Serve, tmp_path: Path) -> None:
    store = fact_store(serve("express-good"), EXPRESS_GOOD_API, tmp_path)
    results = [judge(store, check) for check in (api_json, api_crud, api_errors)]
    for result in results:
        assert result.outcome is Outcome.PASS, (result.check_id, result.summary, [e.message for e in result.evidence])
    json_result, crud, errors = results
    assert any(e.message == "GET /tasks -> 401: JSON" for e in json_result.evidence)  # a 401 in JSON is fine
    steps = [re.sub(r"/tasks/[\w-]+", "/tasks/ID", e.message) for e in crud.evidence]
    assert steps == [
        "POST /tasks -> 201: create: ok",
        "GET /tasks/ID -> 200: read: ok",
        "GET /tasks -> 200: list: ok",
        "PUT /tasks/ID -> 200: update: ok",
        "DELETE /tasks/ID -> 204: delete: ok",
        "GET /tasks/ID -> 404: read after delete: ok",
    ]
    assert all("Authorization: [redacted]" in (e.detail or "") for e in crud.evidence)  # the token is never shown
    cases = [e.message.split(": ")[1] for e in errors.evidence[1:]]
    assert cases == ["unknown route", "unknown id", "invalid body", "no token", "malformed JSON"]
    assert errors.evidence[0].message == "error body shapes seen: {error} (5)"


def test_express_flawed_fails_with_the_exchanges_as_evidence(serve: Serve, tmp_path: Path) -> None:
    store = fact_store(serve("express-flawed"), TODOS_API, tmp_path)
    as_json, crud, errors = (judge(store, check) for check in (api_json, api_crud, api_errors))
    assert as_json.outcome is Outcome.FAIL and 0 < (as_json.score or 0) < 1  # `/` is text, /todos is JSON
    assert as_json.evidence[0].message.startswith("GET / -> 200: Content-Type is text/html")
    assert crud.outcome is Outcome.FAIL and crud.score == pytest.approx(5 / 6)
    assert "read after delete: expected 404, got 200 (the item is still there)" in crud.evidence[-1].message
    assert crud.remediation and "Number(req.params.id)" in crud.remediation
    assert errors.outcome is Outcome.FAIL
    malformed = next(e for e in errors.evidence if "malformed JSON" in e.message)
    assert "got 500" in malformed.message and "leaks internals" in malformed.message
    assert malformed.detail and '> {"bad json' in malformed.detail


def test_text_responses_fail_the_json_check(tmp_path: Path) -> None:
    with python_service(lambda method, path, body: Reply(200, "ok", "text/plain")) as live:
        result = judge(fact_store(live, TODOS_API, tmp_path), api_json)
    assert result.outcome is Outcome.FAIL and result.score == 0.0
    assert "Content-Type is text/plain; the body is not JSON" in result.evidence[0].message


class ItemsApp:
    """A JSON CRUD service without DELETE whose errors come in three different shapes."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, object]] = {}

    def __call__(self, method: str, path: str, body: bytes) -> Reply:
        parts = path.strip("/").split("/")
        if parts[0] != "items" or len(parts) > 2:
            return Reply(404, {"error": "no such route"})
        if len(parts) == 1:
            return self.create(body) if method == "POST" else Reply(200, {"items": list(self.items.values())})
        item = self.items.get(parts[1])
        if item is None:
            return Reply(404, {"error": "not found"})
        if method == "PATCH":
            item.update(json.loads(body))
        return Reply(405, {"message": "not allowed"}) if method == "DELETE" else Reply(200, item)

    def create(self, body: bytes) -> Reply:
        try:
            data = json.loads(body)
        except ValueError:
            return Reply(400, {"msg": "bad json"})
        if "title" not in data:
            return Reply(422, {"errors": [{"field": "title"}]})
        item = {**data, "id": len(self.items) + 1}
        self.items[str(item["id"])] = item
        return Reply(201, item)


def test_missing_delete_and_mixed_error_shapes_get_partial_credit(tmp_path: Path) -> None:
    with python_service(ItemsApp()) as live:
        store = fact_store(live, ITEMS_API, tmp_path)
        crud, errors = judge(store, api_crud), judge(store, api_errors)
    assert crud.outcome is Outcome.FAIL and crud.score == pytest.approx(4 / 6)
    assert [e.message.split(" -> ")[0] for e in crud.evidence[-3:]] == [
        "PATCH /items/1",
        "DELETE /items/1",
        "GET /items/1",
    ]
    assert "delete: expected 204 (or 200), got 405" in crud.evidence[-2].message
    assert errors.outcome is Outcome.FAIL and 0 < (errors.score or 0) < 1
    assert errors.evidence[0].message == "error body shapes seen: {error} (2), {errors} (1), {msg} (1)"
    assert "3 different error shapes" in errors.summary
    assert any(e.message == "not provoked: no token (no protected route is known)" for e in errors.evidence)


def test_a_python_traceback_in_an_error_is_a_leak(tmp_path: Path) -> None:
    def app(method: str, path: str, body: bytes) -> Reply:
        return Reply(500, PY_TRACEBACK, "text/plain") if method == "POST" else Reply(404, {"error": "nope"})

    with python_service(app) as live:
        result = judge(fact_store(live, ITEMS_API, tmp_path), api_errors)
    malformed = next(e for e in result.evidence if "malformed JSON" in e.message)
    assert "Traceback (most recent call last)" in malformed.message and "line 12" in malformed.message


def test_no_resource_and_no_service(tmp_path: Path) -> None:
    with python_service(lambda method, path, body: Reply(404, {"error": "nope"})) as live:
        result = judge(fact_store(live, api_map(), tmp_path / "a"), api_crud)
    assert result.outcome is Outcome.FAIL and result.summary == NO_RESOURCE
    down = fact_store(None, TODOS_API, tmp_path / "b", down_reason="npm start exited with 1")
    for check in (api_json, api_crud, api_errors):
        result = judge(down, check)
        assert result.outcome is Outcome.NOT_RUN
        assert result.summary == "not run: service did not start: npm start exited with 1"
