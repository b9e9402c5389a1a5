"""The `api` probe and the `api.openapi` check against running Express services on loopback ports."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from grader.model import Outcome
from grader.probes.contract import NON_CONFORMING, ContractRun
from grader.probes.live import ApiMap, LiveService
from tests.live.conftest import Serve, free_port, wait_until_answering
from tests.live.harness import fact_store, judge

ITEM_SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "Items", "version": "1.0.0"},
    "servers": [{"url": "/api"}],
    "paths": {
        "/items": {
            "get": {
                "responses": {
                    "200": {
                        "description": "the items",
                        "content": {
                            "application/json": {
                                "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}}
                            }
                        },
                    },
                    "400": {"description": "bad query"},
                }
            }
        },
        "/items/{id}": {
            "get": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "one item"}, "404": {"description": "missing"}},
            }
        },
    },
    "components": {
        "schemas": {
            "Item": {
                "type": "object",
                "required": ["id", "name"],
                "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
            }
        }
    },
}

# An Express app whose docs miss a route and whose list answer breaks the documented schema (id is a string).
ITEMS_APP = {
    "package.json": '{"name": "items", "private": true}',
    "src/app.js": f"""\
        const express = require('express');
        const items = require('./items');
        const app = express();
        app.get('/openapi.json', (req, res) => res.json({json.dumps(ITEM_SPEC)}));
        app.use('/api/items', items);
        app.get('/admin/stats', (req, res) => res.json({{ items: 1 }}));
        app.listen(Number(process.env.PORT), '127.0.0.1');
    """,
    "src/items.js": """\
        const router = require('express').Router();
        router.get('/', (req, res) => res.json([{ id: 'one', name: 'first' }]));
        router.get('/:id', (req, res) => res.status(404).json({ error: 'not found' }));
        module.exports = router;
    """,
}


@pytest.fixture
def items_app(tmp_path: Path, installed_fixture: Callable[[str], Path]) -> Iterator[tuple[Path, LiveService]]:
    """The items app, run with express from the installed express-good fixture; killed after the test."""
    express_modules = installed_fixture("express-good") / "node_modules"
    for name, text in ITEMS_APP.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text))
    (tmp_path / "node_modules").symlink_to(express_modules)
    port = free_port()
    proc = subprocess.Popen(
        ["node", "src/app.js"],
        cwd=tmp_path,
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until_answering(f"http://127.0.0.1:{port}/openapi.json", proc)
        yield tmp_path, LiveService(f"http://127.0.0.1:{port}", managed=False)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_the_spec_is_discovered_over_http_from_express_good(
    serve: Serve, installed_fixture: Callable[[str], Path]
) -> None:
    live = serve("express-good")
    api = fact_store(live, None, installed_fixture("express-good")).get("api")
    assert isinstance(api, ApiMap), api
    assert (api.source, api.valid, api.problems) == ("/api-docs.json", True, ())
    ops = {(op.method, op.path): op for op in api.operations}
    assert ops["POST", "/tasks"].requires_auth and ops["POST", "/tasks"].request_schema is not None
    assert not ops["POST", "/auth/register"].requires_auth
    assert (api.resource, api.register_path, api.login_path) == ("/tasks", "/auth/register", "/auth/login")


def test_api_openapi_passes_on_express_good(serve: Serve, installed_fixture: Callable[[str], Path]) -> None:
    store = fact_store(serve("express-good"), None, installed_fixture("express-good"))
    began = time.monotonic()
    result = judge(store, "api.openapi")
    run = store.get("api.conformance")
    assert isinstance(run, ContractRun) and run.ran and run.tested
    assert result.outcome is Outcome.PASS, [e.message for e in result.evidence]
    assert not run.findings, [f.message for f in run.findings]
    assert run.requests <= 150 and time.monotonic() - began < 40


def test_api_openapi_finds_an_undocumented_route_and_an_answer_that_breaks_the_schema(
    items_app: tuple[Path, LiveService],
) -> None:
    root, live = items_app
    result = judge(fact_store(live, None, root), "api.openapi")
    assert result.outcome is Outcome.FAIL and result.score is not None and 0 < result.score < 1
    undocumented = next(e for e in result.evidence if e.message == "undocumented route: GET /admin/stats")
    assert undocumented.location is not None and undocumented.location.path == "src/app.js"
    finding = next(e for e in result.evidence if e.message.startswith(f"GET /api/items: {NON_CONFORMING}"))
    assert finding.detail is not None and "> GET /api/items" in finding.detail and '"id":"one"' in finding.detail
    assert "1 of 2 operations answer as documented" in result.summary
