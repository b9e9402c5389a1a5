"""Auth checks on the running service: a secure register/login/token flow, and refresh-token rotation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from grader.facts import Facts
from grader.model import Evidence, Verdict
from grader.plugin import check
from grader.probes.http_auth import Attempt, AuthFacts, RefreshFacts
from grader.probes.live import Exchange

Expect = Callable[[int], bool]
_LIMITED_LOGIN = "the service rate limited the grader's login (429); raise the auth limit while grading"


def _ok(status: int) -> bool:
    return 200 <= status < 300


def _refused(status: int) -> bool:
    return status in (401, 403)


def _client_error(status: int) -> bool:
    return 400 <= status < 500


def _unauthorized(status: int) -> bool:
    return status == 401


@dataclass(frozen=True, slots=True)
class SubCheck:
    """One judged step: passed, failed, or not judged (None), with the evidence that shows it."""

    label: str
    passed: bool | None
    evidence: Evidence

    @property
    def mark(self) -> str:
        """[pass], [fail] or [not judged]."""
        return {True: "[pass]", False: "[fail]", None: "[not judged]"}[self.passed]


def judge_attempt(attempt: Attempt | None, label: str, expect: Expect, expected: str) -> SubCheck:
    """A sub-check from one attempt: its status must satisfy `expect`; a 429 is not judged."""
    if attempt is None or attempt.exchange is None:
        reason = attempt.reason if attempt else "not tried"
        passed = None if attempt is not None and not attempt.applicable else False
        return SubCheck(label, passed, Evidence(f"{label}: {reason}"))
    exchange = attempt.exchange
    status = exchange.status
    if status == 429:
        note = "rate limited by the service, not judged (raise the limit while grading)"
        return SubCheck(label, None, Evidence(f"{label}: {exchange.summary} ({note})", detail=exchange.detail))
    passed = status is not None and expect(status)
    return SubCheck(
        label, passed, Evidence(f"{label}: {exchange.summary} (expected {expected})", detail=exchange.detail)
    )


def share(subs: list[SubCheck]) -> tuple[float, int, int]:
    """(score, passed, judged) over the sub-checks that were judged."""
    judged = [s for s in subs if s.passed is not None]
    passed = sum(1 for s in judged if s.passed)
    return (passed / len(judged) if judged else 0.0), passed, len(judged)


def marked(subs: list[SubCheck]) -> tuple[Evidence, ...]:
    """Evidence, failures first, each message prefixed with its mark."""
    order = sorted(subs, key=lambda s: {False: 0, True: 1, None: 2}[s.passed])
    return tuple(Evidence(f"{s.mark} {s.evidence.message}", s.evidence.location, s.evidence.detail) for s in order)


def _fact(passed: bool | None, label: str, message: str, exchange: Exchange | None = None) -> SubCheck:
    return SubCheck(label, passed, Evidence(f"{label}: {message}", detail=exchange.detail if exchange else None))


# --- auth.flow ----------------------------------------------------------------------------------


_ROUTE_STEPS = (
    ("no_token", "protected route without a token", _refused, "401/403"),
    ("tampered", "protected route with a tampered signature", _refused, "401/403"),
    ("alg_none", "protected route with an unsigned token (alg none)", _refused, "401/403"),
    ("with_token", "protected route with the real token", _ok, "2xx"),
)


def _flow_subchecks(auth: AuthFacts) -> list[SubCheck]:
    return [
        judge_attempt(auth.attempt("register"), "registration", _ok, "2xx"),
        _login_subcheck(auth.attempt("login"), auth.token_field),
        _echo_subcheck(auth),
        *(judge_attempt(auth.attempt(step), label, ok, want) for step, label, ok, want in _ROUTE_STEPS),
        _exp_subcheck(auth),
        judge_attempt(auth.attempt("duplicate"), "registering the same user again", _client_error, "4xx, e.g. 409"),
        judge_attempt(auth.attempt("wrong_password"), "login with a wrong password", _unauthorized, "401"),
    ]


def _rate_limited(attempt: Attempt | None) -> bool:
    return attempt is not None and attempt.exchange is not None and attempt.exchange.status == 429


def _login_subcheck(login: Attempt | None, token_field: str | None) -> SubCheck:
    sub = judge_attempt(login, "login", _ok, "2xx with a token")
    if not sub.passed or login is None or login.exchange is None:
        return sub
    found = f"token in `{token_field}`" if token_field else "no token in the JSON (token, accessToken, jwt, data.token)"
    message = f"login: {login.exchange.summary}, {found}"
    return SubCheck(sub.label, token_field is not None, Evidence(message, detail=sub.evidence.detail))


def _echo_subcheck(auth: AuthFacts) -> SubCheck:
    label = "the password is never echoed"
    answers = [a.exchange for a in (auth.attempt("register"), auth.attempt("login")) if a and a.exchange]
    if auth.echoed:
        shown = next((e for e in answers if e.summary in auth.echoed), None)
        return _fact(False, label, "the password or a password field came back in " + ", ".join(auth.echoed), shown)
    return _fact(True if answers else None, label, "not in the register or login answers" if answers else "no answer")


def _exp_subcheck(auth: AuthFacts) -> SubCheck:
    label = "the JWT carries an expiry (exp)"
    if auth.claims is None:
        return _fact(None, label, "no JWT to read")
    if auth.lifetime_s is None:
        return _fact(False, label, f"no `exp` claim (claims: {', '.join(sorted(auth.claims))})")
    return _fact(True, label, f"expires {auth.lifetime_s / 3600:.1f} h after it is issued")


@check(
    "auth.flow",
    title="Register, login and protected routes are secure",
    requires=("http.auth",),
    defaults={"max_token_hours": 24},
    remediation="Make each failing step behave as expected. Express: hash passwords with bcrypt "
    "(`await bcrypt.hash(password, 10)`) and never put the password or its hash in a response (`const { "
    "passwordHash, ...user } = row`); answer 409 when the email is taken and 401 for a wrong password; sign "
    "tokens with `jwt.sign(payload, process.env.JWT_SECRET, { expiresIn: '15m' })` and verify them with "
    "`jwt.verify(token, secret, { algorithms: ['HS256'] })` in a middleware that answers 401 on any error. "
    "Python: passlib/bcrypt or argon2-cffi for hashing, PyJWT `jwt.decode(token, key, algorithms=['HS256'])` "
    "(an explicit algorithm list rejects `alg: none`), HTTPException(401) on failure.",
)
def auth_flow(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Registers a throwaway user and logs in, then probes a protected route without a token, with a
    tampered token, with an `alg: none` token and with the real one; a duplicate registration and a
    wrong password must be refused with a 4xx, never a 5xx."""
    auth = facts.get("http.auth", AuthFacts)
    max_hours = float(options["max_token_hours"])
    subs = _flow_subchecks(auth)
    score, passed, judged = share(subs)
    evidence = marked(subs) + tuple(Evidence(n) for n in auth.notes)
    if _rate_limited(auth.attempt("login")):
        return Verdict.not_run(f"not run: {_LIMITED_LOGIN}", evidence=evidence)
    summary = f"{passed} of {judged} auth steps behave securely"
    kw: dict[str, Any] = {"value": passed, "threshold": judged, "unit": "steps", "evidence": evidence}
    if passed < judged:
        return Verdict.failed(summary, score=score, **kw)
    if auth.lifetime_s is not None and auth.lifetime_s > max_hours * 3600:
        hours = auth.lifetime_s / 3600
        return Verdict.warned(f"{summary}, but tokens live {hours:.0f} h (more than {max_hours:.0f} h)", **kw)
    return Verdict.passed(summary, **kw)


# --- auth.refresh_rotation ----------------------------------------------------------------------


_REFRESH_LABELS = (
    "using the refresh token once",
    "the refresh answer carries a new access token",
    "the refresh token is rotated",
    "replaying the used refresh token",
)


def _refresh_subchecks(facts: RefreshFacts) -> list[SubCheck]:
    issued = "login issues a refresh token"
    if facts.carrier is None:
        login = facts.attempt("login")
        detail = login.exchange.detail if login and login.exchange else None
        reason = "; ".join(facts.notes) or "no refresh token"
        missing = [_fact(False, label, "needs a refresh token") for label in _REFRESH_LABELS]
        return [SubCheck(issued, False, Evidence(f"{issued}: {reason}", detail=detail)), *missing]
    first = judge_attempt(facts.attempt("refresh"), _REFRESH_LABELS[0], _ok, "2xx")

    def after_first(label: str, seen: bool, missing: str) -> SubCheck:
        return _fact(None if first.passed is None else bool(first.passed and seen), label, "yes" if seen else missing)

    return [
        _fact(True, issued, f"in the {facts.carrier}"),
        first,
        after_first(_REFRESH_LABELS[1], facts.new_access, "none found"),
        after_first(_REFRESH_LABELS[2], facts.rotated, "no new one, or the same one again"),
        judge_attempt(facts.attempt("reuse"), _REFRESH_LABELS[3], _refused, "401/403"),
    ]


@check(
    "auth.refresh_rotation",
    title="Refresh tokens are rotated and a used one is refused",
    requires=("http.refresh",),
    remediation="On login return a long-lived refresh token (in an httpOnly cookie or the JSON body) beside the "
    "short-lived access token, and store only its hash with the user. On POST /auth/refresh: look the token up, "
    "refuse it with 401 if it is unknown, expired or already used, otherwise mark it used, issue a NEW access "
    "token and a NEW refresh token, and return both. If a used token comes back, revoke the whole family (the "
    "user signs in again). Express: jsonwebtoken + a refresh_tokens table; Python: PyJWT or "
    "fastapi-users' refresh strategy. Tell the grader the route with `[auth] refresh` in grade.toml.",
)
def refresh_rotation(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Logs in, uses the refresh token once (a new pair must come back) and replays the old one (refused)."""
    refresh = facts.get("http.refresh", RefreshFacts)
    if refresh.refresh_path is None:
        return Verdict.failed("no refresh endpoint found (set [auth] refresh in grade.toml)")
    login = refresh.attempt("login")
    if _rate_limited(login) and login and login.exchange:
        evidence = (Evidence(login.exchange.summary, detail=login.exchange.detail),)
        return Verdict.not_run(f"not run: {_LIMITED_LOGIN}", evidence=evidence)
    subs = _refresh_subchecks(refresh)
    score, passed, judged = share(subs)
    summary = f"{passed} of {judged} refresh-rotation steps behave as expected"
    kw: dict[str, Any] = {"value": passed, "threshold": judged, "unit": "steps", "evidence": marked(subs)}
    if passed == judged:
        return Verdict.passed(summary, **kw)
    return Verdict.failed(summary, score=score, **kw)
