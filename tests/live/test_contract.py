"""Negative testing (`api.negative` probe, `api.validation` check) against live services on loopback ports."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from grader.model import Outcome
from grader.probes.contract import ACCEPTED_INVALID, SERVER_ERROR, ContractRun
from grader.probes.live import LiveService
from tests.live.conftest import Serve
from tests.live.harness import QuietHandler, fact_store, judge


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


NAMED = {"type": "object", "required": ["title"], "properties": {"title": {"type": "string", "minLength": 1}}}
NOTES_SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "Notes", "version": "1.0.0"},
    "paths": {
        "/notes": {
            "post": {
                "requestBody": _body(NAMED),
                "responses": {"201": {"description": "ok"}, "400": {"description": "bad"}},
            }
        },
        "/tags": {
            "post": {
                "requestBody": _body(NAMED),
                "responses": {"201": {"description": "ok"}, "400": {"description": "bad"}},
            }
        },
        "/health": {"get": {"responses": {"200": {"description": "up"}}}},
    },
}


class NotesHandler(QuietHandler):
    """POST /notes crashes (500) on a body without a string title; POST /tags accepts anything."""

    def do_GET(self) -> None:
        spec = getattr(self.server, "spec", None)
        if self.path == "/openapi.json" and spec is not None:
            self._json(200, spec)
        elif self.path == "/health":
            self._json(200, {"status": "ok"})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            self._json(400, {"error": "malformed JSON"})
            return
        if self.path == "/tags":
            self._json(201, {"tag": body})
            return
        try:
            self._json(201, {"title": body["title"].strip()})
        except Exception:  # what an unvalidated handler does: the framework turns the crash into a 500
            self._json(500, {"error": "Internal Server Error"})

    def _json(self, status: int, data: Any) -> None:
        self.send_body(status, data)


@pytest.fixture
def notes_server() -> Iterator[Callable[[bool], LiveService]]:
    """Start the notes server on a free loopback port (serving its spec or not); stopped after the test."""
    servers: list[ThreadingHTTPServer] = []

    def start(with_spec: bool) -> LiveService:
        server = ThreadingHTTPServer(("127.0.0.1", 0), NotesHandler)
        server.spec = NOTES_SPEC if with_spec else None  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return LiveService(f"http://127.0.0.1:{server.server_address[1]}", managed=False)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_api_validation_finds_no_server_error_on_express_good(
    serve: Serve, installed_fixture: Callable[[str], Path]
) -> None:
    store = fact_store(serve("express-good"), None, installed_fixture("express-good"))
    began = time.monotonic()
    result = judge(store, "api.validation")
    elapsed = time.monotonic() - began
    run = store.get("api.negative")
    assert isinstance(run, ContractRun) and run.ran
    assert not [f for f in run.findings if f.kind == SERVER_ERROR], [f.message for f in run.findings]
    assert "POST /tasks" in run.tested and "POST /auth/register" in run.tested  # with and without a token
    assert result.outcome in (Outcome.PASS, Outcome.WARN), result.summary
    assert run.requests <= 250 and elapsed < 45


def test_a_500_on_a_bad_body_is_a_finding_with_the_request(tmp_path: Path, notes_server: Any) -> None:
    store = fact_store(notes_server(True), None, tmp_path)
    result = judge(store, "api.validation")
    run = store.get("api.negative")
    assert isinstance(run, ContractRun)
    assert result.outcome is Outcome.FAIL and result.score == 0.0
    assert run.tested == ("POST /notes", "POST /tags") and run.untested == (("GET /health", "takes no input"),)
    crash = next(f for f in run.findings if f.operation == "POST /notes")
    assert crash.kind == SERVER_ERROR and crash.exchange.status == 500
    assert crash.exchange.method == "POST" and crash.exchange.request_body is not None
    accepted = next(f for f in run.findings if f.operation == "POST /tags")
    assert accepted.kind == ACCEPTED_INVALID and accepted.exchange.status == 201
    assert len(run.findings) == 2  # each operation stops at its first finding
    assert any(e.detail is not None and "< 500" in e.detail for e in result.evidence)


def test_without_a_spec_never_valid_bodies_are_sent_to_the_grade_toml_routes(tmp_path: Path, notes_server: Any) -> None:
    store = fact_store(notes_server(False), None, tmp_path, config={"api": {"routes": ["POST /notes", "GET /health"]}})
    result = judge(store, "api.validation")
    run = store.get("api.negative")
    assert isinstance(run, ContractRun)
    assert result.outcome is Outcome.FAIL and run.tested == ("POST /notes",)
    (finding,) = run.findings
    assert (finding.kind, finding.exchange.request_body) == (SERVER_ERROR, "[]")
    assert run.requests == 2  # malformed JSON got its 400, the array crashed the handler
