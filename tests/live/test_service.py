"""The service probe on real processes (loopback only): start, readiness, crashes, wrong ports, --url, teardown.

Small services are shell commands or `python3 -m http.server` in a project that has only a
grade.toml, so nothing is installed; the Express fixture goes through the real install.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from checks.service import api_persistence, service_start
from grader.facts import Facts, FactStore, LiveOptions, NotRunnable, ProbeContext
from grader.model import Outcome
from grader.plugin import Registry
from grader.probes import repo as repo_module
from grader.probes.http_session import Session, sign_up_and_log_in
from grader.probes.live import ApiMap, Exchange, Operation, ServiceFacts
from grader.probes.persistence import PersistenceFacts, restart_round_trip
from grader.probes.ports import accepting, free_port
from grader.probes.service import adopt, service
from grader.probes.service_detect import detect_launch
from grader.probes.suite_run import SuiteWorkspace
from grader.probes.testsuite import project_language
from grader.project_config import ProjectConfig, load_project_config
from grader.sandbox import group_pids
from tests.conftest import REPO_ROOT, require_tool
from tests.live.conftest import wait_until_answering

HTTP_SERVER = "exec python3 -m http.server $PORT --bind 127.0.0.1"


@pytest.fixture
def teardown() -> Iterator[ExitStack]:
    """What the grader's run does at its end: every deferred stop runs, also when the test fails."""
    with ExitStack() as stack:
        yield stack


def start(root: Path, scratch: Path, stack: ExitStack, **live: object) -> ServiceFacts:
    """Run the `service` probe on `root` the way api.grade does (the repo probe available, teardown deferred)."""
    registry = Registry()
    registry.add_module(repo_module)
    config = load_project_config(root)

    def context(store: FactStore) -> ProbeContext:
        return ProbeContext(root, config, scratch, store, 60, LiveOptions(**live), stack.callback)  # type: ignore[arg-type]

    return service(context(FactStore(registry.probes, context)))


def project(tmp_path: Path, toml: str, files: dict[str, str] | None = None) -> Path:
    """A project folder with a grade.toml and the given files."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "grade.toml").write_text(textwrap.dedent(toml), encoding="utf-8")
    for name, text in (files or {}).items():
        (root / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def pgid_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rfind(")") + 2 :].split()[2])


def logged_pid(log: str) -> int:
    match = re.search(r'"pid":(\d+)|pid=(\d+)', log)
    assert match, log
    return int(match.group(1) or match.group(2))


def refused(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_express_fixture_starts_answers_restarts_and_is_torn_down(tmp_path: Path, teardown: ExitStack) -> None:
    require_tool("npm")
    began = time.monotonic()
    facts = start(REPO_ROOT / "fixtures" / "express-good", tmp_path, teardown)
    assert facts.running, (facts.reason, facts.log_tail)
    assert facts.live is not None and facts.live.managed and facts.base_url
    print(f"express-good: install + start {time.monotonic() - began:.1f} s")
    assert "npm start" in facts.how
    assert any("scripts.start" in note for note in facts.assumed)
    assert any("GET /health -> 200" in note for note in facts.assumed)
    port = int(facts.base_url.rsplit(":", 1)[1])
    pgid = pgid_of(logged_pid(facts.live.log_text()))
    assert "listening" in facts.live.log_text()

    api = express_api_map()
    began = time.monotonic()
    with facts.live.client() as client:
        result = restart_round_trip(facts.live, api, lambda: sign_up_and_log_in(client, api))
    print(f"express-good: persistence round trip with a restart {time.monotonic() - began:.1f} s")
    assert result.status == "lost", result  # its store lives in memory
    summaries = [re.sub(r"/tasks/[\w-]+", "/tasks/ID", e.summary) for e in result.exchanges]
    assert summaries == [
        "POST /auth/register -> 201", "POST /auth/login -> 200", "POST /tasks -> 201", "GET /tasks/ID -> 200",
        "GET /tasks/ID -> 401", "POST /auth/login -> 401",  # after the restart: the token and the user are gone
    ]  # fmt: skip
    assert "could no longer sign in" in result.reason

    began = time.monotonic()
    teardown.close()
    print(f"express-good: teardown {time.monotonic() - began:.2f} s")
    assert group_pids(pgid) == []
    assert refused(port)


def express_api_map() -> ApiMap:
    """The fixture's API as the `api` probe would map it (built by hand: this test is about the restart)."""
    spec = json.loads((REPO_ROOT / "fixtures" / "express-good" / "openapi.json").read_text())
    task_input = spec["components"]["schemas"]["TaskInput"]
    operations = (
        Operation("POST", "/auth/register", request_schema={"type": "object", "required": ["email", "password"],
                  "properties": {"email": {"type": "string", "format": "email"}, "password": {"type": "string"}}}),
        Operation("POST", "/auth/login"),
        Operation("POST", "/tasks", requires_auth=True, request_schema=task_input),
        Operation("GET", "/tasks/{id}", requires_auth=True),
    )  # fmt: skip
    return ApiMap(None, spec, True, (), operations, resource="/tasks", register_path="/auth/register",
                  login_path="/auth/login")  # fmt: skip


def test_a_crash_at_start_gives_the_exit_code_and_the_log(tmp_path: Path, teardown: ExitStack) -> None:
    root = project(tmp_path, """
        [service]
        start = "echo starting; echo 'Error: cannot connect to the database' >&2; exit 3"
    """)  # fmt: skip
    facts = start(root, tmp_path / "scratch", teardown)
    assert not facts.running and facts.live is None
    assert "exited with code 3" in facts.reason
    assert "Error: cannot connect to the database" in facts.reason
    assert "starting" in facts.log_tail


def test_a_service_that_never_answers_is_given_up_on_and_killed(tmp_path: Path, teardown: ExitStack) -> None:
    root = project(tmp_path, """
        [service]
        start = "echo pid=$$; exec sleep 60"
        ready_timeout = 2
    """)  # fmt: skip
    began = time.monotonic()
    facts = start(root, tmp_path / "scratch", teardown)
    assert time.monotonic() - began < 8
    assert not facts.running
    assert re.search(r"nothing listened on port \d+ within 2 s", facts.reason), facts.reason
    assert group_pids(logged_pid(facts.log_tail)) == []  # killed at once, not at the end of grading


def test_a_service_on_another_port_is_told_to_read_port(tmp_path: Path, teardown: ExitStack) -> None:
    other = free_port()
    root = project(tmp_path, f"""
        [service]
        start = "exec python3 -m http.server {other} --bind 127.0.0.1"
    """)  # fmt: skip
    began = time.monotonic()
    facts = start(root, tmp_path / "scratch", teardown)
    assert time.monotonic() - began < 15  # well before ready_timeout (30 s)
    assert not facts.running
    assert f"listens on port {other}, not on port" in facts.reason
    assert "PORT" in facts.reason
    assert refused(other)


def test_the_service_gets_port_and_env_but_never_the_graders_secrets(
    tmp_path: Path, teardown: ExitStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_graders_own_token_123")
    monkeypatch.setenv("NODE_ENV", "test")
    root = project(tmp_path, f"""
        [service]
        start = "env; {HTTP_SERVER}"
        health = "/"
        env = {{ GREETING = "hello on ${{PORT}}", DEBUG = true }}
    """)  # fmt: skip
    facts = start(root, tmp_path / "scratch", teardown, env={"FROM_CLI": "yes"})
    assert facts.running and facts.live is not None and facts.base_url
    port = facts.base_url.rsplit(":", 1)[1]
    log = facts.live.log_text()
    assert f"PORT={port}\n" in log and "HOST=127.0.0.1\n" in log
    assert f"GREETING=hello on {port}\n" in log and "DEBUG=true\n" in log and "FROM_CLI=yes\n" in log
    assert "ghp_graders_own_token_123" not in log and "GITHUB_TOKEN" not in log
    assert "NODE_ENV" not in log
    assert facts.assumed == ()  # nothing guessed: start and health come from grade.toml


def test_restart_serves_again_on_the_same_port(tmp_path: Path, teardown: ExitStack) -> None:
    root = project(tmp_path, f'[service]\nstart = "echo pid=$$; {HTTP_SERVER}"\n')
    facts = start(root, tmp_path / "scratch", teardown)
    assert facts.running and facts.live is not None and facts.base_url
    first = logged_pid(facts.live.log_text())
    facts.live.restart()
    second = int(re.findall(r"pid=(\d+)", facts.live.log_text())[-1])
    assert second != first and group_pids(first) == []
    assert accepting(int(facts.base_url.rsplit(":", 1)[1]))


def test_url_with_nothing_listening_is_not_running() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    facts = adopt(url, None, wait_s=0.3)
    assert not facts.running and facts.live is None
    assert facts.reason == f"nothing answered at {url}: connection refused"


def test_url_of_a_running_service_is_adopted_and_never_stopped(tmp_path: Path, teardown: ExitStack) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    teardown.callback(server.wait)
    teardown.callback(server.kill)
    url = f"http://127.0.0.1:{port}"
    wait_until_answering(url, server)
    with ExitStack() as grading:
        facts = start(project(tmp_path, ""), tmp_path / "scratch", grading, url=url)
        assert facts.running and facts.live is not None
        assert not facts.live.managed and facts.base_url == url
        assert facts.live.log_text() == ""
        with pytest.raises(NotRunnable):
            facts.live.restart()
    assert server.poll() is None and accepting(port)  # the end of grading left it alone


PERSISTENT_SERVER = """\
import json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

STORE = Path("items.json") if os.environ.get("STORAGE") == "file" else None
items = json.loads(STORE.read_text()) if STORE and STORE.exists() else {}
print(f"pid={os.getpid()} listening", flush=True)


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        return self.headers.get("Authorization") == "Bearer letmein"

    def do_GET(self):
        if self.path == "/health":
            return self.reply(200, {"status": "ok"})
        if not self.authorized():
            return self.reply(401, {"error": "unauthorized"})
        item = items.get(self.path.rsplit("/", 1)[-1])
        self.reply(200 if item else 404, item or {"error": "not found"})

    def do_POST(self):
        if not self.authorized():
            return self.reply(401, {"error": "unauthorized"})
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not isinstance(body.get("title"), str):
            return self.reply(400, {"error": "title is required"})
        item = {"id": str(len(items) + 1), "title": body["title"]}
        items[item["id"]] = item
        if STORE:
            STORE.write_text(json.dumps(items))
        self.reply(201, {"data": item})


HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


@pytest.mark.parametrize(("storage", "status"), [("file", "kept"), ("memory", "lost")])
def test_persistence_round_trip_across_a_restart(
    tmp_path: Path, teardown: ExitStack, storage: str, status: str
) -> None:
    root = project(tmp_path, f"""
        [service]
        start = "exec python3 server.py"
        env = {{ STORAGE = "{storage}" }}
    """, {"server.py": PERSISTENT_SERVER})  # fmt: skip
    facts = start(root, tmp_path / "scratch", teardown)
    assert facts.running and facts.live is not None, facts.reason
    schema = {"type": "object", "required": ["title"], "properties": {"title": {"type": "string", "maxLength": 50}}}
    api = ApiMap(None, None, False, (), (Operation("POST", "/items", request_schema=schema),), resource="/items",
                 login_path="/login")  # fmt: skip
    result = restart_round_trip(facts.live, api, lambda: Session("letmein", None, ()))
    assert result.status == status, result
    summaries = [e.summary for e in result.exchanges]
    assert summaries[:3] == ["POST /items -> 401", "POST /items -> 201", "GET /items/1 -> 200"]
    assert summaries[-1] == f"GET /items/1 -> {200 if status == 'kept' else 404}"
    assert '"title": "grade-' in result.exchanges[1].detail  # the marker that tells this item from any other
    assert "Bearer letmein" not in result.exchanges[1].detail  # redacted


def test_the_python_fixture_is_detected_installed_and_started(tmp_path: Path, teardown: ExitStack) -> None:
    facts = start(REPO_ROOT / "fixtures" / "python-flask", tmp_path, teardown)
    assert facts.running, (facts.reason, facts.log_tail)
    assert facts.how.startswith("started `flask --app app/__init__.py run` on port")
    assert any("pip install took" in note for note in facts.assumed)


def workspace(tmp_path: Path, files: dict[str, str]) -> SuiteWorkspace:
    """A prepared copy of a project made of `files`, as the service probe sees it."""
    root = tmp_path / "src-project"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    registry = Registry()
    store = FactStore(registry.probes, lambda s: None)  # type: ignore[arg-type,return-value]
    repo = repo_module.repo_facts(ProbeContext(root, ProjectConfig(), tmp_path, store, 60))
    ws = SuiteWorkspace(repo, tmp_path / "ws")
    ws.prepare()
    return ws


@pytest.mark.parametrize(
    ("files", "argv", "build"),
    [
        ({"package.json": '{"scripts": {"start": "node dist/index.js", "build": "tsc"}}'},
         ("npm", "start", "--silent"), True),
        ({"package.json": '{"main": "lib/app"}', "lib/app.js": ""}, ("node", "lib/app.js"), False),
        ({"package.json": "{}", "src/index.js": "", "index.js": ""}, ("node", "src/index.js"), False),
        ({"package.json": '{"scripts": {"build": "nest build"}}', "src/main.ts": ""}, ("node", "dist/main.js"), True),
        ({"main.py": "from fastapi import FastAPI\n\napi: FastAPI = FastAPI()\n"},
         ("python3", "-m", "uvicorn", "main:api", "--host", "127.0.0.1", "--port", "4000"), False),
        ({"src/shop/main.py": "import fastapi\napp = fastapi.FastAPI()\n"},
         ("python3", "-m", "uvicorn", "shop.main:app", "--host", "127.0.0.1", "--port", "4000", "--app-dir", "src"),
         False),
        ({"server.py": "from flask import Flask\nserver = Flask(__name__)\n"},
         ("python3", "-m", "flask", "--app", "server.py:server", "run", "--host", "127.0.0.1", "--port", "4000",
          "--no-reload"), False),
        ({"shop/__main__.py": "print('hi')\n", "shop/__init__.py": ""}, ("python3", "-m", "shop"), False),
        ({"app.py": "print('hi')\n"}, ("python3", "app.py"), False),
    ],
)  # fmt: skip
def test_detected_start_commands(tmp_path: Path, files: dict[str, str], argv: tuple[str, ...], build: bool) -> None:
    ws = workspace(tmp_path, files)
    launch = detect_launch(ws, project_language(ws.repo), 4000)
    assert launch is not None and (launch.argv, launch.build) == (argv, build)
    assert launch.assumed


def test_nothing_to_start_is_said_plainly(tmp_path: Path, teardown: ExitStack) -> None:
    facts = start(project(tmp_path, "", {"README.md": "# notes\n"}), tmp_path / "scratch", teardown)
    assert not facts.running and facts.reason.startswith("the grader found no way to start it")


SILENT_SERVER = """\
import os, socket, time
sock = socket.socket()
sock.bind(("127.0.0.1", int(os.environ["PORT"])))
sock.listen()
time.sleep(60)  # accepts connections (the kernel does) but never answers HTTP
"""

FAILING_SERVER = """\
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(503)
        self.end_headers()

HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def test_a_port_that_accepts_but_never_answers_http_counts_as_ready(tmp_path: Path, teardown: ExitStack) -> None:
    toml = '[service]\nstart = "exec python3 srv.py"\nhealth = "/health"\nready_timeout = 1\n'
    facts = start(project(tmp_path, toml, {"srv.py": SILENT_SERVER}), tmp_path / "scratch", teardown)
    assert facts.running, facts.reason
    assert any(
        re.match(r"ready when port \d+ accepted connections \(no health path answered", n) for n in facts.assumed
    )


def test_a_health_path_that_keeps_failing_is_not_ready(tmp_path: Path, teardown: ExitStack) -> None:
    toml = '[service]\nstart = "exec python3 srv.py"\nhealth = "/health"\nready_timeout = 1\n'
    facts = start(project(tmp_path, toml, {"srv.py": FAILING_SERVER}), tmp_path / "scratch", teardown)
    assert not facts.running
    assert facts.reason == "it still answered GET /health -> 503 (a server error) after 1 s"


def test_service_start_check_shows_how_and_why() -> None:
    up = ServiceFacts(True, "", "http://127.0.0.1:4000", "started `npm start` on port 4000", ("guessed",))
    verdict = service_start(Facts({"service": up}), {})
    assert verdict.outcome is Outcome.PASS and verdict.summary == "it answers at http://127.0.0.1:4000"
    assert [e.message for e in verdict.evidence][-1] == "assumed: guessed"
    down = ServiceFacts(False, "it exited with code 1 before answering on port 4000: Error: boom", None, "started x",
                        log_tail="Error: boom\n    at main")  # fmt: skip
    verdict = service_start(Facts({"service": down}), {})
    assert verdict.outcome is Outcome.FAIL and verdict.summary.startswith("the service did not start: it exited")
    assert verdict.evidence[0].detail == "Error: boom\n    at main"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [("kept", Outcome.PASS), ("lost", Outcome.FAIL), ("restart_failed", Outcome.FAIL), ("untestable", Outcome.NOT_RUN)],
)
def test_persistence_check_outcomes(status: str, outcome: Outcome) -> None:
    exchange = Exchange("GET", "/items/1", {}, None, 404, {}, "", 1.0)
    fact = PersistenceFacts(status, "why", (exchange,), "log")
    verdict = api_persistence(Facts({"persistence": fact, "api": None}), {})
    assert verdict.outcome is outcome
    assert verdict.evidence[0].message == "GET /items/1 -> 404"


GRADER_WITH_A_SLOW_PROBE = """\
import re, sys, time
import grader.plugin as plugin
from grader.model import Verdict
from grader.plugin import check, probe
from grader.probes.live import live_service


@probe("after_service", timeout_s=120)
def after_service(ctx):
    log = live_service(ctx).log_text()
    print("service pid", re.search(r"pid=(\\d+)", log).group(1), flush=True)
    if sys.argv[2] == "error":
        raise RuntimeError("a grader bug")
    time.sleep(60)


@check("zz.after_service", title="t", requires=("after_service",), remediation="-")
def after_service_check(facts, options):
    return Verdict.passed("ok")


plugin.BUILTIN_MODULES = (*plugin.BUILTIN_MODULES, "grader.probes.service", "__main__")
from grader.cli import main

sys.exit(main([sys.argv[1], "--phase", "0", "--curriculum", sys.argv[1] + "/curriculum.toml", "--out",
               sys.argv[1] + "/reports", "-q"]))
"""


@pytest.mark.parametrize("ending", ["interrupt", "error"])
def test_the_service_is_stopped_when_grading_is_interrupted_or_a_probe_fails(tmp_path: Path, ending: str) -> None:
    root = project(tmp_path, f'[service]\nstart = "echo pid=$$; {HTTP_SERVER}"\n', {
        "curriculum.toml": 'name = "t"\n[[phase]]\nid = 0\ntitle = "t"\npass_mark = 50\n'
                           '[[phase.criterion]]\ntext = "t"\nchecks = ["zz.after_service"]\n',
        "driver.py": GRADER_WITH_A_SLOW_PROBE,
    })  # fmt: skip
    child = subprocess.Popen(
        [sys.executable, str(root / "driver.py"), str(root), ending], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )  # fmt: skip
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.startswith("service pid"), line + child.stdout.read()
    pid = int(line.split()[-1])
    if ending == "interrupt":
        child.send_signal(signal.SIGINT)
    output = child.communicate(timeout=60)[0]
    assert child.returncode == (130 if ending == "interrupt" else 3), output
    assert group_pids(pid) == []
