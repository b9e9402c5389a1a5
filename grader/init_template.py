"""`grade init`: write a commented grade.toml that documents every section the grader reads.

Every setting in the template is commented out, so writing it changes nothing until a line is
uncommented; each commented `key = value` line is a valid example on its own.
"""

from __future__ import annotations

from pathlib import Path

from grader.errors import UsageError
from grader.project_config import CONFIG_NAME

TEMPLATE = """\
# grade.toml: tells `grade` how to run this project. Everything here is optional: without it the
# grader detects what it can (package.json scripts, common entry points, common OpenAPI paths)
# and says in the report what it assumed. Uncomment only what your project needs.

[service]
## How to start the service. Default: `npm start` when package.json has a start script, else
## `node` on package.json "main" or src/server.js, server.js, src/index.js, index.js (Node.js);
## uvicorn for a FastAPI app, `flask run` for a Flask app, `python -m <package>` (Python).
## Dependencies are installed first (npm ci or a fresh virtualenv). Runs with `sh -c`.
# start = "npm run start:prod"
## The port it listens on. Default: a free port chosen by the grader and passed in the PORT
## environment variable (HOST is 127.0.0.1). Read PORT rather than fixing one here.
# port = 3000
## A path that answers (any status below 500) once the service is ready.
## Default: the first of /health, /healthz, /api/health, / that answers.
# health = "/health"
## Extra environment variables. Values may use what the grader provides: ${PORT}, ${HOST},
## ${DATABASE_URL}, ${PGHOST}, ${PGPORT}, ${PGUSER}, ${PGPASSWORD}, ${PGDATABASE}, ${REDIS_URL},
## ${REDIS_HOST}, ${REDIS_PORT}. NODE_ENV is not set unless you set it here. Never put real
## secrets in this file: use throwaway values (or `grade --env KEY=VALUE` / `--env-file .env`).
# env = { JWT_SECRET = "dev-only-not-a-secret", DB_URL = "${DATABASE_URL}" }
## Seconds the service may take to answer after it was started (default 30).
# ready_timeout = 60
## The folder to start it in, relative to this file (dependencies are installed at the top).
# cwd = "backend"

[services]
## Throwaway databases started for the service and removed afterwards (when installed on the
## grading machine). PostgreSQL sets DATABASE_URL, PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE.
# postgres = true
## Redis sets REDIS_URL, REDIS_HOST, REDIS_PORT.
# redis = true
## Or your own, on this machine (e.g. with `grade --url`): the grader reads their statistics
## (query times and N+1 queries from pg_stat_statements, cache hits, job queues) but changes nothing.
# postgres_url = "postgresql://app:app@127.0.0.1:5432/app"
# redis_url = "redis://127.0.0.1:6379/0"

[tests]
## Seconds the test suite may run (default: grade --test-timeout, 300).
# timeout = 600
## The test command, only when detection guesses wrong (default: the runner in scripts.test,
## run under the grader's own coverage; a custom command's coverage may not be measured).
# command = "npm run test:ci"

[secrets]
## Files whose secrets are documented test fakes (glob patterns, relative to this file; * also matches /).
# allow_paths = ["tests/fixtures/*"]
## Findings that are not leaks, by the fingerprint the report prints (16 hex characters).
# allow_fingerprints = ["3f9c0a1b2c3d4e5f"]

[api]
## Where the OpenAPI document is: a file in the repository, or a path the service serves it on.
## Default: /api-docs.json, /openapi.json, /swagger.json… on the running service, else an
## openapi.(json|yaml) or swagger.(json|yaml) file anywhere in the repository.
# spec = "docs/openapi.yaml"
## The main collection the API manages (an item is created in it, read back, checked after a
## restart). Default: guessed from the operations.
# resource = "/tasks"
## Without a spec: the routes the API serves, as "METHOD /path" (Express ":id" is fine too).
# routes = ["GET /tasks", "POST /tasks", "GET /tasks/{id}", "PUT /tasks/{id}", "DELETE /tasks/{id}"]
## An origin your CORS policy allows (your front end), for the preflight check.
## Default: inferred from what the service answers.
# cors_origin = "http://localhost:5173"

[auth]
## Where users sign up, sign in and renew a token. Default: the paths ending in /register or
## /signup, /login or /signin, /refresh among the operations.
# register = "/auth/register"
# login = "/auth/login"
# refresh = "/auth/refresh"
## The names of the credential fields in those requests.
# username_field = "email"
# password_field = "password"
## Other fields the register form needs, sent as they are.
# extra = { name = "Grade Bot" }

[jobs]
## A request that enqueues a background job, and where the job's state is read ({id}: the id the
## request answered). Without status, the grader watches the BullMQ/Bull queues in Redis after the
## request (default: after creating an item through the API).
# enqueue = "POST /reports"
# body = { kind = "daily" }
# status = "/jobs/{id}"
## Seconds a job may take (default 10 when watching the queues, 30 with status).
# timeout_s = 30
"""


def write_template(folder: Path, *, force: bool = False) -> Path:
    """Write the template to `folder/grade.toml`; UsageError if the folder is missing or the file exists."""
    if not folder.is_dir():
        raise UsageError(f"not a directory: {folder}")
    target = folder / CONFIG_NAME
    if target.exists() and not force:
        raise UsageError(f"{target} already exists: use --force to overwrite it")
    try:
        target.write_text(TEMPLATE, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target
