"""The `api` probe on repositories without a running service: spec files, grade.toml routes, static routes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from grader.errors import ConfigError
from grader.model import Outcome
from grader.probes.api_config import parse_api_config, parse_auth_config
from grader.probes.live import ApiMap
from grader.probes.openapi import example_body, unique_suffix
from grader.probes.routes import scan_routes
from tests.live.harness import fact_store, judge

TASKS_SPEC = """\
openapi: 3.0.3
info: {title: Tasks, version: "1.0"}
security: [{bearerAuth: []}]
paths:
  /auth/register:
    post:
      security: []
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Register"}
      responses: {"201": {description: created}, "400": {description: invalid}}
  /auth/login:
    post:
      security: []
      responses: {"200": {description: ok}, "401": {description: bad credentials}}
  /users:
    get: {responses: {"200": {description: ok}}}
    post: {responses: {"201": {description: created}}}
  /users/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    get: {responses: {"200": {description: ok}}}
  /tasks:
    get:
      tags: [tasks]
      responses: {"200": {description: ok}, "401": {description: no token}}
    post:
      operationId: createTask
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Task"}
      responses: {"201": {description: created}, "400": {description: invalid}}
  /tasks/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    get: {responses: {"200": {description: ok}, "404": {description: missing}}}
components:
  securitySchemes:
    bearerAuth: {type: http, scheme: bearer}
  schemas:
    Register:
      type: object
      required: [email, password]
      properties:
        email: {type: string, format: email}
        password: {type: string, minLength: 8}
    Task:
      type: object
      required: [title, owner]
      properties:
        title: {type: string, minLength: 1}
        owner: {$ref: "#/components/schemas/Register"}
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return root


def api_of(root: Path, config: dict[str, Any] | None = None) -> ApiMap:
    value = fact_store(None, None, root, config=config).get("api")
    assert isinstance(value, ApiMap), value
    return value


def test_a_yaml_spec_in_docs_is_found_validated_and_mapped(tmp_path: Path) -> None:
    api = api_of(write(tmp_path, {"docs/openapi.yaml": TASKS_SPEC, "src/app.js": ""}))
    assert (api.source, api.valid, api.problems, api.from_config) == ("docs/openapi.yaml", True, (), False)
    ops = {(op.method, op.path): op for op in api.operations}
    create = ops["POST", "/tasks"]
    assert (create.operation_id, create.requires_auth, create.responses) == ("createTask", True, ("201", "400"))
    assert create.request_schema is not None
    assert create.request_schema["properties"]["owner"]["properties"]["email"] == {"type": "string", "format": "email"}
    assert ops["GET", "/tasks"].tags == ("tasks",)
    assert not ops["POST", "/auth/register"].requires_auth  # `security: []` overrides the global requirement
    # /users also has GET, POST and an item path, but a user collection is not the main resource
    assert (api.resource, api.register_path, api.login_path, api.refresh_path) == (
        "/tasks",
        "/auth/register",
        "/auth/login",
        None,
    )


def test_an_invalid_spec_is_reported_with_one_line_problems(tmp_path: Path) -> None:
    spec = {"openapi": "3.0.3", "info": {"title": "x"}, "paths": {"/tasks": {"get": {"responses": "nope"}}}}
    api = api_of(write(tmp_path, {"openapi.json": json.dumps(spec)}))
    assert api.source == "openapi.json" and api.spec is not None and not api.valid
    assert 1 <= len(api.problems) <= 5
    assert all("\n" not in p and len(p) <= 240 for p in api.problems)
    assert any("version" in p for p in api.problems)  # info.version is required


def test_a_spec_that_does_not_parse_says_why(tmp_path: Path) -> None:
    api = api_of(write(tmp_path, {"swagger.json": '{"swagger": "2.0", '}))
    assert (api.source, api.spec, api.valid) == ("swagger.json", None, False)
    assert api.problems[0].startswith("swagger.json: not valid JSON")


def test_without_a_spec_routes_come_from_grade_toml(tmp_path: Path) -> None:
    routes = ["GET /notes", "POST /notes", "GET /notes/:id", "DELETE /notes/:id", "POST /auth/signup"]
    api = api_of(write(tmp_path, {"README.md": "# notes"}), {"api": {"routes": routes}})
    assert (api.spec, api.valid, api.from_config) == (None, False, True)
    assert [(op.method, op.path) for op in api.operations][2] == ("GET", "/notes/{id}")
    assert api.problems[0].startswith("no OpenAPI document found")
    assert "service" in api.problems[0] and "repository" in api.problems[0]
    assert (api.resource, api.register_path, api.login_path) == ("/notes", "/auth/signup", None)


def test_swagger_2_paths_get_the_base_path_and_body_parameters_their_schema(tmp_path: Path) -> None:
    item = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
    spec: dict[str, Any] = {
        "swagger": "2.0",
        "info": {"title": "t", "version": "1"},
        "basePath": "/api/v1",
        "paths": {
            "/items": {
                "post": {
                    "parameters": [{"name": "b", "in": "body", "schema": {"$ref": "#/definitions/Item"}}],
                    "responses": {"201": {"description": "ok"}},
                }
            }
        },
        "definitions": {"Item": item},
    }
    api = api_of(write(tmp_path, {"api/swagger.json": json.dumps(spec)}))
    assert api.valid, api.problems
    (op,) = api.operations
    assert (op.method, op.path, op.request_schema) == ("POST", "/api/v1/items", item)


def test_the_configured_spec_wins_and_a_missing_one_is_a_problem(tmp_path: Path) -> None:
    root = write(tmp_path, {"spec/tasks.yaml": TASKS_SPEC, "openapi.json": "{}"})
    assert api_of(root, {"api": {"spec": "spec/tasks.yaml"}}).source == "spec/tasks.yaml"
    missing = api_of(root, {"api": {"spec": "/docs.json"}})
    assert missing.spec is None and "service is not running" in missing.problems[0]


@pytest.mark.parametrize(
    ("table", "raw", "message"),
    [
        ("api", {"specs": "x"}, r"unknown key\(s\) specs"),
        ("api", {"routes": "GET /x"}, "must be a list of strings"),
        ("api", {"routes": ["FETCH /x"]}, "must look like"),
        ("api", {"resource": "tasks"}, "must be a URL path"),
        ("auth", {"extra": "name=x"}, "extra must be a table"),
        ("auth", {"username_field": 3}, "username_field must be a non-empty string"),
    ],
)
def test_bad_api_and_auth_tables_are_config_errors(table: str, raw: dict[str, Any], message: str) -> None:
    parse = parse_api_config if table == "api" else parse_auth_config
    with pytest.raises(ConfigError, match=message) as caught:
        parse(raw)
    assert "\n" not in str(caught.value)


def test_auth_table_is_parsed() -> None:
    raw = {"register": "/users/:id/signup", "login": "/session", "username_field": "login", "extra": {"name": "G"}}
    auth = parse_auth_config(raw)
    assert (auth.register, auth.login, auth.username_field, auth.extra) == (
        "/users/{id}/signup",
        "/session",
        "login",
        {"name": "G"},
    )


SCHEMAS: list[dict[str, Any]] = [
    {
        "type": "object",
        "required": ["email", "password", "role", "age", "tags", "profile", "id", "when", "code"],
        "properties": {
            "email": {"type": "string", "format": "email"},
            "password": {"type": "string", "minLength": 12, "pattern": "[0-9]"},
            "role": {"type": "string", "enum": ["admin", "member"]},
            "age": {"type": "integer", "minimum": 18, "maximum": 99, "multipleOf": 5},
            "tags": {"type": "array", "minItems": 2, "items": {"type": "string", "maxLength": 3}},
            "profile": {"type": "object", "required": ["bio"], "properties": {"bio": {"type": ["string", "null"]}}},
            "id": {"type": "string", "format": "uuid"},
            "when": {"type": "string", "format": "date-time"},
            "code": {"type": "string", "pattern": "^[A-Z]+$", "minLength": 3},
            "optional": {"type": "string"},
        },
    },
    {"allOf": [{"type": "object", "required": ["a"], "properties": {"a": {"type": "number", "exclusiveMinimum": 0}}},
               {"type": "object", "required": ["b"], "properties": {"b": {"oneOf": [{"type": "null"},
                                                                                    {"type": "boolean"}]}}}]},
    {"type": "object", "minProperties": 1, "properties": {"title": {"type": "string"}}},
]  # fmt: skip


@pytest.mark.parametrize("schema", SCHEMAS)
def test_example_body_is_a_minimal_valid_deterministic_object(schema: dict[str, Any]) -> None:
    body = example_body(schema, seed=3)
    jsonschema.validate(body, schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    assert body == example_body(schema, seed=3)
    assert "optional" not in body
    assert example_body(None) == {} and example_body({"type": "string"}) == {}


def test_unique_suffix_is_unique() -> None:
    assert len({unique_suffix() for _ in range(50)}) == 50


EXPRESS_APP = {
    "package.json": '{"name": "shop"}',
    "src/app.js": """\
        const express = require('express');
        const api = require('./routes');
        const app = express();
        app.get('/health', (req, res) => res.json({ ok: true }));
        app.get('env');  // a setting, not a route
        app.use('/api/v1', api);
        module.exports = app;
    """,
    "src/routes/index.js": """\
        const { Router } = require('express');
        const products = require('./products');
        const router = Router();
        router.use('/products', products);
        module.exports = router;
    """,
    "src/routes/products.js": """\
        const express = require('express');
        const router = express.Router();
        router.get('/', list);
        router.route('/:productId').get(show).delete(remove);
        module.exports = router;
    """,
    "src/orphan.ts": """\
        import { Router } from 'express';
        const orphan = Router();
        orphan.post('/nowhere', (req, res) => res.send('x'));
        export default orphan;
    """,
    "tests/app.test.js": "app.get('/not-a-route', handler);",
}


def test_static_express_routes_follow_router_mounts(tmp_path: Path) -> None:
    write(tmp_path, EXPRESS_APP)
    found = scan_routes(tmp_path, sorted(EXPRESS_APP))
    routes = {(r.method, r.path, r.file, r.line) for r in found.routes}
    assert routes == {
        ("GET", "/health", "src/app.js", 4),
        ("GET", "/api/v1/products", "src/routes/products.js", 3),
        ("GET", "/api/v1/products/{productId}", "src/routes/products.js", 4),
        ("DELETE", "/api/v1/products/{productId}", "src/routes/products.js", 4),
    }
    assert any("src/orphan.ts:3" in n and "mounted" in n for n in found.notes)


def test_static_flask_routes_get_blueprint_prefixes(tmp_path: Path) -> None:
    files = {
        "app/__init__.py": """\
            from flask import Flask
            from .routes import bp
            app = Flask(__name__)
            app.register_blueprint(bp, url_prefix="/api")
        """,
        "app/routes.py": """\
            from flask import Blueprint
            bp = Blueprint("tasks", __name__, url_prefix="/ignored")
            @bp.route("/tasks/<int:task_id>", methods=["GET", "DELETE"])
            def task(task_id): ...
            @bp.post("/tasks")
            def create(): ...
        """,
        "tests/test_app.py": "@bp.get('/x')\ndef t(): ...\n",
    }
    write(tmp_path, files)
    routes = {(r.method, r.path, r.line) for r in scan_routes(tmp_path, sorted(files)).routes}
    assert routes == {
        ("GET", "/api/tasks/{task_id}", 3),
        ("DELETE", "/api/tasks/{task_id}", 3),
        ("POST", "/api/tasks", 5),
    }


def test_api_openapi_without_a_service_still_judges_the_document_and_the_routes(tmp_path: Path) -> None:
    files = {
        "openapi.yaml": TASKS_SPEC,
        "src/app.js": """\
            const express = require('express');
            const app = express();
            app.get('/tasks', (req, res) => res.json([]));
            app.get('/admin/stats', (req, res) => res.json({}));
            app.get('/api-docs', (req, res) => res.send('docs'));
        """,
    }
    result = judge(fact_store(None, None, write(tmp_path, files)), "api.openapi")
    assert result.outcome is Outcome.FAIL and result.score is not None and 0.5 < result.score < 1
    messages = [e.message for e in result.evidence]
    assert "undocumented route: GET /admin/stats" in messages
    stats = next(e for e in result.evidence if e.message == "undocumented route: GET /admin/stats")
    assert stats.location is not None and (stats.location.path, stats.location.line) == ("src/app.js", 4)
    assert not any("/api-docs" in m for m in messages)  # the docs page itself need not be documented
    assert "answers not checked (service did not start: not started (test stand-in))" in result.summary
    assert any(m.startswith("GET /users documents only 200") for m in messages)


def test_api_openapi_fails_without_a_document_and_says_where_it_looked(tmp_path: Path) -> None:
    result = judge(fact_store(None, None, write(tmp_path, {"src/app.js": ""})), "api.openapi")
    assert (result.outcome, result.score) == (Outcome.FAIL, 0.0)
    assert result.evidence[0].message.startswith("no OpenAPI document found")


def test_api_validation_is_not_run_without_a_service(tmp_path: Path) -> None:
    result = judge(fact_store(None, None, write(tmp_path, {"openapi.yaml": TASKS_SPEC})), "api.validation")
    assert result.outcome is Outcome.NOT_RUN and "service did not start" in result.summary
