"""auth.flow and auth.refresh_rotation against real services: express-good, express-flawed and a bad Python one."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from checks.auth import auth_flow, refresh_rotation
from grader.model import CheckResult, Outcome
from grader.plugin import CheckFunc
from grader.probes import http_auth
from grader.probes.live import REDACTED, ApiMap, LiveService, Operation
from tests.live.conftest import Serve
from tests.live.harness import (
    CREDENTIALS,
    EXPRESS_GOOD_API,
    QuietHandler,
    api_map,
    evidence_text,
    fact_store,
    judge,
    python_service,
)

pytestmark = pytest.mark.slow


def run(live: LiveService, api: ApiMap, check: CheckFunc, tmp: Path, **options: Any) -> CheckResult:
    return judge(fact_store(live, api, tmp, http_auth), check, **options)


def marks(result: CheckResult) -> dict[str, str]:
    """Each sub-check's label -> its mark, from the evidence lines."""
    out = {}
    for e in result.evidence:
        if e.message.startswith("["):
            mark, _, rest = e.message.partition("] ")
            out[rest.split(":")[0]] = mark.strip("[")
    return out


def assert_no_secrets(result: CheckResult, *secrets: str) -> None:
    text = evidence_text(result)
    for secret in secrets:
        assert secret not in text


# --- express-good ------------------------------------------------------------------------------


def test_auth_flow_passes_on_express_good(serve: Serve, tmp_path: Path) -> None:
    result = run(serve("express-good"), EXPRESS_GOOD_API, auth_flow, tmp_path)
    assert result.outcome is Outcome.PASS, evidence_text(result)
    assert result.score == 1.0
    assert set(marks(result).values()) == {"pass"}
    assert "token in `token`" in evidence_text(result)
    assert "password storage not checked: no database access" in evidence_text(result)
    assert REDACTED in evidence_text(result)  # the login answer's token was scrubbed
    assert ".eyJ" not in evidence_text(result)  # no JWT anywhere in the evidence


def test_auth_flow_warns_on_long_lived_tokens(serve: Serve, tmp_path: Path) -> None:
    result = run(serve("express-good", {"JWT_EXPIRES_IN": "7d"}), EXPRESS_GOOD_API, auth_flow, tmp_path)
    assert result.outcome is Outcome.WARN
    assert "tokens live 168 h" in result.summary


def test_refresh_rotation_passes_on_express_good(serve: Serve, tmp_path: Path) -> None:
    result = run(serve("express-good"), EXPRESS_GOOD_API, refresh_rotation, tmp_path)
    assert result.outcome is Outcome.PASS, evidence_text(result)
    assert "in the JSON field refreshToken" in evidence_text(result)
    assert "replaying the used refresh token: POST /auth/refresh -> 401" in evidence_text(result)
    assert '"refreshToken": "[redacted]"' in evidence_text(result)


def test_refresh_rotation_without_endpoint_fails_with_advice(tmp_path: Path) -> None:
    api = api_map(*EXPRESS_GOOD_API.operations, resource="/tasks", register="/auth/register", login="/auth/login")
    nowhere = LiveService("http://127.0.0.1:9", managed=False)  # no request is sent without a refresh route
    result = run(nowhere, api, refresh_rotation, tmp_path)
    assert result.outcome is Outcome.FAIL
    assert result.summary == "no refresh endpoint found (set [auth] refresh in grade.toml)"


# --- express-flawed: opaque tokens, echoed password, unprotected routes -------------------------


def test_auth_flow_on_express_flawed(serve: Serve, tmp_path: Path) -> None:
    user = {"type": "object", "required": ["username", "password"], "properties": {"username": {}, "password": {}}}
    api = api_map(
        Operation("POST", "/users/register", request_schema=user),
        Operation("POST", "/users/login", request_schema=user),
        resource="/todos",
        register="/users/register",
        login="/users/login",
    )
    result = run(serve("express-flawed"), api, auth_flow, tmp_path)
    assert result.outcome is Outcome.FAIL
    got = marks(result)
    assert got["the password is never echoed"] == "fail"
    assert got["protected route without a token"] == "fail"  # GET /todos answers 200 to anyone
    assert got["login with a wrong password"] == "fail"  # 400, not 401
    assert got["registering the same user again"] == "pass"  # 400
    assert got["protected route with an unsigned token (alg none)"] == "not judged"  # the token is not a JWT
    assert "the login token is not a JWT" in evidence_text(result)
    assert 0 < (result.score or 0) < 0.7


# --- a Python service with every auth mistake ---------------------------------------------------


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class CarelessAuth(QuietHandler):
    """Echoes passwords, crashes on duplicates and wrong passwords, issues JWTs without exp and never
    verifies a signature (so tampered and alg:none tokens work); its refresh never rotates."""

    users: ClassVar[dict[str, str]] = {}

    def reply(self, status: int, body: Any) -> None:
        self.send_body(status, body)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path == "/register":
            if body.get("email") in self.users:
                return self.reply(500, {"error": "UNIQUE constraint failed: users.email"})
            self.users[body["email"]] = body["password"]
            return self.reply(201, {"email": body["email"], "password": body["password"]})
        if self.path == "/login":
            if self.users.get(body.get("email")) != body.get("password"):
                return self.reply(500, {"error": "TypeError: cannot read properties of undefined"})
            token = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64({'sub': body['email'], 'iat': 1})}.c2lnbmF0dXJl"
            return self.reply(200, {"token": token, "refreshToken": "same-refresh-token-forever"})
        if self.path == "/refresh":
            return self.reply(200, {"token": "a.b.c", "refreshToken": "same-refresh-token-forever"})
        return self.reply(404, {"error": "not found"})

    def do_GET(self) -> None:
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.path != "/me" or token.count(".") != 2:
            return self.reply(401, {"error": "unauthorized"})
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return self.reply(200, {"user": claims["sub"]})


CARELESS_API = api_map(
    Operation("POST", "/register", request_schema=CREDENTIALS),
    Operation("POST", "/login", request_schema=CREDENTIALS),
    Operation("GET", "/me", requires_auth=True),
    register="/register",
    login="/login",
    refresh="/refresh",
)


def test_auth_flow_fails_every_mistake_of_a_careless_service(tmp_path: Path) -> None:
    with python_service(CarelessAuth, managed=False) as live:
        result = run(live, CARELESS_API, auth_flow, tmp_path)
    assert result.outcome is Outcome.FAIL
    assert marks(result) == {
        "registration": "pass",
        "login": "pass",
        "protected route without a token": "pass",
        "protected route with the real token": "pass",
        "the password is never echoed": "fail",
        "protected route with a tampered signature": "fail",
        "protected route with an unsigned token (alg none)": "fail",
        "the JWT carries an expiry (exp)": "fail",
        "registering the same user again": "fail",
        "login with a wrong password": "fail",
    }
    assert result.score == pytest.approx(0.4)
    assert "POST /register -> 201" in evidence_text(result)
    assert "no `exp` claim (claims: iat, sub)" in evidence_text(result)
    assert_no_secrets(result, *CarelessAuth.users.values())


def test_refresh_rotation_fails_when_the_token_never_changes(tmp_path: Path) -> None:
    with python_service(CarelessAuth, managed=False) as live:
        result = run(live, CARELESS_API, refresh_rotation, tmp_path)
    assert result.outcome is Outcome.FAIL
    assert marks(result)["the refresh token is rotated"] == "fail"
    assert marks(result)["replaying the used refresh token"] == "fail"
    assert result.score == pytest.approx(3 / 5)
    assert_no_secrets(result, "same-refresh-token-forever")
